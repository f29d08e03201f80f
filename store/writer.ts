import { randomUUID } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import type { SplitProfile } from '../profile/series';

/** One pushed profile, ready to store. */
export interface ProfileWrite {
  tenant: string;
  service: string;
  /** Start, ms since the epoch. */
  time: number;
  durationMs: number;
  profile: SplitProfile;
}

interface Pending {
  writes: ProfileWrite[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

// A stack seen within this long is not written again; re-writing older ones
// refreshes last_seen, which keeps stacks alive as long as profiles use them.
const KNOWN_STACK_TTL_MS = 6 * 3600_000;
const KNOWN_STACK_LIMIT = 2_000_000;

/**
 * Writes profiles in group commits: requests that arrive while an insert is
 * running wait and go together in the next one, so throughput grows with load
 * and an idle server adds no latency. `write` resolves only once the rows are
 * committed (the ingest API acknowledges after that); on failure every
 * request of the batch is rejected and nothing of its profiles is visible
 * (one INSERT per table; stacks go first and are harmless alone).
 */
export class ProfileWriter {
  private queue: Pending[] = [];
  private flushing = false;
  private readonly knownStacks = new Map<string, number>();

  constructor(
    private readonly client: ClickHouseClient,
    private readonly db: string,
    private readonly maxBatchProfiles = 1000,
  ) {}

  write(writes: ProfileWrite[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ writes, resolve, reject });
      if (!this.flushing) void this.flushLoop();
    });
  }

  private async flushLoop(): Promise<void> {
    this.flushing = true;
    try {
      while (this.queue.length > 0) {
        const batch: Pending[] = [];
        let count = 0;
        while (this.queue.length > 0 && (batch.length === 0 || count + this.queue[0].writes.length <= this.maxBatchProfiles)) {
          const p = this.queue.shift()!;
          batch.push(p);
          count += p.writes.length;
        }
        try {
          await this.insert(batch.flatMap((p) => p.writes));
          for (const p of batch) p.resolve();
        } catch (err) {
          for (const p of batch) p.reject(err);
        }
      }
    } finally {
      this.flushing = false;
    }
  }

  private async insert(writes: ProfileWrite[]): Promise<void> {
    const now = Date.now();
    const stackRows: { tenant: string; stack_id: string; frames: readonly string[] }[] = [];
    const newStacks: string[] = [];
    const profileRows: Record<string, unknown>[] = [];
    for (const w of writes) {
      for (const [id, frames] of w.profile.stacks) {
        const key = `${w.tenant}\u0000${id}`;
        const seen = this.knownStacks.get(key);
        if (seen !== undefined && now - seen < KNOWN_STACK_TTL_MS) continue;
        this.knownStacks.set(key, now); // provisionally, so a batch writes each stack once
        newStacks.push(key);
        stackRows.push({ tenant: w.tenant, stack_id: id, frames });
      }
      const profileId = randomUUID();
      for (const s of w.profile.series) {
        profileRows.push({
          tenant: w.tenant,
          service: w.service,
          type: s.type.type,
          unit: s.type.unit,
          time: w.time,
          duration_ms: w.durationMs,
          profile_id: profileId,
          labels: s.labels,
          stack_ids: s.stackIds,
          values: s.values,
          total: s.total,
        });
      }
    }
    try {
      if (stackRows.length > 0) await this.client.insert({ table: `${this.db}.stacks`, values: stackRows, format: 'JSONEachRow' });
      if (profileRows.length > 0) {
        await this.client.insert({
          table: `${this.db}.profiles`,
          values: profileRows,
          format: 'JSONEachRow',
          clickhouse_settings: { date_time_input_format: 'best_effort' },
        });
      }
    } catch (err) {
      for (const key of newStacks) this.knownStacks.delete(key);
      throw err;
    }
    if (this.knownStacks.size > KNOWN_STACK_LIMIT) this.knownStacks.clear();
  }

  /** Resolves when every write queued so far has been committed or failed. */
  async drain(): Promise<void> {
    while (this.flushing || this.queue.length > 0) await new Promise((r) => setTimeout(r, 5));
  }
}
