/**
 * The Argo Rollouts example (examples/argo-rollouts/) against a real gate:
 * the AnalysisTemplate and Rollout parse and have Argo's shapes, the
 * template's URL (its args substituted as the Rollout passes them) is called
 * on a real server in token mode with the template's header, its jsonPath
 * is applied to the real answer, and the conditions and limits are evaluated
 * as Argo's controller does: a canary that breaks a budget Fails, a good one
 * is Successful, one with too few profiles is Inconclusive.
 *
 * Argo is not run here. What stands in for it, kept to what the template uses:
 * - jsonPath: the Kubernetes JSONPath subset `{$.a.b}`, `{.a}`, `{$['a'][0]}`
 *   (fields and indices; no wildcards, filters, slices, ranges or recursive
 *   descent, which throw); Argo's web provider takes the first value found.
 * - conditions: expr's `result == <literal>` / `!=`, joined by `&&` or `||`
 *   (no parentheses), literals "…", '…', numbers, true, false.
 * - the verdict of a measurement: utils/evaluate.EvaluateResult (failure
 *   first; neither condition: Inconclusive), and of the metric: failed >
 *   failureLimit → Failed, inconclusive > inconclusiveLimit → Inconclusive,
 *   else Successful once count measurements are taken (argo-rollouts
 *   analysis/analysis.go, assessMetricStatus).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { ingest, startServer, type TestServer } from './helpers/server';
import { rng } from './helpers/synthetic-profiles';

const dir = path.join(__dirname, '..', 'examples', 'argo-rollouts');
const ADMIN = 'operator-secret-argo-0123456789abcdef';

// ---------------------------------------------------------------------------
// Argo's shapes (the fields of v1alpha1 AnalysisTemplate, Metric, WebMetric,
// Rollout's analysis step that the example may use; unknown fields refused).

const duration = z.string().regex(/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/, 'a Go duration such as 30s, 5m, 1h');
const count = z.union([z.number().int().min(0), z.string().regex(/^\d+$/)]);
const arg = z
  .object({
    name: z.string().min(1),
    value: z.string().optional(),
    valueFrom: z
      .object({
        secretKeyRef: z.object({ name: z.string(), key: z.string() }).strict().optional(),
        fieldRef: z.object({ fieldPath: z.string() }).strict().optional(),
        podTemplateHashValue: z.enum(['Stable', 'Latest']).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();
const webMetric = z
  .object({
    method: z.enum(['GET', 'POST', 'PUT']).optional(),
    url: z.string().min(1),
    headers: z.array(z.object({ key: z.string(), value: z.string() }).strict()).optional(),
    body: z.string().optional(),
    jsonBody: z.unknown().optional(),
    timeoutSeconds: z.number().int().positive().optional(),
    jsonPath: z.string().optional(),
    insecure: z.boolean().optional(),
  })
  .strict();
const metric = z
  .object({
    name: z.string().min(1),
    interval: duration.optional(),
    initialDelay: duration.optional(),
    count: count.optional(),
    successCondition: z.string().optional(),
    failureCondition: z.string().optional(),
    failureLimit: count.optional(),
    inconclusiveLimit: count.optional(),
    consecutiveErrorLimit: count.optional(),
    provider: z.object({ web: webMetric }).strict(),
  })
  .strict();
const analysisTemplate = z
  .object({
    apiVersion: z.literal('argoproj.io/v1alpha1'),
    kind: z.literal('AnalysisTemplate'),
    metadata: z.object({ name: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/) }).loose(),
    spec: z.object({ args: z.array(arg).optional(), metrics: z.array(metric).min(1) }).strict(),
  })
  .strict();
const analysisStep = z.object({
  analysis: z
    .object({
      templates: z.array(z.object({ templateName: z.string() }).strict()),
      args: z.array(arg).optional(),
    })
    .strict(),
});
const rollout = z
  .object({
    apiVersion: z.literal('argoproj.io/v1alpha1'),
    kind: z.literal('Rollout'),
    metadata: z.object({ name: z.string() }).loose(),
    spec: z
      .object({
        replicas: z.number().int().optional(),
        selector: z.unknown(),
        template: z.unknown(),
        strategy: z
          .object({ canary: z.object({ steps: z.array(z.record(z.string(), z.unknown())) }).loose() })
          .strict(),
      })
      .loose(),
  })
  .strict();

type Template = z.infer<typeof analysisTemplate>;
type Metric = z.infer<typeof metric>;

const template: Template = analysisTemplate.parse(
  parse(fs.readFileSync(path.join(dir, 'analysis-template.yaml'), 'utf8')),
);
const rolloutSpec = rollout.parse(parse(fs.readFileSync(path.join(dir, 'rollout.yaml'), 'utf8')));
const gateMetric = template.spec.metrics[0];

/** Argo's argument substitution: `{{args.name}}` or `{{ args.name }}`, the value as it is (no URL escaping). */
function substitute(text: string, args: Record<string, string>): string {
  return text.replace(/\{\{\s*args\.([A-Za-z0-9_-]+)\s*\}\}/g, (_, name: string) => {
    if (!(name in args)) throw new Error(`no value for argument ${name}`);
    return args[name];
  });
}

