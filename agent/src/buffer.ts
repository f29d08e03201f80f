/** One profile waiting to be pushed. */
export interface PendingProfile {
  /** `wall` or `heap`: the name suffix Pyroscope clients use. */
  kind: string;
  /** Unix seconds. */
  from: number;
  until: number;
  /** Work units done from `from` to `until` (CPU/wall profiles); undefined: none sent (heap, or work off). */
  work?: number;
  /** gzipped pprof. */
  body: Buffer;
}

/**
 * Profiles waiting for the server, bounded in count and bytes: when full the
 * oldest go first (recent data is worth more) and are counted, so the host's
 * memory never grows with an absent server.
 */
export class ProfileBuffer {
  private readonly items: PendingProfile[] = [];
  private bytes = 0;
  dropped = 0;

  constructor(
    private readonly maxProfiles: number,
    private readonly maxBytes: number,
  ) {}

  push(p: PendingProfile): void {
    if (p.body.length > this.maxBytes) {
      this.dropped++;
      return;
    }
    this.items.push(p);
    this.bytes += p.body.length;
    while (this.items.length > this.maxProfiles || this.bytes > this.maxBytes) {
      this.bytes -= this.items.shift()!.body.length;
      this.dropped++;
    }
  }

  peek(): PendingProfile | undefined {
    return this.items[0];
  }

  /** Removes `p` if it is still the oldest (it may have been dropped meanwhile). */
  remove(p: PendingProfile): void {
    if (this.items[0] === p) {
      this.items.shift();
      this.bytes -= p.body.length;
    }
  }

  get size(): number {
    return this.items.length;
  }

  get byteSize(): number {
    return this.bytes;
  }
}
