/**
 * Performance budgets: absolute limits a service's profiles must stay within,
 * whatever the baseline was. The model, its JSON Schema (published at
 * `GET /api/v1/budgets/schema`), the parser of `flamewatch.budgets.yaml`
 * (errors name the line) and the evaluator: per-observation values in, a
 * verdict with a confidence out. Pure: the store computes the observations.
 *
 * A budget limits one of:
 * - `share`: a function's (or a `/regex/`'s) self or total share of the profile total;
 * - `rate`: the total per instance-second (CPU: `0.5 cores`; allocations: `40 MB/s`),
 *   or for in-use types (`inuse_space`) the mean in-use value per instance (`200 MB`);
 * - `perRequest`: the total per unit of a counter pushed as its own profile type
 *   (`requests`), e.g. `40 us` of CPU per request;
 * - `growth`: the relative change against a baseline of a function's cost as the
 *   regression detector estimates it (per unit of work or per size factor,
 *   processes as the unit of replication; judgeGrowthDetected), or of the
 *   whole program's cost per unit of work when no function is named, e.g.
 *   `5%`; a regex function, or no function without work counts, falls back to
 *   per-observation values (shares, the rate per second) with Welch's t.
 */
import Ajv from 'ajv';
import { isMap, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { InputError } from './errors';
import type { Detection, Finding } from './regression';
import { studentTQuantileUpper, studentTUpper, welch } from './stats';

export type Severity = 'warn' | 'block';
export type BudgetKind = 'share' | 'rate' | 'perRequest' | 'growth';

/** What a share or growth budget measures: a function by exact name, or every function a regex matches (a sample counts once). */
export interface FunctionMatcher {
  name: string;
  regex: boolean;
  measure: 'self' | 'total';
}

export interface Budget {
  name: string;
  service: string;
  /** Profile type, e.g. `cpu`, `wall`, `alloc_space`, `inuse_space`. */
  type: string;
  /** Label matchers the budget applies to, `{env="prod"}`; '' for all of the service's profiles. */
  selector: string;
  owner: string;
  severity: Severity;
  description?: string;
  kind: BudgetKind;
  /** share and growth: what is measured (growth without a function measures the rate). */
  function?: FunctionMatcher;
  /** The limit: a fraction (share, growth) or a value in the type's base unit (ns, bytes, count) per second or per request. */
  max: number;
  /** As the budget wrote it, for messages: `35%`, `0.5 cores`, `40 us`. */
  maxText: string;
  /** perRequest: the profile type whose totals count requests. */
  counter?: string;
}

export type Verdict = 'pass' | 'fail' | 'inconclusive';

export interface BudgetResult {
  budget: Budget;
  verdict: Verdict;
  /** The estimate: mean share, rate, cost per request, or relative growth. NaN with no data. */
  value: number;
  /** A 95 % two-sided interval of the value. */
  ci: [number, number];
  /** How sure the verdict is: the one-sided probability that the value is on the side of the limit the verdict says. */
  confidence: number;
  /** Observations (instance × time bucket) behind the value: candidate, and baseline for growth. */
  observations: number;
  baselineObservations?: number;
  /** For inconclusive: about how many observations a side would decide it at the present spread. */
  needed?: number;
  reason: string;
  /** Something the owner should know that does not change the verdict: a function that appears nowhere (a typo?). */
  warning?: string;
}

export const MIN_OBSERVATIONS = 5;
/** Pass below the limit, fail above it, each at this one-sided confidence; in between is inconclusive. */
export const CONFIDENCE = 0.95;

// ---------------------------------------------------------------------------
// The file format and its schema

const NAME = '^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}$';
const LIMIT = '^\\s*[0-9]+(\\.[0-9]+)?(e[+-]?[0-9]+)?\\s*[A-Za-zµ%/]*\\s*$';

/** The JSON Schema of `flamewatch.budgets.yaml` (and of `PUT /api/v1/budgets`'s body). */
export const BUDGETS_SCHEMA = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://flamewatch.dev/schemas/budgets.json',
  title: 'Flamewatch performance budgets',
  type: 'object',
  additionalProperties: false,
  required: ['budgets'],
  properties: {
    version: { const: 1 },
    defaults: {
      type: 'object',
      additionalProperties: false,
      description: 'Fields every budget takes unless it sets its own.',
      properties: {
        service: { type: 'string', minLength: 1, maxLength: 256 },
        type: { type: 'string' },
        selector: { type: 'string' },
        owner: { type: 'string' },
        severity: { enum: ['warn', 'block'] },
      },
    },
    budgets: {
      type: 'array',
      maxItems: 500,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['name'],
        properties: {
          name: {
            type: 'string',
            pattern: NAME,
            description: 'Unique in the file; names the budget in verdicts, the UI and breaches.',
          },
          service: { type: 'string', minLength: 1, maxLength: 256 },
          type: {
            type: 'string',
            pattern: '^[A-Za-z0-9_.-]{1,64}$',
            description: 'Profile type; default cpu.',
          },
          selector: { type: 'string', maxLength: 2048, description: 'Label matchers, e.g. {env="prod"}.' },
          owner: { type: 'string', maxLength: 256 },
          severity: {
            enum: ['warn', 'block'],
            description: 'block fails CI and the gate; warn only reports. Default block.',
          },
          description: { type: 'string', maxLength: 2048 },
          function: {
            type: 'string',
            minLength: 1,
            maxLength: 4096,
            description: 'A function name, or /regex/ for every function it matches.',
          },
          measure: { enum: ['self', 'total'], description: 'Default total.' },
          share: {
            type: ['string', 'number'],
            pattern: LIMIT,
            description: 'Most of the profile total the function may take: 35% or 0.35.',
          },
          rate: {
            type: ['string', 'number'],
            pattern: LIMIT,
            description: 'Most per instance-second: 0.5 cores, 200 ms/s, 40 MB/s; in-use types: 200 MB.',
          },
          perRequest: {
            type: ['string', 'number'],
            pattern: LIMIT,
            description: 'Most per counted request: 40 us, 2 KB.',
          },
          counter: {
            type: 'string',
            pattern: '^[A-Za-z0-9_.-]{1,64}$',
            description: 'perRequest: the profile type counting requests; default requests.',
          },
          growth: {
            type: ['string', 'number'],
            pattern: LIMIT,
            description: 'Most relative growth against the baseline: 5%.',
          },
        },
      },
    },
  },
} as const;

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true });
const validate = ajv.compile(BUDGETS_SCHEMA);

