/**
 * Content ids for stacks: the same frames give the same 64-bit id in every
 * process and every push, so a stack is stored once and samples refer to it.
 * Two independent 32-bit lanes of a multiplicative hash; frame hashes are
 * cached because the same few thousand names recur in every profile.
 */

const frameCache = new Map<string, number>();
const FRAME_CACHE_LIMIT = 1 << 20;

function hashString(s: string, seed: number): number {
  let h = seed ^ s.length;
  for (let i = 0; i < s.length; i++) {
    h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return (h ^ (h >>> 16)) >>> 0;
}

/** The two 32-bit hashes of one frame name, packed as hi * 2^32 + lo would overflow: kept as a pair index. */
function frameHash(name: string): number {
  let h = frameCache.get(name);
  if (h === undefined) {
    if (frameCache.size >= FRAME_CACHE_LIMIT) frameCache.clear();
    h = hashString(name, 0x811c9dc5);
    frameCache.set(name, h);
  }
  return h;
}

function mix(h: number, k: number, m: number): number {
  h = Math.imul(h ^ k, m);
  return (h ^ (h >>> 15)) >>> 0;
}

/**
 * The id of a root-first stack, as the decimal string of an unsigned 64-bit
 * integer (the form ClickHouse's JSON takes for UInt64). The empty stack is "0".
 */
export function stackId(stack: readonly string[]): string {
  if (stack.length === 0) return '0';
  let hi = 0x9e3779b9;
  let lo = 0x7f4a7c15;
  for (let i = 0; i < stack.length; i++) {
    const f = frameHash(stack[i]);
    hi = mix(hi, f, 0x27d4eb2d);
    lo = mix(lo ^ i, Math.imul(f, 0x165667b1) >>> 0, 0x2c1b3c6d);
  }
  const id = (BigInt(hi) << 32n) | BigInt(lo);
  return id === 0n ? '1' : id.toString();
}
