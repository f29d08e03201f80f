/**
 * A fleet simulator with known truth, for measuring regression detectors
 * (test/fleet.test.ts, bench/fleet-eval.ts) on what real fleets do to them.
 *
 * The code is a call tree from synthetic-profiles.ts (`makeService`): nodes
 * (call sites) with a self cost per request, under top-level endpoints. A
 * side (baseline, candidate) is a set of processes (pods) that each live the
 * whole window and push a profile every `intervalSeconds`, plus a short last
 * push as they exit. What a real fleet adds to the tree:
 *
 * - traffic: requests per second per process, diurnal (a day-long sinusoid,
 *   peaking at 14:00), a per-process load-balancer share (lognormal), and a
 *   step between the sides (`change.traffic`). The requests served in a
 *   profile are Poisson on the traffic; the CPU per request is fixed by the
 *   code, so CPU scales with the requests (`work`).
 * - processes differ: each multiplies every function's self cost by its own
 *   lognormal factor (`processSigma`) and all of its CPU by one more
 *   (`processSpeedSigma`, the node it runs on); and for a few caller→callee
 *   function pairs (`inlinePairs`, fixed by the code) a process inlines the
 *   callee into the caller with some fraction, as V8 does per process: that
 *   fraction of the callee's self moves into the caller's self at those call
 *   sites, and the caller's total is unchanged.
 * - the workload mix varies between profiles (per-endpoint lognormal, `mixNoise`).
 * - sampling: per endpoint a Poisson number of samples (100 Hz) on the
 *   expected CPU, spread over its call sites by their cost (multinomial), so
 *   small functions are few samples and a profile's size varies.
 *
 * The candidate's code change (`Change`): per-function factors on self cost
 * (a slower or faster function), a uniform factor on everything (a slower
 * runtime), and a traffic step. The truth (`FleetTruth`) is computed from
 * the expected costs, not from the draws: which functions' self and total
 * cost per request grew or shrank, each function's share, and the cost per
 * request on each side.
 *
 * Pure and seeded: the same seed gives the same observations, and the
 * baseline does not depend on the change (so scenarios with one seed share it).
 */
import type { Observation } from '../../profile/regression';
import { makeService, rng, type Service } from './synthetic-profiles';

// One observation (a pushed profile, or a time bucket of one process's profiles): detector v2's input.
export type { Observation };

/** The code's change in the candidate, and its traffic step. */
export interface Change {
  /** Function name -> multiplier of its self cost (1.25 = 25 % slower, 0.5 = 2× faster). */
  factors?: ReadonlyMap<string, number>;
  /** Multiplier of every function's self cost (a slower runtime). */
  uniform?: number;
  /** Multiplier of the candidate's requests per second. */
  traffic?: number;
}

export interface InlineOptions {
  /** Chance that a process inlines a given pair at all. Default 0.5. */
  probability: number;
  /** When it does, the fraction of the callee's self moved into the caller: uniform in [lo, hi]. Default [0, 1]. */
  fraction: [number, number];
}

export interface FleetOptions {
  /** Processes (pods) on each side, or [baseline, candidate]. Default 2. */
  pods: number | [number, number];
  /** Window length in seconds. Default 300. */
  windowSeconds: number;
  /** Seconds between pushes. Default 10. */
  intervalSeconds: number;
  /** Full pushes per process; default windowSeconds / intervalSeconds. */
  profilesPerProcess?: number;
  /** The exit push's duration, uniform in [lo, hi] seconds, or null for none. Default [0.1, 2]. */
  lastPush: [number, number] | null;
  /** Sampling frequency. Default 100 Hz. */
  hz: number;
  /** Requests per second per process at the day's mean traffic. Default 100. */
  requestsPerSecond: number;
  /** CPU seconds per request in the baseline (at the processes' mean). Default 0.004 (about 400 samples per 10 s profile). */
  cpuPerRequest: number;
  /** Relative amplitude of the diurnal traffic sinusoid (peak at 14:00). Default 0.4. */
  diurnalAmplitude: number;
  /** Seconds of the day the baseline window starts. Default 9 h. */
  baselineStart: number;
  /** Seconds of the day (or later: + 86,400 for the next day) the candidate starts. Default right after the baseline. */
  candidateStart?: number;
  /** Lognormal σ of each process's share of traffic. Default 0.2. */
  loadImbalance: number;
  /** Lognormal σ of each process's factor on each function's self cost. Default 0.1. */
  processSigma: number;
  /** Lognormal σ of each process's factor on all its CPU. Default 0.05. */
  processSpeedSigma: number;
  /** Lognormal σ of each endpoint's request share between profiles. Default 0.1. */
  mixNoise: number;
  inline: InlineOptions;
  /** Leave out profiles with no samples (an agent pushes nothing). Default true. */
  dropEmpty: boolean;
  change: Change;
}

