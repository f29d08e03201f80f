import {
  benjaminiHochberg,
  incompleteBeta,
  logGamma,
  normalQuantile,
  studentTQuantileUpper,
  studentTUpper,
  welch,
} from './stats';

describe('distributions, against published tables', () => {
  it('logGamma', () => {
    expect(logGamma(1)).toBeCloseTo(0, 12);
    expect(logGamma(5)).toBeCloseTo(Math.log(24), 12);
    expect(logGamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 12);
  });

  it('incomplete beta: I_x(1, 1) = x and I_x(a, 1) = x^a', () => {
    expect(incompleteBeta(0.3, 1, 1)).toBeCloseTo(0.3, 12);
    expect(incompleteBeta(0.7, 3, 1)).toBeCloseTo(0.343, 12);
  });

  it("Student's t upper tail", () => {
    expect(studentTUpper(2.228139, 10)).toBeCloseTo(0.025, 6);
    expect(studentTUpper(12.7062, 1)).toBeCloseTo(0.025, 5);
    expect(studentTUpper(2, 1)).toBeCloseTo(0.5 - Math.atan(2) / Math.PI, 10); // Cauchy
    expect(studentTUpper(1.959964, 1e7)).toBeCloseTo(0.025, 6);
    expect(studentTUpper(-2.228139, 10)).toBeCloseTo(0.975, 6);
    expect(studentTUpper(0, 7.3)).toBeCloseTo(0.5, 12);
  });

  it("Student's t quantiles", () => {
    expect(studentTQuantileUpper(0.025, 10)).toBeCloseTo(2.228139, 5);
    expect(studentTQuantileUpper(0.025, 3)).toBeCloseTo(3.182446, 5);
    expect(studentTQuantileUpper(0.005, 30)).toBeCloseTo(2.749996, 5);
  });

  it('normal quantiles', () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 5);
    expect(normalQuantile(0.999)).toBeCloseTo(3.090232, 5);
    expect(normalQuantile(0.8)).toBeCloseTo(0.841621, 5);
    expect(normalQuantile(0.01)).toBeCloseTo(-2.326348, 5);
  });

  it('Benjamini–Hochberg q-values', () => {
    expect(Array.from(benjaminiHochberg([0.01, 0.04, 0.03, 0.005]))).toEqual([0.02, 0.04, 0.04, 0.02]);
    // Untested members of the family count as p = 1: m larger than the list.
    expect(Array.from(benjaminiHochberg([0.01], 10))).toEqual([0.1]);
    expect(Array.from(benjaminiHochberg([0.5, 0.9]))).toEqual([0.9, 0.9]);
  });
});

describe('welch', () => {
  it('gives the standard error of the difference and the Welch–Satterthwaite degrees of freedom', () => {
    // Variances of the means 0.4 and 0.6: se 1, df 1 / (0.4²/9 + 0.6²/14) = 22.99.
    const w = welch(4, 10, 9, 15);
    expect(w.se).toBeCloseTo(1, 12);
    expect(w.df).toBeCloseTo(1 / (0.16 / 9 + 0.36 / 14), 10);
    // Equal variances and sizes: df is n₁ + n₂ − 2.
    expect(welch(2, 8, 2, 8).df).toBeCloseTo(14, 10);
    // No spread at all: the pooled test's degrees of freedom.
    expect(welch(0, 5, 0, 7)).toEqual({ se: 0, df: 10 });
  });
});
