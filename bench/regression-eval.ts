/**
 * The regression detector's evaluation with known ground truth (issue 5):
 * recall by injected slowdown and by effect in standard errors beside the
 * power calculation, false discoveries, A/A false alarms with Wilson
 * intervals, the A/A p-value calibration, and the time of summarize + detect.
 *
 * Synthetic services (test/helpers/synthetic-profiles.ts): random call trees
 * of 300 functions on 1,500 nodes under 8 endpoints, heavy-tailed self costs,
 * per-window workload mix and node noise, 1,000 samples per pushed profile;
 * two workloads: "steady" (the unit tests' noise: profiles spread barely more
 * than sampling, φ ≈ 1) and "bursty" (a wilder mix, φ ≈ 1.5–30), and for the
 * A/A runs also "sparse" (bursty with 300 samples per profile).
 * The ground truth of a target's share (its mean and per-profile variance,
 * with and without a slowdown) comes from the generator's own windows before
 * sampling (`windowWeights`), so every injected effect has an exact size in
 * standard errors.
 *
 *   npx tsc -p tsconfig.build.json && nice node dist/bench/regression-eval.js [--reps 25] [--seed 1] \
 *     [--sweep-reps 13] [--aa 1000] [--tail 500000] [--speed 300]     (the defaults; about 27 min on one core)
 *
 * Prints readable tables, then the JSON result (also written to bench/out/regression-eval.json).
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  DEFAULT_DETECT_OPTIONS,
  detect,
  summarize,
  type Detection,
  type Finding,
  type Observation,
  type SideStats,
} from './legacy-detector';
import { erfc, normalQuantile, studentTQuantileUpper, studentTUpper, welch } from '../profile/stats';
import {
  makeService,
  observe,
  rng,
  windowWeights,
  type Service,
  type WindowOptions,
} from '../test/helpers/synthetic-profiles';
import { arg, median, mixSeed, percentile, repoDir } from './lib';

const reps = arg('reps', 25);
const baseSeed = arg('seed', 1);
const sweepReps = arg('sweep-reps', Math.ceil(reps / 2));
const aaCount = arg('aa', 1000);
const tailTests = arg('tail', 500_000);
const speedRuns = arg('speed', 300);
/** Windows per service for the ground truth. */
const truthWindows = arg('truth-windows', 5000);

const SERVICE = { functions: 300, nodes: 1500, endpoints: 8 };
const SERVICE_SEEDS = [7, 11, 23, 42].map((s) => s + 1000 * (baseSeed - 1));
const WORKLOADS: Record<string, WindowOptions> = {
  /** The unit tests' workload: the mix barely moves, profiles spread about as sampling alone would. */
  steady: { samples: 1000, mixNoise: 0.15, nodeNoise: 0.05 },
  /** Endpoint weights vary ×/÷ 1.8 between windows (σ 0.6) and every call site ×/÷ 1.65 (σ 0.5). */
  bursty: { samples: 1000, mixNoise: 0.6, nodeNoise: 0.5 },
  /** Bursty on a third-busy instance: 300 samples per profile, so small functions are a few samples each. */
  sparse: { samples: 300, mixNoise: 0.6, nodeNoise: 0.5 },
};
const RECALL_WORKLOADS = ['steady', 'bursty'];
const AA_WORKLOADS = ['steady', 'bursty', 'sparse'];
const SIDES = [30, 120];
const EFFECTS = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5];
const SWEEP_Z = [2, 3, 4, 5, 5.5, 6, 6.5, 7, 8];
const Z_BINS = [0, 2, 3, 4, 5, 6, 7, 8, Infinity];
const BANDS: [number, number][] = [
  [0.005, 0.01],
  [0.01, 0.03],
  [0.03, 0.08],
  [0.08, 0.2],
];
const bandLabel = (b: number) => `${pct(BANDS[b][0], 1)}–${pct(BANDS[b][1], 0)}`;
const PURE = { minAbsolute: 0, minRelative: 0 };
const ALPHA = DEFAULT_DETECT_OPTIONS.fdr;

// ---------- small helpers ----------

function pct(x: number, digits = 1): string {
  return `${(100 * x).toFixed(digits)} %`;
}
function fixed(x: number, digits = 2): string {
  return Number.isFinite(x) ? x.toFixed(digits) : '—';
}
const seedOf = (...parts: number[]) => mixSeed(baseSeed, ...parts);
const Phi = (x: number) => 0.5 * erfc(-x / Math.SQRT2);
/** Wilson score interval for k successes in n trials. */
function wilson(k: number, n: number, z = 1.959964): [number, number] {
  if (n === 0) return [0, 1];
  const p = k / n;
  const d = 1 + (z * z) / n;
  const c = (p + (z * z) / (2 * n)) / d;
  const h = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / d;
  return [Math.max(0, c - h), Math.min(1, c + h)];
}
function table(head: string[], rows: (string | number)[][]): string {
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map(() => '---').join(' | ')} |`];
  for (const r of rows) lines.push(`| ${r.join(' | ')} |`);
  return lines.join('\n');
}
const log = (s: string) =>
  process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(0)} s] ${s}\n`);
const started = performance.now();

// ---------- the power calculation ----------

/** The two-sided z a lone discovery needs under BH at FDR α over m tests: z(1 − α/(2m)). */
const zThreshold = (m: number) => normalQuantile(1 - ALPHA / (2 * m));
const tCache = new Map<string, number>();
/** The same threshold on Student's t with df degrees of freedom. */
function tThreshold(m: number, df: number): number {
  const key = `${m}/${df}`;
  let t = tCache.get(key);
  if (t === undefined) tCache.set(key, (t = studentTQuantileUpper(ALPHA / (2 * m), df)));
  return t;
}
/** Power of the two-sided normal test at effect z (in standard errors). */
const powerNormal = (z: number, m: number) => Phi(z - zThreshold(m)) + Phi(-z - zThreshold(m));
/** Power of the t test, noncentral t by the normal approximation P(T ≤ t) ≈ Φ((t(1 − 1/4ν) − δ) / √(1 + t²/2ν)). */
function powerT(z: number, m: number, df: number): number {
  const t = tThreshold(m, df);
  return 1 - Phi((t * (1 - 1 / (4 * df)) - z) / Math.sqrt(1 + (t * t) / (2 * df)));
}
/** The smallest z with power ≥ target (bisection). */
function zForPower(power: (z: number) => number, target: number): number {
  let lo = 0;
  let hi = 30;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (power(mid) >= target) hi = mid;
    else lo = mid;
  }
  return hi;
}

