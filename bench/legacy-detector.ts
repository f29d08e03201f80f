/**
 * Detector v1, kept only to be measured beside detector v2 (bench/fleet-eval.ts,
 * test/fleet.test.ts): profile/regression.ts as it was at commit 2410c83, with
 * its import fixed. Production does not use this file; do not fix it here.
 *
 * Its flaws, which the fleet simulator (test/helpers/fleet.ts) shows: it tests
 * each function's share of each profile, so a speed-up of one function raises
 * every other share; its rate is the total per instance-second, so more
 * traffic looks like a regression; and every pushed profile is an independent
 * observation, so two pods whose processes differ look like a change.
 *
 * The original header follows.
 *
 * The regression detector: compares a baseline and a candidate per function,
 * on each function's self and total share of the profile total, with one
 * pushed profile as one observation, so the spread between profiles (which is
 * far larger than sampling noise alone) is in the test.
 *
 * Per function and measure: Welch's t-test on the mean per-observation share
 * (unequal variances and sizes), Benjamini–Hochberg over the whole family
 * (every function's self and total, plus the total-rate test), and a minimum
 * practical effect. A function too rare to test reliably is filtered out of
 * the family by its pooled share, which does not look at the difference
 * (independent filtering, Bourgon et al. 2010), so the FDR control holds.
 * Too few observations gives a verdict of "insufficient data", with how many
 * are needed, instead of a guess.
 */
import {
  benjaminiHochberg,
  studentTQuantileUpper,
  studentTUpper,
  welch as welchTest,
} from '../profile/stats';

/** Sums over n observations of one measure (zeros where absent are implied by n). */
export interface Moments {
  sum: number;
  sumSq: number;
}

/** One side's sufficient statistics. */
export interface SideStats {
  /** Observations (pushed profiles). */
  n: number;
  /** The sum of every observation's total (samples, ns, bytes). */
  samples: number;
  /** Per observation: total per second of profile duration (the cost per instance-second). */
  rate: Moments;
  /** Per function: per-observation share of the observation's total, as self and as total. */
  functions: Map<string, { self: Moments; total: Moments }>;
}

export interface DetectOptions {
  /**
   * False discovery rate across the family. Default 0.01: when nothing
   * changed, BH's FDR bound is the chance of any false alarm at all, and a
   * detector that runs on every deploy must cry wolf rarely.
   */
  fdr: number;
  /** A change is practical when it is at least this many share points (0.005 = +0.5 pp)... */
  minAbsolute: number;
  /** ...or at least this relative change of the baseline share (0.1 = +10 %). */
  minRelative: number;
  /** Fewer observations on either side: insufficient data. Default 5. */
  minObservations: number;
  /** Functions whose pooled mean share is below this are not tested. Default 0.001 (0.1 %). */
  minShare: number;
  /** Power for the "needed observations" figures. Default 0.8. */
  power: number;
}

export const DEFAULT_DETECT_OPTIONS: DetectOptions = {
  fdr: 0.01,
  minAbsolute: 0.005,
  minRelative: 0.1,
  minObservations: 5,
  minShare: 0.001,
  power: 0.8,
};

export type Measure = 'self' | 'total' | 'rate';

export interface Finding {
  /** The function, or '' for the total rate. */
  function: string;
  measure: Measure;
  /** Mean share (or rate) on each side. */
  baseline: number;
  candidate: number;
  /** candidate − baseline, and relative to the baseline (Infinity when the baseline is 0). */
  effect: number;
  relative: number;
  /** 95 % confidence interval of the effect (Welch). */
  ci: [number, number];
  t: number;
  df: number;
  /** Two-sided p-value and its Benjamini–Hochberg q-value in the family. */
  p: number;
  q: number;
  /** The smallest effect this comparison could detect with the configured power, at the family's threshold. */
  detectable: number;
  /** The spread between observations over what binomial sampling alone would give (1 = pure sampling noise). */
  overdispersion: number;
  verdict: 'regression' | 'improvement' | 'unchanged' | 'inconclusive';
  /** For inconclusive findings: observations per side that would decide an effect of this size. */
  neededObservations?: number;
}

export interface Detection {
  verdict: 'regression' | 'no_regression' | 'insufficient_data';
  reason?: string;
  baseline: { n: number; samples: number };
  candidate: { n: number; samples: number };
  /** Tests in the family (functions × {self, total} above minShare, plus the rate). */
  tested: number;
  regressions: Finding[];
  improvements: Finding[];
  /** Practical-sized changes the data cannot yet decide. */
  inconclusive: Finding[];
  /** Callers' total regressions that a slower function below them accounts for (see attributeToCallees). */
  explained: (Finding & { explainedBy: string })[];
  /** The total per instance-second. */
  rate: Finding | undefined;
  options: DetectOptions;
}

