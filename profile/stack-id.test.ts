import { stackId, u64Decimal } from './stack-id';

describe('stack ids', () => {
  it('writes 64-bit values in decimal exactly', () => {
    for (const [hi, lo] of [
      [0, 0],
      [0, 1],
      [0x1fffff, 0xffffffff],
      [0x200000, 0],
      [0xffffffff, 0xffffffff],
      [0x12345678, 0x9abcdef0],
      [0x80000000, 1],
    ]) {
      expect(u64Decimal(hi, lo)).toBe(((BigInt(hi) << 32n) | BigInt(lo)).toString());
    }
    let seed = 7;
    const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
    for (let i = 0; i < 100_000; i++) {
      const hi = next();
      const lo = next();
      if (u64Decimal(hi, lo) !== ((BigInt(hi) << 32n) | BigInt(lo)).toString())
        throw new Error(`wrong for ${hi}, ${lo}`);
    }
  });

  it('depends on every frame and on their order', () => {
    const ids = new Set([
      stackId(['a', 'b', 'c']),
      stackId(['a', 'c', 'b']),
      stackId(['a', 'b']),
      stackId(['ab', 'c']),
      stackId(['a', 'bc']),
    ]);
    expect(ids.size).toBe(5);
    expect(stackId(['a', 'b', 'c'])).toBe(stackId(['a', 'b', 'c']));
    expect(stackId([])).toBe('0');
  });

  it('has no collisions among a million distinct stacks', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 1_000_000; i++)
      seen.add(stackId(['main', `f${i % 1000}`, `g${Math.floor(i / 1000)}`]));
    expect(seen.size).toBe(1_000_000);
  });
});
