/**
 * False regressions per service-day of continuous sweeps (issue 15's target:
 * ≤ 0.01 per service-day, A/A). The scheduled detector compares, every 5
 * minutes, the last hour with the same hour a day earlier: 288 overlapping
 * looks a day. Each look that flags a function makes it `suspected`; it opens
 * (and notifies) only when a window that does not overlap its first sighting
 * flags it again, and a suspicion not seen for two windows and a sweep starts
 * over (store/regressions.ts `record` with jobs/processors/detect.ts's rule,
 * re-stated here over the detector's verdicts).
 *
 * The fleet (test/helpers/fleet.ts): pods that differ (per-function factors,
 * inlining, speed), diurnal traffic, a push every 10 s, work counts; no
 * change between the days (A/A). Each service-day simulates two days of the
 * same pods' profiles and slides the hour over the second.
 *
 *   npx tsc -p tsconfig.build.json && nice node dist/bench/sweep-eval.js [--days 6] [--pods 5] [--seed 1] [--work on|off] [--only-days 26,206] [--fdr 0.005] [--slower 1.25]
 *
 * `--detector legacy` runs v1 (bench/legacy-detector.ts) instead, at its own level, for the comparison.
 * `--only-days` reruns some service-days of a longer run (1-based, as printed; the same seed gives the same days).
 * `--fdr` is the level each look tests at: by default the schedule's (profile/regression.ts scheduledFdr), as
 * the sweep job runs it. `--slower F` measures recall instead of A/A: each day's candidate has one function of
 * 5-20 % self cost (2-5 % when there is none) F times slower all day; a day counts as found when that function
 * (self or total), or the whole program's cost, opens; any other opened finding whose cost did not grow is a
 * false regression.
 *
 * Prints a table and writes bench/out/sweep-eval.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { attributeToCallees, detect, scheduledFdr, summarize, type Observation } from '../profile/regression';
import {
  baselineShares,
  makeFleetService,
  pickTarget,
  simulateFleet,
  type FleetTruth,
} from '../test/helpers/fleet';
import { rng } from '../test/helpers/synthetic-profiles';
import * as legacy from './legacy-detector';
import { arg, argText, repoDir } from './lib';

const days = arg('days', 6);
const pods = arg('pods', 5);
const seed = arg('seed', 1);
const withWork = argText('work', 'on') !== 'off';
const onlyDays = argText('only-days', '')
  .split(',')
  .filter(Boolean)
  .map((x) => Number(x) - 1);
/** `v2` (the detector) or `legacy` (v1, bench/legacy-detector.ts, as it ran before issue 15, at its own 1 %). */
const detector = argText('detector', 'v2');
if (detector !== 'v2' && detector !== 'legacy') throw new Error('--detector must be v2 or legacy');
const fdr = Number(argText('fdr', String(scheduledFdr())));
const slower = Number(argText('slower', '1'));
if (!(fdr > 0 && fdr < 1) || !(slower > 0)) throw new Error('--fdr must be in (0, 1) and --slower above 0');
const recall = slower !== 1;
const INTERVAL = 10;
const WINDOW = 3600;
const SWEEP = 300;
const DAY = 86_400;

/** Per process, its profiles in time order (profile i covers [i·10 s, i·10 s + 10 s) of the simulated span). */
function byProcess(obs: Observation[]): Map<string, Observation[]> {
  const out = new Map<string, Observation[]>();
  for (const o of obs) {
    let list = out.get(o.process);
    if (!list) out.set(o.process, (list = []));
    list.push(withWork ? o : { ...o, work: undefined });
  }
  return out;
}

/** The profiles of every process in [from, from + WINDOW) seconds of its span. */
function window(procs: Map<string, Observation[]>, from: number): Observation[] {
  const out: Observation[] = [];
  const a = Math.floor(from / INTERVAL);
  const b = a + WINDOW / INTERVAL;
  for (const list of procs.values()) for (let i = a; i < b && i < list.length; i++) out.push(list[i]);
  return out;
}

interface Day {
  day: number;
  looks: number;
  flaggedLooks: number;
  suspected: number;
  opened: number;
  functions: string[];
  /** Recall runs: the slowed function, whether it (or the whole program) opened, at which look's end (hours into the day). */
  target?: string;
  found?: boolean;
  foundAtHours?: number;
  falseOpened?: number;
}

/** Whether an opened finding is false: its function's (or the whole program's) expected cost per request did not grow. */
function isFalse(id: string, t: FleetTruth): boolean {
  const [fn, measure] = [id.slice(0, id.lastIndexOf('/')), id.slice(id.lastIndexOf('/') + 1)];
  if (measure === 'rate' || fn === '')
    return !(t.costPerWork.candidate > t.costPerWork.baseline * (1 + 1e-9));
  return measure === 'self' ? !t.selfGrew.has(fn) : !t.totalGrew.has(fn);
}

