import * as legacy from '../bench/legacy-detector';
import {
  baselineShares,
  diurnal,
  expectedFunctionCosts,
  fleetTruth,
  functionsInBand,
  makeFleetService,
  pickTarget,
  simulateFleet,
  type FleetOptions,
  type Observation,
} from './helpers/fleet';
import { rng } from './helpers/synthetic-profiles';

// The service bench/fleet-eval.ts uses (150 functions on 750 nodes): small enough to be fast.
const fs = makeFleetService({ seed: 1, functions: 150, nodes: 750 });
const shares = baselineShares(fs);
// The function with the largest self share under 20 %.
const big = [...shares]
  .filter(([, v]) => v.selfShare < 0.2)
  .sort((a, b) => b[1].selfShare - a[1].selfShare)[0][0];

const sum = (obs: Observation[], f: (o: Observation) => number) => obs.reduce((a, o) => a + f(o), 0);
const work = (obs: Observation[]) => sum(obs, (o) => o.work ?? 0);
const total = (obs: Observation[]) => sum(obs, (o) => o.total);
const fnValue = (obs: Observation[], name: string, m: 'self' | 'total') =>
  sum(obs, (o) => o.functions.get(name)?.[m] ?? 0);

describe('fleet simulator', () => {
  it('is seeded: the same seed gives the same observations, and the baseline does not depend on the change', () => {
    const a = simulateFleet(fs, { pods: 2 }, 5);
    const b = simulateFleet(fs, { pods: 2 }, 5);
    expect(a.baseline).toEqual(b.baseline);
    expect(a.candidate).toEqual(b.candidate);
    expect(simulateFleet(fs, { pods: 2 }, 6).baseline).not.toEqual(a.baseline);
    const changed = simulateFleet(
      fs,
      { pods: 2, change: { factors: new Map([[big, 0.5]]), traffic: 1.5 } },
      5,
    );
    expect(changed.baseline).toEqual(a.baseline);
    expect(changed.candidate).not.toEqual(a.candidate);
  });

  it('pushes every 10 s per process, with a short exit push, and profiles of 50–1,000 samples that follow the traffic', () => {
    const { baseline, candidate } = simulateFleet(fs, { pods: 5 }, 1);
    for (const side of [baseline, candidate]) {
      const byProcess = new Map<string, Observation[]>();
      for (const o of side) byProcess.set(o.process, [...(byProcess.get(o.process) ?? []), o]);
      expect(byProcess.size).toBe(5);
      for (const obs of byProcess.values()) {
        // 30 full pushes; the exit push is left out when it has no samples.
        expect(obs.length).toBeGreaterThanOrEqual(30);
        expect(obs.length).toBeLessThanOrEqual(31);
        expect(obs.slice(0, 30).every((o) => o.seconds === 10)).toBe(true);
        if (obs.length === 31) {
          expect(obs[30].seconds).toBeGreaterThanOrEqual(0.1);
          expect(obs[30].seconds).toBeLessThanOrEqual(2);
          expect(obs[30].total).toBeLessThan(obs[29].total);
        }
      }
    }
    const full = baseline.filter((o) => o.seconds === 10).map((o) => o.total);
    const mean = full.reduce((a, b) => a + b, 0) / full.length;
    expect(mean).toBeGreaterThan(150);
    expect(mean).toBeLessThan(700);
    expect(Math.max(...full) / Math.min(...full)).toBeGreaterThan(1.5);
    // Diurnal: at 03:00 the traffic is 0.6 / 1.4 of 14:00's (amplitude 0.4), and so is the CPU.
    expect(diurnal(3 * 3600, 0.4) / diurnal(14 * 3600, 0.4)).toBeCloseTo(0.6 / 1.4, 1);
    const night = simulateFleet(fs, { pods: 5, baselineStart: 3 * 3600 }, 1).baseline;
    const day = simulateFleet(fs, { pods: 5, baselineStart: 14 * 3600 }, 1).baseline;
    expect(total(night) / total(day)).toBeGreaterThan(0.35);
    expect(total(night) / total(day)).toBeLessThan(0.5);
    expect(total(night) / work(night)).toBeCloseTo(total(day) / work(day), 0);
  });

  // The candidate's processes are the same for one seed whatever the change, so its effect is measured without the pods' spread.
  const candidate = (o: Partial<FleetOptions>) => simulateFleet(fs, { pods: 20, ...o }, 3).candidate;
  const plain = candidate({});

  it('scales the work (requests) and the CPU with the traffic, at the same CPU per request', () => {
    const busy = candidate({ change: { traffic: 1.5 } });
    expect(work(busy) / work(plain)).toBeCloseTo(1.5, 1);
    expect(total(busy) / total(plain)).toBeCloseTo(1.5, 1);
    const perWork = total(busy) / work(busy) / (total(plain) / work(plain));
    expect(Math.abs(perWork - 1)).toBeLessThan(0.02);
    const t = fleetTruth(fs, { change: { traffic: 1.5 } });
    expect(t.costPerWork.candidate).toBe(t.costPerWork.baseline);
    expect(t.selfGrew.size + t.totalGrew.size + t.selfShrank.size + t.totalShrank.size).toBe(0);
  });

  it('a uniform slowdown raises the CPU per request by its factor', () => {
    const slow = candidate({ change: { uniform: 1.1 } });
    const perWork = total(slow) / work(slow) / (total(plain) / work(plain));
    expect(Math.abs(perWork - 1.1)).toBeLessThan(0.02);
    const t = fleetTruth(fs, { change: { uniform: 1.1 } });
    expect(t.costPerWork.candidate / t.costPerWork.baseline).toBeCloseTo(1.1, 9);
    expect(t.totalGrew.size).toBe(shares.size);
    expect(t.candidateFunctions.get(big)!.selfShare).toBeCloseTo(shares.get(big)!.selfShare, 9);
  });

  it('a 2× faster function halves its expected cost, and nothing grows', () => {
    const change = { factors: new Map([[big, 0.5]]) };
    expect(expectedFunctionCosts(fs, {}, change).get(big)!.self).toBeCloseTo(
      expectedFunctionCosts(fs).get(big)!.self / 2,
      9,
    );
    const fast = candidate({ change });
    const ratio = fnValue(fast, big, 'self') / work(fast) / (fnValue(plain, big, 'self') / work(plain));
    expect(Math.abs(ratio - 0.5)).toBeLessThan(0.05);
    const t = fleetTruth(fs, { change });
    expect(t.faster).toEqual([big]);
    expect(t.selfShrank.has(big)).toBe(true);
    expect(t.selfGrew.size + t.totalGrew.size).toBe(0);
    // Every other function's share rises: what a share-based detector sees.
    const other = [...shares.keys()].find((n) => n !== big && shares.get(n)!.selfShare > 0.02)!;
    expect(t.candidateFunctions.get(other)!.selfShare).toBeGreaterThan(shares.get(other)!.selfShare * 1.02);
  });

  it('a slower function: it and its callers grow, in the truth', () => {
    const t = fleetTruth(fs, { change: { factors: new Map([[big, 1.25]]) } });
    expect(t.slower).toEqual([big]);
    expect(t.selfGrew.has(big)).toBe(true);
    expect(t.totalGrew.has(big)).toBe(true);
    const callers = new Set(fs.stacks.filter((s) => s.stack.at(-1) === big).flatMap((s) => s.stack));
    for (const name of t.totalGrew) expect(callers.has(name)).toBe(true);
    expect(t.selfShrank.size + t.totalShrank.size).toBe(0);
  });

  it("inlining moves self time from callee to caller and keeps the caller's total", () => {
    const none = { inline: { probability: 0, fraction: [0, 0] as [number, number] } };
    const all = { inline: { probability: 1, fraction: [1, 1] as [number, number] } };
    const a = expectedFunctionCosts(fs, none);
    const b = expectedFunctionCosts(fs, all);
    expect(fs.pairs.length).toBe(8);
    // Pairs that do not chain (a caller that is itself inlined into its own caller moves its self on up).
    const callees = new Set(fs.pairs.map((p) => p.callee));
    const callers = new Set(fs.pairs.map((p) => p.caller));
    const plainPairs = fs.pairs.filter((p) => !callees.has(p.caller) && !callers.has(p.callee));
    expect(plainPairs.length).toBeGreaterThan(2);
    for (const { caller, callee } of plainPairs) {
      expect(b.get(caller)!.total).toBeCloseTo(a.get(caller)!.total, 6);
      expect(b.get(caller)!.self).toBeGreaterThan(a.get(caller)!.self);
      expect(b.get(callee)!.self).toBeLessThan(a.get(callee)!.self);
    }
    // In the draws too: the caller's total per request is the same, its self is not.
    const { caller } = plainPairs[0];
    const x = candidate(none);
    const y = candidate(all);
    const perWork = (obs: Observation[], m: 'self' | 'total') => fnValue(obs, caller, m) / work(obs);
    expect(Math.abs(perWork(y, 'total') / perWork(x, 'total') - 1)).toBeLessThan(0.03);
    expect(perWork(y, 'self') / perWork(x, 'self')).toBeCloseTo(b.get(caller)!.self / a.get(caller)!.self, 1);
  });

  it('picks targets by their true share band', () => {
    const band = functionsInBand(shares, { min: 0.02, max: 0.05 });
    expect(band.length).toBeGreaterThan(0);
    for (const n of band) expect(shares.get(n)!.selfShare).toBeGreaterThanOrEqual(0.02);
    const t = pickTarget(shares, { measure: 'total', min: 0.05, max: 0.2 }, rng(2))!;
    expect(shares.get(t)!.totalShare).toBeGreaterThanOrEqual(0.05);
    expect(pickTarget(shares, { min: 0.9, max: 1 }, rng(2))).toBeUndefined();
  });
});