function meanVar(m: Moments, n: number): { mean: number; variance: number } {
  const mean = m.sum / n;
  const variance = n > 1 ? Math.max(0, (m.sumSq - n * mean * mean) / (n - 1)) : 0;
  return { mean, variance };
}

interface Test {
  fn: string;
  measure: Measure;
  mb: number;
  mc: number;
  se: number;
  df: number;
  t: number;
  p: number;
  vb: number;
  vc: number;
}

function welch(fn: string, measure: Measure, b: Moments, nb: number, c: Moments, nc: number): Test {
  const B = meanVar(b, nb);
  const C = meanVar(c, nc);
  const { se, df } = welchTest(B.variance, nb, C.variance, nc);
  const diff = C.mean - B.mean;
  const t = se > 0 ? diff / se : diff === 0 ? 0 : Math.sign(diff) * Infinity;
  const p = Math.min(1, 2 * studentTUpper(Math.abs(t), Math.max(df, 1)));
  return { fn, measure, mb: B.mean, mc: C.mean, se, df, t, p, vb: B.variance, vc: C.variance };
}

/** Compares candidate against baseline. Both sides' stats must come from the same profile type. */
export function detect(
  baseline: SideStats,
  candidate: SideStats,
  options: Partial<DetectOptions> = {},
): Detection {
  const o: DetectOptions = { ...DEFAULT_DETECT_OPTIONS, ...options };
  const base = { n: baseline.n, samples: baseline.samples };
  const cand = { n: candidate.n, samples: candidate.samples };
  const empty = {
    regressions: [],
    improvements: [],
    inconclusive: [],
    explained: [],
    rate: undefined,
    options: o,
  };
  if (baseline.n < o.minObservations || candidate.n < o.minObservations) {
    const reason = `needs at least ${o.minObservations} profiles on each side; the baseline has ${baseline.n}, the candidate ${candidate.n}`;
    return { verdict: 'insufficient_data', reason, baseline: base, candidate: cand, tested: 0, ...empty };
  }
  const tests: Test[] = [];
  const zero: Moments = { sum: 0, sumSq: 0 };
  for (const name of new Set([...baseline.functions.keys(), ...candidate.functions.keys()])) {
    const b = baseline.functions.get(name);
    const c = candidate.functions.get(name);
    for (const measure of ['self', 'total'] as const) {
      const mb = b ? b[measure] : zero;
      const mc = c ? c[measure] : zero;
      const pooled = (mb.sum + mc.sum) / (baseline.n + candidate.n);
      if (pooled < o.minShare) continue;
      tests.push(welch(name, measure, mb, baseline.n, mc, candidate.n));
    }
  }
  tests.push(welch('', 'rate', baseline.rate, baseline.n, candidate.rate, candidate.n));
  const q = benjaminiHochberg(tests.map((t) => t.p));
  // The p-value the BH threshold needs for a lone discovery (the hardest case): α/m.
  const alphaOne = o.fdr / tests.length;
  const meanSamples = (baseline.samples / baseline.n + candidate.samples / candidate.n) / 2;

  const findings: Finding[] = tests.map((t, i) => {
    const effect = t.mc - t.mb;
    const relative = t.mb > 0 ? effect / t.mb : effect === 0 ? 0 : Infinity;
    const half = studentTQuantileUpper(0.025, Math.max(t.df, 1)) * t.se;
    const practical =
      t.measure === 'rate'
        ? Math.abs(relative) >= o.minRelative
        : Math.abs(effect) >= o.minAbsolute || Math.abs(relative) >= o.minRelative;
    const significant = q[i] <= o.fdr;
    const pBar = (t.mb + t.mc) / 2;
    const binomial = t.measure === 'rate' || pBar <= 0 || pBar >= 1 ? NaN : (pBar * (1 - pBar)) / meanSamples;
    const overdispersion = Number.isFinite(binomial) && binomial > 0 ? (t.vb + t.vc) / 2 / binomial : NaN;
    // On Student's t at the test's own degrees of freedom (normal quantiles promised 80 % power where 64-74 % was measured).
    const df = Math.max(t.df, 1);
    const reach = studentTQuantileUpper(alphaOne / 2, df) + studentTQuantileUpper(1 - o.power, df);
    const detectable = reach * t.se;
    let verdict: Finding['verdict'] = 'unchanged';
    let neededObservations: number | undefined;
    if (significant && practical) verdict = effect > 0 ? 'regression' : 'improvement';
    // Listed as undecided only when it would matter in absolute terms: small functions' noise crosses +10 % all the time.
    else if (practical && !significant && (t.measure === 'rate' || Math.abs(effect) >= o.minAbsolute)) {
      verdict = 'inconclusive';
      // Per side, with the observed spread: n = ((zα + zβ)·s / effect)² · 2, s² the mean variance.
      const s2 = (t.vb + t.vc) / 2;
      neededObservations = Math.ceil((2 * s2 * reach ** 2) / (effect * effect));
    }
    return {
      function: t.fn,
      measure: t.measure,
      baseline: t.mb,
      candidate: t.mc,
      effect,
      relative,
      ci: [effect - half, effect + half],
      t: t.t,
      df: t.df,
      p: t.p,
      q: q[i],
      detectable,
      overdispersion,
      verdict,
      neededObservations,
    };
  });
  const byEffect = (a: Finding, b: Finding) =>
    Math.abs(b.effect) - Math.abs(a.effect) || a.function.localeCompare(b.function);
  const fnFindings = findings.filter((f) => f.measure !== 'rate');
  const rate = findings.find((f) => f.measure === 'rate');
  const regressions = fnFindings.filter((f) => f.verdict === 'regression').sort(byEffect);
  if (rate?.verdict === 'regression') regressions.unshift(rate);
  return {
    verdict: regressions.length > 0 ? 'regression' : 'no_regression',
    baseline: base,
    candidate: cand,
    tested: tests.length,
    regressions,
    improvements: findings.filter((f) => f.verdict === 'improvement').sort(byEffect),
    inconclusive: fnFindings.filter((f) => f.verdict === 'inconclusive').sort(byEffect),
    explained: [],
    rate,
    options: o,
  };
}

