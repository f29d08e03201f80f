/**
 * The evaluator: per-observation values (or the detector's estimate, for
 * growth) in, a verdict with its confidence out. The store computes the
 * observations (store/budgets.ts).
 */
import { profileKind, type Detection, type Finding, type ProfileKind } from '../regression';
import { studentTQuantileUpper, studentTUpper, welch } from '../stats';
import { CONFIDENCE, MIN_OBSERVATIONS, type Budget, type BudgetResult, type Verdict } from './model';

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

/**
 * The per-observation value a budget limits, or undefined when the observation says nothing of it. A gauge's
 * value is its mean level over the observation's snapshots; a cost's, its amount per second.
 */
export function observedValue(
  b: Budget,
  o: BudgetObservation,
  matcherIndex: number,
  kind: ProfileKind = profileKind(b.type),
): number | undefined {
  if (o.total <= 0) return undefined;
  if (b.function && (b.kind === 'share' || b.kind === 'growth')) return o.matched[matcherIndex] / o.total;
  if (b.kind === 'perRequest') return o.requests && o.requests > 0 ? o.total / o.requests : undefined;
  if (kind === 'gauge') return o.total / Math.max(1, o.profiles);
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
    // A name one side defines in several files is judged by the detector per file (`emit (events.js)`): a budget
    // on the name as a whole is judged per observation instead, as a regex is (the caller's fallback).
    if (d.qualifiedNames?.includes(budget.function.name)) return undefined;
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
