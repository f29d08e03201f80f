import { makeService, observe, selfShares, type WindowOptions } from '../test/helpers/synthetic-profiles';
import { attributeToCallees, detect, summarize, type Observation, type SideStats } from './regression';

const service = makeService({ functions: 300, nodes: 1500, endpoints: 8, seed: 7 });
const windows: WindowOptions = { samples: 1000, mixNoise: 0.15, nodeNoise: 0.05 };
const shares = selfShares(service, windows);
// A function with a self share of 3-8 %: large enough for a +30 % change to be plain.
const target = Array.from(shares.keys()).find((i) => shares[i] > 0.03 && shares[i] < 0.08)!;
const targetName = service.names[target];

const side = (n: number, seed: number, slowdown?: Map<number, number>, extra: Partial<WindowOptions> = {}) =>
  summarize(observe(service, n, { ...windows, ...extra, slowdown }, seed));

describe('detect', () => {
  it('flags the slowed function, and only it, with an interval around the true change', () => {
    const d = detect(side(60, 1), side(60, 2, new Map([[target, 1.3]])));
    expect(d.verdict).toBe('regression');
    const selfFindings = d.regressions.filter((f) => f.measure === 'self');
    expect(selfFindings.map((f) => f.function)).toEqual([targetName]);
    const f = selfFindings[0];
    expect(f.relative).toBeGreaterThan(0.15);
    expect(f.ci[0]).toBeGreaterThan(0);
    expect(f.q).toBeLessThanOrEqual(0.01);
    // Its callers' totals grow too: every total regression is an ancestor path of the target.
    for (const t of d.regressions.filter((x) => x.measure === 'total')) {
      const fi = service.names.indexOf(t.function);
      const onPath = Array.from(service.fn.keys()).some((n) => service.fn[n] === target && service.pathFns[n].includes(fi));
      expect(onPath).toBe(true);
    }
    // Sampling noise alone would be φ = 1: the workload mix makes profiles spread more.
    expect(f.overdispersion).toBeGreaterThan(1);
  });

  it("attributes callers' total growth to the slower function below them", () => {
    const d = detect(side(60, 1), side(60, 2, new Map([[target, 1.3]])));
    const stacks = Array.from(service.fn.keys(), (n) => {
      const stack: string[] = [];
      for (let a = n; a >= 0; a = service.parent[a]) stack.unshift(service.names[service.fn[a]]);
      return { stack };
    });
    const a = attributeToCallees(d, stacks);
    expect([...new Set(a.regressions.map((f) => f.function))]).toEqual([targetName]);
    expect(a.explained.length).toBe(d.regressions.length - a.regressions.length);
    for (const e of a.explained) expect(e.explainedBy).toBe(targetName);
  });

  it('finds nothing in A/A comparisons (no change) but rarely', () => {
    let alarms = 0;
    const found: string[] = [];
    for (let i = 0; i < 20; i++) {
      const d = detect(side(20, 100 + i), side(20, 200 + i));
      if (d.verdict === 'regression') {
        alarms++;
        found.push(...d.regressions.map((f) => `${f.function}/${f.measure} q=${f.q.toPrecision(2)} rel=${f.relative.toFixed(2)}`));
      }
    }
    expect(found).toEqual([]);
    expect(alarms).toBe(0);
  });

  it('says insufficient data instead of guessing', () => {
    const d = detect(side(3, 1), side(30, 2, new Map([[target, 2]])));
    expect(d.verdict).toBe('insufficient_data');
    expect(d.reason).toContain('baseline has 3');
  });

  it('calls a practical change it cannot yet decide inconclusive, with the observations it would need', () => {
    // Mean and sd per observation -> the sums the store would hand over.
    const moments = (n: number, mean: number, sd: number) => ({ sum: n * mean, sumSq: (n - 1) * sd * sd + n * mean * mean });
    const stats = (n: number, mean: number): SideStats => ({
      n, samples: n * 1000, rate: moments(n, 100, 5),
      functions: new Map([['hot', { self: moments(n, mean, 0.02), total: moments(n, mean, 0.02) }], ['rest', { self: moments(n, 1 - mean, 0.02), total: moments(n, 1, 0) }]]),
    });
    // +1 pp (practical) with an sd of 2 pp over 6 profiles a side: t ≈ 0.9, undecidable.
    const d = detect(stats(6, 0.05), stats(6, 0.06));
    expect(d.verdict).toBe('no_regression');
    const f = d.inconclusive.find((x) => x.function === 'hot' && x.measure === 'self')!;
    expect(f.verdict).toBe('inconclusive');
    expect(f.effect).toBeCloseTo(0.01, 10);
    expect(f.neededObservations).toBeGreaterThan(6);
    // With that many a side, the same effect and spread is a regression.
    const n = f.neededObservations!;
    expect(detect(stats(n, 0.05), stats(n, 0.06)).regressions.some((x) => x.function === 'hot')).toBe(true);
  });

  it('reports improvements apart from regressions', () => {
    const d = detect(side(60, 1), side(60, 2, new Map([[target, 0.6]])));
    expect(d.improvements.some((f) => f.function === targetName && f.measure === 'self')).toBe(true);
    expect(d.regressions.filter((f) => f.measure === 'self')).toEqual([]);
  });

  it('flags growth of the total per instance-second, which shares cannot show', () => {
    const d = detect(side(30, 1), side(30, 2, undefined, { load: 1.25 }));
    expect(d.rate?.verdict).toBe('regression');
    expect(d.regressions[0].measure).toBe('rate');
    expect(d.regressions.filter((f) => f.measure !== 'rate')).toEqual([]);
  });

  it('ignores a significant change too small to matter', () => {
    const obs = (n: number, seed: number, bump: number): Observation[] => Array.from({ length: n }, (_, i) => ({
      total: 1e6, seconds: 10,
      functions: new Map([['a', { self: 5e5 + bump + ((i * 7919 + seed) % 100), total: 5e5 + bump }], ['b', { self: 5e5 - bump, total: 5e5 - bump }]]),
    }));
    const d = detect(summarize(obs(50, 1, 0)), summarize(obs(50, 2, 1000)));
    // +0.1 pp and +0.2 %: far below the defaults (+0.5 pp or +10 %).
    expect(d.verdict).toBe('no_regression');
  });
});
