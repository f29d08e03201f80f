import { formatFolded, parseFolded, samplesAsCpuTime } from './folded';

const cpu = { type: 'cpu', unit: 'samples' };

describe('folded stacks', () => {
  it('parses stacks root first, summing duplicates and skipping blank lines', () => {
    const p = parseFolded('a;b;c 3\r\n\na;b 2\na;b;c 4\nframe with spaces;x 1\n', cpu);
    expect(p.sampleTypes).toEqual([cpu]);
    expect(p.samples.map((s) => [s.stack, s.values[0]])).toEqual([
      [['a', 'b', 'c'], 7],
      [['a', 'b'], 2],
      [['frame with spaces', 'x'], 1],
    ]);
  });

  it('reads countless lines as one sample each (Pyroscope lines format)', () => {
    expect(parseFolded('a;b\na;b\nc\n', cpu, true).samples.map((s) => s.values[0])).toEqual([2, 1]);
  });

  it.each(['a;b\n', 'a;b x\n', 'a;b -1\n', 'a;b 1.5\n', ' 3\n'])('refuses %p naming the line', (text) => {
    expect(() => parseFolded(text, cpu)).toThrow(/line 1/);
  });

  it('turns CPU samples at a sample rate into nanoseconds of CPU time, rounded', () => {
    const p = samplesAsCpuTime(parseFolded('a;b 3\nc 1\n', cpu), 100);
    expect(p.sampleTypes).toEqual([{ type: 'cpu', unit: 'nanoseconds' }]);
    expect(p.samples.map((s) => [s.stack, s.values[0]])).toEqual([
      [['a', 'b'], 30_000_000],
      [['c'], 10_000_000],
    ]);
    expect(samplesAsCpuTime(parseFolded('a 1\n', cpu), 99).samples[0].values).toEqual([10_101_010]);
    expect(() => samplesAsCpuTime(parseFolded(`a ${2 ** 52}\n`, cpu), 1)).toThrow(/more CPU time/);
  });

  it('round-trips through formatFolded', () => {
    const text = 'a;b;c 3\nx 1\n';
    const p = parseFolded(text, cpu);
    expect(formatFolded(p.samples.map((s) => [s.stack, s.values[0]]))).toBe(text);
  });
});
