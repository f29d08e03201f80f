/**
 * Synthetic profiles with known ground truth, for the regression detector's
 * tests and its evaluation harness (bench/regression-eval.ts).
 *
 * A service is a random call tree (functions reused in many places, as
 * helpers are) with heavy-tailed self costs. Each pushed profile is one
 * window: the workload mix varies between windows (each top-level endpoint's
 * weight is scaled by lognormal noise, and every node a little too), then a
 * fixed number of samples is drawn from the resulting distribution
 * (multinomial sampling noise, as a 100 Hz sampler gives). A slowdown scales
 * the self cost of every node of one function.
 */
import { encodeProfileMessage } from '../../profile/pprof-schema';
import type { Observation } from '../../profile/regression';

/** A small, fast, seedable PRNG (mulberry32): every run draws the same data. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(random: () => number): number {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

export interface Service {
  names: string[];
  /** Per node: function index, parent (-1 root), top-level endpoint (index of the depth-1 ancestor), self weight. */
  fn: Int32Array;
  parent: Int32Array;
  endpoint: Int32Array;
  self: Float64Array;
  /** Per node: the distinct functions on its path (for totals). */
  pathFns: Int32Array[];
  endpoints: number;
}

export interface ServiceOptions {
  functions: number;
  nodes: number;
  endpoints: number;
  seed: number;
}

/** A call tree with `nodes` nodes over `functions` distinct names, `endpoints` top-level request paths. */
export function makeService({ functions, nodes, endpoints, seed }: ServiceOptions): Service {
  const random = rng(seed);
  const names = Array.from({ length: functions }, (_, i) => `pkg${i % 17}.fn${i}`);
  const fn = new Int32Array(nodes);
  const parent = new Int32Array(nodes).fill(-1);
  const endpoint = new Int32Array(nodes);
  const depth = new Int32Array(nodes);
  const self = new Float64Array(nodes);
  for (let i = 0; i < nodes; i++) {
    if (i < endpoints) {
      parent[i] = -1;
      endpoint[i] = i;
      depth[i] = 1;
    } else {
      let p =
        random() < 0.6
          ? i - 1 - Math.floor(random() * Math.min(i - endpoints + 1, 12))
          : Math.floor(random() * i);
      if (p < 0 || depth[p] >= 30) p = Math.floor(random() * endpoints);
      parent[i] = p;
      endpoint[i] = endpoint[p];
      depth[i] = depth[p] + 1;
    }
    // Zipf-like choice: a few helpers are everywhere.
    fn[i] = Math.min(functions - 1, Math.floor(functions * Math.pow(random(), 2.2)));
    // Heavy-tailed self cost (lognormal, σ = 1.6): a handful of nodes dominate.
    self[i] = Math.exp(1.6 * gaussian(random));
  }
  const pathFns: Int32Array[] = [];
  for (let i = 0; i < nodes; i++) {
    const seen = new Set<number>();
    for (let n = i; n >= 0; n = parent[n]) seen.add(fn[n]);
    pathFns.push(Int32Array.from(seen));
  }
  return { names, fn, parent, endpoint, self, pathFns, endpoints };
}

export interface WindowOptions {
  /** Samples per pushed profile (10 s at 100 Hz: 1,000). */
  samples: number;
  /** Lognormal σ of each endpoint's weight between windows (workload mix). */
  mixNoise: number;
  /** Lognormal σ of every node's weight between windows. */
  nodeNoise: number;
  /** Function index -> multiplier of its self cost (1.05 = +5 %). */
  slowdown?: Map<number, number>;
  /** Seconds per profile, for the rate. */
  seconds?: number;
  /** The process the observations come from (the detector's unit of replication). Default `synthetic`. */
  process?: string;
  /** Multiplier of the samples (more CPU per instance-second). */
  load?: number;
}

/**
 * One window's weights before sampling: the workload mix (one lognormal factor
 * per endpoint), every node's own noise, and the slowdown. Fills `weights` and
 * their running sums; returns the total. Draws from `random` in a fixed order,
 * so a seed gives the same windows with and without a slowdown.
 */
