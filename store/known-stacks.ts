/**
 * The stacks recently committed to the `stacks` table, shared by the writer
 * (which adds them after each commit) and the ingest workers (which skip
 * serialising rows for them): a lock-free open-addressing set of 64-bit keys
 * in a SharedArrayBuffer, handed to each worker thread.
 *
 * It only ever errs towards "not known" (a worker then serialises a row that
 * was not needed, which ReplacingMergeTree folds away): keys are written low
 * word first and read high word first, and a full or expired table is
 * cleared. Cleared every 6 h so that stacks in use are written again,
 * refreshing their last_seen (their TTL).
 */
export class KnownStacks {
  static readonly REFRESH_MS = 6 * 3600_000;
  private readonly slots: Int32Array;
  /** [0] entries, [1] generation start (minutes since epoch). */
  private readonly meta: Int32Array;
  private readonly mask: number;

  constructor(readonly buffer: SharedArrayBuffer = new SharedArrayBuffer(8 * (1 << 21) + 8)) {
    this.slots = new Int32Array(buffer, 8);
    this.meta = new Int32Array(buffer, 0, 2);
    this.mask = (this.slots.length >> 1) - 1;
    if (Atomics.load(this.meta, 1) === 0) Atomics.store(this.meta, 1, Math.floor(Date.now() / 60_000));
  }

  /** A 64-bit key (two words, the high one never 0) for a tenant's stack id. */
  static key(tenant: string, id: string): [number, number] {
    let a = tenantSeed(tenant);
    let b = a ^ 0x5bd1e995;
    for (let i = 0; i < id.length; i++) {
      const c = id.charCodeAt(i);
      a = Math.imul(a ^ c, 0x01000193);
      b = Math.imul(b ^ c, 0x5bd1e995);
      b ^= b >>> 15;
    }
    a ^= a >>> 16;
    a = Math.imul(a, 0x85ebca6b);
    a ^= a >>> 13;
    return [a | 1, b];
  }

  has(tenant: string, id: string): boolean {
    const [hi, lo] = KnownStacks.key(tenant, id);
    for (let i = (hi ^ lo) & this.mask, n = 0; n < 64; i = (i + 1) & this.mask, n++) {
      const h = Atomics.load(this.slots, 2 * i);
      if (h === 0) return false;
      if (h === hi && Atomics.load(this.slots, 2 * i + 1) === lo) return true;
    }
    return false;
  }

  /** Adds keys after a commit (one thread only: the writer's). */
  add(tenant: string, id: string): void {
    const minutes = Math.floor(Date.now() / 60_000);
    if (
      Atomics.load(this.meta, 0) > (this.mask + 1) / 2 ||
      minutes - Atomics.load(this.meta, 1) >= KnownStacks.REFRESH_MS / 60_000
    ) {
      this.clear();
    }
    const [hi, lo] = KnownStacks.key(tenant, id);
    for (let i = (hi ^ lo) & this.mask, n = 0; n < 64; i = (i + 1) & this.mask, n++) {
      const h = Atomics.load(this.slots, 2 * i);
      if (h === hi && Atomics.load(this.slots, 2 * i + 1) === lo) return;
      if (h === 0) {
        Atomics.store(this.slots, 2 * i + 1, lo);
        Atomics.store(this.slots, 2 * i, hi);
        Atomics.add(this.meta, 0, 1);
        return;
      }
    }
  }

  /** Forgets everything (readers see empty slots, i.e. "not known"). */
  clear(): void {
    for (let i = 0; i < this.slots.length; i += 2) Atomics.store(this.slots, i, 0);
    Atomics.store(this.meta, 0, 0);
    Atomics.store(this.meta, 1, Math.floor(Date.now() / 60_000));
  }

  get size(): number {
    return Atomics.load(this.meta, 0);
  }
}

// Tenants are few and ids many: a tenant's part of the key is hashed once.
const tenantSeeds = new Map<string, number>();
function tenantSeed(tenant: string): number {
  let seed = tenantSeeds.get(tenant);
  if (seed === undefined) {
    seed = 0x811c9dc5;
    for (let i = 0; i < tenant.length; i++) seed = Math.imul(seed ^ tenant.charCodeAt(i), 0x01000193);
    seed = Math.imul(seed ^ tenant.length, 0x85ebca6b);
    if (tenantSeeds.size > 10_000) tenantSeeds.clear();
    tenantSeeds.set(tenant, seed);
  }
  return seed;
}
