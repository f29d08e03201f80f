/**
 * The `rollup` processor: builds the hourly rollups (store/rollups.ts) of
 * hours that are over, off the ingest path. The frequent schedule looks at
 * the last day; an hourly one at every stored hour, for profiles that arrive
 * later than that. Until an hour is built (or while late profiles make it out
 * of date) queries read its raw profiles, so a slow or stopped job costs
 * query speed, never correctness.
 */
import { z } from 'zod';
import { UnrecoverableJobError, type JobContext, type JobQueue } from '../../profile/jobs';
import type { BuildResult, Store } from '../../store';

export const ROLLUP_JOB = 'rollup';
export const ROLLUP_SCHEDULE_ID = 'rollup-schedule';
export const ROLLUP_FULL_SCHEDULE_ID = 'rollup-full-schedule';

const payloadSchema = z
  .object({
    now: z.number().int().optional(),
    /** Only hours this recent; absent: every stored hour. */
    lookbackHours: z.number().int().positive().optional(),
    maxHours: z.number().int().positive().max(10_000).optional(),
    /** Keeps building batches of hours while there are more and this many seconds have not passed (a backlog after an upgrade). */
    budgetSeconds: z.number().positive().max(3600).optional(),
  })
  .strict();

let running = false;

export async function runRollups(
  store: Store,
  payload: unknown,
  ctx?: JobContext,
): Promise<BuildResult | { skipped: string }> {
  const parsed = payloadSchema.safeParse(payload ?? {});
  if (!parsed.success)
    throw new UnrecoverableJobError(`invalid ${ROLLUP_JOB} payload: ${parsed.error.message}`);
  // One build at a time per process: a second would delete what the first wrote
  // (the builder's sum check would catch it, but the work would be wasted).
  if (running) return { skipped: 'a rollup build is already running in this process' };
  running = true;
  try {
    const { now = Date.now(), lookbackHours, maxHours, budgetSeconds = 50 } = parsed.data;
    const t = Date.now();
    const total: BuildResult = { pending: 0, hoursBuilt: 0, built: 0, unverified: 0, hoursLeft: 0 };
    for (let round = 0; ; round++) {
      const r = await store.buildRollups({
        now,
        sinceMs: lookbackHours ? now - lookbackHours * 3_600_000 : undefined,
        maxHours,
      });
      if (round === 0) total.pending = r.pending;
      total.hoursBuilt += r.hoursBuilt;
      total.built += r.built;
      total.unverified += r.unverified;
      total.hoursLeft = r.hoursLeft;
      // More hours than one batch (a backlog): go on while it progresses and time is left.
      if (r.hoursLeft === 0 || r.built === 0 || Date.now() - t > budgetSeconds * 1000) break;
    }
    if (total.pending > 0) {
      ctx?.log(
        `rollup: ${total.built} (service, type, hour)s built in ${total.hoursBuilt} hour(s), ${total.unverified} to retry, ${total.hoursLeft} hour(s) left for the next run, ${Date.now() - t} ms`,
      );
    }
    return total;
  } finally {
    running = false;
  }
}

/** Creates (or replaces) the rollup schedules: the last 26 hours every `everyMs`, every stored hour once an hour (for up to 10 minutes of building); 0 removes them. */
export async function scheduleRollups(queue: JobQueue, everyMs: number): Promise<void> {
  if (everyMs <= 0) {
    await queue.unschedule(ROLLUP_SCHEDULE_ID);
    await queue.unschedule(ROLLUP_FULL_SCHEDULE_ID);
    return;
  }
  await queue.schedule(ROLLUP_SCHEDULE_ID, ROLLUP_JOB, { lookbackHours: 26 }, { ms: everyMs });
  await queue.schedule(
    ROLLUP_FULL_SCHEDULE_ID,
    ROLLUP_JOB,
    { budgetSeconds: 600 },
    { ms: Math.max(everyMs, 3_600_000) },
  );
}
