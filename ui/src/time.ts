/** Time expressions the API takes (`now`, `now-1h`, unix s/ms, ISO dates), resolved in the browser for brushes and labels. */
import { timeFormat } from 'd3-time-format';

const UNIT_MS: Record<string, number> = { s: 1e3, m: 6e4, h: 36e5, d: 864e5, w: 6048e5 };

export const PRESETS: { label: string; from: string }[] = [
  { label: 'Last 5 minutes', from: 'now-5m' },
  { label: 'Last 15 minutes', from: 'now-15m' },
  { label: 'Last hour', from: 'now-1h' },
  { label: 'Last 6 hours', from: 'now-6h' },
  { label: 'Last 24 hours', from: 'now-24h' },
  { label: 'Last 7 days', from: 'now-7d' },
  { label: 'Last 30 days', from: 'now-30d' },
];

/** Milliseconds since the epoch, or NaN when the text is not a time. */
export function resolveTime(text: string, now = Date.now()): number {
  const t = text.trim();
  if (t === 'now') return now;
  const rel = /^now-(\d+)([smhdw])$/.exec(t);
  if (rel) return now - Number(rel[1]) * UNIT_MS[rel[2]];
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    // By magnitude, as the server reads them: s, ms, µs, ns.
    return n < 1e11 ? n * 1e3 : n < 1e14 ? n : n < 1e17 ? n / 1e3 : n / 1e6;
  }
  const d = Date.parse(t);
  return Number.isNaN(d) ? NaN : d;
}

export function resolveRange(from: string, until: string, now = Date.now()): [number, number] {
  return [resolveTime(from, now), resolveTime(until, now)];
}

const fmt = timeFormat('%Y-%m-%d %H:%M:%S');

const tickMs = timeFormat('%H:%M:%S.%L');
const tickSeconds = timeFormat('%H:%M:%S');
const tickMinutes = timeFormat('%H:%M');
const tickDay = timeFormat('%b %d');
const tickMonth = timeFormat('%B');
const tickYear = timeFormat('%Y');

/**
 * A time axis's tick on the 24-hour clock the range picker and tooltips use (d3's default ticks say `09 PM`):
 * the coarsest unit the tick is not a whole number of, as d3's own multi-scale format chooses it.
 */
export function axisTime(value: Date | { valueOf(): number }): string {
  const d = value instanceof Date ? value : new Date(value.valueOf());
  if (d.getMilliseconds()) return tickMs(d);
  if (d.getSeconds()) return tickSeconds(d);
  if (d.getMinutes() || d.getHours()) return tickMinutes(d);
  if (d.getDate() !== 1) return tickDay(d);
  if (d.getMonth()) return tickMonth(d);
  return tickYear(d);
}

export function formatTime(ms: number): string {
  return fmt(new Date(ms));
}

export function describeRange(from: string, until: string): string {
  const preset = PRESETS.find((p) => p.from === from);
  if (preset && until === 'now') return preset.label;
  const [a, b] = resolveRange(from, until);
  return `${formatTime(a)} – ${formatTime(b)}`;
}