// ---------- the services and their ground truth ----------

interface Target {
  workload: string;
  fn: number;
  name: string;
  band: number;
  /** Mean self share without the slowdown. */
  p: number;
  /** Per-profile variance over binomial sampling alone (the true φ). */
  phi: number;
  /** Functions on some path to it (their totals grow legitimately), itself included. */
  ancestors: Set<string>;
  /** Mean share and per-profile variance (workload spread + sampling) at a slowdown δ. */
  at(delta: number): { mean: number; variance: number };
}

interface Truth {
  /** Per window (before sampling) and function: the expected self share, row-major. */
  shares: Float64Array;
  windows: number;
  meanShare: Float64Array;
  targets: Target[];
}

interface Svc {
  seed: number;
  service: Service;
  truth: Record<string, Truth>;
}

function truthOf(service: Service, seed: number, workload: string): Truth {
  const w = WORKLOADS[workload];
  const F = service.names.length;
  const ww = windowWeights(service, truthWindows, w, seedOf(7777, seed));
  const K = ww.count;
  const N = w.samples;
  const shares = new Float64Array(K * F);
  const meanShare = new Float64Array(F);
  for (let k = 0; k < K; k++) {
    for (let f = 0; f < F; f++) {
      const q = ww.fnSelf[k * F + f] / ww.total[k];
      shares[k * F + f] = q;
      meanShare[f] += q / K;
    }
  }
  const targets: Target[] = [];
  BANDS.forEach(([lo, hi], band) => {
    const inBand = Array.from(meanShare.keys())
      .filter((f) => meanShare[f] >= lo && meanShare[f] < hi)
      .sort((a, b) => meanShare[a] - meanShare[b]);
    const picks =
      inBand.length <= 2
        ? inBand
        : [inBand[Math.floor(inBand.length / 3)], inBand[Math.floor((2 * inBand.length) / 3)]];
    for (const fn of picks) {
      const at = (delta: number) => {
        let s = 0;
        let s2 = 0;
        let binom = 0;
        for (let k = 0; k < K; k++) {
          const b = shares[k * F + fn];
          const q = ((1 + delta) * b) / (1 + delta * b);
          s += q;
          s2 += q * q;
          binom += q * (1 - q);
        }
        const mean = s / K;
        return { mean, variance: Math.max(0, (s2 - K * mean * mean) / (K - 1)) + binom / K / N };
      };
      const a0 = at(0);
      const ancestors = new Set<string>();
      for (let n = 0; n < service.fn.length; n++)
        if (service.fn[n] === fn) for (const g of service.pathFns[n]) ancestors.add(service.names[g]);
      targets.push({
        workload,
        fn,
        name: service.names[fn],
        band,
        p: a0.mean,
        phi: a0.variance / ((a0.mean * (1 - a0.mean)) / N),
        ancestors,
        at,
      });
    }
  });
  return { shares, windows: K, meanShare, targets };
}

/** The true effect of a slowdown δ on the target, and its size in standard errors of the difference of means with n a side. */
function effectOf(t: Target, delta: number, n: number): { diff: number; se: number; z: number } {
  const a = t.at(0);
  const b = t.at(delta);
  const se = Math.sqrt((a.variance + b.variance) / n);
  return { diff: b.mean - a.mean, se, z: (b.mean - a.mean) / se };
}

/** The slowdown that puts the effect at z standard errors with n a side. */
function deltaForZ(t: Target, z: number, n: number): number {
  let lo = 0;
  let hi = 50;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (effectOf(t, mid, n).z >= z) hi = mid;
    else lo = mid;
  }
  return hi;
}

// ---------- one comparison with a slowdown ----------

interface Outcome {
  /** The target flagged as a self regression. */
  hit: boolean;
  /** Regressions flagged, and of them false (not the target's self, nor the total of the target or an ancestor). */
  flagged: number;
  falseFlagged: number;
}

interface Case {
  part: 'grid' | 'sweep';
  workload: string;
  svc: number;
  target: number;
  band: number;
  p: number;
  n: number;
  delta: number;
  z: number;
  diff: number;
  se: number;
  m: number;
  pure: Outcome;
  def: Outcome;
  /** The detector's own figures for the target (floor off): overdispersion and detectable effect in true SEs. */
  reportedPhi: number;
  detectableZ: number;
}

function outcome(d: Detection, t: Target): Outcome {
  let flagged = 0;
  let falseFlagged = 0;
  let hit = false;
  for (const f of d.regressions) {
    flagged++;
    if (f.function === t.name && f.measure === 'self') hit = true;
    else if (!(f.measure === 'total' && t.ancestors.has(f.function))) falseFlagged++;
  }
  return { hit, flagged, falseFlagged };
}

function compare(
  part: Case['part'],
  svcIndex: number,
  targetIndex: number,
  t: Target,
  base: SideStats,
  cand: SideStats,
  delta: number,
): Case {
  const n = base.n;
  const e = effectOf(t, delta, n);
  const dp = detect(base, cand, PURE);
  const dd = detect(base, cand);
  const own = [...dp.regressions, ...dp.improvements, ...dp.inconclusive].find(
    (f) => f.function === t.name && f.measure === 'self',
  );
  return {
    part,
    workload: t.workload,
    svc: svcIndex,
    target: targetIndex,
    band: t.band,
    p: t.p,
    n,
    delta,
    z: e.z,
    diff: e.diff,
    se: e.se,
    m: dp.tested,
    pure: outcome(dp, t),
    def: outcome(dd, t),
    reportedPhi: own?.overdispersion ?? NaN,
    detectableZ: own ? own.detectable / e.se : NaN,
  };
}

// ---------- theory per case ----------

