import { InputError } from './errors';
import type { Profile, Sample, ValueType } from './model';

/**
 * Parses folded ("collapsed") stacks: one `frame;frame;frame count` per line,
 * root first, the count after the last space. Blank lines are skipped; a line
 * without a count is an error naming its line number. Duplicate stacks add up.
 * With `countless`, each line is one sample of weight 1 and has no count
 * (Pyroscope's "lines" format).
 */
export function parseFolded(text: string, type: ValueType, countless = false): Profile {
  const sums = new Map<string, number>();
  let lineNo = 0;
  let start = 0;
  while (start <= text.length) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    lineNo++;
    let line = text.slice(start, end);
    start = end + 1;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (line.trim() === '') continue;
    if (countless) {
      sums.set(line, (sums.get(line) ?? 0) + 1);
      continue;
    }
    const space = line.lastIndexOf(' ');
    const countText = space === -1 ? '' : line.slice(space + 1);
    const count = Number(countText);
    if (space <= 0 || countText === '' || !Number.isSafeInteger(count) || count < 0) {
      throw new InputError(
        'invalid_profile',
        `folded line ${lineNo} has no "stack count" form: ${JSON.stringify(line.slice(0, 80))}`,
      );
    }
    const stack = line.slice(0, space);
    sums.set(stack, (sums.get(stack) ?? 0) + count);
  }
  if (sums.size === 0) throw new InputError('empty_profile', 'folded profile has no stacks');
  const samples: Sample[] = [];
  for (const [stack, count] of sums) samples.push({ stack: stack.split(';'), values: [count] });
  return { sampleTypes: [type], samples };
}

/**
 * A folded CPU profile counted in samples taken `sampleRate` times a second,
 * as CPU time: each value becomes value × 1e9 / sampleRate nanoseconds,
 * rounded (at 100 Hz a sample is 10 ms), so it compares with pprof CPU
 * profiles. Throws InputError when a value would pass 2^53 ns.
 */
export function samplesAsCpuTime(profile: Profile, sampleRate: number): Profile {
  const nsPerSample = 1e9 / sampleRate;
  const samples = profile.samples.map((s) => {
    const values = s.values.map((v) => Math.round(v * nsPerSample));
    if (!values.every(Number.isSafeInteger)) {
      throw new InputError(
        'invalid_profile',
        `${s.values.join(',')} samples at ${sampleRate} Hz is more CPU time than a profile can hold`,
      );
    }
    return { ...s, values };
  });
  return { ...profile, sampleTypes: [{ type: 'cpu', unit: 'nanoseconds' }], samples };
}

/** Formats root-first stacks and their values as folded text, one line per stack, in input order. */
export function formatFolded(entries: Iterable<[readonly string[], number]>): string {
  const out: string[] = [];
  for (const [stack, value] of entries) out.push(`${stack.join(';')} ${value}`);
  return out.length === 0 ? '' : out.join('\n') + '\n';
}
