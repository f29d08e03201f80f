/**
 * Regression detectors on simulated fleets with known truth
 * (test/helpers/fleet.ts): pods that differ (per-function factors, V8-like
 * inlining), diurnal traffic and traffic steps, short exit pushes, sampling.
 *
 *   npx tsc -p tsconfig.build.json && nice node dist/bench/fleet-eval.js [--detector legacy] [--reps 200] [--seed 1] \
 *     [--window 300] [--functions 150] [--nodes 750]     (the defaults)
 *
 * `--detector a,b` runs several on the very same fleets, side by side (the
 * goal: `--detector legacy,v2`). Scenarios × pods a side {1, 2, 5, 20} ×
 * reps; per cell: the share of comparisons with any false regression (a
 * regression on a function whose self or total cost per request, as flagged,
 * did not grow, or on the rate when the cost per request did not grow: with a
 * uniform slowdown everything grew, and the right answer is the rate), the
 * same for improvements, how often the rate was flagged, the recall of the
 * slowed target by its true self share (2–5 %, 5–20 %), and the verdicts.
 * Prints markdown tables; the JSON goes to bench/out/fleet-eval.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as legacy from './legacy-detector';
import * as current from '../profile/regression';
import {
  baselineShares,
  makeFleetService,
  pickTarget,
  simulateFleet,
  type Change,
  type FleetService,
  type FleetTruth,
  type Observation,
} from '../test/helpers/fleet';
import { studentTQuantileUpper, studentTUpper } from '../profile/stats';
import { rng } from '../test/helpers/synthetic-profiles';
import { arg, argText, mixSeed, repoDir } from './lib';

// ---------- detectors ----------

export interface DetectorResult {
  verdict: string;
  regressions: { function: string; measure: string }[];
  improvements: { function: string; measure: string }[];
}
/** What a detector may use beside the observations: the candidate's stacks (root first), as store/compare.ts passes them. */
export interface DetectorContext {
  stacks: readonly { stack: readonly string[] }[];
  /** With --why: the slowed function, whose findings the detector returns whatever their verdict (v2's `focus`). */
  focus?: string;
}
export type DetectorFn = (b: Observation[], c: Observation[], context: DetectorContext) => DetectorResult;

const DETECTORS: Record<string, DetectorFn> = {
  /** Detector v1 (bench/legacy-detector.ts) as store/compare.ts ran it: detect, then attributeToCallees. */
  legacy: (b, c, { stacks }) => {
    let d = legacy.detect(legacy.summarize(b), legacy.summarize(c));
    if (d.regressions.length > 1) d = legacy.attributeToCallees(d, stacks);
    return d;
  },
  /** Detector v2 (profile/regression.ts) as store/compare.ts runs it: detect, then attributeToCallees. */
  v2: (b, c, { stacks, focus }) => {
    let d = current.detect(current.summarize(b), current.summarize(c), focus ? { focus: [focus] } : {});
    d = current.attributeToCallees(d, stacks);
    return d;
  },
  /** Detector v2 testing total (inclusive) cost only. */
  'v2-total': (b, c, { stacks }) => {
    let d = current.detect(current.summarize(b), current.summarize(c), { testSelf: false });
    d = current.attributeToCallees(d, stacks);
    return d;
  },
  /** Detector v2 on the same profiles without their work counts: the robust size factor instead. */
  'v2-size': (b, c, { stacks }) => {
    const strip = (os: Observation[]) => os.map((o) => ({ ...o, work: undefined }));
    let d = current.detect(current.summarize(strip(b)), current.summarize(strip(c)));
    d = current.attributeToCallees(d, stacks);
    return d;
  },
};

// ---------- the grid ----------

const reps = arg('reps', 200);
const baseSeed = arg('seed', 1);
const windowSeconds = arg('window', 300);
const SERVICE = { functions: arg('functions', 150), nodes: arg('nodes', 750), endpoints: 8 };
const detectorNames = argText('detector', 'legacy').split(',').filter(Boolean);
for (const name of detectorNames)
  if (!DETECTORS[name])
    throw new Error(`unknown detector ${name}; known: ${Object.keys(DETECTORS).join(', ')}`);