export const DEFAULT_FLEET_OPTIONS: FleetOptions = {
  pods: 2,
  windowSeconds: 300,
  intervalSeconds: 10,
  lastPush: [0.1, 2],
  hz: 100,
  requestsPerSecond: 100,
  cpuPerRequest: 0.004,
  diurnalAmplitude: 0.4,
  baselineStart: 9 * 3600,
  loadImbalance: 0.2,
  processSigma: 0.1,
  processSpeedSigma: 0.05,
  mixNoise: 0.1,
  inline: { probability: 0.5, fraction: [0, 1] },
  dropEmpty: true,
  change: {},
};

/** The code a fleet runs: a call tree and what is fixed about it. */
export interface FleetService {
  service: Service;
  /** Per endpoint: its share of requests (sums to 1). */
  endpointShare: Float64Array;
  /** Per endpoint: its nodes. */
  endpointNodes: Int32Array[];
  /** Per node: index into `pairs` when the node's call from its parent can be inlined, else -1. */
  pairOf: Int32Array;
  /** The inlinable caller → callee function pairs. */
  pairs: { caller: string; callee: string }[];
  /** Per node: its stack, root first (for attributing callers to callees). */
  stacks: { stack: string[] }[];
}

export interface FleetServiceOptions {
  seed: number;
  /** Default 300. */
  functions?: number;
  /** Default 1,500. */
  nodes?: number;
  /** Default 8. */
  endpoints?: number;
  /** Caller → callee function pairs that processes may inline. Default 8. */
  inlinePairs?: number;
}

function gaussian(random: () => number): number {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

/** Poisson(mean): multiplication below 30, a rounded normal above (ample for a simulator). */
export function poisson(mean: number, random: () => number): number {
  if (mean <= 0) return 0;
  if (mean < 30) {
    const l = Math.exp(-mean);
    let k = 0;
    let p = random();
    while (p > l) {
      k++;
      p *= random();
    }
    return k;
  }
  return Math.max(0, Math.round(mean + Math.sqrt(mean) * gaussian(random)));
}

/**
 * The code of a fleet: `makeService`'s call tree (300 functions on 1,500
 * nodes under 8 endpoints by default), endpoints' request shares (lognormal,
 * σ 0.5), and `inlinePairs` inlinable caller → callee pairs, chosen among the
 * tree's non-recursive edges with a chance proportional to the callee site's cost.
 */
export function makeFleetService(o: FleetServiceOptions): FleetService {
  const service = makeService({
    functions: o.functions ?? 300,
    nodes: o.nodes ?? 1500,
    endpoints: o.endpoints ?? 8,
    seed: o.seed,
  });
  const random = rng(o.seed ^ 0x5eed5);
  const n = service.fn.length;
  const share = Float64Array.from({ length: service.endpoints }, () => Math.exp(0.5 * gaussian(random)));
  const sum = share.reduce((a, b) => a + b, 0);
  for (let e = 0; e < share.length; e++) share[e] /= sum;
  const lists: number[][] = Array.from({ length: service.endpoints }, () => []);
  for (let i = 0; i < n; i++) lists[service.endpoint[i]].push(i);
  // Inlinable pairs: weighted by the callee site's self cost, without replacement.
  const pairKey = (i: number) => `${service.fn[service.parent[i]]}>${service.fn[i]}`;
  const edgeWeight = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const p = service.parent[i];
    if (p < 0 || service.fn[p] === service.fn[i]) continue;
    edgeWeight.set(pairKey(i), (edgeWeight.get(pairKey(i)) ?? 0) + service.self[i]);
  }
  const chosen = new Map<string, number>();
  const candidates = [...edgeWeight];
  for (let k = 0; k < (o.inlinePairs ?? 8) && candidates.length > 0; k++) {
    const total = candidates.reduce((a, [, w]) => a + w, 0);
    let r = random() * total;
    let j = 0;
    while (j < candidates.length - 1 && (r -= candidates[j][1]) > 0) j++;
    chosen.set(candidates[j][0], chosen.size);
    candidates.splice(j, 1);
  }
  const pairOf = new Int32Array(n).fill(-1);
  for (let i = 0; i < n; i++) if (service.parent[i] >= 0) pairOf[i] = chosen.get(pairKey(i)) ?? -1;
  const pairs = [...chosen.keys()].map((k) => {
    const [a, b] = k.split('>').map(Number);
    return { caller: service.names[a], callee: service.names[b] };
  });
  const stacks: { stack: string[] }[] = [];
  for (let i = 0; i < n; i++) {
    const stack: string[] = [];
    for (let j = i; j >= 0; j = service.parent[j]) stack.push(service.names[service.fn[j]]);
    stacks.push({ stack: stack.reverse() });
  }
  return {
    service,
    endpointShare: share,
    endpointNodes: lists.map((l) => Int32Array.from(l)),
    pairOf,
    pairs,
    stacks,
  };
}

