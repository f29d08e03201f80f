import { parseTime, parseTimeRange } from './time-range';

const now = Date.UTC(2026, 10, 26, 12, 0, 0);

describe('parseTime', () => {
  it('tells seconds, ms, µs and ns apart by magnitude', () => {
    const s = 1_764_158_400;
    expect(parseTime(String(s), now)).toBe(s * 1000);
    expect(parseTime(String(s * 1000), now)).toBe(s * 1000);
    expect(parseTime(String(s * 1_000_000), now)).toBe(s * 1000);
    expect(parseTime(String(s) + '000000000', now)).toBe(s * 1000);
  });

  it('reads now, relative times and ISO dates', () => {
    expect(parseTime('now', now)).toBe(now);
    expect(parseTime('now-1h', now)).toBe(now - 3_600_000);
    expect(parseTime('now-1h30m', now)).toBe(now - 5_400_000);
    expect(parseTime('now-7d', now)).toBe(now - 7 * 86_400_000);
    expect(parseTime('2026-11-26T00:00:00Z', now)).toBe(Date.UTC(2026, 10, 26));
  });

  it.each(['yesterday', 'now-1y', '-5', '1e400', '99999999999999999999999999', ''])('refuses %p', (t) => {
    expect(() => parseTime(t, now)).toThrow(/not a time/);
  });
});

describe('parseTimeRange', () => {
  it('defaults to the last hour and refuses empty or inverted ranges', () => {
    expect(parseTimeRange(undefined, undefined, now)).toEqual({ from: now - 3_600_000, until: now });
    expect(() => parseTimeRange('now', 'now-1h', now)).toThrow(/must be before/);
    expect(() => parseTimeRange('now', 'now', now)).toThrow(/must be before/);
  });
});