/** Print each false regression (what a detector flagged that did not get slower) as it happens. */
const explain = argText('explain', '') !== '';
const PODS = argText('pods', '1,2,5,20').split(',').map(Number);
/** Where a slowed function went when it was not found, and what the power calculation predicted (v2 only). */
const why = argText('why', '') !== '';
/** Scenario names to run, separated by `;` (default all). */
const only = argText('scenarios', '')
  .split(';')
  .map((s) => s.trim())
  .filter(Boolean);
/** Target bands by true baseline self share. */
const BANDS: [number, number][] = [
  [0.02, 0.05],
  [0.05, 0.2],
];
const bandLabel = (b: number) => `${BANDS[b][0] * 100}–${BANDS[b][1] * 100} %`;
const SERVICES: FleetService[] = [1, 2, 3, 4, 5, 6, 7, 8].map((s) =>
  makeFleetService({ ...SERVICE, seed: s + 1000 * (baseSeed - 1) }),
);
const SHARES = SERVICES.map((s) => baselineShares(s));

interface Plan {
  change: Change;
  /** The slowed function, and its true self share's band. */
  target?: string;
  band?: number;
}
type Pick = (shares: FleetTruth['functions'], random: () => number, rep: number) => Plan;

/** A function for the slowdown, alternating the bands (falling back to the other when a service has none in it). */
function slowTarget(
  shares: FleetTruth['functions'],
  random: () => number,
  rep: number,
  exclude: string[] = [],
): { target: string; band: number } {
  for (const band of [rep % 2, 1 - (rep % 2)]) {
    const target = pickTarget(shares, { min: BANDS[band][0], max: BANDS[band][1] }, random, exclude);
    if (target) return { target, band };
  }
  throw new Error('no function with a self share of 2-20 %');
}
/** A function for the speed-up: 5–20 % self (2–5 % when there is none). */
function fastTarget(shares: FleetTruth['functions'], random: () => number, exclude: string[] = []): string {
  const t =
    pickTarget(shares, { min: 0.05, max: 0.2 }, random, exclude) ??
    pickTarget(shares, { min: 0.02, max: 0.05 }, random, exclude);
  if (!t) throw new Error('no function with a self share of 2-20 %');
  return t;
}
const slower =
  (factor: number): Pick =>
  (shares, random, rep) => {
    const { target, band } = slowTarget(shares, random, rep);
    return { change: { factors: new Map([[target, factor]]) }, target, band };
  };

const SCENARIOS = (
  [
    { name: 'A/A', plan: () => ({ change: {} }) },
    { name: 'traffic ×1.5', plan: () => ({ change: { traffic: 1.5 } }) },
    {
      name: 'one 2× faster',
      plan: (shares, random) => ({ change: { factors: new Map([[fastTarget(shares, random), 0.5]]) } }),
    },
    { name: 'one +10 %', plan: slower(1.1) },
    { name: 'one +25 %', plan: slower(1.25) },
    {
      name: 'one 2× faster, one +25 %',
      plan: (shares, random, rep) => {
        const { target, band } = slowTarget(shares, random, rep);
        return {
          change: {
            factors: new Map([
              [fastTarget(shares, random, [target]), 0.5],
              [target, 1.25],
            ]),
          },
          target,
          band,
        };
      },
    },
    { name: 'uniform +10 %', plan: () => ({ change: { uniform: 1.1 } }) },
  ] as { name: string; plan: Pick }[]
).filter((s) => only.length === 0 || only.includes(s.name));
if (only.length > 0 && SCENARIOS.length !== only.length)
  throw new Error(`--scenarios: unknown name among ${JSON.stringify(only)}`);

// ---------- scoring ----------

