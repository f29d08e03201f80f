/**
 * Budgets and the deploy gate under /api/v1:
 * - `GET /budgets/schema`: the JSON Schema budgets files are validated against;
 * - `GET|PUT /budgets?service=`: a service's budgets (PUT takes the file's
 *   YAML or its JSON, and replaces them);
 * - `POST /budgets/evaluate`: judge budgets (sent, or the stored ones) on a
 *   candidate selection, and a baseline for growth budgets (what `ci check` calls);
 * - `GET /budgets/series?service=&name=`: one budget's value over time, for the UI;
 * - `GET /gate?service=&version=&baseline=`: pass / fail / inconclusive for a
 *   deploy, from the service's budgets and the detector, for a rollout tool to poll.
 */
import express, { Router, type Request, type RequestHandler } from 'express';
import { z } from 'zod';
import {
  BUDGETS_SCHEMA,
  budgetsFromJson,
  formatBudgetValue,
  matcherText,
  overallVerdict,
  parseBudgetsYaml,
  type Budget,
  type BudgetResult,
} from '../../profile/budgets';
import { gateVerdict } from '../../profile/gate';
import { InputError } from '../../profile/errors';
import { profileKind } from '../../profile/regression';
import { parseSelector, type Matcher } from '../../profile/selector';
import { parseTimeRange } from '../../profile/time-range';
import {
  budgetSelection,
  compareSelections,
  evaluateBudgets,
  type BudgetScope,
  type Store,
} from '../../store';
import type { BudgetEvaluation, BudgetSeries, BudgetsPayload, BudgetVerdict } from './wire';
import { intParam, param, rangeOf, required } from './params';

export interface BudgetDeps {
  store: Store;
  tenantOf: (req: Request) => string;
}

type AsyncHandler = (req: Request, res: Parameters<RequestHandler>[1]) => Promise<void>;
const route =
  (fn: AsyncHandler): RequestHandler =>
  (req, res) =>
    fn(req, res);

const side = z
  .object({
    query: z.string().max(8192),
    from: z.union([z.string(), z.number()]).optional(),
    until: z.union([z.string(), z.number()]).optional(),
  })
  .strict();
const evaluateBody = z
  .object({
    /** The budgets file's value (JSON), or its YAML text; default the candidate service's stored budgets. */
    budgets: z.unknown().optional(),
    candidate: side,
    baseline: side.optional(),
  })
  .strict();

/** A budget's result as JSON: numbers that are not finite become null, with the values in the budget's own words. */
export function resultJson(r: BudgetResult): BudgetVerdict {
  const f = (x: number) => (Number.isFinite(x) ? x : null);
  const b = r.budget;
  return {
    name: b.name,
    service: b.service,
    type: b.type,
    selector: b.selector,
    kind: b.kind,
    severity: b.severity,
    owner: b.owner,
    ...(b.function ? { function: matcherText(b.function), measure: b.function.measure } : {}),
    verdict: r.verdict,
    value: f(r.value),
    limit: b.max,
    valueText: formatBudgetValue(b, r.value, r.typeKind),
    limitText: b.maxText,
    ci: r.ci.map(f),
    confidence: f(r.confidence),
    observations: r.observations,
    ...(r.baselineObservations !== undefined ? { baselineObservations: r.baselineObservations } : {}),
    ...(r.needed !== undefined ? { needed: r.needed } : {}),
    reason: r.reason,
    ...(r.warning ? { warning: r.warning } : {}),
    typeKind: r.typeKind ?? profileKind(b.type),
  };
}

function scopeOf(
  s: z.infer<typeof side>,
  now: number,
  what: string,
): { service: string; scope: BudgetScope } {
  let service: string;
  let matchers: Matcher[];
  try {
    ({ service, matchers } = parseSelector(s.query));
  } catch (err) {
    throw new InputError('invalid_selector', `${what}.query: ${(err as Error).message}`);
  }
  const range = parseTimeRange(
    s.from === undefined ? undefined : String(s.from),
    s.until === undefined ? undefined : String(s.until),
    now,
    'now-24h',
    { from: `${what}.from`, until: `${what}.until` },
  );
  return { service, scope: { matchers, from: range.from, until: range.until } };
}