const theoryPure = (c: Case) => ({ normal: powerNormal(c.z, c.m), t: powerT(c.z, c.m, 2 * c.n - 2) });
/**
 * With the practical floor: flagged when significant and the estimate is at
 * least the floor (min of +0.5 pp and +10 % of the baseline share, as either
 * suffices); both events grow with the estimate, so P(both) ≈ the smaller.
 */
function theoryDefaults(c: Case): number {
  const floor = Math.min(DEFAULT_DETECT_OPTIONS.minAbsolute, DEFAULT_DETECT_OPTIONS.minRelative * c.p);
  return Math.min(powerT(c.z, c.m, 2 * c.n - 2), Phi((c.diff - floor) / c.se));
}

// ---------- run: slowdowns ----------

const load0 = os.loadavg();
log(
  `load average ${load0.map((x) => x.toFixed(2)).join(' ')}; reps ${reps}, sweep reps ${sweepReps}, A/A ${aaCount}, tail ${tailTests}, seed ${baseSeed}`,
);

const svcs: Svc[] = SERVICE_SEEDS.map((seed) => {
  const service = makeService({ ...SERVICE, seed });
  const truth: Record<string, Truth> = {};
  for (const w of AA_WORKLOADS) truth[w] = truthOf(service, seed, w);
  return { seed, service, truth };
});
log(
  `ground truth: ${RECALL_WORKLOADS.map((w) => `${w} ${svcs.map((s) => s.truth[w].targets.length).join(' + ')} targets`).join('; ')}`,
);

const cases: Case[] = [];
const timing: Record<string, number> = {};
let t0 = performance.now();
for (const [wi, workload] of RECALL_WORKLOADS.entries()) {
  const w = WORKLOADS[workload];
  for (let r = 0; r < Math.max(reps, sweepReps); r++) {
    svcs.forEach((s, si) => {
      const baseObs = observe(s.service, Math.max(...SIDES), w, seedOf(1, wi, si, r));
      const bases = new Map(SIDES.map((n) => [n, summarize(baseObs.slice(0, n))]));
      s.truth[workload].targets.forEach((t, ti) => {
        if (r < reps) {
          // The same seed for every effect: the effects differ only by the slowdown.
          const seed = seedOf(2, wi, si, r, ti);
          for (const delta of EFFECTS) {
            const candObs = observe(
              s.service,
              Math.max(...SIDES),
              { ...w, slowdown: new Map([[t.fn, 1 + delta]]) },
              seed,
            );
            for (const n of SIDES)
              cases.push(compare('grid', si, ti, t, bases.get(n)!, summarize(candObs.slice(0, n)), delta));
          }
        }
        if (r < sweepReps) {
          for (const n of SIDES) {
            const seed = seedOf(3, wi, si, r, ti, n);
            for (const z of SWEEP_Z) {
              const delta = deltaForZ(t, z, n);
              const cand = summarize(
                observe(s.service, n, { ...w, slowdown: new Map([[t.fn, 1 + delta]]) }, seed),
              );
              cases.push(compare('sweep', si, ti, t, bases.get(n)!, cand, delta));
            }
          }
        }
      });
    });
    if ((r + 1) % 5 === 0 || r === Math.max(reps, sweepReps) - 1)
      log(`slowdowns, ${workload}: rep ${r + 1}, ${cases.length} comparisons`);
  }
}
timing.slowdownsSeconds = (performance.now() - t0) / 1000;

// ---------- run: A/A ----------

interface PCount {
  count: number;
  below: number[];
  belowLone: number;
}
interface AA {
  workload: string;
  n: number;
  comparisons: number;
  m: number[];
  defaults: { anyRegression: number; anyFinding: number; inconclusive: number[] };
  pure: { anyRegression: number; anyFinding: number };
  /** Per comparison: tests whose detectable effect exceeds their practical floor (they cannot see what the defaults call practical). */
  blindToFloor: number[];
  /** p-values of every test (floor off shows all of them), by measure and pooled-share band. */
  p: Map<string, PCount>;
}
const P_LEVELS = [1e-2, 1e-3, 1e-4, 1e-5];
const P_BANDS: [number, number][] = [
  [0.001, 0.005],
  [0.005, 0.03],
  [0.03, 1.01],
];
const pBandLabel = (b: number) =>
  `${pct(P_BANDS[b][0], 1)}–${P_BANDS[b][1] > 1 ? '100 %' : pct(P_BANDS[b][1], 1)}`;

function countP(e: PCount, p: number, lone: number): void {
  e.count++;
  P_LEVELS.forEach((l, j) => {
    if (p < l) e.below[j]++;
  });
  if (p <= lone) e.belowLone++;
}
const newPCount = (): PCount => ({ count: 0, below: P_LEVELS.map(() => 0), belowLone: 0 });

function aaRun(workload: string, n: number, count: number): AA {
  const w = WORKLOADS[workload];
  const res: AA = {
    workload,
    n,
    comparisons: count,
    m: [],
    defaults: { anyRegression: 0, anyFinding: 0, inconclusive: [] },
    pure: { anyRegression: 0, anyFinding: 0 },
    blindToFloor: [],
    p: new Map(),
  };
  const wi = AA_WORKLOADS.indexOf(workload);
  for (let i = 0; i < count; i++) {
    const si = i % svcs.length;
    const a = summarize(observe(svcs[si].service, n, w, seedOf(4, wi, n, i, 0)));
    const b = summarize(observe(svcs[si].service, n, w, seedOf(4, wi, n, i, 1)));
    const dd = detect(a, b);
    const dp = detect(a, b, PURE);
    res.m.push(dp.tested);
    if (dd.regressions.length > 0) res.defaults.anyRegression++;
    if (dd.regressions.length + dd.improvements.length > 0) res.defaults.anyFinding++;
    res.defaults.inconclusive.push(dd.inconclusive.length);
    if (dp.regressions.length > 0) res.pure.anyRegression++;
    if (dp.regressions.length + dp.improvements.length > 0) res.pure.anyFinding++;
    const all: Finding[] = [...dp.regressions, ...dp.improvements, ...dp.inconclusive];
    let blind = 0;
    for (const f of all) {
      if (f.measure === 'rate') continue;
      const floor = Math.min(
        DEFAULT_DETECT_OPTIONS.minAbsolute,
        DEFAULT_DETECT_OPTIONS.minRelative * f.baseline,
      );
      if (f.q > ALPHA && f.detectable > floor) blind++;
      const pooled = (f.baseline + f.candidate) / 2;
      const key = `${f.measure}/${P_BANDS.findIndex(([lo, hi]) => pooled >= lo && pooled < hi)}`;
      let e = res.p.get(key);
      if (!e) res.p.set(key, (e = newPCount()));
      countP(e, f.p, ALPHA / dp.tested);
    }
    res.blindToFloor.push(blind);
  }
  return res;
}