/** One problem in a budgets file, at a line when it came from YAML. */
export interface BudgetProblem {
  line?: number;
  column?: number;
  path: string;
  message: string;
}

export class BudgetFileError extends InputError {
  constructor(
    readonly problems: BudgetProblem[],
    file = 'budgets',
  ) {
    super(
      'invalid_budgets',
      `${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${problems.map((p) => `  ${p.line !== undefined ? `line ${p.line}${p.column ? `:${p.column}` : ''}: ` : ''}${p.path ? `${p.path}: ` : ''}${p.message}`).join('\n')}`,
    );
    this.name = 'BudgetFileError';
  }
}

/** Parses a budgets file's YAML (or JSON) text; throws BudgetFileError naming each problem's line. */
export function parseBudgetsYaml(
  text: string,
  file = 'flamewatch.budgets.yaml',
  fallbackService?: string,
): Budget[] {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number | undefined) => (offset === undefined ? {} : lineCounter.linePos(offset));
  if (doc.errors.length > 0) {
    throw new BudgetFileError(
      doc.errors.map((e) => ({ ...pos(at(e.pos[0])), path: '', message: e.message.split('\n')[0] })),
      file,
    );
  }
  const value = doc.toJS() as unknown;
  const nodeAt = (path: (string | number)[]): Node | undefined => {
    for (let i = path.length; i >= 0; i--) {
      const n = doc.getIn(path.slice(0, i), true) as Node | undefined;
      if (n && typeof n === 'object' && 'range' in n && n.range) return n;
    }
    return undefined;
  };
  return budgetsFrom(
    value,
    file,
    (path) => pos(at(nodeAt(path)?.range?.[0])),
    isMap(doc.contents) || isSeq(doc.contents),
    fallbackService,
  );
}

