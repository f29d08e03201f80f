import type { ClickHouseClient } from '@clickhouse/client';
import { classifyStoreError } from './errors';
import { KnownStacks } from './known-stacks';
import type { PreparedWrite } from './rows';

interface Pending {
  writes: PreparedWrite[];
  resolve: () => void;
  reject: (err: unknown) => void;
}

/** How the writer groups profiles into INSERTs. */
export interface BatchPolicy {
  /** Under load, wait for this many profiles before the next INSERT... */
  targetProfiles: number;
  /** ...but no longer than this. */
  lingerMs: number;
  /** Never more than this many in one INSERT. */
  maxProfiles: number;
}

// ClickHouse's cost per profile falls steeply with batch size (measured on
// chDB: 1.0 ms of CPU per profile in batches of 25, 0.3 ms in batches of
// 100), and fewer parts mean less merging.
export const DEFAULT_BATCH: BatchPolicy = { targetProfiles: 200, lingerMs: 100, maxProfiles: 2000 };

/**
 * Writes profiles in group commits: a write to an idle writer goes at once;
 * writes that arrive while an INSERT runs wait and go together in the next
 * one, which gathers up to `targetProfiles` or `lingerMs`, so batches (and
 * throughput) grow with load while an idle server adds no latency. Requests
 * announce themselves on arrival (`announce`), so a batch stops waiting once
 * every request in progress has queued its write. `write`
 * resolves only once the rows are committed (the ingest API acknowledges
 * after that); on failure every request of the batch is rejected and none of
 * its profiles is visible (one INSERT per table; stacks go first and are
 * harmless alone).
 */
export class ProfileWriter {
  private queue: Pending[] = [];
  private queued = 0;
  /** Requests that announced a write and have not finished. */
  private upcoming = 0;
  private flushing = false;
  private gathered: (() => void) | undefined;

  constructor(
    private readonly client: ClickHouseClient,
    private readonly db: string,
    /** Stacks committed lately; shared with ingest workers, which then skip their rows. */
    readonly knownStacks = new KnownStacks(),
    private readonly batch: BatchPolicy = DEFAULT_BATCH,
  ) {}

  /** Stores profiles serialised by prepareWrite (rows.ts), in an ingest worker or not; resolves once committed. */
  write(writes: PreparedWrite[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ writes, resolve, reject });
      this.queued += writes.length;
      if (!this.flushing) void this.flushLoop();
      else this.checkGathered();
    });
  }

  /**
   * Says a write is on its way (a request is reading or decoding a profile);
   * call the returned function once the request is over, written or not.
   */
  announce(): () => void {
    this.upcoming++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.upcoming--;
      this.checkGathered();
    };
  }

  /**
   * The next batch is worth an INSERT when `targetProfiles` are queued, or,
   * with fewer requests in progress than that, when all of them have queued:
   * waiting longer would gain nothing.
   */
  private batchReady(): boolean {
    const target = this.batch.targetProfiles;
    return this.queued >= target || (this.upcoming < target && this.queue.length >= this.upcoming);
  }

  private checkGathered(): void {
    if (this.gathered && this.batchReady()) this.gathered();
  }

  /** Waits until the batch is ready or `lingerMs` is up. */
  private gather(): Promise<void> {
    if (this.batchReady()) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.gathered = undefined;
        resolve();
      };
      const timer = setTimeout(done, this.batch.lingerMs);
      this.gathered = done;
    });
  }

  private async flushLoop(): Promise<void> {
    this.flushing = true;
    try {
      let underLoad = false;
      while (this.queue.length > 0) {
        if (underLoad) await this.gather();
        const batch: Pending[] = [];
        let count = 0;
        while (
          this.queue.length > 0 &&
          (batch.length === 0 || count + this.queue[0].writes.length <= this.batch.maxProfiles)
        ) {
          const p = this.queue.shift()!;
          batch.push(p);
          count += p.writes.length;
        }
        this.queued -= count;
        // From here on the loop only runs again for writes that queued while
        // this INSERT ran, i.e. under load: those gather a full batch.
        underLoad = true;
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

  private async insertText(table: string, text: string): Promise<void> {
    try {
      await this.client.insert({
        table: `${this.db}.${table}`,
        values: [text.endsWith('\n') ? text.slice(0, -1) : text],
        format: 'JSONEachRow',
      });
    } catch (err) {
      throw classifyStoreError(err);
    }
  }

  /** Resolves when every write queued so far has been committed or failed. */
  async drain(): Promise<void> {
    while (this.flushing || this.queue.length > 0) await new Promise((r) => setTimeout(r, 5));
  }
}