/** One process's effects: per-function factors, its speed, and per pair the inlined fraction. */
interface ProcessEffects {
  fnFactor: Float64Array;
  speed: number;
  inlined: Float64Array;
  traffic: number;
}

/**
 * Per node: its self cost per request (before the samples-per-cost scale),
 * with the code change (`fnChange` per function) and the process's effects;
 * the inlined part of a node's own cost moves to its parent (one level: when
 * the caller is itself inlined into its caller, its own cost moves on up, not
 * what it received, so that caller's total does fall).
 */
function nodeCosts(
  fs: FleetService,
  fnChange: Float64Array,
  fx: ProcessEffects | null,
  meanInlined: number,
): Float64Array {
  const { service, pairOf } = fs;
  const n = service.fn.length;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const f = service.fn[i];
    let c = service.self[i] * fnChange[f];
    if (fx) c *= fx.fnFactor[f] * fx.speed;
    const pair = pairOf[i];
    if (pair >= 0) {
      const moved = c * (fx ? fx.inlined[pair] : meanInlined);
      c -= moved;
      out[service.parent[i]] += moved;
    }
    out[i] += c;
  }
  return out;
}

function changeVector(fs: FleetService, change: Change | undefined): Float64Array {
  const names = fs.service.names;
  const v = new Float64Array(names.length).fill(change?.uniform ?? 1);
  if (change?.factors) {
    for (const [name, factor] of change.factors) {
      const f = names.indexOf(name);
      if (f < 0) throw new Error(`no function ${name}`);
      v[f] *= factor;
    }
  }
  return v;
}

/** Per-request expected cost per function (self, total) from node costs, weighted by endpoint shares. */
function functionCosts(
  fs: FleetService,
  costs: Float64Array,
): { self: Float64Array; total: Float64Array; all: number } {
  const { service, endpointShare } = fs;
  const F = service.names.length;
  const self = new Float64Array(F);
  const total = new Float64Array(F);
  let all = 0;
  for (let i = 0; i < costs.length; i++) {
    const c = costs[i] * endpointShare[service.endpoint[i]];
    all += c;
    self[service.fn[i]] += c;
    const path = service.pathFns[i];
    for (let j = 0; j < path.length; j++) total[path[j]] += c;
  }
  return { self, total, all };
}

export interface FleetTruth {
  /** Functions the change made slower or faster (factor above or below 1). */
  slower: string[];
  faster: string[];
  /** The uniform factor on everything, when set. */
  uniform?: number;
  /** The candidate's traffic multiplier (1 when unchanged). */
  traffic: number;
  /** Each function's expected self and total share of the baseline's CPU. */
  functions: Map<string, { selfShare: number; totalShare: number }>;
  /** The same in the candidate. */
  candidateFunctions: Map<string, { selfShare: number; totalShare: number }>;
  /** Expected samples per request (the processes' mean), each side. */
  costPerWork: { baseline: number; candidate: number };
  /** Functions whose expected self / total cost per request grew or shrank (relative change beyond 1e-9). */
  selfGrew: Set<string>;
  totalGrew: Set<string>;
  selfShrank: Set<string>;
  totalShrank: Set<string>;
}

