/**
 * How many profiles a canary needs before the deploy gate decides: a growth
 * budget of 5 % on a function with a 5 % self share, a canary that raises
 * that share by 10 % (it should fail) or leaves it alone (it should pass),
 * the gate polled every 10 s of the canary's life as a rollout tool would,
 * through the real server (embedded chDB, in process) until it says pass or
 * fail. Reports the canary profiles at the first decision (median, 90th
 * percentile), how often it was right, and the power calculation beside it.
 * Also, per replicate, the run Argo Rollouts would make of the example
 * AnalysisTemplate (examples/argo-rollouts/: a poll 2 min after the canary
 * starts, then every minute, 15 in all; Failed at the first fail, Successful
 * after 15 without one, Inconclusive if all 15 were).
 *
 *   npm run build && node dist/bench/gate-power.js [--reps 200] [--workload steady|bursty] [--instances 2] [--stable-instances 0] [--max 600]
 *
 * `--stable-instances 0`: the stable version is as new as the canary (both
 * start together, `--instances` each: equal sides). `--stable-instances 20`:
 * the stable version has run for an hour on 20 instances (7,200 profiles in
 * the gate's window), shared by groups of 20 replicates.
 *
 * The profiles come from test/helpers/synthetic-profiles.ts (a call tree of
 * 300 functions on 1,500 nodes; each 10 s profile 1,000 samples drawn
 * multinomially after the window's workload mix varies), inserted straight
 * into the store (ingest is not what is measured), one service per
 * replicate. The slowdown is solved so that the function's mean share rises
 * by exactly 10 %; φ is measured on the generated profiles.
 */
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { createApp } from '../server/app';
import { openStore } from '../store';
import {
  makeService,
  selfShares,
  windowCounts,
  windowWeights,
  type Service,
  type WindowOptions,
} from '../test/helpers/synthetic-profiles';
import { arg, median, percentile, request } from './lib';

function option(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : process.argv[i + 1];
}

const REPS = arg('reps', 200);
const INSTANCES = arg('instances', 2);
const STABLE_INSTANCES = arg('stable-instances', 0);
const MAX_PROFILES = arg('max', 600);
const WORKLOAD = option('workload', 'steady');
const SEED = arg('seed', 1);
const GROUP = 20;
const SHARE = 0.05;
const CHANGE = 0.1;
const LIMIT = 0.05;
const WINDOW_MS = 10_000;
const HOUR = 3_600_000;
/** The example AnalysisTemplate's schedule: initialDelay, interval (s) and count. */
const ARGO = { delayS: 120, intervalS: 60, count: 15 };

const WORKLOADS: Record<string, Omit<WindowOptions, 'slowdown'>> = {
  steady: { samples: 1000, mixNoise: 0.15, nodeNoise: 0.05 },
  bursty: { samples: 1000, mixNoise: 0.6, nodeNoise: 0.5 },
};

/** Standard normal quantile (Acklam's rational approximation, |error| < 1.2e-9). */
function zQuantile(p: number): number {
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716,
    2.506628277459239,
  ];
  const b = [
    -54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572,
  ];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  const q = p < 0.5 ? Math.sqrt(-2 * Math.log(p)) : Math.sqrt(-2 * Math.log(1 - p));
  if (p < 0.02425 || p > 1 - 0.02425) {
    const x =
      (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
      ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    return p < 0.5 ? x : -x;
  }
  const r = p - 0.5;
  const s = r * r;
  return (
    ((((((a[0] * s + a[1]) * s + a[2]) * s + a[3]) * s + a[4]) * s + a[5]) * r) /
    (((((b[0] * s + b[1]) * s + b[2]) * s + b[3]) * s + b[4]) * s + 1)
  );
}

