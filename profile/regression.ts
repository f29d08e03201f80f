/**
 * The regression detector (v2): judges each function's cost in a quantity
 * that neither another function's change nor a change of traffic can move,
 * with the process as the unit of replication.
 *
 * 1. Normalise. Where every process of both sides counted the work it served
 *    (requests, benchmark iterations), a function's cost is its value per
 *    unit of work. Otherwise each process gets a robust size factor: the
 *    median over functions of its self value over that function's geometric
 *    mean across all processes (DESeq2's median of ratios, made for the same
 *    compositional problem in RNA-seq counts), which a minority of changed
 *    functions cannot move. Shares, which must sum to one, are never tested.
 * 2. Per process, a function's cost is a ratio estimate over its
 *    observations (Σ value / Σ work or size), so a profile weighs what it
 *    holds: a process's short last push barely counts. Its within-process
 *    variance comes from the spread of its observations.
 * 3. Between processes: profiles of one process are repeated measures.
 *    Processes differ (V8 inlines differently per process), so each side's
 *    mean carries a between-process variance τ², estimated per function by
 *    moments and moderated towards a spread pooled over the functions nearest
 *    it in size (the empirical-Bayes step of limma's moderated t, with
 *    limma-trend's size trend: a big function's cost barely moves between
 *    processes, a small one's moves a lot), with a prior that one
 *    process a side cannot estimate at all. Few processes therefore give wide
 *    intervals, i.e. "inconclusive", not a false regression.
 * 4. Test each function's total (inclusive) cost, which inlining does not
 *    move between a function and its caller, with a t-test on the
 *    difference of side means; Benjamini–Hochberg over the family; a
 *    practical floor. With a work count the whole program's cost per unit of
 *    work is tested too (a slower runtime is a real regression); without one
 *    it cannot be told from traffic and is reported, never judged.
 * 5. A regression is only ever a function whose own normalised cost rose; an
 *    improvement one whose own cost fell. A practical-sized rise the data
 *    cannot decide, or a comparison too coarse to see one, is
 *    "inconclusive", never "no regression".
 *
 * Gauges (in-use memory) are levels: a process's value is its mean level over
 * its snapshots, compared between processes, never normalised by work.
 */
import { benjaminiHochberg, studentTQuantileUpper, studentTUpper } from './stats';

/** One observation: a pushed profile, or a time bucket of one process's profiles. */
export interface Observation {
  /** The process (instance) that wrote it: observations of one process are repeated measures. */
  process: string;
  /** The sum of all its values (samples, ns, bytes). */
  total: number;
  /** Its duration in seconds. */
  seconds: number;
  /** Work units served in it (HTTP requests, iterations), when known. */
  work?: number;
  /** Per function: self (as leaf) and total (anywhere in the stack, once per stack) value. */
  functions: Map<string, { self: number; total: number }>;
}

/** Sums over one process's observations of x, x², x·t (t the observation's total) and x·w (w its work). */
export interface Sums {
  x: number;
  xx: number;
  xt: number;
  xw: number;
}

/** One process's sufficient statistics. */
export interface ProcessStats {
  key: string;
  /** Observations. */
  n: number;
  seconds: number;
  /** Σ t, Σ t², Σ t·w of the observations' totals. */
  total: Sums;
  /** Σ w, Σ w² of the observations' work (0 when no work was counted). */
  work: { x: number; xx: number };
  functions: Map<string, { self: Sums; total: Sums }>;
}

/** One side's sufficient statistics: its processes. */
export interface SideStats {
  processes: ProcessStats[];
  /**
   * Gauges from a sampling heap profiler: the smallest positive value a stack holds in one snapshot, about one
   * sample's weight (512 KiB for Go's and V8's default heap sampling, in bytes). A process's sampled level is a
   * count of such samples, which stays put from one snapshot to the next (the same sampled objects are still
   * held), so its snapshots' spread says nothing of that sampling noise; the quantum does (Poisson: variance ≈
   * level × quantum).
   */
  quantum?: number;
  /** Names this side's stacks hold in several files (store/detector-stats.ts): each is one function per file. */
  collisions?: Set<string>;
}

export type ProfileKind = 'cost' | 'gauge';

/**
 * Gauges are levels, not costs: in-use memory (pprof's `inuse_*`, and what
 * Pyroscope pushes with `aggregationType=average`, stored as `inuse_*` types
 * by its SDKs). Everything else (CPU, wall, allocations, counts) is a cost.
 */
export function profileKind(type: string): ProfileKind {
  return /^inuse(_|$)/.test(type) ? 'gauge' : 'cost';
}

export interface DetectOptions {
  /**
   * The comparison's false-alarm budget. Default 0.01: a detector run on every deploy must cry wolf rarely. When the
   * whole program is judged too, the two families share it: the whole program's test at fdr/2, the functions'
   * false discovery rate at fdr/2 (Detection.familyFdr), so that a comparison of two unchanged builds flags
   * anything at most about fdr of the time, not twice that.
   */
  fdr: number;
  /** A change is practical when it moves at least this fraction of the baseline's whole cost (0.005 = 0.5 points)... */
  minAbsolute: number;
  /** ...or at least this relative change of the function's own cost (0.1 = +10 %). */
  minRelative: number;
  /** The whole program's change that matters (per unit of work, or a gauge's whole level). Default 0.03 (+3 %). */
  minRelativeWhole: number;
  /** Fewer observations (profiles) on either side: insufficient data. Default 5. */
  minObservations: number;
  /** Functions below this share of both sides' cost are not tested (independent filtering: it does not look at the change; a function of 0.2 % can move the whole by 0.5 % only by growing past 0.5 % itself). Default 0.005 (0.5 %). */
  minShare: number;
  /** Power for the "needed" and "detectable" figures. Default 0.8. */
  power: number;
  /**
   * The between-process spread assumed before this comparison's own processes
   * speak: a coefficient of variation of a function's cost from process to
   * process, worth `df` processes' evidence. Default 15 % worth 1 (V8's
   * per-process inlining and layout move functions by ±5–15 %): it decides
   * alone only with one process a side; with more, the spread pooled over
   * the comparison's functions soon outweighs it.
   */
  prior: { cv: number; df: number };
  /**
   * The same for the whole program's cost per unit of work, which varies far
   * less between processes than any one function (inlining moves cost between
   * functions, not out of the program). Default 5 % worth 3.
   */
  priorWhole: { cv: number; df: number };
  /**
   * When nothing regressed but the comparison cannot detect a rise of this
   * relative size on functions of ≥ 5 % of the cost (at the configured
   * power), the verdict is "inconclusive": it is blind, not green. Default 0.5.
   */
  maxResolution: number;
  /** 'cost' (CPU, wall, allocations) or 'gauge' (in-use memory: levels). Default 'cost'. */
  kind: ProfileKind;
  /** Also test self cost where it differs from total (leaves are tested once). Default true. */
  testSelf: boolean;
  /**
   * Functions whose findings are wanted whatever their size or verdict (a budget's growth limit): estimated as
   * any other, returned in `Detection.focus`; those under `minShare` stay out of the family and the pool, so
   * asking changes nothing else.
   */
  focus?: readonly string[];
}