function drawWindow(
  service: Service,
  o: Omit<WindowOptions, 'samples'>,
  random: () => number,
  weights: Float64Array,
  cumulative: Float64Array,
): number {
  const mix = Array.from({ length: service.endpoints }, () => Math.exp(o.mixNoise * gaussian(random)));
  let sum = 0;
  for (let i = 0; i < weights.length; i++) {
    let w = service.self[i] * mix[service.endpoint[i]] * Math.exp(o.nodeNoise * gaussian(random));
    const slow = o.slowdown?.get(service.fn[i]);
    if (slow !== undefined) w *= slow;
    weights[i] = w;
    sum += w;
    cumulative[i] = sum;
  }
  return sum;
}

/**
 * One window's samples per node, after `drawWindow`: a multinomial draw.
 * Each uniform lands in the first node whose running sum reaches it; the
 * counts do not depend on the draws' order, so they are sorted and the
 * running sums walked once.
 */
function drawCounts(
  o: WindowOptions,
  random: () => number,
  sum: number,
  cumulative: Float64Array,
  counts: Int32Array,
): number {
  const nodes = counts.length;
  counts.fill(0);
  const samples = Math.round(o.samples * (o.load ?? 1));
  const draws = new Float64Array(samples);
  for (let s = 0; s < samples; s++) draws[s] = random() * sum;
  draws.sort();
  let node = 0;
  for (let s = 0; s < samples; s++) {
    const r = draws[s];
    while (node < nodes - 1 && cumulative[node] < r) node++;
    counts[node]++;
  }
  return samples;
}

/** `count` observations (pushed profiles) of a service. */
export function observe(service: Service, count: number, o: WindowOptions, seed: number): Observation[] {
  const random = rng(seed);
  const nodes = service.self.length;
  const weights = new Float64Array(nodes);
  const cumulative = new Float64Array(nodes);
  const counts = new Int32Array(nodes);
  const fnSelf = new Float64Array(service.names.length);
  const fnTotal = new Float64Array(service.names.length);
  const out: Observation[] = [];
  for (let k = 0; k < count; k++) {
    const sum = drawWindow(service, o, random, weights, cumulative);
    const samples = drawCounts(o, random, sum, cumulative, counts);
    fnSelf.fill(0);
    fnTotal.fill(0);
    for (let i = 0; i < nodes; i++) {
      const c = counts[i];
      if (c === 0) continue;
      fnSelf[service.fn[i]] += c;
      const path = service.pathFns[i];
      for (let j = 0; j < path.length; j++) fnTotal[path[j]] += c;
    }
    const functions = new Map<string, { self: number; total: number }>();
    for (let f = 0; f < fnTotal.length; f++)
      if (fnTotal[f] > 0) functions.set(service.names[f], { self: fnSelf[f], total: fnTotal[f] });
    out.push({ process: o.process ?? 'synthetic', total: samples, seconds: o.seconds ?? 10, functions });
  }
  return out;
}

/**
 * `count` pushed profiles of a service as samples per node (node i is the
 * stack from the root to i): the same windows and draws as `observe` with
 * the same seed, before they are summed per function.
 */
export function windowCounts(service: Service, count: number, o: WindowOptions, seed: number): Int32Array[] {
  const random = rng(seed);
  const nodes = service.self.length;
  const weights = new Float64Array(nodes);
  const cumulative = new Float64Array(nodes);
  const out: Int32Array[] = [];
  for (let k = 0; k < count; k++) {
    const counts = new Int32Array(nodes);
    drawCounts(o, random, drawWindow(service, o, random, weights, cumulative), cumulative, counts);
    out.push(counts);
  }
  return out;
}

/** Per window before sampling: its total weight, and per function its self weight (row-major, `count` × functions). */
export interface WindowWeights {
  count: number;
  total: Float64Array;
  fnSelf: Float64Array;
}

/**
 * The ground truth behind `observe`: `count` windows' weights with no
 * sampling. A function's expected self share in window k is
 * fnSelf[k·functions + f] / total[k] (a multinomial draw of N samples then
 * adds variance p(1−p)/N), and a slowdown of f by (1+δ) turns p into
 * (1+δ)p / (1 + δp) in the same window.
 */