t0 = performance.now();
const aa: AA[] = [];
for (const workload of AA_WORKLOADS) {
  for (const n of SIDES) {
    if (aaCount > 0) aa.push(aaRun(workload, n, aaCount));
    log(`A/A ${workload} n=${n} done`);
  }
}
timing.aaSeconds = (performance.now() - t0) / 1000;

// ---------- run: the far tail of one test's null distribution ----------

/** Binomial(N, p) by inversion from 0 (N·p stays small here). */
function binomial(N: number, p: number, u: number): number {
  if (p <= 0) return 0;
  const r = p / (1 - p);
  let pk = Math.exp(N * Math.log1p(-p));
  let cdf = pk;
  let k = 0;
  while (u > cdf && k < N) {
    pk *= ((N - k) / (k + 1)) * r;
    k++;
    cdf += pk;
  }
  return k;
}

/** The detector's per-test p-value (Welch, as in profile/regression.ts), from the sums. */
function welchP(sum1: number, sq1: number, n1: number, sum2: number, sq2: number, n2: number): number {
  const m1 = sum1 / n1;
  const m2 = sum2 / n2;
  const { se, df } = welch(
    Math.max(0, (sq1 - n1 * m1 * m1) / (n1 - 1)),
    n1,
    Math.max(0, (sq2 - n2 * m2 * m2) / (n2 - 1)),
    n2,
  );
  const t = se > 0 ? (m2 - m1) / se : m2 === m1 ? 0 : Infinity;
  return Math.min(1, 2 * studentTUpper(Math.abs(t), Math.max(df, 1)));
}

const TAIL_SHARES = [0.0012, 0.003, 0.007, 0.02];
interface Tail {
  workload: string;
  n: number;
  function: string;
  share: number;
  phi: number;
  tests: number;
  lone: number;
  p: PCount;
  crossChecked: number;
}

/**
 * One function's self share under the null, drawn as `observe` draws it (a
 * window's expected share from the generator's own windows, then a binomial
 * draw of the window's samples), n a side, many times: where the A/A runs
 * have a few hundred thousand tests in all, this has `tailTests` of one.
 */
function tailRun(workload: string, n: number, target: number, tests: number, m: number): Tail {
  const w = WORKLOADS[workload];
  const truth = svcs[0].truth[workload];
  const F = svcs[0].service.names.length;
  const fn = Array.from(truth.meanShare.keys()).reduce((a, b) =>
    Math.abs(truth.meanShare[b] - target) < Math.abs(truth.meanShare[a] - target) ? b : a,
  );
  const K = truth.windows;
  const perWindow = Float64Array.from({ length: K }, (_, k) => truth.shares[k * F + fn]);
  const N = w.samples;
  let s1 = 0;
  let s2 = 0;
  let bin = 0;
  for (const q of perWindow) {
    s1 += q;
    s2 += q * q;
    bin += q * (1 - q);
  }
  const mean = s1 / K;
  const phi = (s2 / K - mean * mean + bin / K / N) / ((mean * (1 - mean)) / N);
  const random = rng(seedOf(6, AA_WORKLOADS.indexOf(workload), n, fn));
  const p = newPCount();
  const lone = ALPHA / m;
  let crossChecked = 0;
  let tested = 0;
  for (let i = 0; i < tests; i++) {
    const sums = [0, 0, 0, 0];
    for (let side = 0; side < 2; side++) {
      for (let j = 0; j < n; j++) {
        const x = binomial(N, perWindow[Math.floor(random() * K)], random()) / N;
        sums[2 * side] += x;
        sums[2 * side + 1] += x * x;
      }
    }
    // The detector's independent filter: the pooled share must reach minShare.
    if ((sums[0] + sums[2]) / (2 * n) < DEFAULT_DETECT_OPTIONS.minShare) continue;
    tested++;
    const pv = welchP(sums[0], sums[1], n, sums[2], sums[3], n);
    countP(p, pv, lone);
    if (i < 200) {
      // The same p-value from the detector itself.
      const side = (sum: number, sumSq: number): SideStats => ({
        n,
        samples: n * N,
        rate: { sum: 100 * n, sumSq: 1e4 * n },
        functions: new Map([['f', { self: { sum, sumSq }, total: { sum: n, sumSq: n } }]]),
      });
      const d = detect(side(sums[0], sums[1]), side(sums[2], sums[3]), PURE);
      const f = [...d.regressions, ...d.improvements, ...d.inconclusive].find((x) => x.measure === 'self');
      if (!f || Math.abs(f.p - pv) > 1e-9 * Math.max(pv, 1e-300))
        throw new Error(`tail p-value differs from detect: ${pv} vs ${f?.p}`);
      crossChecked++;
    }
  }
  return {
    workload,
    n,
    function: svcs[0].service.names[fn],
    share: mean,
    phi,
    tests: tested,
    lone,
    p,
    crossChecked,
  };
}

t0 = performance.now();
const tails: Tail[] = [];
if (tailTests > 0) {
  for (const workload of RECALL_WORKLOADS) {
    for (const n of SIDES) {
      const m = Math.round(
        median(aa.filter((r) => r.workload === workload && r.n === n).flatMap((r) => r.m)) || 437,
      );
      for (const share of TAIL_SHARES) tails.push(tailRun(workload, n, share, tailTests, m));
      log(`tail ${workload} n=${n} done`);
    }
  }
}
timing.tailSeconds = (performance.now() - t0) / 1000;

// ---------- run: speed ----------