/**
 * The false-alarm level of the schedule's looks (window and named-selection sweeps), a fraction of the configured
 * `fdr`. The sweep looks at the same processes all day: a day is about one comparison seen 289 times, and
 * persistence across windows cannot remove a difference that persists because the pods do. At the ad-hoc level
 * that cost 0.014 false regressions a service-day (bench/sweep-eval, 511 days); at half, the schedule's budget
 * is about fdr/2 a service-day. A version's looks spend their own fdr (jobs/processors/detect.ts `sweep`).
 */
export const SCHEDULE_FDR_SHARE = 0.5;

/** The level a scheduled window or selection look tests at, given the configured fdr. */
export function scheduledFdr(fdr: number = DEFAULT_DETECT_OPTIONS.fdr): number {
  return fdr * SCHEDULE_FDR_SHARE;
}

export const DEFAULT_DETECT_OPTIONS: DetectOptions = {
  fdr: 0.01,
  minAbsolute: 0.005,
  minRelative: 0.1,
  minRelativeWhole: 0.03,
  minObservations: 5,
  minShare: 0.005,
  power: 0.8,
  prior: { cv: 0.15, df: 1 },
  priorWhole: { cv: 0.05, df: 3 },
  maxResolution: 0.5,
  kind: 'cost',
  testSelf: true,
};

/** 'total': a function's inclusive cost; 'rate': the whole program's (per unit of work, or a gauge's whole level). */
export type Measure = 'self' | 'total' | 'rate';

/** How costs were made comparable. */
export type Normalisation = 'work' | 'size' | 'level';

export interface Finding {
  /** The function, or '' for the whole program. */
  function: string;
  measure: Measure;
  /** Cost on each side as a fraction of the baseline's whole cost (normalised; the candidate's need not sum to one). */
  baseline: number;
  candidate: number;
  /** candidate − baseline in those units, and relative to the baseline (Infinity when the baseline is 0). */
  effect: number;
  relative: number;
  /** 95 % confidence interval of the effect. */
  ci: [number, number];
  /** Self cost on each side, in the same units (for reading, not judged). */
  self: { baseline: number; candidate: number };
  /** With a work count: the cost per unit of work on each side, in the profile's unit. */
  perWork?: { baseline: number; candidate: number };
  t: number;
  df: number;
  p: number;
  q: number;
  /** The smallest effect (same units as `effect`) this comparison detects with the configured power. */
  detectable: number;
  /** The between-process coefficient of variation used (moderated). */
  processCv: number;
  verdict: 'regression' | 'improvement' | 'unchanged' | 'inconclusive';
  /** For inconclusive findings: processes a side, and profiles a side at today's profiles per process, that would decide it. */
  neededProcesses?: number;
  neededObservations?: number;
}

export interface Detection {
  verdict: 'regression' | 'no_regression' | 'inconclusive' | 'insufficient_data';
  reason?: string;
  kind: ProfileKind;
  normalisation: Normalisation;
  baseline: { n: number; processes: number; samples: number; work: number; seconds: number };
  candidate: { n: number; processes: number; samples: number; work: number; seconds: number };
  /** Tests in the family. */
  tested: number;
  /** The level each family is judged at: the functions' false discovery rate, and the whole program's test (see DetectOptions.fdr). */
  familyFdr: number;
  regressions: Finding[];
  improvements: Finding[];
  /** Practical-sized changes the data cannot yet decide. */
  inconclusive: Finding[];
  /** Regressions another flagged one accounts for (a caller above a slower function; every function under a slower whole program). */
  explained: (Finding & { explainedBy: string })[];
  /**
   * Changes that are cost moving between a function and its direct caller or
   * callee while the caller's total stayed put: V8 inlined the callee in one
   * side's processes and not the other's. Neither a regression nor an
   * improvement (see attributeToCallees).
   */
  moved?: (Finding & { with: string })[];
  /** The whole program: judged per unit of work (or a gauge's whole level); without work, reported with verdict 'unchanged'. */
  rate: Finding | undefined;
  /** The whole cost per instance-second on each side (information: traffic moves it). */
  perSecond: { baseline: number; candidate: number };
  /** The relative rise this comparison detects on functions of ≥ 5 % of the cost (median; NaN when there are none). */
  resolution: number;
  options: DetectOptions;
  /** With `options.focus`: those functions' findings (total, and self where it differs), whatever their verdict. */
  focus?: Finding[];
  /** Names told apart by file in this comparison (`emit (events.js)`; store/compare.ts): none is a finding's whole name. */
  qualifiedNames?: string[];
}

const zeroSums = (): Sums => ({ x: 0, xx: 0, xt: 0, xw: 0 });

/** What `explainedBy` says of a rise per unit of work whose cost per second did not rise with it. */
export const LESS_WORK = '(less work per second)';