const EPS = 1e-9;
function isFalseRegression(f: { function: string; measure: string }, t: FleetTruth): boolean {
  if (f.measure === 'rate' || f.function === '')
    return !(t.costPerWork.candidate > t.costPerWork.baseline * (1 + EPS));
  if (f.measure === 'self') return !t.selfGrew.has(f.function);
  if (f.measure === 'total') return !t.totalGrew.has(f.function);
  return !t.selfGrew.has(f.function) && !t.totalGrew.has(f.function);
}
function isFalseImprovement(f: { function: string; measure: string }, t: FleetTruth): boolean {
  if (f.measure === 'rate' || f.function === '')
    return !(t.costPerWork.candidate < t.costPerWork.baseline * (1 - EPS));
  if (f.measure === 'self') return !t.selfShrank.has(f.function);
  if (f.measure === 'total') return !t.totalShrank.has(f.function);
  return !t.selfShrank.has(f.function) && !t.totalShrank.has(f.function);
}

interface Cell {
  n: number;
  anyFalseRegression: number;
  falseRegressions: number;
  anyFalseImprovement: number;
  rateFlagged: number;
  /** Per band: comparisons with the target, and with it among the regressions. */
  targets: number[];
  found: number[];
  /** The processes a side the detector said it would need, when it left the target undecided (its power calculation). */
  needed: number[];
  /** With --why: the target's fate when it was not found (moved, explained, inconclusive, unchanged), counted. */
  fate: Record<string, number>;
  /**
   * With --why: per comparison, the processes a side the detector's power calculation says would find the true
   * change with its configured power: pods × (detectable ÷ true effect)², the better of self and total.
   */
  predicted: number[];
  /** With --why: the power calculation's probability that the target's better test flags it, summed; and how often one did (before attribution). */
  powerSum: number;
  decided: number;
  verdicts: Record<string, number>;
  ms: number;
}
const newCell = (): Cell => ({
  n: 0,
  anyFalseRegression: 0,
  falseRegressions: 0,
  anyFalseImprovement: 0,
  rateFlagged: 0,
  targets: BANDS.map(() => 0),
  found: BANDS.map(() => 0),
  needed: [],
  fate: {},
  predicted: [],
  powerSum: 0,
  decided: 0,
  verdicts: {},
  ms: 0,
});

const cells = new Map<string, Cell>();
const cellOf = (d: string, s: string, p: number) => {
  const k = `${d}|${s}|${p}`;
  let c = cells.get(k);
  if (!c) cells.set(k, (c = newCell()));
  return c;
};
const seedOf = (...parts: number[]) => mixSeed(baseSeed, ...parts);

const started = performance.now();
const log = (s: string) =>
  process.stderr.write(`[${((performance.now() - started) / 1000).toFixed(0)} s] ${s}\n`);
