/** The UI's value formatting (ui/src/format.ts, free of the DOM and d3): units switch where rounding would reach 1000. */
import { formatSeconds, formatValue } from '../ui/src/format';

test('a time that rounds to 1000 of a unit reads in the next unit', () => {
  expect(formatSeconds(0.9997)).toBe('1.00 s');
  expect(formatSeconds(0.9994)).toBe('999 ms');
  expect(formatValue(999_700, 'nanoseconds')).toBe('1.00 ms');
  expect(formatValue(999_600_000, 'nanoseconds')).toBe('1.00 s');
  expect(formatValue(1_000_000_000, 'nanoseconds')).toBe('1.00 s');
  expect(formatValue(12_300_000, 'nanoseconds')).toBe('12.3 ms');
});
