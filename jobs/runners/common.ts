import type { Every, FailedJob, JobQueue, Processors } from '../../profile/jobs';

/** Options both runners take; the defaults are the same in both, so a job behaves alike on either. */
export interface RunnerOptions {
  /** Processors by job name; a name is also the BullMQ queue's name. */
  processors: Processors;
  /** Jobs of one name running at once in this process. Default 1. */
  concurrency?: number;
  /** Runs per job, the first included, before it goes to the dead-letter view. Default 5. */
  attempts?: number;
  /** Wait before the first retry; it doubles at each retry (exponential backoff). Default 1000 ms. */
  backoffMs?: number;
  /** Completed job ids kept (per name, at most a day) so that the same id is not run again. Default 1000. */
  keepCompleted?: number;
  /** Failed jobs kept (per name, at most a week) in the dead-letter view. Default 1000. */
  keepFailed?: number;
  log?: (msg: string) => void;
}

/** A queue the caller also starts (processing begins at `start()`) and stops. */
export interface JobRunner extends JobQueue {
  /** Which transport, for the startup line (`in-process`, `BullMQ at redis://host:6379`). */
  readonly transport: string;
  start(): Promise<void>;
  /** Stops taking jobs and schedules, waits for the jobs running now, disconnects. Idempotent. */
  close(): Promise<void>;
}

export const KEEP_COMPLETED_MS = 24 * 3600_000;
export const KEEP_FAILED_MS = 7 * 24 * 3600_000;

export interface Settings {
  concurrency: number;
  attempts: number;
  backoffMs: number;
  keepCompleted: number;
  keepFailed: number;
  log: (msg: string) => void;
}

const NAME = /^[A-Za-z][A-Za-z0-9_.-]{0,63}$/;

/** Checks processor names and numbers, fills in the defaults. */
export function settingsOf(opts: RunnerOptions): Settings {
  for (const name of Object.keys(opts.processors)) {
    if (!NAME.test(name))
      throw new TypeError(
        `job name ${JSON.stringify(name)} is not allowed: a letter, then up to 63 letters, digits, _ . -`,
      );
  }
  const s: Settings = {
    concurrency: opts.concurrency ?? 1,
    attempts: opts.attempts ?? 5,
    backoffMs: opts.backoffMs ?? 1000,
    keepCompleted: opts.keepCompleted ?? 1000,
    keepFailed: opts.keepFailed ?? 1000,
    log: opts.log ?? ((m) => console.error(m)),
  };
  for (const key of ['concurrency', 'attempts', 'keepCompleted', 'keepFailed'] as const) {
    if (!Number.isInteger(s[key]) || s[key] < 1)
      throw new TypeError(`${key} must be a whole number of at least 1, not ${s[key]}`);
  }
  if (!Number.isFinite(s.backoffMs) || s.backoffMs < 0)
    throw new TypeError(`backoffMs must be 0 or more, not ${s.backoffMs}`);
  return s;
}

/** The wait before attempt `attempt + 1` after attempt `attempt` failed: backoffMs · 2^(attempt−1), as BullMQ's exponential backoff. */
export function backoffDelay(backoffMs: number, attempt: number): number {
  return backoffMs * 2 ** (attempt - 1);
}

/** Throws unless exactly one of `ms` (a whole number ≥ 1) and `cron` is given. */
export function checkEvery(every: Every): void {
  const hasMs = every.ms !== undefined;
  if (hasMs === (every.cron !== undefined))
    throw new TypeError('a schedule needs exactly one of every.ms and every.cron');
  if (hasMs && (!Number.isInteger(every.ms) || every.ms! < 1))
    throw new TypeError(`every.ms must be a whole number of milliseconds ≥ 1, not ${every.ms}`);
}

/** The dead-letter view across names: most recent first, at most `limit`. */
export function newestFailures(lists: FailedJob[][], limit: number): FailedJob[] {
  return lists
    .flat()
    .sort((a, b) => b.failedAt - a.failedAt)
    .slice(0, limit);
}

/** The message of anything thrown. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
