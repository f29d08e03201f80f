/**
 * Starts a pull request's comparison when its benchmark run's profiles
 * arrive: a profile labelled `pr=<number>` enqueues the `pull-request` job of
 * its (tenant, service, PR), one per slot of `delayMs`, run when the slot
 * ends (see profile/pull-request.ts). Whether the service comments at all is
 * the job's business (its settings name the repository).
 */
import { createHash } from 'node:crypto';
import type { JobQueue } from '../profile/jobs';
import {
  isPullRequestNumber,
  PR_JOB,
  pullRequestSlot,
  RUN_LABELS,
  type PullRequestJob,
} from '../profile/pull-request';

export const DEFAULT_PR_DELAY_MS = 60_000;

/** The ingest hook; enqueue failures (Redis away) are logged once a minute, never thrown at ingest. */
export function pullRequestTrigger(
  jobs: JobQueue,
  options: { delayMs?: number; log?: (m: string) => void } = {},
) {
  const delayMs = options.delayMs ?? DEFAULT_PR_DELAY_MS;
  const log = options.log ?? (() => undefined);
  // The ids already enqueued by this process: a run pushes many profiles per slot, and each would otherwise cost a round trip to Redis.
  const recent = new Map<string, number>();
  let lastComplaint = 0;
  return ({
    tenant,
    service,
    labels,
  }: {
    tenant: string;
    service: string;
    labels: Readonly<Record<string, string>>;
  }): void => {
    const pr = labels[RUN_LABELS.pr];
    if (!isPullRequestNumber(pr)) return;
    const now = Date.now();
    const { slot, delayMs: wait } = pullRequestSlot(now, delayMs);
    const key = createHash('sha256')
      .update(JSON.stringify([tenant, service, pr]))
      .digest('hex')
      .slice(0, 20);
    const jobId = `pr-${key}-${slot}`;
    if (recent.has(jobId)) return;
    recent.set(jobId, now + wait);
    for (const [id, until] of recent) if (until < now) recent.delete(id);
    const payload: PullRequestJob = { tenant, service, pr };
    jobs.enqueue(PR_JOB, payload, { jobId, delayMs: wait }).catch((err: unknown) => {
      recent.delete(jobId);
      if (now - lastComplaint > 60_000) {
        lastComplaint = now;
        log(
          `pull request ${pr} of ${service}: its comparison could not be queued (${(err as Error).message}); the next profile tries again`,
        );
      }
    });
  };
}