/** Budgets from an already parsed value (the API's JSON body); problems carry paths, not lines. */
export function budgetsFromJson(value: unknown, file = 'body', fallbackService?: string): Budget[] {
  return budgetsFrom(value, file, () => ({}), true, fallbackService);
}

function pos(p: { line?: number; col?: number }): { line?: number; column?: number } {
  return p.line === undefined ? {} : { line: p.line, column: p.col };
}

type Where = (path: (string | number)[]) => { line?: number; column?: number };

function budgetsFrom(
  value: unknown,
  file: string,
  where: Where,
  structured: boolean,
  fallbackService?: string,
): Budget[] {
  if (!structured || value === null || typeof value !== 'object') {
    throw new BudgetFileError(
      [{ ...where([]), path: '', message: 'must be a mapping with a "budgets" list' }],
      file,
    );
  }
  const problems: BudgetProblem[] = [];
  // Budgets the schema refused are reported as such; the others still get the checks below, so one run names every problem.
  const refused = new Set<number>();
  if (!validate(value)) {
    for (const e of validate.errors ?? []) {
      const path = e.instancePath
        .split('/')
        .slice(1)
        .map((s) => (/^\d+$/.test(s) ? Number(s) : s.replace(/~1/g, '/').replace(/~0/g, '~')));
      const unknown =
        e.keyword === 'additionalProperties'
          ? String((e.params as { additionalProperty: string }).additionalProperty)
          : undefined;
      const target = unknown !== undefined ? [...path, unknown] : path;
      const message =
        unknown !== undefined
          ? 'unknown field (see GET /api/v1/budgets/schema)'
          : e.keyword === 'enum'
            ? `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`
            : (e.message ?? 'is invalid');
      problems.push({ ...where(target), path: dotted(target), message });
      if (path[0] === 'budgets' && typeof path[1] === 'number') refused.add(path[1]);
      else throw new BudgetFileError(problems, file);
    }
  }
  const v = value as { defaults?: Record<string, string>; budgets: Record<string, unknown>[] };
  const d = v.defaults ?? {};
  const budgets: Budget[] = [];
  const seen = new Set<string>();
  v.budgets.forEach((raw, i) => {
    if (refused.has(i)) return;
    const at = (key?: string) => ({
      ...where(key ? ['budgets', i, key] : ['budgets', i]),
      path: dotted(['budgets', i, ...(key ? [key] : [])]),
    });
    const b = raw as Record<string, string | number | undefined>;
    const name = String(b.name);
    if (seen.has(name)) problems.push({ ...at('name'), message: `budget "${name}" is named twice` });
    seen.add(name);
    const kinds = (['share', 'rate', 'perRequest', 'growth'] as const).filter((k) => b[k] !== undefined);
    if (kinds.length !== 1) {
      problems.push({
        ...at(),
        message:
          kinds.length === 0
            ? 'needs one limit: share, rate, perRequest or growth'
            : `has ${kinds.length} limits (${kinds.join(', ')}); write one budget per limit`,
      });
      return;
    }
    const kind = kinds[0];
    const service = (b.service as string | undefined) ?? d.service ?? fallbackService;
    if (!service) problems.push({ ...at(), message: 'needs a service (here or in defaults)' });
    const fnText = b.function as string | undefined;
    if (kind === 'share' && fnText === undefined)
      problems.push({ ...at('share'), message: 'a share limit needs a function' });
    if ((kind === 'rate' || kind === 'perRequest') && (fnText !== undefined || b.measure !== undefined)) {
      problems.push({
        ...at('function'),
        message: `a ${kind} limit is on the whole profile; remove function and measure (or use share)`,
      });
    }
    if (kind !== 'perRequest' && b.counter !== undefined)
      problems.push({ ...at('counter'), message: 'counter is for perRequest limits' });
    let fn: FunctionMatcher | undefined;
    if (fnText !== undefined) {
      const regex = fnText.length > 2 && fnText.startsWith('/') && fnText.endsWith('/');
      const name = regex ? fnText.slice(1, -1) : fnText;
      if (regex) {
        try {
          new RegExp(name);
        } catch (err) {
          problems.push({
            ...at('function'),
            message: `not a regular expression: ${(err as Error).message}`,
          });
        }
      }
      fn = { name, regex, measure: (b.measure as 'self' | 'total' | undefined) ?? 'total' };
    }
    const type = (b.type as string | undefined) ?? d.type ?? 'cpu';
    let max: number;
    try {
      max = parseLimit(kind, b[kind]!, type);
    } catch (err) {
      problems.push({ ...at(kind), message: (err as Error).message });
      return;
    }
    const selector = ((b.selector as string | undefined) ?? d.selector ?? '').trim();
    if (selector && !/^\{.*\}$/s.test(selector))
      problems.push({ ...at('selector'), message: 'write label matchers in braces: {env="prod"}' });
    budgets.push({
      name,
      service: service ?? '',
      type,
      selector,
      owner: (b.owner as string | undefined) ?? d.owner ?? '',
      severity: (b.severity as Severity | undefined) ?? (d.severity as Severity | undefined) ?? 'block',
      ...(b.description !== undefined ? { description: String(b.description) } : {}),
      kind,
      ...(fn ? { function: fn } : {}),
      max,
      maxText: String(b[kind]),
      ...(kind === 'perRequest' ? { counter: (b.counter as string | undefined) ?? 'requests' } : {}),
    });
  });
  if (problems.length > 0)
    throw new BudgetFileError(
      problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0)),
      file,
    );
  return budgets;
}

