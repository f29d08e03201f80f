import { BullmqRunner, type BullmqRole } from './runners/bullmq';
import type { JobRunner, RunnerOptions } from './runners/common';
import { InProcessRunner } from './runners/in-process';

export type { JobRunner, RunnerOptions } from './runners/common';
export type { BullmqRole } from './runners/bullmq';

export interface JobRunnerOptions extends RunnerOptions {
  /** BullMQ on this Redis when set; the in-process runner otherwise. */
  redisUrl?: string;
  /**
   * What this process does with BullMQ: `enqueue-only` (the server; workers
   * run elsewhere), `worker` (`flamewatch worker`) or `all`. Without Redis
   * only `all` exists: the jobs run where they are enqueued. Default `all`.
   */
  role?: BullmqRole;
  /** BullMQ's Redis key prefix (default `flamewatch`), so several deployments or tests can share a Redis. */
  prefix?: string;
  /** How long a BullMQ queue call waits for Redis before QueueUnavailableError. Default 5000 ms. */
  timeoutMs?: number;
}

/**
 * The job runner for this process: BullMQ when `redisUrl` is set, the
 * in-process runner otherwise. Both implement the same `JobQueue` contract
 * (`profile/jobs.ts`); processing starts at `start()`.
 */
export function createJobRunner({
  redisUrl,
  role = 'all',
  prefix,
  timeoutMs,
  ...opts
}: JobRunnerOptions): JobRunner {
  if (redisUrl !== undefined && redisUrl !== '')
    return new BullmqRunner({ ...opts, redisUrl, role, prefix, timeoutMs });
  if (role !== 'all')
    throw new Error(
      `the ${role} role needs Redis (REDIS_URL); without it the jobs run where they are enqueued`,
    );
  return new InProcessRunner(opts);
}