/** The frame V8's profiler puts idle time under. */
export const IDLE = '(idle)';

/**
 * Frames that name no code but the runtime's own activity: @datadog/pprof's `Node.js` node (garbage collection
 * and other threads' CPU under one root) and its `Non JS threads activity` (libuv's pool, V8's compiler and GC
 * helpers, the profiler's thread), V8's `(program)`. They count in the whole program's cost, never as functions
 * of their own: nothing in a change can be pointed at, and other threads' CPU follows the machine as much as
 * the build (a real run flagged it +138 % per order beside a slower function). `Garbage Collection` stays
 * judged: more of it is more allocation.
 */
export const RUNTIME_FRAMES: ReadonlySet<string> = new Set([
  'Node.js',
  'Non JS threads activity',
  '(program)',
  '(root)',
]);

function add(s: Sums, x: number, t: number, w: number): void {
  s.x += x;
  s.xx += x * x;
  s.xt += x * t;
  s.xw += x * w;
}

/** Sufficient statistics of a side from its observations (the harness and tests; the store computes the same in SQL). */
export function summarize(observations: Iterable<Observation>): SideStats {
  const byKey = new Map<string, ProcessStats>();
  for (const raw of observations) {
    // V8's `(idle)` is no code's cost (the store leaves it out the same way).
    const idle = raw.functions.get(IDLE)?.self ?? 0;
    const o =
      idle > 0
        ? {
            ...raw,
            total: raw.total - idle,
            functions: new Map([...raw.functions].filter(([name]) => name !== IDLE)),
          }
        : raw;
    if (!(o.total > 0)) continue;
    let p = byKey.get(o.process);
    if (!p)
      byKey.set(
        o.process,
        (p = {
          key: o.process,
          n: 0,
          seconds: 0,
          total: zeroSums(),
          work: { x: 0, xx: 0 },
          functions: new Map(),
        }),
      );
    const w = o.work ?? 0;
    p.n++;
    p.seconds += o.seconds;
    add(p.total, o.total, o.total, w);
    p.work.x += w;
    p.work.xx += w * w;
    for (const [name, v] of o.functions) {
      let f = p.functions.get(name);
      if (!f) p.functions.set(name, (f = { self: zeroSums(), total: zeroSums() }));
      add(f.self, v.self, o.total, w);
      add(f.total, v.total, o.total, w);
    }
  }
  return { processes: [...byKey.values()] };
}

/** A process's normalised cost of one measure: the value and its within-process variance. */
interface Point {
  y: number;
  v: number;
  /** What the process holds (its observations): its weight in the side's mean, capped at the side's median. */
  w?: number;
}

interface Normaliser {
  mode: Normalisation;
  /** Per process: the cost of `s` in normalised units, with its within-process variance. */
  point(p: ProcessStats, s: Sums): Point;
}

/** Ratio estimate Σx / Σz and its linearised variance from the observations' spread. */
function ratio(n: number, x: number, xx: number, xz: number, z: number, zz: number): Point {
  if (!(z > 0)) return { y: 0, v: 0 };
  const r = x / z;
  const ss = Math.max(0, xx - 2 * r * xz + r * r * zz);
  return { y: r, v: n > 1 ? ((n / (n - 1)) * ss) / (z * z) : NaN };
}

/**
 * Per process size factors by the median of ratios of self values: for each
 * function present in every process with a share of at least `minShare`,
 * its value over its geometric mean across processes; the process's factor
 * is the median of those. Null when fewer than three functions qualify.
 */
export function sizeFactors(processes: ProcessStats[], minShare = 0.002): Map<ProcessStats, number> | null {
  const names: string[] = [];
  const first = processes[0];
  if (!first) return null;
  for (const [name] of first.functions) {
    let ok = true;
    for (const p of processes) {
      const f = p.functions.get(name);
      if (!f || !(f.self.x > 0) || f.self.x < minShare * p.total.x) {
        ok = false;
        break;
      }
    }
    if (ok) names.push(name);
  }
  if (names.length < 3) return null;
  const logRef = names.map(
    (name) => processes.reduce((s, p) => s + Math.log(p.functions.get(name)!.self.x), 0) / processes.length,
  );
  // Unweighted, as DESeq2: each function one vote, so neither one big function that changed nor the
  // two that traded cost can carry it. (Weighting by cost was tried: with few functions, the biggest one's
  // change moved every other function's estimate.) Programs whose cost is mostly in functions that follow
  // time rather than work (timers, the runtime's housekeeping) need a work count instead.
  const out = new Map<ProcessStats, number>();
  for (const p of processes) {
    const ratios = names.map((name, i) => Math.log(p.functions.get(name)!.self.x) - logRef[i]);
    out.set(p, Math.exp(median(ratios)));
  }
  return out;
}

/** Tests a spread is pooled over: the nearest by size. */
const POOL_NEIGHBOURS = 9;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

function normaliser(all: ProcessStats[], kind: ProfileKind, quantum = 0): Normaliser {
  if (kind === 'gauge') {
    // A level: the mean over the process's snapshots, never known better than its sampling (SideStats.quantum).
    return {
      mode: 'level',
      point: (p, s) => {
        const y = s.x / p.n;
        const spread = p.n > 1 ? Math.max(0, s.xx / p.n - y * y) / (p.n - 1) : NaN;
        return { y, v: quantum > 0 ? Math.max(Number.isFinite(spread) ? spread : 0, y * quantum) : spread };
      },
    };
  }
  if (all.every((p) => p.work.x > 0)) {
    return { mode: 'work', point: (p, s) => ratio(p.n, s.x, s.xx, s.xw, p.work.x, p.work.xx) };
  }
  // Within a process the code is fixed, so an observation's total stands for its size; across processes
  // (and sides) the median of ratios does. Without three common functions, the process's total.
  const factors = sizeFactors(all);
  return {
    mode: 'size',
    point: (p, s) => {
      const r = ratio(p.n, s.x, s.xx, s.xt, p.total.x, p.total.xx);
      const scale = p.total.x / (factors?.get(p) ?? p.total.x);
      return { y: r.y * scale, v: r.v * scale * scale };
    },
  };
}