const meanLogNormal = (sigma: number) => Math.exp((sigma * sigma) / 2);
const meanInlinedOf = (o: InlineOptions) => (o.probability * (o.fraction[0] + o.fraction[1])) / 2;

/** Samples per unit of node cost: fixed by the code, so that the baseline's mean process spends `cpuPerRequest`. */
function costScale(fs: FleetService, o: FleetOptions): number {
  const base = functionCosts(
    fs,
    nodeCosts(fs, changeVector(fs, undefined), null, meanInlinedOf(o.inline)),
  ).all;
  return (
    (o.cpuPerRequest * o.hz) / (base * meanLogNormal(o.processSigma) * meanLogNormal(o.processSpeedSigma))
  );
}

/**
 * Expected cost per request per function (self and total, in samples) of a
 * side with `change` (undefined: the baseline), over the processes' effects
 * (their means: per-function and speed factors, the mean inlined fraction).
 */
export function expectedFunctionCosts(
  fs: FleetService,
  options: Partial<FleetOptions> = {},
  change?: Change,
): Map<string, { self: number; total: number }> {
  const o = { ...DEFAULT_FLEET_OPTIONS, ...options };
  const k = costScale(fs, o) * meanLogNormal(o.processSigma) * meanLogNormal(o.processSpeedSigma);
  const c = functionCosts(fs, nodeCosts(fs, changeVector(fs, change), null, meanInlinedOf(o.inline)));
  const out = new Map<string, { self: number; total: number }>();
  fs.service.names.forEach((name, f) => {
    if (c.total[f] > 0) out.set(name, { self: c.self[f] * k, total: c.total[f] * k });
  });
  return out;
}

/** The truth of a change: see FleetTruth. */
export function fleetTruth(fs: FleetService, options: Partial<FleetOptions> = {}): FleetTruth {
  const o = { ...DEFAULT_FLEET_OPTIONS, ...options };
  const change = o.change;
  const inl = meanInlinedOf(o.inline);
  const b = functionCosts(fs, nodeCosts(fs, changeVector(fs, undefined), null, inl));
  const c = functionCosts(fs, nodeCosts(fs, changeVector(fs, change), null, inl));
  const k = costScale(fs, o) * meanLogNormal(o.processSigma) * meanLogNormal(o.processSpeedSigma);
  const names = fs.service.names;
  const shares = (x: typeof b) => {
    const m = new Map<string, { selfShare: number; totalShare: number }>();
    names.forEach((name, f) => {
      if (x.total[f] > 0) m.set(name, { selfShare: x.self[f] / x.all, totalShare: x.total[f] / x.all });
    });
    return m;
  };
  const grew = (x: Float64Array, y: Float64Array, sign: 1 | -1) =>
    new Set(names.filter((_, f) => sign * (y[f] - x[f]) > 1e-9 * Math.max(x[f], y[f])));
  const factors = [...(change.factors ?? [])];
  return {
    slower: factors.filter(([, v]) => v > 1).map(([n]) => n),
    faster: factors.filter(([, v]) => v < 1).map(([n]) => n),
    uniform: change.uniform,
    traffic: change.traffic ?? 1,
    functions: shares(b),
    candidateFunctions: shares(c),
    costPerWork: { baseline: b.all * k, candidate: c.all * k },
    selfGrew: grew(b.self, c.self, 1),
    totalGrew: grew(b.total, c.total, 1),
    selfShrank: grew(b.self, c.self, -1),
    totalShrank: grew(b.total, c.total, -1),
  };
}

/** Traffic multiplier at `t` seconds of the day: 1 + A·cos(2π(t − 14 h)/24 h). */
export function diurnal(t: number, amplitude: number): number {
  return 1 + amplitude * Math.cos((2 * Math.PI * (t - 14 * 3600)) / 86400);
}