/** The function whose mean self share is nearest `share`, and the slowdown that raises its mean share by `change`. */
function chooseTarget(service: Service, o: WindowOptions): { fn: number; share: number; slowdown: number } {
  const shares = selfShares(service, o);
  let fn = 0;
  for (let f = 1; f < shares.length; f++)
    if (Math.abs(shares[f] - SHARE) < Math.abs(shares[fn] - SHARE)) fn = f;
  // The truth before sampling: each window's share with and without a slowdown s, (s·f)/(T + (s−1)·f).
  const w = windowWeights(service, 5000, o, 999);
  const functions = service.names.length;
  const meanShare = (s: number) => {
    let sum = 0;
    for (let k = 0; k < w.count; k++) {
      const f = w.fnSelf[k * functions + fn];
      sum += (s * f) / (w.total[k] + (s - 1) * f);
    }
    return sum / w.count;
  };
  const base = meanShare(1);
  let lo = 1;
  let hi = 2;
  for (let i = 0; i < 60; i++) {
    const mid = (lo + hi) / 2;
    if (meanShare(mid) / base - 1 < CHANGE) lo = mid;
    else hi = mid;
  }
  return { fn, share: base, slowdown: (lo + hi) / 2 };
}

interface Decision {
  n: number;
  verdict: 'pass' | 'fail' | 'undecided';
  right: boolean;
}
interface ArgoRun {
  phase: 'Successful' | 'Failed' | 'Inconclusive';
  minutes: number;
}

function summariseArgo(runs: ArgoRun[]): Record<string, unknown> {
  const of = (phase: ArgoRun['phase']) => runs.filter((r) => r.phase === phase);
  const failedAt = of('Failed').map((r) => r.minutes);
  return {
    successful: of('Successful').length,
    failed: of('Failed').length,
    inconclusive: of('Inconclusive').length,
    failedAtMinutes: failedAt.length ? { median: median(failedAt), p90: percentile(failedAt, 90) } : null,
  };
}

function summarise(decisions: Decision[], expected: 'pass' | 'fail'): Record<string, unknown> {
  const decided = decisions.filter((d) => d.verdict !== 'undecided');
  const ns = decided.map((d) => d.n);
  // Undecided replicates count as needing more than the maximum: percentiles over all replicates.
  const all = decisions.map((d) => (d.verdict === 'undecided' ? Infinity : d.n));
  return {
    expected,
    replicates: decisions.length,
    right: decisions.filter((d) => d.right).length,
    wrong: decided.filter((d) => !d.right).length,
    undecided: decisions.length - decided.length,
    profilesAtDecision: {
      median: median(all),
      p90: percentile(all, 90),
      min: Math.min(...ns),
      max: Math.max(...ns),
    },
    wrongAt: decided.filter((d) => !d.right).map((d) => d.n),
  };
}

