import { JOBS, type WebhookTarget } from '../../profile/detect-job';
import type { EnqueueOptions, Every, JobQueue, Processors } from '../../profile/jobs';
import type { Store } from '../../store';
import type { GitHubOptions } from '../../notify/github';
import { PR_JOB } from '../../profile/pull-request';
import { deliverWebhook, runDetect, sweep, type DetectDeps } from './detect';
import { BUDGETS_JOB, BUDGETS_SCHEDULE_ID, checkBudgets } from './budgets';
import { runPullRequest } from './pull-request';
import { ROLLUP_JOB, runRollups } from './rollups';

export { scheduleRollups } from './rollups';

/** What processors are built from: the one store of the process, its log, and the queue follow-up jobs go to. */
export interface ProcessorDeps {
  store: Store;
  log: (msg: string) => void;
  /** Where a sweep enqueues detects and a detect its webhooks (see `lateQueue`). */
  queue: JobQueue;
  webhooks?: WebhookTarget[];
  /** The UI's base URL, for links in notifications. */
  publicUrl?: string;
  /** How often the sweep runs (ms); windows end on this boundary. Default 5 minutes. */
  sweepEveryMs?: number;
  /** The server's GitHub credentials for pull-request comments, and the repositories tenants may name (`owner/name`, `owner/*`; none: any). */
  github?: { token: string; apiUrl: string; repositories?: string[] };
  githubOptions?: GitHubOptions;
}

export const DEFAULT_SWEEP_EVERY_MS = 5 * 60_000;

/**
 * Every processor by job name, built once per process (`flamewatch serve`
 * without Redis, `flamewatch worker` with it). A processor loads from the
 * store, calls pure code in `profile/`, stores its result under a
 * deterministic key, and is registered here under the name jobs are
 * enqueued with.
 */
export function processors(deps: ProcessorDeps): Processors {
  const d: DetectDeps = {
    store: deps.store,
    queue: deps.queue,
    webhooks: deps.webhooks ?? [],
    publicUrl: deps.publicUrl ?? 'http://127.0.0.1:4040',
    sweepEveryMs: deps.sweepEveryMs ?? DEFAULT_SWEEP_EVERY_MS,
  };
  return {
    [JOBS.detect]: async (payload: unknown, ctx) => {
      const { detection, recorded, created } = await runDetect(d, payload, ctx);
      // The job's result stays small: the regressions themselves are in the store.
      return {
        verdict: detection.verdict,
        reason: detection.reason,
        tested: detection.tested,
        regressions: recorded.map((r) => r.id),
        created: created.map((r) => r.id),
      };
    },
    [JOBS.sweep]: (payload: unknown) => sweep(d, payload),
    [JOBS.webhook]: (payload: unknown) => deliverWebhook(payload),
    [BUDGETS_JOB]: (payload: unknown, ctx) => checkBudgets(d, payload, ctx),
    [ROLLUP_JOB]: (payload: unknown, ctx) => runRollups(deps.store, payload, ctx),
    [PR_JOB]: (payload: unknown, ctx) =>
      runPullRequest(
        { store: deps.store, github: deps.github, githubOptions: deps.githubOptions, publicUrl: d.publicUrl },
        payload,
        ctx,
      ),
  };
}

/**
 * A JobQueue for processors that must exist before the runner that will
 * carry their follow-up jobs: calls wait for `bind`.
 */
export function lateQueue(): JobQueue & { bind(queue: JobQueue): void } {
  let bound: JobQueue | undefined;
  let resolve!: (q: JobQueue) => void;
  const ready = new Promise<JobQueue>((r) => (resolve = r));
  const q = () => (bound ? Promise.resolve(bound) : ready);
  return {
    bind(queue) {
      bound = queue;
      resolve(queue);
    },
    enqueue: async (name: string, payload: unknown, opts?: EnqueueOptions) =>
      (await q()).enqueue(name, payload, opts),
    schedule: async (id: string, name: string, payload: unknown, every: Every) =>
      (await q()).schedule(id, name, payload, every),
    unschedule: async (id: string) => (await q()).unschedule(id),
    failed: async (limit?: number) => (await q()).failed(limit),
    retry: async (id: string) => (await q()).retry(id),
    counts: async () => (await q()).counts(),
  };
}

/** What the detection jobs need from the configuration (cli/config.ts reads it from the environment). */
export interface DetectionSettings {
  webhooks: WebhookTarget[];
  /** Where notifications' links point. */
  publicUrl: string;
  /** Between scheduled sweeps; 0 turns the schedule off. */
  sweepEveryMs: number;
  /** Pull-request comments (FLAMEWATCH_GITHUB_TOKEN); repositories allowed, none when unset. */
  github?: { token: string; apiUrl: string; repositories?: string[] };
}

export const SWEEP_SCHEDULE_ID = 'detect-sweep-schedule';

/** Creates (or replaces) the schedules of regression detection and of budget checks; `everyMs` 0 removes them. */
export async function scheduleSweep(queue: JobQueue, everyMs: number): Promise<void> {
  if (everyMs <= 0) {
    await queue.unschedule(SWEEP_SCHEDULE_ID);
    await queue.unschedule(BUDGETS_SCHEDULE_ID);
    return;
  }
  await queue.schedule(SWEEP_SCHEDULE_ID, JOBS.sweep, {}, { ms: everyMs });
  await queue.schedule(BUDGETS_SCHEDULE_ID, BUDGETS_JOB, {}, { ms: everyMs });
}