interface SideEstimate {
  mean: number;
  /** Variance of the mean. */
  variance: number;
  processes: number;
  /** Mean within-process variance of the processes' points. */
  within: number;
}

/** Unweighted moments of the points: the mean, and the between-process variance beyond the within-process one. */
function moments(points: Point[]): { mean: number; ss: number; within: number } {
  const n = points.length;
  const mean = points.reduce((s, p) => s + p.y, 0) / n;
  const ss = points.reduce((s, p) => s + (p.y - mean) ** 2, 0);
  const known = points.filter((p) => Number.isFinite(p.v));
  const within = known.length > 0 ? known.reduce((s, p) => s + p.v, 0) / known.length : 0;
  return { mean, ss, within };
}

/**
 * A side's mean over its processes, each weighted by what it holds (its
 * observations, capped at the side's median so that no long-lived process
 * outweighs the others), and the variance of that mean given a between-process
 * variance τ² on top of each process's within-process variance. Weights are
 * fixed by the data's shape, never by estimated variances, whose noise would
 * make the variance of a weighted mean look smaller than it is.
 */
function sideEstimate(points: Point[], tau2: number): SideEstimate {
  const cap = median(points.map((p) => p.w ?? 1));
  let sw = 0;
  let sww = 0;
  let swy = 0;
  for (const p of points) {
    const w = Math.min(p.w ?? 1, cap);
    sw += w;
    sww += w * w;
    swy += w * p.y;
  }
  const known = points.filter((p) => Number.isFinite(p.v));
  const within = known.length > 0 ? known.reduce((a, p) => a + p.v, 0) / known.length : 0;
  return { mean: swy / sw, variance: ((tau2 + within) * sww) / (sw * sw), processes: points.length, within };
}

interface Test {
  fn: string;
  measure: Measure;
  b: SideEstimate;
  c: SideEstimate;
  selfB: number;
  selfC: number;
  se: number;
  df: number;
  t: number;
  p: number;
  cv: number;
  perSecond: number;
  /** Estimated for Detection.focus only: not in the family, never a finding of its own. */
  focusOnly?: boolean;
}

/**
 * Compares candidate against baseline. Both sides' stats must come from the
 * same profile type and unit.
 */
