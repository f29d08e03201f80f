/**
 * The job queue as the server and the processors see it, whatever carries it
 * (BullMQ on Redis, or a runner inside the server process). Pure: types, two
 * error classes and the id rule, no I/O. The server enqueues through
 * `JobQueue`; `jobs/` implements it and runs `Processor`s. They meet here and
 * in the queue, never importing each other. Payload types of each job are
 * declared beside the code they serve, in `profile/`.
 */

/** What a processor knows of the run it is in. */
export interface JobContext {
  /** The job's id: the caller's deterministic id, or one the runner made. */
  id: string;
  /** 1 on the first run, 2 on the first retry, ... */
  attempt: number;
  /** A line for the job's own log (BullMQ keeps it with the job) and the process log. */
  log(msg: string): void;
}

/**
 * A job's work: a plain async function of its payload (the JSON the enqueuer
 * sent, parsed back: validate it, it crossed a process boundary). Throwing
 * means "retry with backoff"; throwing `UnrecoverableJobError` means "do not
 * retry". Jobs may run twice (a crashed worker's job is run again), so a
 * processor must be idempotent: derive, then store by a deterministic key.
 */
export type Processor<P = unknown, R = unknown> = (payload: P, ctx: JobContext) => Promise<R>;

/** Processors by job name. `never` admits processors of any payload type; each validates its own. */
export type Processors = Readonly<Record<string, Processor<never>>>;

/** A failure retrying cannot fix (a payload that does not validate, a deleted service): the job fails at once. */
export class UnrecoverableJobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnrecoverableJobError';
  }
}

/**
 * The queue cannot be reached (Redis down or not yet connected): nothing was
 * enqueued, and the call may succeed later. The HTTP layer answers 503 with
 * Retry-After.
 */
export class QueueUnavailableError extends Error {
  constructor(detail: string) {
    super(`the job queue is unavailable (${detail}); retry later`);
    this.name = 'QueueUnavailableError';
  }
}

export interface EnqueueOptions {
  /**
   * Deterministic id (see `checkJobId`): while a job with this id is waiting,
   * running, kept as completed or kept as failed, enqueueing it again does
   * nothing and answers `added: false`. Default: a fresh id.
   */
  jobId?: string;
  /** Run no earlier than this many milliseconds from now. */
  delayMs?: number;
}

/** How often a schedule fires: every `ms` milliseconds, or on a cron pattern (5 or 6 fields, UTC). */
export interface Every {
  ms?: number;
  cron?: string;
}

/** A job that failed on its last allowed attempt (or unrecoverably): the dead-letter view. */
export interface FailedJob {
  id: string;
  name: string;
  payload: unknown;
  /** The last error's message. */
  error: string;
  /** Attempts made, the failing one included. */
  attempts: number;
  /** When it failed, ms since the epoch. */
  failedAt: number;
}

/** Jobs of one name by state. `completed` and `failed` count the jobs still kept (the ids remembered for deduplication). */
export interface JobCounts {
  waiting: number;
  active: number;
  completed: number;
  failed: number;
  delayed: number;
}

/** What the server needs of the queue: enqueue, schedule, look. Every call rejects with `QueueUnavailableError` when the queue cannot be reached. */
export interface JobQueue {
  /** Queues a job for the processor `name`; rejects for a name with no processor or an invalid id. */
  enqueue(name: string, payload: unknown, opts?: EnqueueOptions): Promise<{ id: string; added: boolean }>;
  /** Creates or replaces (same `id`) a schedule that enqueues `name` with `payload` at each tick. */
  schedule(id: string, name: string, payload: unknown, every: Every): Promise<void>;
  /** Removes a schedule; unknown ids are fine. */
  unschedule(id: string): Promise<void>;
  /** The dead-letter view, most recent failure first (default limit 50). */
  failed(limit?: number): Promise<FailedJob[]>;
  /** Runs a failed job again with all its attempts; false when no failed job has that id. */
  retry(jobId: string): Promise<boolean>;
  /** Counts per job name. */
  counts(): Promise<Record<string, JobCounts>>;
}

/**
 * Throws unless `id` can be a job or schedule id: 1-200 characters, no `:`
 * (BullMQ builds Redis keys with it), not only digits (BullMQ's own ids are
 * integers). Build ids from the job's inputs, e.g. `detect-checkout-cpu-1718000000000`.
 */
export function checkJobId(id: string): void {
  if (id.length === 0 || id.length > 200 || id.includes(':') || /^\d+$/.test(id)) {
    throw new TypeError(
      `job id ${JSON.stringify(id)} is not allowed: use 1-200 characters, no ':', not only digits`,
    );
  }
}