export function windowWeights(
  service: Service,
  count: number,
  o: Omit<WindowOptions, 'samples'>,
  seed: number,
): WindowWeights {
  const random = rng(seed);
  const nodes = service.self.length;
  const functions = service.names.length;
  const weights = new Float64Array(nodes);
  const cumulative = new Float64Array(nodes);
  const total = new Float64Array(count);
  const fnSelf = new Float64Array(count * functions);
  for (let k = 0; k < count; k++) {
    total[k] = drawWindow(service, o, random, weights, cumulative);
    const row = k * functions;
    for (let i = 0; i < nodes; i++) fnSelf[row + service.fn[i]] += weights[i];
  }
  return { count, total, fnSelf };
}

/** Each function's mean self share in a large sample of windows (for choosing targets by share). */
export function selfShares(service: Service, o: WindowOptions): Float64Array {
  const shares = new Float64Array(service.names.length);
  const obs = observe(service, 50, { ...o, samples: 20_000 }, 12345);
  for (const ob of obs)
    for (const [name, v] of ob.functions)
      shares[Number(name.slice(name.indexOf('.fn') + 3))] += v.self / ob.total / obs.length;
  return shares;
}

/** One push of a small request path as folded text, with ±10 % noise: `slow` scales the samples of db.query. */
export function requestPathFolded(seed: number, slow: number): string {
  const r = rng(seed);
  const n = (base: number) => Math.round(base * (0.9 + 0.2 * r()));
  return [
    `main;http;handler;db.query ${Math.round(n(200) * slow)}`,
    `main;http;handler;render ${n(300)}`,
    `main;http;auth ${n(150)}`,
    `main;gc ${n(100)}`,
  ].join('\n');
}

/**
 * A CPU pprof (nanoseconds) of `main` (in `app.js`, line 3) calling two functions named `emit` in two files
 * (line 10 of the first, line 20 of the second), `values[i]` in each: one name in two files, as Node's
 * EventEmitter and streams have it.
 */
export function twoEmitters(files: [string, string], values: [number, number]): Uint8Array {
  const strings = ['', 'cpu', 'nanoseconds', 'main', 'emit', files[0], files[1], 'app.js'];
  return encodeProfileMessage({
    sampleType: [{ type: 1, unit: 2 }],
    stringTable: strings,
    function: [
      { id: 1, name: 3, filename: 7 },
      { id: 2, name: 4, filename: 5 },
      { id: 3, name: 4, filename: 6 },
    ],
    location: [
      { id: 1, line: [{ functionId: 1, line: 3 }] },
      { id: 2, line: [{ functionId: 2, line: 10 }] },
      { id: 3, line: [{ functionId: 3, line: 20 }] },
    ],
    sample: [
      { locationId: [2, 1], value: [values[0]] },
      { locationId: [3, 1], value: [values[1]] },
    ],
  });
}

/** A pprof of `type`/`unit` whose samples are `main;<leaf>`, each with its value and its string labels. */
export function mainCalls(
  type: string,
  unit: string,
  leaf: string,
  samples: { value: number; labels?: Record<string, string> }[],
): Uint8Array {
  const strings = ['', type, unit, 'main', leaf];
  const str = (x: string) => (strings.includes(x) ? strings.indexOf(x) : strings.push(x) - 1);
  return encodeProfileMessage({
    sampleType: [{ type: 1, unit: 2 }],
    function: [
      { id: 1, name: 3 },
      { id: 2, name: 4 },
    ],
    location: [
      { id: 1, line: [{ functionId: 1 }] },
      { id: 2, line: [{ functionId: 2 }] },
    ],
    sample: samples.map(({ value, labels }) => ({
      locationId: [2, 1],
      value: [value],
      ...(labels ? { label: Object.entries(labels).map(([k, v]) => ({ key: str(k), str: str(v) })) } : {}),
    })),
    stringTable: strings,
  });
}
