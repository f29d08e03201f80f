/**
 * The job runner as `flamewatch serve` and `flamewatch worker` both start it:
 * the processors over the store, the runner (BullMQ on REDIS_URL, else in
 * process), the late-bound queue the processors enqueue on, started. The
 * server then schedules the sweep and the rollups; a worker only runs.
 */
import type { BullmqRole, JobRunner } from '../jobs/runner';
import type { DetectionSettings } from '../jobs/processors';
import type { Store } from '../store';

export interface StartedJobs {
  runner: JobRunner;
  detection: DetectionSettings;
  /** The job names this process's runner knows. */
  names: string[];
}

export async function startJobs(o: {
  store: Store;
  detection: DetectionSettings;
  redisUrl?: string;
  role: BullmqRole;
  concurrency: number;
  log: (msg: string) => void;
}): Promise<StartedJobs> {
  // Loaded here: other commands start without the job machinery.
  const { createJobRunner } = require('../jobs/runner') as typeof import('../jobs/runner');
  const { processors, lateQueue } = require('../jobs/processors') as typeof import('../jobs/processors');
  const queue = lateQueue();
  const registry = processors({ store: o.store, log: o.log, queue, ...o.detection });
  const runner = createJobRunner({
    redisUrl: o.redisUrl,
    role: o.role,
    processors: registry,
    concurrency: o.concurrency,
    log: o.log,
  });
  queue.bind(runner);
  await runner.start();
  return { runner, detection: o.detection, names: Object.keys(registry) };
}
