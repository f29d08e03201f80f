import { HttpError } from '../errors';

/** Ingest requests worked on at once by default (FLAMEWATCH_INGEST_MAX_IN_FLIGHT). */
export const DEFAULT_MAX_IN_FLIGHT = 512;

const WINDOW_S = 10;
const MAX_RETRY_AFTER_S = 120;

/**
 * The server's back-pressure on ingest, for every tenant together: at most
 * `maxInFlight` pushes are worked on at once (from admission to the answer:
 * body, decode, the writer's queue, the commit). Past that a push is refused
 * at once, before its body is read, with 429 `ingest_saturated` and a
 * Retry-After of about the time the server needs for the work it holds (in
 * flight ÷ pushes finished per second lately), spread over one to two times
 * that so refused agents do not all come back in the same second.
 *
 * Without it a server past its capacity queues pushes until their clients
 * time out (the agent gives up after 10 s, then sends the profile again: a
 * duplicate of one stored after all), and holds memory for every connection.
 * Per process, like the tenant limits.
 */
export class IngestAdmission {
  private inFlight = 0;
  /** Pushes finished per second over the last WINDOW_S seconds (a ring by second). */
  private readonly finished = new Array<number>(WINDOW_S).fill(0);
  private second = 0;
  /** The second of the first admission: until WINDOW_S have passed, the rate is over the seconds seen. */
  private first = -1;

  constructor(
    readonly maxInFlight = DEFAULT_MAX_IN_FLIGHT,
    private readonly random: () => number = Math.random,
    private readonly clock: () => number = Date.now,
  ) {
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1)
      throw new Error(`the ingest in-flight limit must be a whole number of at least 1, not ${maxInFlight}`);
  }

  get current(): number {
    return this.inFlight;
  }

  /** Admits one push, or throws 429 `ingest_saturated`; call the returned function once it is answered. */
  admit(): () => void {
    this.advance(this.clock());
    if (this.first < 0) this.first = this.second;
    if (this.inFlight >= this.maxInFlight) {
      throw new HttpError(
        429,
        `ingest is saturated (${this.inFlight} profiles in progress, the server's limit); retry later`,
        'ingest_saturated',
        this.retryAfter(),
      );
    }
    this.inFlight++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inFlight--;
      this.advance(this.clock());
      this.finished[this.second % WINDOW_S]++;
    };
  }

  /**
   * Seconds until there is likely room: what is in flight ÷ the recent
   * finishing rate (10 s when nothing finished lately), at most 60, times 1
   * to 2.
   */
  retryAfter(): number {
    const seconds = Math.min(WINDOW_S, Math.max(1, this.second - this.first + 1));
    const rate = this.finished.reduce((a, b) => a + b, 0) / seconds;
    const estimate = rate > 0 ? this.inFlight / rate : WINDOW_S;
    const drain = Math.min(MAX_RETRY_AFTER_S / 2, Math.max(1, Math.ceil(estimate)));
    return drain + Math.floor(this.random() * (drain + 1));
  }

  private advance(now: number): void {
    const s = Math.floor(now / 1000);
    if (s <= this.second) return;
    // Seconds that passed without a finish are zeros in the ring.
    for (let t = Math.max(this.second + 1, s - WINDOW_S + 1); t <= s; t++) this.finished[t % WINDOW_S] = 0;
    this.second = s;
  }
}
