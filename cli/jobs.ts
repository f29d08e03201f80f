/**
 * The job runner as `flamewatch serve` and `flamewatch worker` both start it:
 * the processors over the store, the runner (BullMQ on REDIS_URL, else in
 * process), the late-bound queue the processors enqueue on, started. The
 * server then schedules the sweep and the rollups; a worker only runs.
 */
import type { BullmqRole, JobRunner } from '../jobs/runner';
import type { detectionSettings as DetectionSettings } from '../jobs/processors';
import type { Store } from '../store';

/** FLAMEWATCH_JOB_CONCURRENCY: jobs of one name running at once in a process, a whole number ≥ 1 (default 1). */
export function jobConcurrency(env: NodeJS.ProcessEnv): number {
  const text = env.FLAMEWATCH_JOB_CONCURRENCY?.trim();
  if (text === undefined || text === '') return 1;
  if (!/^[1-9]\d{0,3}$/.test(text)) {
    throw new Error(
      `FLAMEWATCH_JOB_CONCURRENCY must be a whole number from 1 to 9999, not ${JSON.stringify(text)}`,
    );
  }
  return Number(text);
}

export interface StartedJobs {
  runner: JobRunner;
  detection: ReturnType<typeof DetectionSettings>;
  /** The job names this process's runner knows. */
  names: string[];
}

export async function startJobs(o: {
  store: Store;
  env: NodeJS.ProcessEnv;
  redisUrl?: string;
  role: BullmqRole;
  /** Where notifications' links point when FLAMEWATCH_PUBLIC_URL is not set. */
  publicUrl: string;
  concurrency: number;
  log: (msg: string) => void;
}): Promise<StartedJobs> {
  // Loaded here: other commands start without the job machinery.
  const { createJobRunner } = require('../jobs/runner') as typeof import('../jobs/runner');
  const { processors, lateQueue, detectionSettings } =
    require('../jobs/processors') as typeof import('../jobs/processors');
  const detection = detectionSettings(o.env, o.publicUrl);
  const queue = lateQueue();
  const registry = processors({ store: o.store, log: o.log, queue, ...detection });
  const runner = createJobRunner({
    redisUrl: o.redisUrl,
    role: o.role,
    processors: registry,
    concurrency: o.concurrency,
    log: o.log,
  });
  queue.bind(runner);
  await runner.start();
  return { runner, detection, names: Object.keys(registry) };
}