const speed = SIDES.map((n) => {
  const w = WORKLOADS.steady;
  const pairs = Array.from(
    { length: 8 },
    (_, i) =>
      [
        observe(svcs[0].service, n, w, seedOf(5, n, i, 0)),
        observe(svcs[0].service, n, w, seedOf(5, n, i, 1)),
      ] as [Observation[], Observation[]],
  );
  const sum: number[] = [];
  const det: number[] = [];
  let m = 0;
  for (let i = 0; i < speedRuns + 30; i++) {
    const [a, b] = pairs[i % pairs.length];
    const s0 = performance.now();
    const sa = summarize(a);
    const sb = summarize(b);
    const s1 = performance.now();
    const d = detect(sa, sb);
    const s2 = performance.now();
    m = d.tested;
    if (i >= 30) {
      sum.push(s1 - s0);
      det.push(s2 - s1);
    }
  }
  const total = sum.map((x, i) => x + det[i]);
  return {
    n,
    tests: m,
    runs: speedRuns,
    summarizeMs: median(sum),
    detectMs: median(det),
    totalMs: median(total),
    totalP95Ms: percentile(total, 95),
  };
});
const load1 = os.loadavg();
timing.totalSeconds = (performance.now() - started) / 1000;

// ---------- aggregate ----------

const out: string[] = [];
const rate = (xs: Case[], f: (c: Case) => boolean) => (xs.length ? xs.filter(f).length / xs.length : NaN);
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
const grid = cases.filter((c) => c.part === 'grid');
const sweep = cases.filter((c) => c.part === 'sweep');
const mAll = cases.map((c) => c.m);
/** The smallest value of a sorted ladder from which every rung up has recall ≥ level. */
function smallestFrom<T>(
  rows: T[],
  value: (r: T) => number,
  recall: (r: T) => number,
  level: number,
): number {
  let v = NaN;
  for (let i = rows.length - 1; i >= 0 && recall(rows[i]) >= level; i--) v = value(rows[i]);
  return v;
}

out.push(
  `Services: ${svcs.length} (seeds ${SERVICE_SEEDS.join(', ')}), ${SERVICE.functions} functions, ${SERVICE.nodes} nodes, ${SERVICE.endpoints} endpoints. ` +
    `Workloads: ${Object.entries(WORKLOADS)
      .map(([k, w]) => `${k} (${w.samples} samples, mix σ ${w.mixNoise}, node σ ${w.nodeNoise})`)
      .join(', ')}. ` +
    `Tests per comparison m: ${Math.min(...mAll)}–${Math.max(...mAll)} (mean ${mean(mAll).toFixed(0)}). Load average ${load0[0].toFixed(2)} → ${load1[0].toFixed(2)}; ${timing.totalSeconds.toFixed(0)} s.`,
);

// Targets.
const targetRows = RECALL_WORKLOADS.flatMap((workload) =>
  BANDS.map((_, b) => {
    const ts = svcs.flatMap((s) => s.truth[workload].targets).filter((t) => t.band === b);
    return {
      workload,
      band: bandLabel(b),
      targets: ts.length,
      shares: ts.map((t) => t.p),
      phi: ts.map((t) => t.phi),
    };
  }),
);
out.push('\n### Targets (true mean self share, true overdispersion φ)\n');
out.push(
  table(
    ['workload', 'band', 'targets', 'shares', 'φ'],
    targetRows.map((b) => [
      b.workload,
      b.band,
      b.targets,
      b.shares.map((x) => pct(x, 2)).join(', '),
      b.phi.map((x) => x.toFixed(1)).join(', '),
    ]),
  ),
);

// 1. Recall by effect.
const recallGrid = (mode: 'pure' | 'def') =>
  RECALL_WORKLOADS.flatMap((workload) =>
    BANDS.flatMap((_, b) =>
      SIDES.map((n) => {
        const cells = EFFECTS.map((e) => {
          const cs = grid.filter(
            (c) => c.workload === workload && c.band === b && c.n === n && c.delta === e,
          );
          return {
            effect: e,
            comparisons: cs.length,
            recall: rate(cs, (c) => c[mode].hit),
            meanZ: mean(cs.map((c) => c.z)),
          };
        });
        return { workload, band: bandLabel(b), n, cells };
      }),
    ),
  );
const recallPure = recallGrid('pure');
const recallDef = recallGrid('def');
for (const [title, rows] of [
  ['floor off (minAbsolute = minRelative = 0)', recallPure],
  ['defaults (+0.5 pp or +10 %)', recallDef],
] as const) {
  out.push(`\n### Recall of the slowed function (self regression), ${title}\n`);
  out.push(
    table(
      ['workload', 'target share', 'profiles a side', ...EFFECTS.map((e) => `+${e * 100} %`)],
      rows.map((r) => [
        r.workload,
        r.band,
        r.n,
        ...r.cells.map((c) => `${pct(c.recall, 0)} (z ${c.meanZ.toFixed(1)})`),
      ]),
    ),
  );
}
const cellCounts = recallPure.flatMap((r) => r.cells.map((c) => c.comparisons));
out.push(
  `\n(comparisons per cell: ${Math.min(...cellCounts)}–${Math.max(...cellCounts)}; z = the true effect in standard errors of the difference of means, the cell's mean)`,
);

// False discoveries.
const fdp = RECALL_WORKLOADS.flatMap((workload) =>
  (['pure', 'def'] as const).flatMap((mode) =>
    SIDES.map((n) => {
      const cs = grid.filter((c) => c.workload === workload && c.n === n);
      const flagged = cs.reduce((a, c) => a + c[mode].flagged, 0);
      const falseFlagged = cs.reduce((a, c) => a + c[mode].falseFlagged, 0);
      const withFalse = cs.filter((c) => c[mode].falseFlagged > 0).length;
      return {
        workload,
        mode: mode === 'pure' ? 'floor off' : 'defaults',
        n,
        comparisons: cs.length,
        flagged,
        falseFlagged,
        withFalse,
        withFalseCI: wilson(withFalse, cs.length),
        fdr: mean(cs.map((c) => (c[mode].flagged ? c[mode].falseFlagged / c[mode].flagged : 0))),
      };
    }),
  ),
);
out.push(
  "\n### False discoveries in the slowdown grid (regressions flagged that are neither the target's self nor the total of the target or an ancestor)\n",
);
out.push(
  table(
    [
      'workload',
      'mode',
      'profiles a side',
      'comparisons',
      'regressions flagged',
      'false',
      'comparisons with a false one (95 % CI)',
      'mean FDP',
    ],
    fdp.map((r) => [
      r.workload,
      r.mode,
      r.n,
      r.comparisons,
      r.flagged,
      r.falseFlagged,
      `${r.withFalse} = ${pct(r.withFalse / r.comparisons, 2)} (${pct(r.withFalseCI[0], 2)}–${pct(r.withFalseCI[1], 2)})`,
      pct(r.fdr, 3),
    ]),
  ),
);