// Detector v1 (bench/legacy-detector.ts) on these fleets: what is wrong with it, documented.
describe('the legacy detector on a fleet', () => {
  const run = (b: Observation[], c: Observation[]) => {
    const d = legacy.detect(legacy.summarize(b), legacy.summarize(c));
    return d.regressions.length > 1 ? legacy.attributeToCallees(d, fs.stacks) : d;
  };

  it('flags unchanged functions as regressions when one function got 2× faster (shares rise), 2 pods a side', () => {
    for (const seed of [1, 2, 3]) {
      const { baseline, candidate, truth } = simulateFleet(
        fs,
        { pods: 2, change: { factors: new Map([[big, 0.5]]) } },
        seed,
      );
      const d = run(baseline, candidate);
      // Nothing got slower...
      expect(truth.selfGrew.size + truth.totalGrew.size).toBe(0);
      // ...yet v1 reports regressions on functions that did not change.
      const falseOnes = d.regressions.filter((f) => f.measure !== 'rate');
      expect(falseOnes.length).toBeGreaterThan(0);
      expect(d.verdict).toBe('regression');
      expect(falseOnes.every((f) => f.function !== big && f.relative > 0)).toBe(true);
    }
  });

  it('flags the rate when only the traffic grew (×1.5), though the CPU per request did not', () => {
    for (const seed of [1, 2, 3]) {
      const { baseline, candidate, truth } = simulateFleet(fs, { pods: 2, change: { traffic: 1.5 } }, seed);
      expect(truth.costPerWork.candidate).toBe(truth.costPerWork.baseline);
      const d = run(baseline, candidate);
      const rate = d.regressions.find((f) => f.measure === 'rate');
      expect(rate).toBeDefined();
      expect(rate!.relative).toBeGreaterThan(0);
    }
  });
});