// ---------------------------------------------------------------------------
// What Argo does with an answer.

/** The first value a Kubernetes JSONPath template (the subset above) finds in `data`. */
function jsonPathFirst(template: string, data: unknown): unknown {
  const m = /^\{(.*)\}$/s.exec(template.trim());
  if (!m) throw new Error(`only a single {…} expression is supported, not ${template}`);
  let expr = m[1].trim();
  if (expr.startsWith('$')) expr = expr.slice(1);
  let value: unknown = data;
  const segment = /^(?:\.([A-Za-z0-9_-]+)|\[\s*'([^']*)'\s*\]|\[\s*"([^"]*)"\s*\]|\[\s*(\d+)\s*\])/;
  while (expr.length > 0) {
    const s = segment.exec(expr);
    if (!s) throw new Error(`unsupported JSONPath syntax at ${JSON.stringify(expr)}`);
    expr = expr.slice(s[0].length);
    const key = s[1] ?? s[2] ?? s[3];
    if (key !== undefined) {
      if (value === null || typeof value !== 'object' || Array.isArray(value) || !(key in value))
        throw new Error(`${key} is not found`);
      value = (value as Record<string, unknown>)[key];
    } else {
      const i = Number(s[4]);
      if (!Array.isArray(value) || i >= value.length) throw new Error(`index ${i} out of range`);
      value = value[i];
    }
  }
  return value;
}

/** An expr condition over `result` (the subset above). */
function evalCondition(condition: string, result: unknown): boolean {
  const literal = (t: string): unknown => {
    const s = t.trim();
    if (/^"(?:[^"\\]|\\.)*"$/.test(s)) return JSON.parse(s);
    if (/^'[^']*'$/.test(s)) return s.slice(1, -1);
    if (s === 'true' || s === 'false') return s === 'true';
    if (/^-?\d+(\.\d+)?$/.test(s)) return Number(s);
    throw new Error(`unsupported literal ${s}`);
  };
  const comparison = (c: string): boolean => {
    const m = /^\s*result\s*(==|!=)\s*(.+?)\s*$/.exec(c);
    if (!m) throw new Error(`unsupported condition ${JSON.stringify(c)}`);
    const equal = result === literal(m[2]);
    return m[1] === '==' ? equal : !equal;
  };
  return condition.split('||').some((any) => any.split('&&').every(comparison));
}

type Phase = 'Successful' | 'Failed' | 'Inconclusive' | 'Error';

/** One measurement's phase: Argo's EvaluateResult. */
function measurementPhase(m: Pick<Metric, 'successCondition' | 'failureCondition'>, result: unknown): Phase {
  const s = m.successCondition ?? '';
  const f = m.failureCondition ?? '';
  if (!s && !f) return 'Successful';
  let success = s ? evalCondition(s, result) : false;
  let failure = f ? evalCondition(f, result) : false;
  if (s && !f) failure = !success;
  if (!s && f) success = !failure;
  if (failure) return 'Failed';
  if (!success) return 'Inconclusive';
  return 'Successful';
}

