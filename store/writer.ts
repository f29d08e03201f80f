import type { ClickHouseClient } from '@clickhouse/client';
import { KnownStacks } from './known-stacks';
import { type PreparedWrite, type ProfileWrite, prepareWrite } from './rows';

interface Pending {
  writes: PreparedWrite[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

/**
 * Writes profiles in group commits: requests that arrive while an insert is
 * running wait and go together in the next one, so throughput grows with load
 * and an idle server adds no latency. `write` resolves only once the rows are
 * committed (the ingest API acknowledges after that); on failure every
 * request of the batch is rejected and none of its profiles is visible (one
 * INSERT per table; stacks go first and are harmless alone).
 */
export class ProfileWriter {
  private queue: Pending[] = [];
  private flushing = false;

  constructor(
    private readonly client: ClickHouseClient,
    private readonly db: string,
    /** Stacks committed lately; shared with ingest workers, which then skip their rows. */
    readonly knownStacks = new KnownStacks(),
    private readonly maxBatchProfiles = 2000,
  ) {}

  /** Stores profiles; resolves once committed. */
  write(writes: ProfileWrite[]): Promise<void> {
    return this.writePrepared(writes.map((w) => prepareWrite(w, this.knownStacks)));
  }

  /** Stores profiles already serialised (by an ingest worker); resolves once committed. */
  writePrepared(writes: PreparedWrite[]): Promise<void> {
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

  private async insert(writes: PreparedWrite[]): Promise<void> {
    // Stacks go first: a committed profile always finds its stacks.
    const stacks = writes.map((w) => w.stacks).join('');
    if (stacks.length > 0) await this.insertText('stacks', stacks);
    const profiles = writes.map((w) => w.profiles).join('');
    if (profiles.length > 0) await this.insertText('profiles', profiles);
    for (const w of writes) for (const id of w.stackIds) this.knownStacks.add(w.tenant, id);
  }

  private insertText(table: string, text: string): Promise<unknown> {
    return this.client.insert({
      table: `${this.db}.${table}`,
      values: [text.endsWith('\n') ? text.slice(0, -1) : text],
      format: 'JSONEachRow',
    });
  }

  /** Resolves when every write queued so far has been committed or failed. */
  async drain(): Promise<void> {
    while (this.flushing || this.queue.length > 0) await new Promise((r) => setTimeout(r, 5));
  }
}
