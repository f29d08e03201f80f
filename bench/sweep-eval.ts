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
 *   npx tsc -p tsconfig.build.json && nice node dist/bench/sweep-eval.js [--days 6] [--pods 5] [--seed 1] [--work on|off] [--only-days 26,206]
 *
 * `--only-days` reruns some service-days of a longer run (1-based, as printed; the same seed gives the same days).
 *
 * Prints a table and writes bench/out/sweep-eval.json.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { attributeToCallees, detect, summarize, type Observation } from '../profile/regression';
import { makeFleetService, simulateFleet } from '../test/helpers/fleet';
import { arg, argText, repoDir } from './lib';

const days = arg('days', 6);
const pods = arg('pods', 5);
const seed = arg('seed', 1);
const withWork = argText('work', 'on') !== 'off';
const onlyDays = argText('only-days', '')
  .split(',')
  .filter(Boolean)
  .map((x) => Number(x) - 1);
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
}

const results: Day[] = [];
const started = performance.now();
for (const d of onlyDays.length ? onlyDays : Array.from({ length: days }, (_, i) => i)) {
  const service = makeFleetService({ seed: 7000 + 31 * seed + d, functions: 150, nodes: 750 });
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
      change: {},
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
  for (let end = WINDOW; end <= 25 * 3600; end += SWEEP) {
    looks++;
    let det = detect(summarize(window(base, end - WINDOW)), summarize(window(cand, end - WINDOW)));
    det = attributeToCallees(det, service.stacks);
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
        if (end - s.first >= WINDOW) open.add(id);
      }
    }
  }
  results.push({ day: d, looks, flaggedLooks, suspected, opened: open.size, functions: [...open] });
  process.stderr.write(
    `[${((performance.now() - started) / 1000).toFixed(0)} s] service-day ${d + 1}: ${looks} looks, ${flaggedLooks} flagged a regression, ${suspected} suspicions, ${open.size} opened\n`,
  );
}

const sum = (k: 'looks' | 'flaggedLooks' | 'suspected' | 'opened') => results.reduce((a, r) => a + r[k], 0);
const lines = [
  `# Continuous sweeps, A/A: ${results.length} service-days${onlyDays.length ? ` (${onlyDays.map((d) => d + 1).join(', ')})` : ''}, ${pods} pods a side, work counts ${withWork ? 'on' : 'off'}, seed ${seed}`,
  '',
  '| service-days | looks | looks flagging anything | suspicions | regressions opened | opened per service-day |',
  '| --- | --- | --- | --- | --- | --- |',
  `| ${results.length} | ${sum('looks')} | ${sum('flaggedLooks')} (${((100 * sum('flaggedLooks')) / sum('looks')).toFixed(2)} %) | ${sum('suspected')} | ${sum('opened')} | ${(sum('opened') / results.length).toFixed(3)} |`,
  '',
  `${((performance.now() - started) / 1000).toFixed(0)} s`,
];
console.log(lines.join('\n'));
const out = path.join(repoDir, 'bench', 'out');
fs.mkdirSync(out, { recursive: true });
fs.writeFileSync(
  path.join(out, 'sweep-eval.json'),
  JSON.stringify({ days, pods, seed, withWork, results }, null, 1),
);