function drawEffects(fs: FleetService, o: FleetOptions, random: () => number): ProcessEffects {
  const F = fs.service.names.length;
  const fnFactor = new Float64Array(F);
  for (let f = 0; f < F; f++) fnFactor[f] = Math.exp(o.processSigma * gaussian(random));
  const speed = Math.exp(o.processSpeedSigma * gaussian(random));
  const inlined = new Float64Array(fs.pairs.length);
  for (let p = 0; p < inlined.length; p++) {
    const r = random();
    const u = random();
    inlined[p] =
      r < o.inline.probability ? o.inline.fraction[0] + u * (o.inline.fraction[1] - o.inline.fraction[0]) : 0;
  }
  const traffic = Math.exp(o.loadImbalance * gaussian(random));
  return { fnFactor, speed, inlined, traffic };
}

/** Reusable buffers for one side's draws. */
interface Scratch {
  counts: Int32Array;
  touched: Int32Array;
  fnSelf: Float64Array;
  fnTotal: Float64Array;
  fnTouched: Int32Array;
  fnSeen: Uint8Array;
}

/** Walker's alias table over `nodes` weighted by `costs`: a draw is one uniform. */
interface AliasTable {
  nodes: Int32Array;
  keep: Float64Array;
  alias: Int32Array;
  sum: number;
}

function aliasTable(nodes: Int32Array, costs: Float64Array): AliasTable {
  const n = nodes.length;
  const keep = new Float64Array(n);
  const alias = new Int32Array(n);
  let sum = 0;
  for (let j = 0; j < n; j++) sum += costs[nodes[j]];
  if (n === 0 || sum <= 0) return { nodes: new Int32Array(0), keep, alias, sum: 0 };
  const small: number[] = [];
  const large: number[] = [];
  for (let j = 0; j < n; j++) {
    keep[j] = (costs[nodes[j]] * n) / sum;
    alias[j] = j;
    (keep[j] < 1 ? small : large).push(j);
  }
  while (small.length && large.length) {
    const a = small.pop()!;
    const b = large[large.length - 1];
    alias[a] = b;
    keep[b] -= 1 - keep[a];
    if (keep[b] < 1) small.push(large.pop()!);
  }
  for (const j of large) keep[j] = 1;
  for (const j of small) keep[j] = 1;
  return { nodes, keep, alias, sum };
}

/** One side's observations. */
function simulateSide(
  fs: FleetService,
  o: FleetOptions,
  side: 'baseline' | 'candidate',
  pods: number,
  start: number,
  effects: ProcessEffects[],
  random: () => number,
): Observation[] {
  const { service, endpointShare, endpointNodes } = fs;
  const E = service.endpoints;
  const F = service.names.length;
  const scale = costScale(fs, o);
  const change = side === 'candidate' ? o.change : undefined;
  const fnChange = changeVector(fs, change);
  const traffic = side === 'candidate' ? (o.change.traffic ?? 1) : 1;
  const full = o.profilesPerProcess ?? Math.round(o.windowSeconds / o.intervalSeconds);
  const s: Scratch = {
    counts: new Int32Array(service.fn.length),
    touched: new Int32Array(service.fn.length),
    fnSelf: new Float64Array(F),
    fnTotal: new Float64Array(F),
    fnTouched: new Int32Array(F),
    fnSeen: new Uint8Array(F),
  };
  const out: Observation[] = [];
  const mix = new Float64Array(E);
  for (let p = 0; p < pods; p++) {
    const fx = effects[p];
    const costs = nodeCosts(fs, fnChange, fx, 0);
    // Per endpoint: an alias table over its nodes' costs (the multinomial, O(1) a sample) and the cost of one request.
    const tables = endpointNodes.map((nodes) => aliasTable(nodes, costs));
    const process = `${side}/pod-${p}`;
    const pushes = full + (o.lastPush ? 1 : 0);
    let t = start;
    for (let k = 0; k < pushes; k++) {
      const seconds =
        k < full ? o.intervalSeconds : o.lastPush![0] + random() * (o.lastPush![1] - o.lastPush![0]);
      const rate = o.requestsPerSecond * fx.traffic * traffic * diurnal(t + seconds / 2, o.diurnalAmplitude);
      t += seconds;
      const work = poisson(rate * seconds, random);
      let mixSum = 0;
      for (let e = 0; e < E; e++)
        mixSum += mix[e] = endpointShare[e] * Math.exp(o.mixNoise * gaussian(random));
      let touched = 0;
      let total = 0;
      for (let e = 0; e < E; e++) {
        const table = tables[e];
        const size = table.nodes.length;
        if (size === 0) continue;
        const samples = poisson(work * (mix[e] / mixSum) * table.sum * scale, random);
        total += samples;
        for (let d = 0; d < samples; d++) {
          const u = random() * size;
          const j = u | 0;
          const node = u - j < table.keep[j] ? table.nodes[j] : table.nodes[table.alias[j]];
          if (s.counts[node]++ === 0) s.touched[touched++] = node;
        }
      }
      if (total === 0 && o.dropEmpty) continue;
      let fns = 0;
      for (let j = 0; j < touched; j++) {
        const node = s.touched[j];
        const c = s.counts[node];
        s.counts[node] = 0;
        s.fnSelf[service.fn[node]] += c;
        const path = service.pathFns[node];
        for (let q = 0; q < path.length; q++) {
          const f = path[q];
          if (!s.fnSeen[f]) {
            s.fnSeen[f] = 1;
            s.fnTouched[fns++] = f;
          }
          s.fnTotal[f] += c;
        }
      }
      const functions = new Map<string, { self: number; total: number }>();
      for (let j = 0; j < fns; j++) {
        const f = s.fnTouched[j];
        functions.set(service.names[f], { self: s.fnSelf[f], total: s.fnTotal[f] });
        s.fnSelf[f] = 0;
        s.fnTotal[f] = 0;
        s.fnSeen[f] = 0;
      }
      out.push({ process, total, seconds, work, functions });
    }
  }
  return out;
}

