/** Value formatting by the profile's unit: ns → ms/s, bytes → KB/MB, counts with SI suffixes. */

const TIME_UNITS: Record<string, number> = {
  nanoseconds: 1e-9,
  microseconds: 1e-6,
  milliseconds: 1e-3,
  seconds: 1,
};

export function formatValue(value: number, unit: string): string {
  if (unit in TIME_UNITS) return formatSeconds(value * TIME_UNITS[unit]);
  if (unit === 'bytes') return formatBytes(value);
  return `${formatCount(value)}${unit && unit !== 'count' && unit !== 'samples' ? ` ${unit}` : unit === 'samples' ? ' samples' : ''}`;
}

export function formatSeconds(s: number): string {
  const a = Math.abs(s);
  if (a === 0) return '0 s';
  // Each unit up to where its rounding would read 1000 (999.7 ms is "1.00 s", not "1000 ms").
  if (a < 0.9995e-6) return `${trim(s * 1e9)} ns`;
  if (a < 0.9995e-3) return `${trim(s * 1e6)} µs`;
  if (a < 0.9995) return `${trim(s * 1e3)} ms`;
  if (a < 120) return `${trim(s)} s`;
  if (a < 7200) return `${trim(s / 60)} min`;
  return `${trim(s / 3600)} h`;
}

export function formatBytes(b: number): string {
  const a = Math.abs(b);
  if (a < 1024) return `${Math.round(b)} B`;
  if (a < 1024 ** 2) return `${trim(b / 1024)} KB`;
  if (a < 1024 ** 3) return `${trim(b / 1024 ** 2)} MB`;
  return `${trim(b / 1024 ** 3)} GB`;
}

export function formatCount(n: number): string {
  const a = Math.abs(n);
  if (a < 1e4) return String(Math.round(n * 100) / 100);
  if (a < 1e6) return `${trim(n / 1e3)}k`;
  if (a < 1e9) return `${trim(n / 1e6)}M`;
  return `${trim(n / 1e9)}G`;
}

/** A fraction as a percentage with sensible precision: 0.1234 → "12.34 %". */
export function formatPercent(f: number): string {
  if (!Number.isFinite(f)) return '–';
  const p = f * 100;
  const a = Math.abs(p);
  return `${a >= 10 ? p.toFixed(1) : a >= 0.01 || a === 0 ? p.toFixed(2) : p.toExponential(1)} %`;
}

/** A signed change in percentage points or percent: "+1.25 pp", "−3.1 %". */
export function formatSigned(value: number, suffix: string, digits = 2): string {
  if (!Number.isFinite(value)) return value > 0 ? 'new' : value < 0 ? 'gone' : '–';
  const sign = value > 0 ? '+' : value < 0 ? '−' : '±';
  return `${sign}${Math.abs(value).toFixed(digits)} ${suffix}`;
}

function trim(x: number): string {
  const a = Math.abs(x);
  return a >= 100 ? x.toFixed(0) : a >= 10 ? x.toFixed(1) : x.toFixed(2);
}