export function detect(
  baseline: SideStats,
  candidate: SideStats,
  options: Partial<DetectOptions> = {},
): Detection {
  const o: DetectOptions = { ...DEFAULT_DETECT_OPTIONS, ...options };
  const side = (s: SideStats) => ({
    n: s.processes.reduce((a, p) => a + p.n, 0),
    processes: s.processes.length,
    samples: s.processes.reduce((a, p) => a + p.total.x, 0),
    work: s.processes.reduce((a, p) => a + p.work.x, 0),
    seconds: s.processes.reduce((a, p) => a + p.seconds, 0),
  });
  const base = side(baseline);
  const cand = side(candidate);
  const perSecond = {
    baseline: base.seconds > 0 ? base.samples / base.seconds : 0,
    candidate: cand.seconds > 0 ? cand.samples / cand.seconds : 0,
  };
  const all = [...baseline.processes, ...candidate.processes];
  const norm = normaliser(all, o.kind, Math.max(baseline.quantum ?? 0, candidate.quantum ?? 0));
  const empty = {
    regressions: [],
    improvements: [],
    inconclusive: [],
    explained: [],
    rate: undefined,
    perSecond,
    resolution: NaN,
    options: o,
    familyFdr: o.fdr,
  };
  if (base.n < o.minObservations || cand.n < o.minObservations) {
    const reason = `needs at least ${o.minObservations} profiles on each side; the baseline has ${base.n}, the candidate ${cand.n}`;
    return {
      verdict: 'insufficient_data',
      reason,
      kind: o.kind,
      normalisation: norm.mode,
      baseline: base,
      candidate: cand,
      tested: 0,
      ...empty,
    };
  }

  const pointsOf = (s: SideStats, get: (p: ProcessStats) => Sums | undefined): Point[] =>
    s.processes.map((p) => {
      const sums = get(p);
      return { ...(sums ? norm.point(p, sums) : { y: 0, v: 0 }), w: p.n };
    });
  const wholeB = pointsOf(baseline, (p) => p.total);
  const wholeC = pointsOf(candidate, (p) => p.total);
  const wholeMeanB = moments(wholeB).mean;
  const wholeMeanC = moments(wholeC).mean;
  if (!(wholeMeanB > 0)) {
    return {
      verdict: 'insufficient_data',
      reason: 'the baseline has no cost',
      kind: o.kind,
      normalisation: norm.mode,
      baseline: base,
      candidate: cand,
      tested: 0,
      ...empty,
    };
  }

  // Candidates for testing: functions with at least minShare of either side's cost.
  interface Raw {
    fn: string;
    measure: Measure;
    pb: Point[];
    pc: Point[];
    selfB: number;
    selfC: number;
    perSecond: number;
    focusOnly?: boolean;
  }
  // The relative change of a measure's cost per process-second (what traffic and throughput move, code too).
  const perSecondChange = (get: (p: ProcessStats) => Sums | undefined): number => {
    const side = (s: SideStats) =>
      s.processes.reduce((a, p) => a + (p.seconds > 0 ? (get(p)?.x ?? 0) / p.seconds : 0), 0) /
      Math.max(1, s.processes.length);
    const b = side(baseline);
    const c = side(candidate);
    return b > 0 ? c / b - 1 : c > 0 ? Infinity : 0;
  };
  const raws: Raw[] = [];
  const names = new Set<string>();
  for (const p of all) for (const name of p.functions.keys()) names.add(name);
  for (const name of names) {
    const pb = pointsOf(baseline, (p) => p.functions.get(name)?.total);
    const pc = pointsOf(candidate, (p) => p.functions.get(name)?.total);
    const mb = moments(pb).mean;
    const mc = moments(pc).mean;
    const focused = o.focus?.includes(name) ?? false;
    if (RUNTIME_FRAMES.has(name) && !focused) continue;
    const small = mb < o.minShare * wholeMeanB && mc < o.minShare * wholeMeanC;
    if (small && !focused) continue;
    const sb = pointsOf(baseline, (p) => p.functions.get(name)?.self);
    const sc = pointsOf(candidate, (p) => p.functions.get(name)?.self);
    const selfB = moments(sb).mean;
    const selfC = moments(sc).mean;
    raws.push({
      fn: name,
      measure: 'total',
      pb,
      pc,
      selfB,
      selfC,
      perSecond: perSecondChange((p) => p.functions.get(name)?.total),
      ...(small ? { focusOnly: true } : {}),
    });
    // Self cost too: a slower function with large callees barely moves its total. Inlining moves self
    // time between processes; that spread is in the function's own between-process variance.
    const selfBig = selfB >= o.minShare * wholeMeanB || selfC >= o.minShare * wholeMeanC;
    if ((o.testSelf || focused) && (selfBig || focused) && (selfB < 0.999 * mb || selfC < 0.999 * mc)) {
      const focusOnly = !selfBig || !o.testSelf;
      raws.push({
        fn: name,
        measure: 'self',
        pb: sb,
        pc: sc,
        selfB,
        selfC,
        perSecond: perSecondChange((p) => p.functions.get(name)?.self),
        ...(focusOnly ? { focusOnly: true } : {}),
      });
    }
  }
  // The whole program is judged only where its cost has a meaning apart from traffic.
  const judgeWhole = norm.mode !== 'size';
  raws.push({
    fn: '',
    measure: 'rate',
    pb: wholeB,
    pc: wholeC,
    selfB: 0,
    selfC: 0,
    perSecond: perSecondChange((p) => p.total),
  });

  // Between-process spread: per test, the squared coefficient of variation beyond the within-process
  // variance, by moments over both sides' processes; pooled over tests by the median; each test's
  // moderated towards the pool, and the pool towards the prior.
  const dfBetween = baseline.processes.length + candidate.processes.length - 2;
  const cv2 = raws.map((r) => {
    if (dfBetween < 1) return NaN;
    const mb = moments(r.pb);
    const mc = moments(r.pc);
    const between = (mb.ss + mc.ss) / dfBetween - (mb.within + mc.within) / 2;
    const level = Math.max((mb.mean + mc.mean) / 2, 1e-300);
    return Math.max(0, between) / (level * level);
  });
  const prior2 = o.prior.cv * o.prior.cv;
  // The pool follows the cost's size (limma-trend's mean–variance trend): in real processes a large
  // function's cost per request barely moves from one process to the next while a small one's jumps with
  // where the JIT attributes inlined frames, so one median over all of them would be too wide for the large
  // and too narrow for the small. Each test's pool is the median of its POOL_NEIGHBOURS nearest tests by
  // log size (itself left out).
  const levels = raws.map((r) => Math.log(Math.max((moments(r.pb).mean + moments(r.pc).mean) / 2, 1e-300)));
  const pooledTests = raws
    .map((_, i) => i)
    .filter((i) => raws[i].measure !== 'rate' && !raws[i].focusOnly && Number.isFinite(cv2[i]));
  const poolOf = (i: number): { pooled2: number; d0: number } => {
    const near = pooledTests
      .filter((j) => j !== i)
      .sort((a, b) => Math.abs(levels[a] - levels[i]) - Math.abs(levels[b] - levels[i]) || a - b)
      .slice(0, POOL_NEIGHBOURS)
      .map((j) => cv2[j]);
    // The median of estimates on d degrees of freedom sits below their mean by median(χ²_d)/d ≈ (1 − 2/(9d))³ (Wilson–Hilferty).
    const observed2 = near.length > 0 ? median(near) / (1 - 2 / (9 * dfBetween)) ** 3 : 0;
    // The pool rests on its neighbours' processes: worth more than one test's dfBetween, though functions differ
    // too much (inlining) for it to be worth all of them. Gauges are not pooled: what a function holds (a cache,
    // buffers in flight) varies too differently from one function to the next for one spread to stand for them all.
    const poolDf = near.length > 0 && o.kind !== 'gauge' ? (dfBetween * Math.min(near.length, 10)) / 2 : 0;
    const pooled2 = (o.prior.df * prior2 + poolDf * observed2) / (o.prior.df + poolDf);
    // How much a test's own spread is pulled towards the pool: the pool is worth a few processes' evidence, never more.
    return { pooled2, d0: Math.min(20, o.prior.df + poolDf) };
  };

  const tests: Test[] = raws.map((r, i) => {
    const own = cv2[i];
    // The whole program is moderated towards its own prior, not towards the functions' spread.
    const { pooled2: pool, d0: d } =
      r.measure === 'rate' ? { pooled2: o.priorWhole.cv ** 2, d0: o.priorWhole.df } : poolOf(i);
    // Never below the test's own estimate: moderation protects against a spread that looks small by chance,
    // it must not hide one that is large.
    const moderated = Number.isFinite(own)
      ? Math.max(own, (d * pool + dfBetween * own) / (d + dfBetween))
      : pool;
    const mb = moments(r.pb).mean;
    const mc = moments(r.pc).mean;
    const b = sideEstimate(r.pb, moderated * mb * mb);
    const c = sideEstimate(r.pc, moderated * mc * mc);
    const se = Math.sqrt(b.variance + c.variance);
    const diff = c.mean - b.mean;
    const df = Math.max(1, d + (Number.isFinite(own) ? dfBetween : 0));
    const t = se > 0 ? diff / se : diff === 0 ? 0 : Math.sign(diff) * Infinity;
    const p = Math.min(1, 2 * studentTUpper(Math.abs(t), df));
    return {
      fn: r.fn,
      measure: r.measure,
      b,
      c,
      selfB: r.selfB,
      selfC: r.selfC,
      se,
      df,
      t,
      p,
      cv: Math.sqrt(moderated),
      perSecond: r.perSecond,
      focusOnly: r.focusOnly,
    };
  });

  // Two families, each at the FDR: the functions (Benjamini–Hochberg over all of them), and the whole
  // program, one pre-stated test that hundreds of functions' tests must not dilute.
  const family = tests.filter((t) => t.measure !== 'rate' && !t.focusOnly);
  const familyFdr = judgeWhole && tests.some((t) => t.measure === 'rate') ? o.fdr / 2 : o.fdr;
  const q = benjaminiHochberg(family.map((t) => t.p));
  const qOf = new Map<Test, number>(family.map((t, i) => [t, q[i]]));
  const whole = tests.find((t) => t.measure === 'rate');
  if (whole && judgeWhole) qOf.set(whole, whole.p);
  // The p-value BH needs for a lone discovery (the hardest case): α/m.
  const alphaOne = familyFdr / Math.max(1, family.length);
  const scale = 1 / wholeMeanB;
  const obsPerProcess = (base.n + cand.n) / Math.max(1, all.length);

  const timeDriven = new Set<Test>();
  // The relative change of the seconds a unit of work takes (what a cost that follows time changes by, per unit of work).
  const secondsPerWork =
    base.work > 0 && cand.work > 0 && base.seconds > 0
      ? cand.seconds / cand.work / (base.seconds / base.work) - 1
      : 0;
  const findings = tests.map((t) => {
    const judged = qOf.has(t);
    const effect = (t.c.mean - t.b.mean) * scale;
    const relative = t.b.mean > 0 ? t.c.mean / t.b.mean - 1 : t.c.mean === 0 ? 0 : Infinity;
    const half = studentTQuantileUpper(0.025, t.df) * t.se * scale;
    const practical =
      t.measure === 'rate'
        ? Math.abs(relative) >= o.minRelativeWhole
        : Math.abs(effect) >= o.minAbsolute || Math.abs(relative) >= o.minRelative;
    const qv = qOf.get(t) ?? 1;
    const significant = judged && qv <= familyFdr;
    const reach =
      studentTQuantileUpper((t.measure === 'rate' ? familyFdr : alphaOne) / 2, t.df) +
      studentTQuantileUpper(1 - o.power, t.df);
    let verdict: Finding['verdict'] = 'unchanged';
    let neededProcesses: number | undefined;
    let neededObservations: number | undefined;
    if (significant && practical) verdict = effect > 0 ? 'regression' : 'improvement';
    // Per unit of work, a cost that follows time (timers, the runtime's threads, the profiler's own pushes)
    // rises when the work per second falls (a slower benchmark does fewer iterations a second) and falls when
    // it grows, while its cost per second stays put. A function's own change moves its cost per second too
    // (in a CPU-bound benchmark by less than per unit of work, as its share of a saturated core grows). What
    // tells them apart there: a cost that follows time changes per unit of work by as much as the seconds a
    // unit of work takes, and no more; a function that got slower changes by more (a function of half a
    // saturated benchmark made 3x slower: +200 % per unit of work, +100 % seconds per unit, +50 % per second).
    // That test is only needed for a large cost: what follows time (timers, the runtime's own threads, the
    // profiler) is a small part of a program, and a small mixed cost (V8's `Node.js` node: GC per unit of work
    // plus other threads per second) lands anywhere near the seconds' change, so for costs under 5 % of the
    // whole the steady cost per second alone decides, as before.
    // And a function whose own (self) cost is most of the program is not one that follows time: when a benchmark
    // is nearly all one function's own work, its slowdown is the seconds per unit of work (both double), and it
    // is the cause. Self, not total: a timer's callback holds an idle service's cost in its total, not its self.
    const large = t.b.mean >= 0.05 * wholeMeanB || t.c.mean >= 0.05 * wholeMeanB;
    const dominant = t.selfB >= 0.5 * wholeMeanB;
    const still =
      !dominant &&
      (Math.sign(t.perSecond) !== Math.sign(relative) || Math.abs(t.perSecond) < 0.25 * Math.abs(relative)) &&
      (!large || Math.abs(relative - secondsPerWork) <= Math.max(0.05, 0.5 * Math.abs(secondsPerWork)));
    if (
      norm.mode === 'work' &&
      t.measure !== 'rate' &&
      (verdict === 'regression' || verdict === 'improvement') &&
      still
    ) {
      verdict = 'unchanged';
      timeDriven.add(t);
    }
    // Undecided only where it would matter in absolute terms: small functions' noise crosses +10 % all the time.
    else if (
      judged &&
      !significant &&
      (t.measure === 'rate'
        ? practical
        : Math.abs(relative) >= o.minRelative && Math.abs(effect) >= o.minAbsolute)
    ) {
      verdict = 'inconclusive';
      // Per side: n = 2·(τ² + within)·reach² / Δ², the between-process variance at the pooled level.
      const diff = t.c.mean - t.b.mean;
      const level = (t.b.mean + t.c.mean) / 2;
      const perProcess = (t.cv * level) ** 2 + (t.b.within + t.c.within) / 2;
      neededProcesses = Math.max(2, Math.ceil((2 * perProcess * reach ** 2) / (diff * diff)));
      neededObservations = Math.ceil(neededProcesses * obsPerProcess);
    }
    const f: Finding = {
      function: t.fn,
      measure: t.measure,
      baseline: t.b.mean * scale,
      candidate: t.c.mean * scale,
      effect,
      relative,
      ci: [effect - half, effect + half],
      self: { baseline: t.selfB * scale, candidate: t.selfC * scale },
      t: t.t,
      df: t.df,
      p: t.p,
      q: qv,
      detectable: reach * t.se * scale,
      processCv: t.cv,
      verdict,
      ...(norm.mode === 'work' ? { perWork: { baseline: t.b.mean, candidate: t.c.mean } } : {}),
      ...(neededProcesses !== undefined ? { neededProcesses, neededObservations } : {}),
    };
    return f;
  });

  const byEffect = (a: Finding, b: Finding) =>
    Math.abs(b.effect) - Math.abs(a.effect) || a.function.localeCompare(b.function);
  const fnFindings = findings.filter((f) => f.measure !== 'rate');
  const rate = findings.find((f) => f.measure === 'rate');
  let regressions = fnFindings.filter((f) => f.verdict === 'regression').sort(byEffect);
  // Rises per unit of work that are only less work per second, kept for reading, never regressions.
  let explained: (Finding & { explainedBy: string })[] = tests.flatMap((t, i) =>
    timeDriven.has(t) && findings[i].effect > 0 ? [{ ...findings[i], explainedBy: LESS_WORK }] : [],
  );
  if (rate?.verdict === 'regression') {
    // A slower whole program. When the rise is broad (a slower runtime, more work per request everywhere),
    // the functions that rose no more than it did are its parts, not regressions of their own. When one
    // function's own (self) rise carries 30 % of it or more, that is where it went: keep the functions.
    // Every tested function's own rise, flagged or not: a broad rise has no function carrying much of it.
    const rises = findings
      .filter((f) => f.measure === 'total' && f.function !== '')
      .map((f) => f.self.candidate - f.self.baseline);
    const concentrated = rises.some((r) => r >= 0.3 * rate.effect);
    const keep = concentrated
      ? regressions
      : regressions.filter((f) => f.relative > rate.relative && f.ci[0] > rate.relative * f.baseline);
    explained = [
      ...explained,
      ...regressions.filter((f) => !keep.includes(f)).map((f) => ({ ...f, explainedBy: '' })),
    ];
    regressions = [rate, ...keep];
  }
  // Resolution: the rise this comparison would detect on the functions that matter most.
  const big = fnFindings.filter((f) => f.baseline >= 0.05 && f.baseline > 0);
  const resolution = big.length > 0 ? median(big.map((f) => f.detectable / f.baseline)) : NaN;
  const inconclusive = fnFindings.filter((f) => f.verdict === 'inconclusive').sort(byEffect);
  if (rate?.verdict === 'inconclusive') inconclusive.unshift(rate);
  let verdict: Detection['verdict'] = 'no_regression';
  let reason: string | undefined;
  const undecidedRise = inconclusive.find((f) => f.effect > 0);
  if (regressions.length > 0) verdict = 'regression';
  else if (undecidedRise) {
    verdict = 'inconclusive';
    reason =
      `${undecidedRise.function || 'the whole program'} rose ${pctText(undecidedRise.relative)} but the data cannot decide it yet` +
      (undecidedRise.neededObservations
        ? ` (about ${undecidedRise.neededObservations} profiles a side, from ${undecidedRise.neededProcesses} processes, would)`
        : '');
  } else if (resolution > o.maxResolution) {
    verdict = 'inconclusive';
    reason = `with ${base.processes} and ${cand.processes} processes, only rises over ${pctText(resolution)} on functions of 5 % or more of the cost can be seen`;
  }
  const detection: Detection = {
    verdict,
    ...(reason ? { reason } : {}),
    kind: o.kind,
    normalisation: norm.mode,
    baseline: base,
    candidate: cand,
    tested: family.length + (judgeWhole ? 1 : 0),
    familyFdr,
    regressions,
    improvements: fnFindings.filter((f) => f.verdict === 'improvement').sort(byEffect),
    inconclusive,
    explained,
    rate: rate ? (judgeWhole ? rate : { ...rate, verdict: 'unchanged', q: 1 }) : undefined,
    perSecond,
    resolution,
    options: o,
    ...(o.focus ? { focus: findings.filter((f) => f.function !== '' && o.focus!.includes(f.function)) } : {}),
  };
  const costs = new Map<string, Costs>();
  for (const f of findings) {
    if (f.measure !== 'total') continue;
    costs.set(f.function, {
      selfB: f.self.baseline,
      selfC: f.self.candidate,
      totalB: f.baseline,
      totalC: f.candidate,
      totalHalf: (f.ci[1] - f.ci[0]) / 2,
    });
  }
  return withCosts(detection, costs);
}