// 2. Recall by z (grid binned), and the sweep.
const zBins = RECALL_WORKLOADS.flatMap((workload) =>
  SIDES.flatMap((n) =>
    Z_BINS.slice(0, -1).map((lo, i) => {
      const hi = Z_BINS[i + 1];
      const cs = grid.filter((c) => c.workload === workload && c.n === n && c.z >= lo && c.z < hi);
      return {
        workload,
        n,
        bin: hi === Infinity ? `≥ ${lo}` : lo === 0 ? `< ${hi}` : `${lo}–${hi}`,
        comparisons: cs.length,
        recallPure: rate(cs, (c) => c.pure.hit),
        theoryNormal: mean(cs.map((c) => theoryPure(c).normal)),
        theoryT: mean(cs.map((c) => theoryPure(c).t)),
        recallDefaults: rate(cs, (c) => c.def.hit),
        theoryDefaults: mean(cs.map(theoryDefaults)),
      };
    }),
  ),
);
out.push('\n### Recall by the true effect in standard errors (slowdown grid, binned)\n');
out.push(
  table(
    [
      'workload',
      'profiles a side',
      'z bin',
      'comparisons',
      'recall, floor off',
      'power Φ(z − z_thr)',
      'power, t',
      'recall, defaults',
      'power, defaults',
    ],
    zBins
      .filter((r) => r.comparisons > 0)
      .map((r) => [
        r.workload,
        r.n,
        r.bin,
        r.comparisons,
        pct(r.recallPure, 1),
        pct(r.theoryNormal, 1),
        pct(r.theoryT, 1),
        pct(r.recallDefaults, 1),
        pct(r.theoryDefaults, 1),
      ]),
  ),
);

const sweepRows = RECALL_WORKLOADS.flatMap((workload) =>
  SIDES.flatMap((n) =>
    SWEEP_Z.map((z) => {
      const cs = sweep.filter((c) => c.workload === workload && c.n === n && Math.abs(c.z - z) < 0.01);
      const hits = cs.filter((c) => c.pure.hit).length;
      return {
        workload,
        n,
        z,
        comparisons: cs.length,
        recallPure: hits / cs.length,
        ci: wilson(hits, cs.length),
        theoryNormal: mean(cs.map((c) => theoryPure(c).normal)),
        theoryT: mean(cs.map((c) => theoryPure(c).t)),
        recallDefaults: rate(cs, (c) => c.def.hit),
        theoryDefaults: mean(cs.map(theoryDefaults)),
        slowdownByBand: BANDS.map((_, b) => median(cs.filter((c) => c.band === b).map((c) => c.delta))),
      };
    }),
  ),
);
out.push('\n### Recall at an exact effect size (the slowdown solved per target for z standard errors)\n');
out.push(
  table(
    [
      'workload',
      'profiles a side',
      'z',
      'comparisons',
      'recall, floor off (95 % CI)',
      'power Φ(z − z_thr)',
      'power, t',
      'recall, defaults',
      'power, defaults',
      ...BANDS.map((_, b) => `slowdown, ${bandLabel(b)}`),
    ],
    sweepRows.map((r) => [
      r.workload,
      r.n,
      r.z,
      r.comparisons,
      `${pct(r.recallPure, 1)} (${pct(r.ci[0], 1)}–${pct(r.ci[1], 1)})`,
      pct(r.theoryNormal, 1),
      pct(r.theoryT, 1),
      pct(r.recallDefaults, 1),
      pct(r.theoryDefaults, 1),
      ...r.slowdownByBand.map((x) => `+${pct(x, 1)}`),
    ]),
  ),
);

// The smallest effect with ≥ 95 % recall, measured and predicted.
const smallest = RECALL_WORKLOADS.flatMap((workload) =>
  SIDES.map((n) => {
    const rows = sweepRows.filter((r) => r.workload === workload && r.n === n);
    const here = cases.filter((c) => c.workload === workload && c.n === n);
    const m = Math.round(median(here.map((c) => c.m)));
    const df = 2 * n - 2;
    return {
      workload,
      n,
      m,
      df,
      zThreshold: zThreshold(m),
      tThreshold: tThreshold(m, df),
      measuredZ95: smallestFrom(
        rows,
        (r) => r.z,
        (r) => r.recallPure,
        0.95,
      ),
      predictedZ95Normal: zForPower((z) => powerNormal(z, m), 0.95),
      predictedZ95T: zForPower((z) => powerT(z, m, df), 0.95),
      measuredZ80: smallestFrom(
        rows,
        (r) => r.z,
        (r) => r.recallPure,
        0.8,
      ),
      predictedZ80Normal: zForPower((z) => powerNormal(z, m), 0.8),
      predictedZ80T: zForPower((z) => powerT(z, m, df), 0.8),
      detectorDetectableZ: median(here.map((c) => c.detectableZ)),
      powerAt3Normal: powerNormal(3, m),
      powerAt3T: powerT(3, m, df),
      measuredAt3: rows.find((r) => r.z === 3)?.recallPure ?? NaN,
    };
  }),
);
out.push('\n### Smallest effect detected with ≥ 95 % recall (floor off), in standard errors\n');
out.push(
  table(
    [
      'workload',
      'profiles a side',
      'm (median)',
      'z_thr = z(1 − α/2m)',
      't_thr (df 2n−2)',
      'measured z95 (sweep ladder)',
      'predicted z95, normal',
      'predicted z95, t',
      'measured z80',
      'predicted z80, normal / t',
      "detector's `detectable` ÷ true SE",
      'recall at 3 SE: measured; normal / t',
    ],
    smallest.map((s) => [
      s.workload,
      s.n,
      s.m,
      fixed(s.zThreshold),
      fixed(s.tThreshold),
      fixed(s.measuredZ95, 1),
      fixed(s.predictedZ95Normal),
      fixed(s.predictedZ95T),
      fixed(s.measuredZ80, 1),
      `${fixed(s.predictedZ80Normal)} / ${fixed(s.predictedZ80T)}`,
      fixed(s.detectorDetectableZ),
      `${pct(s.measuredAt3, 1)}; ${pct(s.powerAt3Normal, 1)} / ${pct(s.powerAt3T, 1)}`,
    ]),
  ),
);