function dotted(path: (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${p}`)).join('');
}

const TIME: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9 };
const BYTES: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/** A limit as a number in the type's base unit: fractions for share and growth; ns, bytes or counts otherwise. */
export function parseLimit(kind: BudgetKind, text: string | number, type = 'cpu'): number {
  if (typeof text === 'number') {
    if (!(text >= 0) || !Number.isFinite(text))
      throw new Error(`limit must be a non-negative number, not ${text}`);
    if (kind === 'share' && text > 1)
      throw new Error(`a share of ${text} is over the whole profile; write 35% or 0.35`);
    return text;
  }
  const m = /^\s*([0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)\s*([A-Za-zµ%/]*)\s*$/.exec(text);
  if (!m) throw new Error(`cannot read the limit "${text}"`);
  const n = Number(m[1]);
  const unit = m[2];
  if (kind === 'share' || kind === 'growth') {
    if (unit !== '%' && unit !== '')
      throw new Error(`a ${kind} limit is a percentage (35%) or a fraction (0.35), not "${text}"`);
    const f = unit === '%' ? n / 100 : n;
    if (kind === 'share' && f > 1) throw new Error(`a share of ${text} is over the whole profile`);
    return f;
  }
  if (unit === '' || unit === '/s') return n;
  if (kind === 'rate' && (unit === 'cores' || unit === 'core')) {
    if (!isTimeType(type)) throw new Error(`"cores" is CPU time per second; type ${type} is not a time`);
    return n * 1e9;
  }
  const [base, per] = unit.split('/');
  if (per !== undefined && (kind !== 'rate' || per !== 's'))
    throw new Error(
      `cannot read the unit "${unit}" of "${text}"${kind === 'perRequest' ? ' (a perRequest limit is per request: 40 us, 2 KB)' : ''}`,
    );
  if (TIME[base] !== undefined) return n * TIME[base];
  if (BYTES[base.toLowerCase()] !== undefined) return n * BYTES[base.toLowerCase()];
  throw new Error(
    `unknown unit "${base}" in "${text}": use ns, us, ms, s, cores, B, KB, MB, GB, KiB, MiB, GiB`,
  );
}

/** What a budget's limit is measured in: time (ns), bytes, or a plain number (a share, a growth, a count). */
export function limitDimension(b: Pick<Budget, 'kind' | 'maxText' | 'type'>): 'time' | 'bytes' | 'none' {
  if (b.kind === 'share' || b.kind === 'growth') return 'none';
  const m = /^\s*[0-9.eE+-]+\s*([A-Za-zµ]*)/.exec(b.maxText);
  const base = (m?.[1] ?? '').toLowerCase();
  if (base === 'cores' || base === 'core' || TIME[base] !== undefined || base === 'µs') return 'time';
  if (BYTES[base] !== undefined) return 'bytes';
  return 'none';
}

const STORED_TIME: Record<string, number> = {
  nanoseconds: 1,
  microseconds: 1e3,
  milliseconds: 1e6,
  seconds: 1e9,
};

/**
 * The factor from the unit the data is stored in to the limit's base unit (ns or bytes); undefined when the
 * limit's unit cannot be derived from the data (CPU pushed in samples with no sample rate cannot be cores).
 */
export function unitScale(dimension: 'time' | 'bytes' | 'none', storedUnit: string): number | undefined {
  if (dimension === 'none') return 1;
  if (dimension === 'time') return STORED_TIME[storedUnit];
  return storedUnit === 'bytes' ? 1 : undefined;
}

/** Types whose values are time (CPU, wall) rather than bytes or counts. */
export function isTimeType(type: string): boolean {
  return /^(cpu|wall|process_cpu|itimer|block|mutex|contentions|delay)/.test(type);
}

/** In-use types are gauges: their total is a level, not an amount per second. */
export function isGaugeType(type: string): boolean {
  return /^inuse/.test(type);
}

// ---------------------------------------------------------------------------
// Evaluation

/** One observation of the candidate (or baseline): an instance over a time bucket. */
export interface BudgetObservation {
  total: number;
  durationMs: number;
  profiles: number;
  /** The matched value of each function matcher the evaluation asked for, in that order. */
  matched: number[];
  /** perRequest: the counter's total for the same instance and bucket. */
  requests?: number;
}

/** The per-observation value a budget limits, or undefined when the observation says nothing of it. */
export function observedValue(b: Budget, o: BudgetObservation, matcherIndex: number): number | undefined {
  if (o.total <= 0) return undefined;
  if (b.function && (b.kind === 'share' || b.kind === 'growth')) return o.matched[matcherIndex] / o.total;
  if (b.kind === 'perRequest') return o.requests && o.requests > 0 ? o.total / o.requests : undefined;
  if (isGaugeType(b.type)) return o.total / Math.max(1, o.profiles);
  return (o.total * 1000) / Math.max(1, o.durationMs);
}

function meanVar(xs: number[]): { n: number; mean: number; variance: number } {
  const n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / Math.max(1, n);
  const variance = n > 1 ? xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1) : 0;
  return { n, mean, variance };
}

/**
 * The verdict of an absolute budget on per-observation values: fail when
 * the value is above the limit at 95 % one-sided confidence (Student's t on
 * the observations' spread), pass when below it at the same confidence,
 * otherwise inconclusive with about how many observations would decide.
 */
export function judgeAbsolute(budget: Budget, values: number[]): BudgetResult {
  const { n, mean, variance } = meanVar(values);
  const base = { budget, value: n ? mean : NaN, observations: n };
  if (n < MIN_OBSERVATIONS) {
    return {
      ...base,
      verdict: 'inconclusive',
      ci: [NaN, NaN],
      confidence: 0,
      needed: MIN_OBSERVATIONS,
      reason: `needs at least ${MIN_OBSERVATIONS} observations; has ${n}`,
    };
  }
  return judge(base, mean, Math.sqrt(variance / n), n - 1, budget.max, (se) =>
    Math.ceil(n * (se / Math.max(1e-300, Math.abs(mean - budget.max))) ** 2),
  );
}

/**
 * The verdict of a growth budget: the candidate's mean against the
 * baseline's, Welch's t on the difference, relative to the baseline mean
 * (its own uncertainty left out of the ratio, as the detector's relative
 * change does).
 */
export function judgeGrowth(budget: Budget, baseline: number[], candidate: number[]): BudgetResult {
  const b = meanVar(baseline);
  const c = meanVar(candidate);
  const base = {
    budget,
    value: b.mean > 0 ? c.mean / b.mean - 1 : NaN,
    observations: c.n,
    baselineObservations: b.n,
  };
  if (b.n < MIN_OBSERVATIONS || c.n < MIN_OBSERVATIONS) {
    return {
      ...base,
      verdict: 'inconclusive',
      ci: [NaN, NaN],
      confidence: 0,
      needed: MIN_OBSERVATIONS,
      reason: `needs at least ${MIN_OBSERVATIONS} observations a side; the baseline has ${b.n}, the candidate ${c.n}`,
    };
  }
  if (!(b.mean > 0))
    return {
      ...base,
      verdict: 'inconclusive',
      ci: [NaN, NaN],
      confidence: 0,
      reason: 'the baseline is zero: growth against it is undefined',
    };
  const w = welch(b.variance, b.n, c.variance, c.n);
  const se = w.se / b.mean;
  const df = w.df;
  const growth = c.mean / b.mean - 1;
  return judge(base, growth, se, df, budget.max, (s) =>
    Math.ceil(Math.max(b.n, c.n) * (s / Math.max(1e-300, Math.abs(growth - budget.max))) ** 2),
  );
}

/**
 * The verdict of a growth budget from the regression detector's comparison of
 * the baseline with the candidate (`detect` with the budget's function in
 * `focus`): the function's cost per unit of work (or per robust size factor),
 * processes as the unit of replication, never its share, which moves when
 * anything else changes. Without a function: the whole program's cost per
 * unit of work, which needs work counts (`undefined` without them: the caller
 * falls back to the rate per second).
 */
export function judgeGrowthDetected(budget: Budget, d: Detection): BudgetResult | undefined {
  const base = { budget, value: NaN, observations: d.candidate.n, baselineObservations: d.baseline.n };
  if (d.verdict === 'insufficient_data') {
    return {
      ...base,
      verdict: 'inconclusive',
      ci: [NaN, NaN],
      confidence: 0,
      needed: d.options.minObservations,
      reason: d.reason ?? 'too few profiles',
    };
  }
  let f: Finding | undefined;
  if (budget.function) {
    const of = (m: string) => d.focus?.find((x) => x.function === budget.function!.name && x.measure === m);
    // A function whose self is its total (a leaf) is estimated once, as its total.
    f = budget.function.measure === 'self' ? (of('self') ?? of('total')) : of('total');
  } else {
    if (d.normalisation === 'size') return undefined;
    f = d.rate;
  }
  if (!f || !(f.baseline > 0))
    return {
      ...base,
      verdict: 'inconclusive',
      ci: [NaN, NaN],
      confidence: 0,
      reason: 'the baseline has none of it: growth against it is undefined',
    };
  const growth = f.candidate / f.baseline - 1;
  // The detector's interval is of the difference, in the baseline's whole cost; as growth, of the baseline's own.
  const se = (f.ci[1] - f.ci[0]) / (2 * studentTQuantileUpper(0.025, f.df)) / f.baseline;
  const processes = Math.max(d.baseline.processes, d.candidate.processes);
  const r = judge({ ...base, value: growth }, growth, se, f.df, budget.max, (s) =>
    Math.ceil(d.candidate.n * (s / Math.max(1e-300, Math.abs(growth - budget.max))) ** 2),
  );
  const per =
    d.normalisation === 'work'
      ? 'per unit of work'
      : d.normalisation === 'level'
        ? 'held'
        : 'per size factor';
  return {
    ...r,
    reason: `${r.reason} (${per}, ${d.baseline.processes} and ${d.candidate.processes} processes${processes < 2 ? ': one process a side cannot be decided' : ''})`,
  };
}

function judge(
  base: Pick<BudgetResult, 'budget' | 'value' | 'observations' | 'baselineObservations'>,
  mean: number,
  se: number,
  df: number,
  max: number,
  neededFor: (tse: number) => number,
): BudgetResult {
  const t = studentTQuantileUpper(1 - CONFIDENCE, df);
  const t2 = studentTQuantileUpper(0.025, df);
  const ci: [number, number] = [mean - t2 * se, mean + t2 * se];
  if (se === 0) {
    const verdict: Verdict = mean > max ? 'fail' : 'pass';
    return {
      ...base,
      verdict,
      ci,
      confidence: 1,
      reason:
        verdict === 'fail' ? 'over the limit in every observation' : 'within the limit in every observation',
    };
  }
  // P(true value on the other side of the limit), one-sided.
  const pOver = studentTUpper((max - mean) / se, df);
  if (mean - t * se > max)
    return { ...base, verdict: 'fail', ci, confidence: pOver, reason: 'over the limit' };
  if (mean + t * se <= max)
    return { ...base, verdict: 'pass', ci, confidence: 1 - pOver, reason: 'within the limit' };
  const needed = neededFor(t * se);
  return {
    ...base,
    verdict: 'inconclusive',
    ci,
    confidence: Math.max(pOver, 1 - pOver),
    needed,
    reason: 'too close to the limit to tell at 95 % confidence',
  };
}

/** The overall verdict of budgets: fail when a blocking budget fails, inconclusive when a blocking one cannot tell, else pass. */
export function overallVerdict(results: readonly Pick<BudgetResult, 'verdict' | 'budget'>[]): Verdict {
  const blocking = results.filter((r) => r.budget.severity === 'block');
  if (blocking.some((r) => r.verdict === 'fail')) return 'fail';
  if (blocking.some((r) => r.verdict === 'inconclusive')) return 'inconclusive';
  return 'pass';
}

/** A limit or value in words, in the budget's terms: `35.0 %`, `0.52 cores`, `41.2 us`, `+6.1 %`. */
export function formatBudgetValue(b: Budget, x: number): string {
  if (!Number.isFinite(x)) return '–';
  if (b.kind === 'share') return `${(x * 100).toFixed(2)} %`;
  if (b.kind === 'growth') return `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %`;
  const perSecond = b.kind === 'rate' && !isGaugeType(b.type);
  if (isTimeType(b.type)) {
    if (perSecond) return `${(x / 1e9).toPrecision(3)} cores`;
    const [u, d] = x >= 1e9 ? ['s', 1e9] : x >= 1e6 ? ['ms', 1e6] : x >= 1e3 ? ['us', 1e3] : ['ns', 1];
    return `${(x / d).toPrecision(3)} ${u}`;
  }
  if (/space|bytes/.test(b.type)) {
    const [u, d] = x >= 1e9 ? ['GB', 1e9] : x >= 1e6 ? ['MB', 1e6] : x >= 1e3 ? ['KB', 1e3] : ['B', 1];
    return `${(x / d).toPrecision(3)} ${u}${perSecond ? '/s' : ''}`;
  }
  return `${x.toPrecision(3)}${perSecond ? '/s' : ''}`;
}