/** The metric's phase after a sequence of measurements: Argo's limits, then count (undefined: still running). */
function metricPhase(m: Metric, phases: Phase[]): Phase | undefined {
  const limit = (x: number | string | undefined, def: number) => (x === undefined ? def : Number(x));
  const tally = (p: Phase) => phases.filter((x) => x === p).length;
  let consecutiveErrors = 0;
  for (const p of phases) consecutiveErrors = p === 'Error' ? consecutiveErrors + 1 : 0;
  let phase: Phase | undefined;
  if (tally('Failed') > limit(m.failureLimit, 0)) phase = 'Failed';
  if (tally('Inconclusive') > limit(m.inconclusiveLimit, 0)) phase = 'Inconclusive';
  if (consecutiveErrors > limit(m.consecutiveErrorLimit, 4)) phase = 'Error';
  if (phase) return phase;
  const c = m.count === undefined ? (m.interval ? undefined : 1) : Number(m.count);
  return c !== undefined && phases.length >= c ? 'Successful' : undefined;
}

// ---------------------------------------------------------------------------

let server: TestServer;
let readToken: string;
const STABLE = '7d9f8c6b5';
const GOOD = '5c4b3a2d1';
const SLOW = '6f5e4d3c2';
const SHORT = '8a7b6c5d4';