// In relative terms per band: the design formula with the true φ against the grid.
const relative = RECALL_WORKLOADS.flatMap((workload) =>
  BANDS.flatMap((_, b) =>
    SIDES.map((n) => {
      const ts = svcs.flatMap((s) => s.truth[workload].targets).filter((t) => t.band === b);
      const s = smallest.find((x) => x.workload === workload && x.n === n)!;
      const N = WORKLOADS[workload].samples * n;
      // (z(1−α/2m) + z(0.95)) · sqrt(φ (1−p)/p · (1/N_B + 1/N_T)), per target, median of the band.
      const formula = (zSum: number) =>
        median(ts.map((t) => zSum * Math.sqrt(((t.phi * (1 - t.p)) / t.p) * (2 / N))));
      const label = bandLabel(b);
      const byEffect = (rows: typeof recallPure) =>
        rows.find((r) => r.workload === workload && r.band === label && r.n === n)!.cells;
      return {
        workload,
        band: label,
        n,
        designFormula: formula(s.zThreshold + normalQuantile(0.95)),
        designFormulaT: formula(s.predictedZ95T),
        exactT: median(ts.map((t) => deltaForZ(t, s.predictedZ95T, n))),
        sweepAtMeasuredZ95: median(
          sweep
            .filter(
              (c) =>
                c.workload === workload && c.band === b && c.n === n && Math.abs(c.z - s.measuredZ95) < 0.01,
            )
            .map((c) => c.delta),
        ),
        smallestGridPure: smallestFrom(
          byEffect(recallPure),
          (c) => c.effect,
          (c) => c.recall,
          0.95,
        ),
        smallestGridDefaults: smallestFrom(
          byEffect(recallDef),
          (c) => c.effect,
          (c) => c.recall,
          0.95,
        ),
      };
    }),
  ),
);
const gridEffect = (x: number) => (Number.isFinite(x) ? `+${x * 100} %` : '> +50 %');
out.push(
  "\n### Smallest slowdown detected with ≥ 95 % recall, relative to the function's self cost (median of the band's targets)\n",
);
out.push(
  table(
    [
      'workload',
      'target share',
      'profiles a side',
      'design formula, z_thr + z(0.95)',
      'design formula, t z95',
      'exact (truth) at t z95',
      'at the measured z95 (sweep)',
      'smallest grid effect ≥ 95 %, floor off',
      'same, defaults',
    ],
    relative.map((r) => [
      r.workload,
      r.band,
      r.n,
      `+${pct(r.designFormula, 1)}`,
      `+${pct(r.designFormulaT, 1)}`,
      `+${pct(r.exactT, 1)}`,
      Number.isFinite(r.sweepAtMeasuredZ95) ? `+${pct(r.sweepAtMeasuredZ95, 1)}` : '—',
      gridEffect(r.smallestGridPure),
      gridEffect(r.smallestGridDefaults),
    ]),
  ),
);

// The detector's overdispersion against the truth.
const phiRows = RECALL_WORKLOADS.flatMap((workload) =>
  BANDS.flatMap((_, b) =>
    SIDES.map((n) => {
      const cs = grid.filter((c) => c.workload === workload && c.band === b && c.n === n && c.delta <= 0.02);
      return {
        workload,
        band: bandLabel(b),
        n,
        truePhi: median(
          svcs
            .flatMap((s) => s.truth[workload].targets)
            .filter((t) => t.band === b)
            .map((t) => t.phi),
        ),
        reportedPhi: median(cs.map((c) => c.reportedPhi)),
      };
    }),
  ),
);
out.push("\n### Overdispersion of the targets: truth against the detector's estimate (slowdowns ≤ +2 %)\n");
out.push(
  table(
    ['workload', 'target share', 'profiles a side', 'true φ (median of targets)', 'reported φ (median)'],
    phiRows.map((r) => [r.workload, r.band, r.n, fixed(r.truePhi), fixed(r.reportedPhi)]),
  ),
);

// 3. A/A.
const aaRows = aa.flatMap((r) =>
  (['defaults', 'floor off'] as const).map((mode) => {
    const k = mode === 'defaults' ? r.defaults.anyRegression : r.pure.anyRegression;
    const kAny = mode === 'defaults' ? r.defaults.anyFinding : r.pure.anyFinding;
    return {
      workload: r.workload,
      n: r.n,
      mode,
      comparisons: r.comparisons,
      m: median(r.m),
      anyRegression: k,
      anyRegressionRate: k / r.comparisons,
      anyRegressionCI: wilson(k, r.comparisons),
      anyFinding: kAny,
      anyFindingRate: kAny / r.comparisons,
      anyFindingCI: wilson(kAny, r.comparisons),
      inconclusiveMean: mode === 'defaults' ? mean(r.defaults.inconclusive) : NaN,
      blindToFloorMean: mean(r.blindToFloor),
    };
  }),
);
out.push('\n### A/A: no change, different seeds for the two sides\n');
out.push(
  table(
    [
      'workload',
      'profiles a side',
      'mode',
      'comparisons',
      'm (median)',
      'with a regression flagged (95 % Wilson CI)',
      'with any finding, regression or improvement (95 % CI)',
      'inconclusive findings per comparison (mean)',
      'tests whose detectable effect exceeds the practical floor (mean)',
    ],
    aaRows.map((r) => [
      r.workload,
      r.n,
      r.mode,
      r.comparisons,
      r.m,
      `${r.anyRegression} = ${pct(r.anyRegressionRate, 2)} (${pct(r.anyRegressionCI[0], 2)}–${pct(r.anyRegressionCI[1], 2)})`,
      `${r.anyFinding} = ${pct(r.anyFindingRate, 2)} (${pct(r.anyFindingCI[0], 2)}–${pct(r.anyFindingCI[1], 2)})`,
      Number.isFinite(r.inconclusiveMean) ? r.inconclusiveMean.toFixed(1) : '—',
      r.blindToFloorMean.toFixed(1),
    ]),
  ),
);