/**
 * A caller's total share grows when a function it calls gets slower: the same
 * regression seen from above (FBDetect calls these cost shifts and
 * deduplicates them). Moves the total-share regressions of functions that sit
 * above another flagged function in the candidate's stacks, where that
 * function's growth accounts for at least half of the caller's, into
 * `explained`, naming it. What remains is where the time went.
 */
export function attributeToCallees(d: Detection, stacks: Iterable<{ stack: readonly string[] }>): Detection {
  const flagged = d.regressions.filter((f) => f.measure !== 'rate');
  if (flagged.length < 2) return d;
  const above = new Map<string, Set<string>>(flagged.map((f) => [f.function, new Set<string>()]));
  for (const { stack } of stacks) {
    for (let i = 1; i < stack.length; i++) {
      const set = above.get(stack[i]);
      if (!set) continue;
      for (let j = 0; j < i; j++) if (stack[j] !== stack[i]) set.add(stack[j]);
    }
  }
  // f explains g when g sits above f and f's growth is at least half of g's. Functions whose own (self)
  // time grew explain first; then a flagged total that no one explains may explain those above it,
  // unless each sits above the other (recursion both ways explains nothing).
  const below = (f: Finding, g: Finding) =>
    f.function !== g.function && above.get(f.function)!.has(g.function) && f.effect >= 0.5 * g.effect;
  const selfGrew = flagged.filter((f) => f.measure === 'self');
  const byOf = new Map<Finding, Finding>();
  for (const g of flagged) {
    if (g.measure !== 'total') continue;
    const by = selfGrew.find((f) => below(f, g));
    if (by) byOf.set(g, by);
  }
  for (const g of flagged) {
    if (g.measure !== 'total' || byOf.has(g)) continue;
    const by = flagged.find(
      (f) => f.measure === 'total' && !byOf.has(f) && below(f, g) && !above.get(g.function)!.has(f.function),
    );
    if (by) byOf.set(g, by);
  }
  const regressions = d.regressions.filter((g) => !byOf.has(g));
  const explained: (Finding & { explainedBy: string })[] = [
    ...d.explained,
    ...[...byOf].map(([g, by]) => ({ ...g, explainedBy: by.function })),
  ];
  return {
    ...d,
    regressions,
    explained,
    verdict: regressions.length > 0 ? 'regression' : d.verdict === 'regression' ? 'no_regression' : d.verdict,
  };
}

/** One observation: its total, its duration in seconds, and per function its self and total value. */
export interface Observation {
  total: number;
  seconds: number;
  functions: Map<string, { self: number; total: number }>;
}

/** Sufficient statistics of a side from its observations (the harness and tests; the store computes the same in SQL). */
export function summarize(observations: Iterable<Observation>): SideStats {
  const s: SideStats = { n: 0, samples: 0, rate: { sum: 0, sumSq: 0 }, functions: new Map() };
  for (const o of observations) {
    s.n++;
    s.samples += o.total;
    const r = o.seconds > 0 ? o.total / o.seconds : 0;
    s.rate.sum += r;
    s.rate.sumSq += r * r;
    if (o.total <= 0) continue;
    for (const [name, v] of o.functions) {
      let f = s.functions.get(name);
      if (!f) s.functions.set(name, (f = { self: { sum: 0, sumSq: 0 }, total: { sum: 0, sumSq: 0 } }));
      const self = v.self / o.total;
      const total = v.total / o.total;
      f.self.sum += self;
      f.self.sumSq += self * self;
      f.total.sum += total;
      f.total.sumSq += total * total;
    }
  }
  return s;
}