async function call(
  method: string,
  pathAndQuery: string,
  token: string,
  body?: string,
  type = 'application/json',
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(server.url + pathAndQuery, {
    method,
    headers: { Authorization: `Bearer ${token}`, ...(body ? { 'content-type': type } : {}) },
    ...(body ? { body } : {}),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** One 10 s profile: db.query `db` of ~1,000 samples, ±10 % noise per frame. */
function folded(seed: number, db: number): string {
  const r = rng(seed);
  const n = (base: number) => Math.round(base * (0.9 + 0.2 * r()));
  return [
    `main;api;db.query ${n(db)}`,
    `main;api;JSON.parse ${n(30)}`,
    `main;api;render ${n(1000 - db - 30)}`,
  ].join('\n');
}

beforeAll(async () => {
  server = await startServer({ auth: { mode: 'token', adminToken: ADMIN } });
  const token = async (scopes: string[]) => {
    const res = await call(
      'POST',
      '/api/v1/tokens',
      ADMIN,
      JSON.stringify({ tenant: 'default', scopes, name: scopes.join('+') }),
    );
    expect(res.status).toBe(201);
    return res.json.token as string;
  };
  const ingestToken = await token(['ingest']);
  const adminToken = await token(['admin']);
  readToken = await token(['read']);
  const budgets =
    'budgets:\n  - name: db-share\n    function: db.query\n    share: 30%\n  - name: db-growth\n    function: db.query\n    growth: 10%\n';
  expect(
    (await call('PUT', '/api/v1/budgets?service=checkout', adminToken, budgets, 'application/yaml')).status,
  ).toBe(200);
  // 20 minutes ago, three instances (processes: the detector's unit of replication) a version push
  // 12 profiles each. With two a side the detector is too coarse to call a good canary good (it can
  // only see rises of 50 % or more on the biggest functions): inconclusive, never a pass.
  const t0 = Math.floor(Date.now() / 60_000) * 60 - 1200 + 30;
  const push = async (version: string, instance: string, i: number, body: string) => {
    const res = await ingest(
      server.url,
      {
        name: `checkout.cpu{version=${version},instance=${instance}}`,
        from: String(t0 + i * 10),
        until: String(t0 + i * 10 + 10),
      },
      body,
      { Authorization: `Bearer ${ingestToken}` },
    );
    expect(res.status).toBe(200);
  };
  for (let i = 0; i < 12; i++) {
    for (const [k, inst] of ['a', 'b', 'c'].entries()) {
      await push(STABLE, `stable-${inst}`, i, folded(1000 + i * 3 + k, 250));
      await push(GOOD, `good-${inst}`, i, folded(2000 + i * 3 + k, 250));
      await push(SLOW, `slow-${inst}`, i, folded(3000 + i * 3 + k, 400));
    }
  }
  for (let i = 0; i < 3; i++) await push(SHORT, 'short-a', i, folded(4000 + i, 250));
  await server.store.writer.drain();
}, 120_000);
afterAll(async () => server?.close());

describe('the example', () => {
  it('is an AnalysisTemplate with one web metric reading $.verdict: pass succeeds, fail fails, anything else is inconclusive', () => {
    expect(template.metadata.name).toBe('flamewatch-gate');
    expect(gateMetric.provider.web.jsonPath).toBe('{$.verdict}');
    expect(gateMetric.successCondition).toBe('result == "pass"');
    expect(gateMetric.failureCondition).toBe('result == "fail"');
    expect(
      ['pass', 'fail', 'inconclusive', 'anything else'].map((v) => measurementPhase(gateMetric, v)),
    ).toEqual(['Successful', 'Failed', 'Inconclusive', 'Inconclusive']);
    // Every placeholder names a declared argument; the ones without a value are the Rollout's to give.
    const declared = new Set(template.spec.args!.map((a) => a.name));
    const used = [...JSON.stringify(gateMetric).matchAll(/\{\{\s*args\.([A-Za-z0-9_-]+)\s*\}\}/g)].map(
      (x) => x[1],
    );
    expect(used.filter((u) => !declared.has(u))).toEqual([]);
    expect(new Set(used)).toEqual(
      new Set(['flamewatch-url', 'service', 'canary-version', 'stable-version', 'flamewatch-token']),
    );
  });

  it('has limits that let early inconclusive answers pass, stop at the first fail, and pause only when it never decides', () => {
    const c = Number(gateMetric.count);
    expect(Number(gateMetric.failureLimit)).toBe(0);
    expect(Number(gateMetric.inconclusiveLimit)).toBe(c - 1);
    const I: Phase = 'Inconclusive';
    expect(metricPhase(gateMetric, [I, I, I, 'Successful'])).toBeUndefined(); // still running until count
    expect(
      metricPhase(gateMetric, [...Array<Phase>(5).fill(I), ...Array<Phase>(c - 5).fill('Successful')]),
    ).toBe('Successful');
    expect(metricPhase(gateMetric, [I, I, 'Successful', 'Failed'])).toBe('Failed');
    expect(metricPhase(gateMetric, Array<Phase>(c).fill(I))).toBe('Inconclusive');
    expect(metricPhase(gateMetric, ['Error', 'Error', 'Error', 'Error', 'Error'])).toBe('Error');
  });

  it('is used by the Rollout in a canary step, with the pod-template hashes as the versions its pods label their profiles with', () => {
    const steps = rolloutSpec.spec.strategy.canary.steps;
    const step = analysisStep.parse(steps.find((s) => 'analysis' in s));
    expect(step.analysis.templates).toEqual([{ templateName: template.metadata.name }]);
    const given = Object.fromEntries((step.analysis.args ?? []).map((a) => [a.name, a]));
    expect(given['canary-version'].valueFrom?.podTemplateHashValue).toBe('Latest');
    expect(given['stable-version'].valueFrom?.podTemplateHashValue).toBe('Stable');
    // Every template argument without a value of its own is given by the Rollout.
    for (const a of template.spec.args!)
      if (a.value === undefined && a.valueFrom === undefined) expect(given[a.name]).toBeDefined();
    const env = (
      rolloutSpec.spec.template as {
        spec: {
          containers: {
            env: { name: string; value?: string; valueFrom?: { fieldRef?: { fieldPath: string } } }[];
          }[];
        };
      }
    ).spec.containers[0].env;
    expect(env.find((e) => e.name === 'POD_TEMPLATE_HASH')?.valueFrom?.fieldRef?.fieldPath).toBe(
      "metadata.labels['rollouts-pod-template-hash']",
    );
    expect(env.find((e) => e.name === 'FLAMEWATCH_LABELS')?.value).toBe('version=$(POD_TEMPLATE_HASH)');
  });
});

describe('the template against a real gate', () => {
  /** One measurement as Argo's web provider takes it: the substituted URL and headers, 2xx or Error, the jsonPath's first value, the conditions. */
  async function measure(
    canary: string,
    token = readToken,
  ): Promise<{ phase: Phase; result: unknown; body: Record<string, unknown> }> {
    const args = {
      'flamewatch-url': server.url,
      'flamewatch-token': token,
      service: 'checkout',
      'canary-version': canary,
      'stable-version': STABLE,
    };
    const web = gateMetric.provider.web;
    const headers = Object.fromEntries((web.headers ?? []).map((h) => [h.key, substitute(h.value, args)]));
    const res = await fetch(substitute(web.url, args), { method: web.method ?? 'GET', headers });
    if (res.status < 200 || res.status >= 300) return { phase: 'Error', result: undefined, body: {} };
    const body = (await res.json()) as Record<string, unknown>;
    const result = jsonPathFirst(web.jsonPath ?? '{$}', body);
    return { phase: measurementPhase(gateMetric, result), result, body };
  }

  it('fails a canary that breaks a budget: the measurement is Failed and so is the run', async () => {
    const m = await measure(SLOW);
    expect(m.result).toBe('fail');
    expect(m.body.reason).toMatch(/budget db-share: db\.query total \d+\.\d\d % over 30%/);
    // The detector, comparing three processes a version, names the same function's total cost, and nothing else.
    expect(m.body.regressions).toMatchObject({
      compared: [{ type: 'cpu', verdict: 'regression', profiles: [36, 36] }],
      found: [{ type: 'cpu', function: 'db.query', measure: 'total' }],
    });
    expect((m.body.regressions as { found: unknown[] }).found).toHaveLength(1);
    expect(m.phase).toBe('Failed');
    expect(metricPhase(gateMetric, [m.phase])).toBe('Failed');
  });

  it('passes a good canary: Successful, and the run Successful once count measurements are in', async () => {
    const m = await measure(GOOD);
    expect(m.result).toBe('pass');
    expect(m.body.regressions).toEqual({
      compared: [{ type: 'cpu', verdict: 'no_regression', profiles: [36, 36] }],
      found: [],
    });
    expect(m.phase).toBe('Successful');
    expect(metricPhase(gateMetric, Array<Phase>(Number(gateMetric.count)).fill(m.phase))).toBe('Successful');
  });

  it('cannot tell for a canary with three profiles: Inconclusive, and the run Inconclusive if it stays so', async () => {
    const m = await measure(SHORT);
    expect(m.result).toBe('inconclusive');
    expect(m.body.reason).toMatch(/needs at least 5 observations/);
    expect(m.phase).toBe('Inconclusive');
    expect(metricPhase(gateMetric, [m.phase])).toBeUndefined();
    expect(metricPhase(gateMetric, Array<Phase>(Number(gateMetric.count)).fill(m.phase))).toBe(
      'Inconclusive',
    );
  });

  it('is an Error, not a failure, when the token is refused (401): only consecutiveErrorLimit of them end the run', async () => {
    const m = await measure(SLOW, 'fw_not-a-token');
    expect(m.phase).toBe('Error');
    expect(metricPhase(gateMetric, [m.phase])).toBeUndefined();
  });
});

describe('the stand-ins for Argo', () => {
  it('read the JSONPath subset the template uses, and refuse the rest', () => {
    const doc = { verdict: 'pass', budgets: [{ name: 'a', verdict: 'fail' }], 'odd-key': 1 };
    expect(jsonPathFirst('{$.verdict}', doc)).toBe('pass');
    expect(jsonPathFirst('{.budgets[0].verdict}', doc)).toBe('fail');
    expect(jsonPathFirst("{$['odd-key']}", doc)).toBe(1);
    expect(() => jsonPathFirst('{$.budgets[*].verdict}', doc)).toThrow(/unsupported/);
    expect(() => jsonPathFirst('{$.nope}', doc)).toThrow(/not found/);
  });

  it('evaluate conditions as expr would for string, number and boolean literals', () => {
    expect(evalCondition('result == "pass"', 'pass')).toBe(true);
    expect(evalCondition("result == 'pass'", 'fail')).toBe(false);
    expect(evalCondition('result != "fail" && result != "inconclusive"', 'pass')).toBe(true);
    expect(evalCondition('result == 1 || result == true', true)).toBe(true);
    expect(() => evalCondition('asFloat(result) > 1', '2')).toThrow(/unsupported/);
  });
});
