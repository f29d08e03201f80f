/**
 * The `budgets-check` processor: on the schedule, every service's stored
 * budgets are judged on live data (the last window; growth budgets against
 * the same window a day earlier, as the window detector compares). A breach
 * (a failing budget) is stored as a regression of kind `budget` — first seen,
 * last seen, runs, status — so the UI lists it with the flame graph of the
 * window that broke it, and a new one goes to the webhooks.
 */
import { formatBudgetValue, matcherText, type BudgetResult } from '../../profile/budgets';
import { JOBS } from '../../profile/detect-job';
import { UnrecoverableJobError, type JobContext } from '../../profile/jobs';
import { formatMatchers, parseSelector } from '../../profile/selector';
import { withService } from '../../profile/pull-request';
import { z } from 'zod';
import { evaluateBudgets, regressionId, type Regression } from '../../store';
import { webhookBody, type DetectDeps } from './detect';

export const BUDGETS_JOB = 'budgets-check';
export const BUDGETS_SCHEDULE_ID = 'budgets-check-schedule';

const payloadSchema = z.object({ now: z.number().int().optional() }).strict();

/** Breaches by budget, for the job's result. */
export async function checkBudgets(
  deps: DetectDeps,
  payload: unknown,
  ctx?: JobContext,
): Promise<{ services: number; evaluated: number; breaches: string[]; created: string[] }> {
  const parsed = payloadSchema.safeParse(payload ?? {});
  if (!parsed.success)
    throw new UnrecoverableJobError(`invalid ${BUDGETS_JOB} payload: ${parsed.error.message}`);
  const now = parsed.data.now ?? Date.now();
  const end = Math.floor(now / deps.sweepEveryMs) * deps.sweepEveryMs;
  const all = await deps.store.budgets.all();
  const breaches: string[] = [];
  const created: string[] = [];
  let evaluated = 0;
  for (const { tenant, service, budgets } of all) {
    const cfg = await deps.store.baselines.get(tenant, service, '*');
    const windowMs = cfg.windowMs;
    const candidate = { matchers: [], from: end - windowMs, until: end };
    const offset = cfg.windowOffsetMs > 0 ? cfg.windowOffsetMs : 86_400_000;
    const baseline = { matchers: [], from: candidate.from - offset, until: candidate.until - offset };
    const results = await evaluateBudgets(deps.store, tenant, budgets, candidate, baseline);
    evaluated += results.length;
    for (const r of results) {
      if (r.verdict !== 'fail') continue;
      const { regression, created: isNew } = await deps.store.regressions.record(
        tenant,
        breachOf(tenant, r, candidate, baseline),
        now,
      );
      breaches.push(`${service}/${r.budget.name}`);
      if (!isNew) continue;
      created.push(regression.id);
      for (const target of deps.webhooks) {
        await deps.queue.enqueue(
          JOBS.webhook,
          {
            url: target.url,
            format: target.format,
            body: webhookBody(target.format, regression, deps.publicUrl),
          },
          {
            jobId: `webhook-${regressionId([target.url])}-${regression.id}-${regression.runs}`,
          },
        );
      }
    }
  }
  ctx?.log(
    `budgets: ${evaluated} budget(s) of ${all.length} service(s) judged, ${breaches.length} breached, ${created.length} new`,
  );
  return { services: all.length, evaluated, breaches, created };
}

/** A failing budget as a stored regression: the limit in the baseline's place, the measured value in the candidate's. */
export function breachOf(
  tenant: string,
  r: BudgetResult,
  candidate: { from: number; until: number },
  baseline: { from: number; until: number },
): Omit<Regression, 'firstSeen' | 'lastSeen' | 'runs' | 'status'> {
  const b = r.budget;
  const own = b.selector ? formatMatchers(parseSelector(withService(b.service, b.selector)).matchers) : '';
  const query = withService(b.service, own);
  const growth = b.kind === 'growth';
  return {
    id: regressionId([tenant, b.service, b.type, 'budget', b.name]),
    service: b.service,
    type: b.type,
    unit: '',
    function: b.function ? matcherText(b.function) : '',
    measure: b.function ? b.function.measure : 'rate',
    kind: 'budget',
    budget: {
      name: b.name,
      kind: b.kind,
      severity: b.severity,
      owner: b.owner,
      limit: b.max,
      limitText: b.maxText,
      valueText: formatBudgetValue(b, r.value, r.typeKind),
    },
    baseline: {
      query,
      ...(growth ? baseline : candidate),
      profiles: r.baselineObservations ?? 0,
      value: growth ? 0 : b.max,
    },
    candidate: { query, ...candidate, profiles: r.observations, value: r.value },
    effect: growth ? r.value : r.value - b.max,
    relative: growth ? r.value : b.max > 0 ? r.value / b.max - 1 : Infinity,
    ci: r.ci,
    p: 1 - r.confidence,
    q: 1 - r.confidence,
  };
}