/** Every tested function's self and total on both sides (fractions of the baseline's whole), for attribution. */
interface Costs {
  selfB: number;
  selfC: number;
  totalB: number;
  totalC: number;
  /** Half the width of the total's 95 % interval: a change within it is no evidence the total moved. */
  totalHalf: number;
}

const COSTS = Symbol('costs');

/** How many frames apart a function and the one its cost moved to may be (a callee inlined through one intermediate). */
const MOVE_REACH = 2;

/** Attaches the costs without putting them in the JSON answer. */
function withCosts<T extends Detection>(d: T, costs: Map<string, Costs> | undefined): T {
  if (costs) Object.defineProperty(d, COSTS, { value: costs, enumerable: false });
  return d;
}

function costsOf(d: Detection): Map<string, Costs> | undefined {
  return (d as unknown as Record<symbol, Map<string, Costs> | undefined>)[COSTS];
}

/** The overall verdict of findings after attribution: a regression left, else an undecided rise, else what detect said. */
function verdictAfter(
  d: Detection,
  regressions: Finding[],
  inconclusive: Finding[],
): Pick<Detection, 'verdict' | 'reason'> {
  if (regressions.length > 0) return { verdict: 'regression', reason: undefined };
  if (d.verdict !== 'regression') return { verdict: d.verdict, reason: d.reason };
  const rise = inconclusive.find((f) => f.effect > 0);
  if (rise)
    return {
      verdict: 'inconclusive',
      reason: `${rise.function || 'the whole program'} rose ${pctText(rise.relative)} but the data cannot decide it yet`,
    };
  return { verdict: 'no_regression', reason: undefined };
}