let simMs = 0;
for (const pods of PODS) {
  for (let rep = 0; rep < reps; rep++) {
    const si = rep % SERVICES.length;
    // Every scenario of a (pods, rep) shares the seed: the same baseline, the same processes.
    const seed = seedOf(pods, rep);
    SCENARIOS.forEach((sc, k) => {
      const plan = sc.plan(SHARES[si], rng(seedOf(pods, rep, k, 7)), rep);
      const t0 = performance.now();
      const fleet = simulateFleet(SERVICES[si], { pods, windowSeconds, change: plan.change }, seed);
      simMs += performance.now() - t0;
      for (const dn of detectorNames) {
        const cell = cellOf(dn, sc.name, pods);
        const t1 = performance.now();
        const d = DETECTORS[dn](fleet.baseline, fleet.candidate, {
          stacks: SERVICES[si].stacks,
          focus: why ? plan.target : undefined,
        });
        cell.ms += performance.now() - t1;
        cell.n++;
        cell.verdicts[d.verdict] = (cell.verdicts[d.verdict] ?? 0) + 1;
        const falseRegs = d.regressions.filter((f) => isFalseRegression(f, fleet.truth)).length;
        if (explain && falseRegs > 0) {
          for (const f of d.regressions.filter((x) => isFalseRegression(x, fleet.truth)))
            log(
              `false regression: ${dn} ${sc.name} ${pods} pods rep ${rep}: ${JSON.stringify(f, (_k, v: unknown) => (typeof v === 'number' ? Number(v.toPrecision(4)) : v))}`,
            );
        }
        cell.falseRegressions += falseRegs;
        if (falseRegs > 0) cell.anyFalseRegression++;
        if (d.improvements.some((f) => isFalseImprovement(f, fleet.truth))) cell.anyFalseImprovement++;
        if (d.regressions.some((f) => f.measure === 'rate')) cell.rateFlagged++;
        if (plan.target !== undefined && plan.band !== undefined) {
          cell.targets[plan.band]++;
          if (d.regressions.some((f) => f.function === plan.target)) cell.found[plan.band]++;
          const undecided = (
            d as { inconclusive?: { function: string; neededProcesses?: number }[] }
          ).inconclusive?.find((f) => f.function === plan.target && f.neededProcesses);
          if (undecided?.neededProcesses) cell.needed.push(undecided.neededProcesses);
          if (why) whyOf(cell, d as current.Detection, plan, fleet.truth, pods);
        }
      }
    });
  }
  log(`${pods} pod(s) a side done`);
}

/** The target's fate, and the power calculation's prediction from this comparison (see Cell.fate, Cell.predicted). */
function whyOf(cell: Cell, d: current.Detection, plan: Plan, truth: FleetTruth, pods: number): void {
  const target = plan.target!;
  const mine = (fs: readonly { function: string }[] | undefined) =>
    (fs ?? []).some((f) => f.function === target);
  const fate = mine(d.regressions)
    ? 'found'
    : mine(d.moved)
      ? 'moved'
      : d.explained.some((f) => f.function === target && f.explainedBy === current.LESS_WORK)
        ? 'less work per second'
        : mine(d.explained)
          ? 'explained by another'
          : mine(d.inconclusive)
            ? 'inconclusive'
            : 'unchanged';
  cell.fate[fate] = (cell.fate[fate] ?? 0) + 1;
  const factor = plan.change.factors?.get(target) ?? 1;
  const delta = (factor - 1) * (truth.functions.get(target)?.selfShare ?? 0);
  const ratios = (d.focus ?? []).filter((f) => f.detectable > 0).map((f) => f.detectable / delta);
  if (delta > 0 && ratios.length > 0) cell.predicted.push(pods * Math.min(...ratios) ** 2);
  // The test's own outcome, before attribution (moved, explained) and whatever the list it ended in.
  if ((d.focus ?? []).some((f) => f.verdict === 'regression')) cell.decided++;
  // The detector's own power calculation at this comparison's size: its lone-discovery threshold (fdr ÷ tests)
  // and the standard error behind `detectable` (= reach · se), for the true effect.
  const alphaOne = d.familyFdr / Math.max(1, d.tested - 1);
  const upper = (t: number, df: number) => (t >= 0 ? studentTUpper(t, df) : 1 - studentTUpper(-t, df));
  const powers = (d.focus ?? [])
    .filter((f) => f.detectable > 0 && Number.isFinite(f.df))
    .map((f) => {
      const thr = studentTQuantileUpper(alphaOne / 2, f.df);
      const se = f.detectable / (thr + studentTQuantileUpper(1 - d.options.power, f.df));
      return upper(thr - delta / se, f.df);
    });
  cell.powerSum += powers.length ? Math.max(...powers) : 0;
}

// ---------- output ----------

