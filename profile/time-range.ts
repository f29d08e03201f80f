import { InputError } from './errors';

/** A time range in milliseconds since the epoch, `from` inclusive, `until` exclusive. */
export interface TimeRange {
  from: number;
  until: number;
}

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/**
 * Reads one time: `now`, `now-1h` (units ms s m h d w, combinable: `now-1h30m`),
 * unix time in seconds, ms, µs or ns (told apart by magnitude, as Pyroscope
 * does), or an ISO 8601 date. Returns ms since the epoch.
 */
export function parseTime(text: string, now: number, what = 'time'): number {
  const ms = readTime(text.trim(), now);
  if (ms === undefined || !(ms >= 0 && ms <= MAX_MS)) {
    throw new InputError(
      'invalid_time_range',
      `${what} ${JSON.stringify(text.slice(0, 100))} is not a time: use unix seconds or ms, an ISO date, now or now-1h`,
    );
  }
  return ms;
}

// Date's own limit; beyond it toISOString throws.
const MAX_MS = 8.64e15;

function readTime(t: string, now: number): number | undefined {
  if (t === 'now') return now;
  const rel = /^now\s*([-+])\s*((?:\d+(?:ms|s|m|h|d|w))+)$/.exec(t);
  if (rel) {
    let offset = 0;
    for (const [, n, unit] of rel[2].matchAll(/(\d+)(ms|s|m|h|d|w)/g)) offset += Number(n) * UNIT_MS[unit];
    return rel[1] === '-' ? now - offset : now + offset;
  }
  if (/^\d+(\.\d+)?$/.test(t)) {
    const n = Number(t);
    if (n < 1e11) return Math.round(n * 1000); // seconds until year 5138
    if (n < 1e14) return Math.round(n);
    if (n < 1e17) return Math.round(n / 1e3);
    return Math.round(n / 1e6);
  }
  if (/^\d{4}-\d{2}-\d{2}/.test(t)) return Date.parse(t);
  return undefined;
}

/**
 * Reads `from`/`until` with defaults (the last hour), checking that from <
 * until. Errors call them by `names` (the parameters they came from).
 */
export function parseTimeRange(
  from: string | undefined,
  until: string | undefined,
  now: number,
  defaultFrom = 'now-1h',
  names = { from: 'from', until: 'until' },
): TimeRange {
  const range = {
    from: parseTime(from ?? defaultFrom, now, names.from),
    until: parseTime(until ?? 'now', now, names.until),
  };
  if (!(range.from < range.until)) {
    throw new InputError(
      'invalid_time_range',
      `${names.from} (${new Date(range.from).toISOString()}) must be before ${names.until} (${new Date(range.until).toISOString()})`,
    );
  }
  return range;
}