const calibRow = (e: PCount, lone: number) => ({
  tests: e.count,
  below: P_LEVELS.map((l, j) => ({
    level: l,
    count: e.below[j],
    ratio: e.below[j] / e.count / l,
    ci: wilson(e.below[j], e.count).map((x) => x / l),
  })),
  lone: {
    level: lone,
    count: e.belowLone,
    expected: e.count * lone,
    ratio: e.belowLone / e.count / lone,
    ci: wilson(e.belowLone, e.count).map((x) => x / lone),
  },
});
const calib = aa.flatMap((r) => {
  const lone = ALPHA / median(r.m);
  const keys = Array.from(r.p.keys()).sort();
  const pooled = (measure: string) => {
    const e = newPCount();
    for (const k of keys.filter((x) => x.startsWith(measure))) {
      const x = r.p.get(k)!;
      e.count += x.count;
      e.belowLone += x.belowLone;
      x.below.forEach((v, j) => {
        e.below[j] += v;
      });
    }
    return e;
  };
  return [
    ...keys.map((key) => ({
      workload: r.workload,
      n: r.n,
      measure: key.split('/')[0],
      band: pBandLabel(Number(key.split('/')[1])),
      ...calibRow(r.p.get(key)!, lone),
    })),
    ...['self', 'total'].map((measure) => ({
      workload: r.workload,
      n: r.n,
      measure,
      band: 'all',
      ...calibRow(pooled(measure), lone),
    })),
  ];
});
const ratioCell = (x: { count: number; ratio: number; ci: number[] }) =>
  `${x.ratio.toFixed(2)} (${x.count}; ${x.ci[0].toFixed(2)}–${x.ci[1].toFixed(2)})`;
out.push(
  '\n### A/A p-value calibration (every test, floor off): the fraction below a level ÷ the level (1 = calibrated, > 1 anti-conservative), (count; 95 % CI)\n',
);
out.push(
  table(
    ['workload', 'n', 'measure', 'pooled share', 'tests', ...P_LEVELS.map((l) => `p < ${l}`), 'p ≤ α/m'],
    calib.map((c) => [
      c.workload,
      c.n,
      c.measure,
      c.band,
      c.tests,
      ...c.below.map(ratioCell),
      ratioCell(c.lone),
    ]),
  ),
);

const tailRows = tails.map((t) => ({
  workload: t.workload,
  n: t.n,
  function: t.function,
  share: t.share,
  phi: t.phi,
  crossChecked: t.crossChecked,
  ...calibRow(t.p, t.lone),
}));
out.push(
  "\n### The far tail: one function's A/A self test, drawn as the generator draws it (p-values checked against detect)\n",
);
out.push(
  table(
    ['workload', 'n', 'share', 'φ', 'tests', ...P_LEVELS.map((l) => `p < ${l}`), 'p ≤ α/m'],
    tailRows.map((t) => [
      t.workload,
      t.n,
      pct(t.share, 2),
      t.phi.toFixed(2),
      t.tests,
      ...t.below.map(ratioCell),
      `${ratioCell(t.lone)} at ${t.lone.level.toExponential(1)}`,
    ]),
  ),
);

// 4. Speed.
out.push('\n### summarize + detect per comparison (pure code; the store computes the same sums in SQL)\n');
out.push(
  table(
    [
      'profiles a side',
      'tests',
      'runs',
      'summarize both sides (median)',
      'detect (median)',
      'total median',
      'total p95',
    ],
    speed.map((s) => [
      s.n,
      s.tests,
      s.runs,
      `${s.summarizeMs.toFixed(2)} ms`,
      `${s.detectMs.toFixed(2)} ms`,
      `${s.totalMs.toFixed(2)} ms`,
      `${s.totalP95Ms.toFixed(2)} ms`,
    ]),
  ),
);

console.log(out.join('\n'));

const result = {
  command: process.argv.slice(1).join(' '),
  node: process.version,
  loadAverage: { start: load0, end: load1 },
  timing,
  parameters: {
    service: SERVICE,
    serviceSeeds: SERVICE_SEEDS,
    workloads: WORKLOADS,
    sides: SIDES,
    effects: EFFECTS,
    sweepZ: SWEEP_Z,
    reps,
    sweepReps,
    aaCount,
    tailTests,
    truthWindows,
    alpha: ALPHA,
    defaults: DEFAULT_DETECT_OPTIONS,
  },
  targets: RECALL_WORKLOADS.map((workload) => ({
    workload,
    services: svcs.map((s) => ({
      serviceSeed: s.seed,
      targets: s.truth[workload].targets.map((t) => ({
        name: t.name,
        band: bandLabel(t.band),
        share: t.p,
        phi: t.phi,
        ancestors: t.ancestors.size,
      })),
    })),
  })),
  recall: { floorOff: recallPure, defaults: recallDef },
  falseDiscoveries: fdp,
  recallByZ: zBins,
  sweep: sweepRows,
  smallest,
  smallestRelative: relative,
  overdispersion: phiRows,
  aa: aaRows,
  pCalibration: calib,
  tail: tailRows,
  speed,
};
fs.mkdirSync(path.join(repoDir, 'bench', 'out'), { recursive: true });
fs.writeFileSync(path.join(repoDir, 'bench', 'out', 'regression-eval.json'), JSON.stringify(result, null, 1));
console.log('\nJSON:');
console.log(JSON.stringify(result));