async function main(): Promise<void> {
  const load = [os.loadavg().map((x) => x.toFixed(2))];
  const o = WORKLOADS[WORKLOAD];
  if (!o) throw new Error(`--workload is steady or bursty, not ${WORKLOAD}`);
  // Seed 10: its pkg0.fn0 has a 4.9 % self share (steady), the nearest to 5 % of seeds 1–40.
  const service = makeService({ functions: 300, nodes: 1500, endpoints: 8, seed: 10 });
  const target = chooseTarget(service, o);
  const targetName = service.names[target.fn];
  const frames = Array.from({ length: service.self.length }, (_, i) => {
    const f: string[] = [];
    for (let n = i; n >= 0; n = service.parent[n]) f.push(service.names[service.fn[n]]);
    return f.reverse();
  });

  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-gate-power-'));
  const store = await openStore({ dataDir, database: 'power', retentionDays: 30 });
  const { app, close } = createApp({ store, log: () => undefined, ingestWorkers: 0 });
  const server = await new Promise<ReturnType<typeof app.listen>>((resolve) => {
    const s = app.listen(0, '127.0.0.1', () => resolve(s));
  });
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const started = performance.now();
  try {
    await store.client.insert({
      table: 'power.stacks',
      format: 'JSONEachRow',
      values: frames.map((f, i) => ({ tenant: 'default', stack_id: String(i + 1), frames: f })),
    });
    const windows = Math.max(
      Math.ceil(MAX_PROFILES / INSTANCES),
      (ARGO.delayS + (ARGO.count - 1) * ARGO.intervalS) / (WINDOW_MS / 1000),
    );
    // Whole minutes, two hours ago: the gate's buckets (epoch-aligned) hold whole windows, and the last poll is in the past.
    const t0 = Math.floor((Date.now() - 2 * HOUR) / 60_000) * 60_000;
    const rows = (svc: string, version: string, instances: number, counts: Int32Array[], from: number) =>
      counts.map((c, j) => {
        const ids: string[] = [];
        const values: number[] = [];
        for (let i = 0; i < c.length; i++)
          if (c[i] > 0) {
            ids.push(String(i + 1));
            values.push(c[i]);
          }
        const w = Math.floor(j / instances);
        const inst = j % instances;
        return {
          tenant: 'default',
          service: svc,
          type: 'cpu',
          unit: 'samples',
          time: from + w * WINDOW_MS + Math.floor((inst * WINDOW_MS) / instances),
          duration_ms: WINDOW_MS,
          profile_id: randomUUID(),
          labels: { version, instance: `${version}-${inst}` },
          stack_ids: ids,
          values,
          total: values.reduce((a, b) => a + b, 0),
        };
      });
    const budget = `budgets:\n  - name: target-growth\n    function: ${JSON.stringify(targetName)}\n    measure: self\n    growth: ${LIMIT * 100}%\n`;
    const perProfileShares: number[] = [];
    const results: Record<string, Decision[]> = { fail: [], pass: [] };
    const argoRuns: Record<string, ArgoRun[]> = { fail: [], pass: [] };
    let calls = 0;
    for (const [expected, slowdown] of [
      ['fail', target.slowdown],
      ['pass', 1],
    ] as const) {
      for (let r = 0; r < REPS; r++) {
        const group = STABLE_INSTANCES > 0 ? Math.floor(r / GROUP) : r;
        const svc = `pw-${expected}-${group}`;
        const seed = (SEED * 1_000_003 + r * 7919 + (expected === 'fail' ? 1 : 2)) >>> 0;
        const canary = windowCounts(
          service,
          windows * INSTANCES,
          { ...o, ...(slowdown !== 1 ? { slowdown: new Map([[target.fn, slowdown]]) } : {}) },
          seed,
        );
        const inserted = rows(svc, `canary-${r}`, INSTANCES, canary, t0);
        if (STABLE_INSTANCES === 0 || r % GROUP === 0) {
          // The stable version: as new as the canary, or an hour old before the canary starts on 20 instances.
          const stableWindows = STABLE_INSTANCES > 0 ? windows + HOUR / WINDOW_MS : windows;
          const stableInstances = STABLE_INSTANCES > 0 ? STABLE_INSTANCES : INSTANCES;
          const stable = windowCounts(service, stableWindows * stableInstances, o, seed ^ 0x5bd1e995);
          for (const c of stable.slice(0, 400)) perProfileShares.push(selfShare(c, service, target.fn));
          inserted.push(
            ...rows(svc, 'stable', stableInstances, stable, t0 - (stableWindows - windows) * WINDOW_MS),
          );
          const put = await request(`${url}/api/v1/budgets?service=${svc}`, 'PUT', Buffer.from(budget), {
            'content-type': 'application/yaml',
          });
          if (put.status !== 200) throw new Error(`PUT budgets: ${put.status} ${put.body.toString()}`);
        }
        for (let i = 0; i < inserted.length; i += 2000)
          await store.client.insert({
            table: 'power.profiles',
            format: 'JSONEachRow',
            values: inserted.slice(i, i + 2000),
          });
        const gate = async (until: number): Promise<string> => {
          const res = await request(
            `${url}/api/v1/gate?service=${svc}&version=canary-${r}&baseline=stable&from=${until - HOUR}&until=${until}&regressions=ignore`,
            'GET',
          );
          calls++;
          if (res.status !== 200) throw new Error(`gate: ${res.status} ${res.body.toString()}`);
          return (JSON.parse(res.body.toString()) as { verdict: string }).verdict;
        };
        // Argo's run of the example template.
        let run: ArgoRun = {
          phase: 'Inconclusive',
          minutes: (ARGO.delayS + (ARGO.count - 1) * ARGO.intervalS) / 60,
        };
        for (let j = 0; j < ARGO.count; j++) {
          const seconds = ARGO.delayS + j * ARGO.intervalS;
          const verdict = await gate(t0 + seconds * 1000);
          if (verdict === 'fail') {
            run = { phase: 'Failed', minutes: seconds / 60 };
            break;
          }
          if (verdict === 'pass') run.phase = 'Successful';
        }
        argoRuns[expected].push(run);
        // The first decision, polled every 10 s.
        let decision: Decision = { n: Infinity, verdict: 'undecided', right: false };
        for (let k = 1; k <= windows; k++) {
          const verdict = await gate(t0 + k * WINDOW_MS);
          if (verdict === 'pass' || verdict === 'fail') {
            decision = { n: k * INSTANCES, verdict, right: verdict === expected };
            break;
          }
        }
        results[expected].push(decision);
        if ((r + 1) % 25 === 0)
          console.error(
            `${expected}: ${r + 1}/${REPS} (${Math.round((performance.now() - started) / 1000)} s, ${calls} gate calls)`,
          );
      }
    }
    load.push(os.loadavg().map((x) => x.toFixed(2)));

    // φ: the per-profile variance of the target's self share over binomial sampling's.
    const p = perProfileShares.reduce((a, b) => a + b, 0) / perProfileShares.length;
    const variance = perProfileShares.reduce((a, b) => a + (b - p) ** 2, 0) / (perProfileShares.length - 1);
    const phi = variance / ((p * (1 - p)) / o.samples);
    // DESIGN.md: the smallest detectable relative change is (z(1−α) + z(1−β))·sqrt(φ·(1−p)/p·(1/N_B + 1/N_T)).
    // Here the distance to decide is |change − limit| = 5 %; solved for the canary's profiles n (N_T = n·N samples).
    const zAlpha = zQuantile(0.95);
    const stableSamples =
      STABLE_INSTANCES > 0 ? STABLE_INSTANCES * (HOUR / WINDOW_MS) * o.samples : undefined;
    const needed = (power: number) => {
      const k = ((zAlpha + zQuantile(power)) / Math.abs(CHANGE - LIMIT)) ** 2 * phi * ((1 - p) / p);
      // Equal sides: k·2/(n·N) = 1 → n = 2k/N. A fixed stable side: k·(1/N_B + 1/(n·N)) = 1.
      return stableSamples === undefined ? (2 * k) / o.samples : k / (o.samples * (1 - k / stableSamples));
    };
    console.log(
      JSON.stringify(
        {
          workload: WORKLOAD,
          instances: INSTANCES,
          stable:
            STABLE_INSTANCES > 0
              ? `${STABLE_INSTANCES} instances, an hour before the canary`
              : 'as new as the canary',
          target: {
            function: targetName,
            selfShare: Number(target.share.toFixed(4)),
            slowdownOfItsCost: Number((target.slowdown - 1).toFixed(4)),
            shareGrowth: CHANGE,
            budget: `growth ${LIMIT * 100}%`,
          },
          measuredPhi: Number(phi.toFixed(3)),
          measuredShare: Number(p.toFixed(4)),
          formula: {
            profilesFor50pcPower: Math.ceil(needed(0.5)),
            profilesFor90pcPower: Math.ceil(needed(0.9)),
          },
          slowerCanary: { ...summarise(results.fail, 'fail'), argoRun: summariseArgo(argoRuns.fail) },
          unchangedCanary: { ...summarise(results.pass, 'pass'), argoRun: summariseArgo(argoRuns.pass) },
          gateCalls: calls,
          seconds: Math.round((performance.now() - started) / 1000),
          load,
        },
        null,
        2,
      ),
    );
  } finally {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
    await close();
    await store.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/** A profile's self share of function `fn`. */
function selfShare(counts: Int32Array, service: Service, fn: number): number {
  let total = 0;
  let self = 0;
  for (let i = 0; i < counts.length; i++) {
    total += counts[i];
    if (service.fn[i] === fn) self += counts[i];
  }
  return self / total;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