export function budgetsRouter({ store, tenantOf }: BudgetDeps): Router {
  const api = Router();
  const json = express.json({ limit: '1mb' });
  const yaml = express.text({
    type: ['application/yaml', 'application/x-yaml', 'text/yaml', 'text/plain'],
    limit: '1mb',
  });

  api.get('/budgets/schema', (_req, res) => {
    res.type('application/schema+json').send(JSON.stringify(BUDGETS_SCHEMA, null, 2));
  });

  api.get(
    '/budgets',
    route(async (req, res) => {
      const stored = await store.budgets.get(tenantOf(req), required(req, 'service', 'service=<name>'));
      res.json({
        service: stored.service,
        updated: stored.updated || null,
        budgets: stored.budgets,
        source: stored.source,
      } satisfies BudgetsPayload);
    }),
  );

  api.put(
    '/budgets',
    json,
    yaml,
    route(async (req, res) => {
      const tenant = tenantOf(req);
      const service = required(req, 'service', 'service=<name>');
      const { budgets, source } = readBudgets(req.body, service);
      const foreign = budgets.find((b) => b.service !== service);
      if (foreign)
        throw new InputError(
          'invalid_budgets',
          `budget "${foreign.name}" is for service ${foreign.service}; PUT /api/v1/budgets?service=${service} takes only ${service}'s`,
        );
      await store.budgets.set(tenant, service, budgets, source);
      res.json({ service, budgets });
    }),
  );

  api.post(
    '/budgets/evaluate',
    json,
    route(async (req, res) => {
      const tenant = tenantOf(req);
      const parsed = evaluateBody.safeParse(req.body);
      if (!parsed.success)
        throw new InputError(
          'invalid_parameter',
          `invalid evaluation: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`,
        );
      const now = Date.now();
      const cand = scopeOf(parsed.data.candidate, now, 'candidate');
      const base = parsed.data.baseline ? scopeOf(parsed.data.baseline, now, 'baseline') : undefined;
      const budgets =
        parsed.data.budgets === undefined
          ? (await store.budgets.get(tenant, cand.service)).budgets
          : readBudgets(parsed.data.budgets, cand.service).budgets;
      const results = await evaluateBudgets(store, tenant, budgets, cand.scope, base?.scope);
      res.json({
        verdict: overallVerdict(results),
        budgets: results.map(resultJson),
      } satisfies BudgetEvaluation);
    }),
  );

  api.get(
    '/budgets/series',
    route(async (req, res) => {
      const tenant = tenantOf(req);
      const service = required(req, 'service', 'service=<name>');
      const name = required(req, 'name', 'name=<budget>');
      const budget = (await store.budgets.get(tenant, service)).budgets.find((b) => b.name === name);
      if (!budget)
        throw new InputError(
          'not_found',
          `service ${service} has no budget named ${JSON.stringify(name.slice(0, 128))}`,
        );
      const range = rangeOf(req, 'now-24h');
      const points = intParam(req, 'points', 96, 2, 1000);
      const stepMs = Math.max(10_000, Math.ceil((range.until - range.from) / points / 10_000) * 10_000);
      const extra = param(req, 'query') ? parseSelector(param(req, 'query')!).matchers : [];
      const sel = budgetSelection(tenant, budget, { matchers: extra, ...range });
      const typeKind = await store.queries.kindOf(sel);
      const series = await store.budgets.series(sel, budget, stepMs, typeKind);
      res.json({
        budget: budgetJson(budget),
        typeKind,
        stepMs,
        from: range.from,
        until: range.until,
        points: series,
      } satisfies BudgetSeries);
    }),
  );

  api.get(
    '/gate',
    route(async (req, res) => {
      const tenant = tenantOf(req);
      const service = required(req, 'service', 'service=<name>');
      const version = required(req, 'version', "version=<the deploy's version label value>");
      const baselineVersion = param(req, 'baseline');
      const label = param(req, 'label') ?? 'version';
      if (!/^[A-Za-z_][A-Za-z0-9_.]{0,127}$/.test(label))
        throw new InputError('invalid_parameter', 'label must be a label name');
      const range = rangeOf(req, 'now-1h');
      const regressionsMode = param(req, 'regressions') ?? 'fail';
      if (regressionsMode !== 'fail' && regressionsMode !== 'ignore')
        throw new InputError('invalid_parameter', 'regressions must be fail or ignore');
      const budgets = (await store.budgets.get(tenant, service)).budgets.filter((b) => b.service === service);
      const scope = (v: string): BudgetScope => ({
        matchers: [{ name: label, op: '=', value: v }],
        ...range,
      });
      const comparing = baselineVersion !== undefined && regressionsMode === 'fail';
      // The detector compares each profile type the budgets name (cpu when none does) between the two versions.
      const types = [...new Set(budgets.map((b) => b.type))];
      // A canary's processes are young and the stable version's old: leave out each one's warm-up, as the schedule does.
      const warmupMs = comparing ? (await store.baselines.get(tenant, service, '*')).warmupMs : 0;
      const [results, detections] = await Promise.all([
        evaluateBudgets(
          store,
          tenant,
          budgets,
          scope(version),
          baselineVersion !== undefined ? scope(baselineVersion) : undefined,
        ),
        comparing
          ? Promise.all(
              (types.length ? types : ['cpu']).map(async (type) => {
                const sel = (v: string) => ({ tenant, service, type, range, matchers: scope(v).matchers });
                return {
                  type,
                  ...(await compareSelections(store, sel(baselineVersion), sel(version), {}, warmupMs)),
                };
              }),
            )
          : Promise.resolve([]),
      ]);
      const {
        verdict,
        reason,
        found: regressed,
      } = gateVerdict({ service, budgets: budgets.length, comparing, results, detections });
      res.json({
        verdict,
        reason,
        service,
        version,
        ...(baselineVersion !== undefined ? { baseline: baselineVersion } : {}),
        label,
        from: range.from,
        until: range.until,
        budgets: results.map(resultJson),
        regressions: comparing
          ? {
              compared: detections.map((d) => ({
                type: d.type,
                verdict: d.detection.verdict,
                profiles: [d.detection.baseline.n, d.detection.candidate.n],
              })),
              found: regressed,
            }
          : null,
      });
    }),
  );

  return api;
}

function budgetJson(b: Budget): BudgetSeries['budget'] {
  return {
    ...b,
    function: b.function ? matcherText(b.function) : undefined,
    measure: b.function?.measure,
  };
}

/** Budgets from a PUT or evaluate body: the file's YAML text or its JSON value; a budget that names no service gets `service`. */
function readBudgets(body: unknown, service: string): { budgets: Budget[]; source: unknown } {
  if (typeof body === 'string') return { budgets: parseBudgetsYaml(body, 'body', service), source: body };
  if (body === undefined || body === null || (typeof body === 'object' && Object.keys(body).length === 0)) {
    throw new InputError(
      'invalid_budgets',
      'send the budgets file: YAML (content-type application/yaml) or its JSON value {"budgets": [...]}',
    );
  }
  return { budgets: budgetsFromJson(body, 'body', service), source: body };
}