const results: Day[] = [];
const started = performance.now();
for (const d of onlyDays.length ? onlyDays : Array.from({ length: days }, (_, i) => i)) {
  const service = makeFleetService({ seed: 7000 + 31 * seed + d, functions: 150, nodes: 750 });
  let target: string | undefined;
  if (recall) {
    const shares = baselineShares(service);
    const random = rng(90_000 + 31 * seed + d);
    target =
      pickTarget(shares, { min: 0.05, max: 0.2 }, random) ??
      pickTarget(shares, { min: 0.02, max: 0.05 }, random);
    if (!target) throw new Error(`service-day ${d + 1} has no function of 2-20 % self cost`);
  }
  // Two spans of 25 hours, the second starting a day after the first: the baseline's hour is the candidate's a day earlier.
  const fleet = simulateFleet(
    service,
    {
      pods,
      windowSeconds: 25 * 3600,
      baselineStart: 0,
      candidateStart: DAY,
      lastPush: null,
      dropEmpty: false,
      change: target ? { factors: new Map([[target, slower]]) } : {},
    },
    1000 * seed + d,
  );
  const base = byProcess(fleet.baseline);
  const cand = byProcess(fleet.candidate);
  // Suspicions: function/measure -> first and last sighting (the window's end, seconds).
  const open = new Set<string>();
  const suspects = new Map<string, { first: number; last: number }>();
  let flaggedLooks = 0;
  let suspected = 0;
  let looks = 0;
  let foundAt: number | undefined;
  for (let end = WINDOW; end <= 25 * 3600; end += SWEEP) {
    looks++;
    let det: { regressions: { function: string; measure: string }[] };
    if (detector === 'legacy') {
      const d = legacy.detect(
        legacy.summarize(window(base, end - WINDOW)),
        legacy.summarize(window(cand, end - WINDOW)),
      );
      det = d.regressions.length > 1 ? legacy.attributeToCallees(d, service.stacks) : d;
    } else
      det = attributeToCallees(
        detect(summarize(window(base, end - WINDOW)), summarize(window(cand, end - WINDOW)), { fdr }),
        service.stacks,
      );
    if (det.regressions.length) flaggedLooks++;
    for (const f of det.regressions) {
      const id = `${f.function}/${f.measure}`;
      if (open.has(id)) continue;
      const s = suspects.get(id);
      if (!s || end - s.last > 2 * WINDOW + SWEEP) {
        suspects.set(id, { first: end, last: end });
        suspected++;
      } else {
        s.last = end;
        if (end - s.first >= WINDOW) {
          open.add(id);
          if (foundAt === undefined && (f.function === target || f.measure === 'rate')) foundAt = end;
        }
      }
    }
  }
  const falseOpened = recall ? [...open].filter((id) => isFalse(id, fleet.truth)).length : undefined;
  results.push({
    day: d,
    looks,
    flaggedLooks,
    suspected,
    opened: open.size,
    functions: [...open],
    ...(recall
      ? { target, found: foundAt !== undefined, foundAtHours: foundAt && foundAt / 3600, falseOpened }
      : {}),
  });
  process.stderr.write(
    `[${((performance.now() - started) / 1000).toFixed(0)} s] service-day ${d + 1}: ${looks} looks, ${flaggedLooks} flagged a regression, ${suspected} suspicions, ${open.size} opened` +
      (recall
        ? `; ${target} ×${slower} ${foundAt ? `found after ${(foundAt / 3600).toFixed(2)} h` : 'not found'}, ${falseOpened} false\n`
        : '\n'),
  );
}

const sum = (k: 'looks' | 'flaggedLooks' | 'suspected' | 'opened') => results.reduce((a, r) => a + r[k], 0);
const found = results.filter((r) => r.found);
const hours = found.map((r) => r.foundAtHours ?? 0).sort((a, b) => a - b);
const lines = [
  `# Continuous sweeps, ${recall ? `one function ×${slower} in the candidate` : 'A/A'}: ${results.length} service-days${onlyDays.length ? ` (${onlyDays.map((d) => d + 1).join(', ')})` : ''}, ${pods} pods a side, work counts ${withWork ? 'on' : 'off'}, ${detector === 'legacy' ? 'detector v1' : `fdr ${fdr}`}, seed ${seed}`,
  '',
  '| service-days | looks | looks flagging anything | suspicions | regressions opened | opened per service-day |',
  '| --- | --- | --- | --- | --- | --- |',
  `| ${results.length} | ${sum('looks')} | ${sum('flaggedLooks')} (${((100 * sum('flaggedLooks')) / sum('looks')).toFixed(2)} %) | ${sum('suspected')} | ${sum('opened')} | ${(sum('opened') / results.length).toFixed(3)} |`,
  '',
  ...(recall
    ? [
        `found: ${found.length} of ${results.length} days (${((100 * found.length) / results.length).toFixed(0)} %); ` +
          `opened after ${hours.length ? `${hours[Math.floor(hours.length / 2)].toFixed(2)} h (median), ${hours[hours.length - 1].toFixed(2)} h (latest)` : '-'}; ` +
          `false regressions opened: ${results.reduce((a, r) => a + (r.falseOpened ?? 0), 0)}`,
        '',
      ]
    : []),
  `${((performance.now() - started) / 1000).toFixed(0)} s`,
];
console.log(lines.join('\n'));
const out = path.join(repoDir, 'bench', 'out');
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(
  path.join(out, 'sweep-eval.json'),
  JSON.stringify({ days, pods, seed, withWork, fdr, slower, results }, null, 1),
);
