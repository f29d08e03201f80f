import { makeService, observe, windowWeights, type WindowOptions } from './helpers/synthetic-profiles';

// The ground truth the evaluation harness (bench/regression-eval.ts) computes
// effect sizes from must be the distribution `observe` samples from.
const service = makeService({ functions: 300, nodes: 1500, endpoints: 8, seed: 7 });
const windows: WindowOptions = { samples: 1000, mixNoise: 0.6, nodeNoise: 0.5 };
const F = service.names.length;

const ww = windowWeights(service, 2000, windows, 99);
const means = new Float64Array(F);
for (let k = 0; k < ww.count; k++)
  for (let f = 0; f < F; f++) means[f] += ww.fnSelf[k * F + f] / ww.total[k] / ww.count;

function truth(fn: number, delta: number) {
  let s = 0;
  let s2 = 0;
  let binom = 0;
  for (let k = 0; k < ww.count; k++) {
    const b = ww.fnSelf[k * F + fn] / ww.total[k];
    const q = ((1 + delta) * b) / (1 + delta * b);
    s += q;
    s2 += q * q;
    binom += q * (1 - q);
  }
  const mean = s / ww.count;
  return { mean, variance: s2 / ww.count - mean * mean + binom / ww.count / windows.samples };
}

function sampled(fn: number, delta: number, count = 600) {
  const obs = observe(
    service,
    count,
    { ...windows, slowdown: delta ? new Map([[fn, 1 + delta]]) : undefined },
    5,
  );
  const xs = obs.map((o) => (o.functions.get(service.names[fn])?.self ?? 0) / o.total);
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length;
  return { mean, variance: xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (xs.length - 1), n: xs.length };
}

describe('synthetic profiles', () => {
  it('gives the same observations for the same seed', () => {
    const a = observe(service, 3, windows, 1);
    const b = observe(service, 3, windows, 1);
    expect(a.map((o) => [...o.functions])).toEqual(b.map((o) => [...o.functions]));
  });

  it.each([0, 0.5])('windowWeights is the truth behind observe (slowdown %p)', (delta) => {
    // The function with the largest self share, and one near 1 %.
    const top = Array.from(means.keys()).sort((a, b) => means[b] - means[a])[0];
    const onePercent = Array.from(means.keys()).sort(
      (a, b) => Math.abs(means[a] - 0.01) - Math.abs(means[b] - 0.01),
    )[0];
    for (const fn of [top, onePercent]) {
      const t = truth(fn, delta);
      const s = sampled(fn, delta);
      // The sample mean within 4 standard errors of the true mean, the variance within 20 %.
      expect(Math.abs(s.mean - t.mean)).toBeLessThan(4 * Math.sqrt(t.variance / s.n));
      expect(s.variance / t.variance).toBeGreaterThan(0.8);
      expect(s.variance / t.variance).toBeLessThan(1.2);
    }
  });
});