function mix32(a: number, b: number): number {
  let h = Math.imul(a ^ 0x9e3779b9, 0x85ebca6b) ^ b;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

export interface Fleet {
  baseline: Observation[];
  candidate: Observation[];
  truth: FleetTruth;
}

/**
 * Both sides of a comparison with their truth. The processes' effects come
 * from one stream (the baseline's pods first), each side's draws from its
 * own, so the baseline is the same for one seed whatever the change.
 */
export function simulateFleet(fs: FleetService, options: Partial<FleetOptions>, seed: number): Fleet {
  const o: FleetOptions = { ...DEFAULT_FLEET_OPTIONS, ...options, change: options.change ?? {} };
  const [pb, pc] = typeof o.pods === 'number' ? [o.pods, o.pods] : o.pods;
  const effectsRandom = rng(mix32(seed, 1));
  const eb = Array.from({ length: pb }, () => drawEffects(fs, o, effectsRandom));
  const ec = Array.from({ length: pc }, () => drawEffects(fs, o, effectsRandom));
  const full = o.profilesPerProcess ?? Math.round(o.windowSeconds / o.intervalSeconds);
  const candidateStart = o.candidateStart ?? o.baselineStart + full * o.intervalSeconds;
  return {
    baseline: simulateSide(fs, o, 'baseline', pb, o.baselineStart, eb, rng(mix32(seed, 2))),
    candidate: simulateSide(fs, o, 'candidate', pc, candidateStart, ec, rng(mix32(seed, 3))),
    truth: fleetTruth(fs, o),
  };
}

export interface ShareBand {
  /** Which share: self (what a slowdown of the function scales) or total. Default self. */
  measure?: 'self' | 'total';
  min: number;
  max: number;
}

/** Functions whose true baseline share is in [min, max), by name. */
export function functionsInBand(shares: FleetTruth['functions'], band: ShareBand): string[] {
  const key = band.measure === 'total' ? 'totalShare' : 'selfShare';
  return [...shares]
    .filter(([, v]) => v[key] >= band.min && v[key] < band.max)
    .map(([n]) => n)
    .sort();
}

/** A random function whose true baseline share is in the band (not one of `exclude`), or undefined when there is none. */
export function pickTarget(
  shares: FleetTruth['functions'],
  band: ShareBand,
  random: () => number,
  exclude: Iterable<string> = [],
): string | undefined {
  const ex = new Set(exclude);
  const names = functionsInBand(shares, band).filter((n) => !ex.has(n));
  return names.length ? names[Math.floor(random() * names.length)] : undefined;
}

/** The true shares of a fleet service's baseline (for picking targets before simulating). */
export function baselineShares(
  fs: FleetService,
  options: Partial<FleetOptions> = {},
): FleetTruth['functions'] {
  return fleetTruth(fs, { ...options, change: {} }).functions;
}