function pctText(x: number): string {
  return Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${(100 * x).toFixed(x < 1 ? 1 : 0)} %` : 'from nothing';
}

/**
 * Attribution with the candidate's stacks, two steps.
 *
 * 1. Cost that moved: V8 inlines a callee into its caller (or a chain of
 *    them into the outermost) in some processes or builds and not others, so
 *    the callee's self (and total) and that caller's self change in opposite
 *    directions by about the same amount. A regression, improvement or
 *    undecided change that a function above or below it mirrors that way
 *    goes to `moved`.
 * 2. A caller's total cost grows when a function it calls gets slower: the
 *    same regression seen from above (FBDetect calls these cost shifts and
 *    deduplicates them). Regressions of functions above another flagged
 *    function, where that function's growth accounts for at least half of
 *    theirs, go to `explained`, naming it; so do callers' undecided rises.
 *    What remains is where the time went.
 */
export function attributeToCallees(d: Detection, stacks: Iterable<{ stack: readonly string[] }>): Detection {
  const costs = costsOf(d);
  const interesting = new Set(
    [...d.regressions, ...d.improvements, ...d.inconclusive].map((f) => f.function).filter(Boolean),
  );
  if (interesting.size === 0) return d;
  const above = new Map<string, Set<string>>();
  const near = new Map<string, Set<string>>();
  const link = (m: Map<string, Set<string>>, k: string, v: string) => {
    let set = m.get(k);
    if (!set) m.set(k, (set = new Set()));
    set.add(v);
  };
  for (const { stack } of stacks) {
    for (let i = 1; i < stack.length; i++) {
      if (stack[i] === stack[i - 1]) continue;
      if (interesting.has(stack[i]))
        for (let j = 0; j < i; j++) if (stack[j] !== stack[i]) link(above, stack[i], stack[j]);
      // Within an inlined chain's reach (two frames either way) for cost that moved; any further and a real
      // speed-up high in the stack would mask a real slowdown below it (the fleet simulation's recall fell).
      if (interesting.has(stack[i]))
        for (let j = Math.max(0, i - MOVE_REACH); j < i; j++)
          if (stack[j] !== stack[i]) link(near, stack[i], stack[j]);
      if (interesting.has(stack[i - 1]))
        for (let j = i; j < Math.min(stack.length, i - 1 + MOVE_REACH + 1); j++)
          if (stack[j] !== stack[i - 1]) link(near, stack[i - 1], stack[j]);
    }
  }

  // 1. Cost that moved between a function and one up to MOVE_REACH frames above or below it. V8 inlines
  // chains (a handler inlines a helper that inlines a leaf) and may attribute the leaf's samples to the
  // outermost frame, so the mirror need not be a direct caller. The two selves must cancel: a real change with some inlining
  // beside it leaves their sum moved. (The frames' totals between them are not asked to stay put: a real
  // regression elsewhere under the same handler moves them, and that one is judged on its own.)
  const movedWith = (f: Finding): string | undefined => {
    if (!costs || f.measure === 'rate' || !(Math.abs(f.effect) > 0)) return undefined;
    const own = costs.get(f.function);
    if (!own) return undefined;
    const size = Math.abs(f.effect);
    const others = [...(near.get(f.function) ?? [])].filter(
      (other) => other !== f.function && costs.has(other),
    );
    let best: { other: string; gap: number } | undefined;
    for (const other of others) {
      const mirror = costs.get(other)!.selfC - costs.get(other)!.selfB;
      const gap = Math.abs(own.selfC - own.selfB + mirror);
      if (
        Math.sign(mirror) === -Math.sign(f.effect) &&
        Math.abs(mirror) >= 0.5 * size &&
        gap <= 0.5 * Math.max(size, Math.abs(mirror)) &&
        (!best || gap < best.gap)
      ) {
        best = { other, gap };
      }
    }
    return best?.other;
  };
  const moved: (Finding & { with: string })[] = [...(d.moved ?? [])];
  const keep = (list: Finding[]) =>
    list.filter((f) => {
      const other = movedWith(f);
      if (other === undefined) return true;
      moved.push({ ...f, with: other });
      return false;
    });
  const afterMove = keep(d.regressions);
  const improvements = keep(d.improvements);
  const undecided = keep(d.inconclusive);

  // 2. Callers explained by a slower function below them.
  const flagged = afterMove.filter((f) => f.measure !== 'rate');
  const below = (f: Finding, g: Finding) =>
    f.function !== g.function &&
    (above.get(f.function)?.has(g.function) ?? false) &&
    f.effect >= 0.5 * g.effect;
  const selfGrew = (f: Finding) => f.self.candidate - f.self.baseline >= 0.5 * f.effect;
  const byOf = new Map<Finding, Finding>();
  for (const g of flagged) {
    const by = flagged.find((f) => selfGrew(f) && below(f, g));
    if (by) byOf.set(g, by);
  }
  for (const g of flagged) {
    if (byOf.has(g)) continue;
    const by = flagged.find(
      (f) => !byOf.has(f) && below(f, g) && !(above.get(g.function)?.has(f.function) ?? false),
    );
    if (by) byOf.set(g, by);
  }
  const regressions = afterMove.filter((g) => !byOf.has(g));
  const undecidedBy = new Map<Finding, Finding>();
  for (const g of undecided) {
    if (!(g.effect > 0) || g.measure === 'rate') continue;
    const by = regressions.find((f) => f.measure !== 'rate' && below(f, g));
    if (by) undecidedBy.set(g, by);
  }
  const explained: (Finding & { explainedBy: string })[] = [
    ...d.explained,
    ...[...byOf, ...undecidedBy].map(([g, by]) => ({ ...g, explainedBy: by.function })),
  ];
  const inconclusive = undecided.filter((g) => !undecidedBy.has(g));
  const { verdict, reason } = verdictAfter(d, regressions, inconclusive);
  const out: Detection = {
    ...d,
    verdict,
    regressions,
    improvements,
    inconclusive,
    explained,
    ...(moved.length ? { moved } : {}),
  };
  if (reason === undefined) delete out.reason;
  else out.reason = reason;
  return withCosts(out, costs);
}