const pct = (k: number, n: number) => (n === 0 ? '—' : `${((100 * k) / n).toFixed(1)} %`);
function table(head: string[], rows: (string | number)[][]): string {
  return [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}
const VERDICTS = ['regression', 'no_regression', 'inconclusive', 'insufficient_data'];
const out: string[] = [];
out.push(
  `# Fleet evaluation: ${detectorNames.join(', ')}`,
  '',
  `reps ${reps} per cell, seed ${baseSeed}, window ${windowSeconds} s (a push every 10 s and a short exit push per pod), ` +
    `${SERVICES.length} services of ${SERVICE.functions} functions on ${SERVICE.nodes} nodes; simulation ${(simMs / 1000).toFixed(0)} s, total ${((performance.now() - started) / 1000).toFixed(0)} s`,
  '',
);
out.push('## Any false regression (share of comparisons)', '');
out.push(
  table(
    ['scenario', ...detectorNames.flatMap((d) => PODS.map((p) => `${d} ${p} pod${p > 1 ? 's' : ''}`))],
    SCENARIOS.map((s) => [
      s.name,
      ...detectorNames.flatMap((d) =>
        PODS.map((p) => pct(cellOf(d, s.name, p).anyFalseRegression, cellOf(d, s.name, p).n)),
      ),
    ]),
  ),
);
for (const dn of detectorNames) {
  out.push('', `## ${dn}`, '');
  const rows: (string | number)[][] = [];
  for (const s of SCENARIOS) {
    for (const p of PODS) {
      const c = cellOf(dn, s.name, p);
      rows.push([
        s.name,
        p,
        c.n,
        pct(c.anyFalseRegression, c.n),
        (c.falseRegressions / c.n).toFixed(2),
        pct(c.anyFalseImprovement, c.n),
        pct(c.rateFlagged, c.n),
        ...BANDS.map((_, b) => (c.targets[b] ? `${pct(c.found[b], c.targets[b])} (${c.targets[b]})` : '—')),
        VERDICTS.map((v) => c.verdicts[v] ?? 0).join(' / '),
        c.needed.length ? `${medianOf(c.needed)} (${c.needed.length})` : '—',
        ...(why
          ? [
              c.predicted.length ? medianOf(c.predicted).toFixed(0) : '—',
              c.predicted.length
                ? `${pct(c.powerSum, c.targets[0] + c.targets[1])} / ${pct(c.decided, c.targets[0] + c.targets[1])}`
                : '—',
              Object.entries(c.fate)
                .sort((a, b) => b[1] - a[1])
                .map(([k, v]) => `${k} ${v}`)
                .join(', ') || '—',
            ]
          : []),
        (c.ms / c.n).toFixed(1),
      ]);
    }
  }
  out.push(
    table(
      [
        'scenario',
        'pods a side',
        'n',
        'any false regression',
        'false regressions / comparison',
        'any false improvement',
        'rate flagged',
        ...BANDS.map((_, b) => `recall ${bandLabel(b)} self`),
        'verdicts reg / no / inconcl / insuff',
        'processes needed (median, when undecided)',
        ...(why
          ? [
              'processes for 80 % power (median of predictions)',
              "the target's test flags it: predicted (mean power) / observed",
              "the target's fate",
            ]
          : []),
        'ms / comparison',
      ],
      rows,
    ),
  );
}
console.log(out.join('\n'));

function medianOf(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

const result = {
  command: `node dist/bench/fleet-eval.js ${process.argv.slice(2).join(' ')}`.trim(),
  reps,
  seed: baseSeed,
  windowSeconds,
  service: SERVICE,
  services: SERVICES.length,
  pods: PODS,
  bands: BANDS,
  detectors: detectorNames,
  scenarios: SCENARIOS.map((s) => s.name),
  seconds: (performance.now() - started) / 1000,
  simulationSeconds: simMs / 1000,
  cells: [...cells].map(([k, c]) => {
    const [detector, scenario, pods] = k.split('|');
    return {
      detector,
      scenario,
      pods: Number(pods),
      ...c,
      recall: c.targets.map((t, b) => (t ? c.found[b] / t : null)),
    };
  }),
};
fs.mkdirSync(path.join(repoDir, 'bench', 'out'), { recursive: true });
fs.writeFileSync(path.join(repoDir, 'bench', 'out', 'fleet-eval.json'), JSON.stringify(result, null, 1));
