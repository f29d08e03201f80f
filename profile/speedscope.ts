import type { StackValue } from './tree';

/** speedscope's file format (https://www.speedscope.app/file-format-schema.json), the part we write. */
export interface SpeedscopeFile {
  $schema: 'https://www.speedscope.app/file-format-schema.json';
  name: string;
  exporter: string;
  activeProfileIndex: number;
  shared: { frames: { name: string }[] };
  profiles: SpeedscopeSampledProfile[];
}

export interface SpeedscopeSampledProfile {
  type: 'sampled';
  name: string;
  unit: SpeedscopeUnit;
  startValue: number;
  endValue: number;
  /** Per sample: indices into shared.frames, root first. */
  samples: number[][];
  weights: number[];
}

export type SpeedscopeUnit = 'nanoseconds' | 'microseconds' | 'milliseconds' | 'seconds' | 'bytes' | 'none';

const UNITS = new Set<string>(['nanoseconds', 'microseconds', 'milliseconds', 'seconds', 'bytes']);

/** Our unit as speedscope names it; counts (samples, objects) and anything else are "none". */
export function speedscopeUnit(unit: string): SpeedscopeUnit {
  return UNITS.has(unit) ? (unit as SpeedscopeUnit) : 'none';
}

/**
 * Encodes merged stacks as a speedscope file with one sampled profile named
 * `name`: each stack one sample (frames deduplicated into shared.frames,
 * root first) weighted by its value, from 0 to the sum of the values.
 */
export function encodeSpeedscope(stacks: Iterable<StackValue>, name: string, unit: string): SpeedscopeFile {
  const frames: { name: string }[] = [];
  const frameIndex = new Map<string, number>();
  const samples: number[][] = [];
  const weights: number[] = [];
  let total = 0;
  for (const { stack, value } of stacks) {
    if (value === 0) continue;
    const sample = new Array<number>(stack.length);
    for (let i = 0; i < stack.length; i++) {
      let f = frameIndex.get(stack[i]);
      if (f === undefined) {
        f = frames.length;
        frames.push({ name: stack[i] });
        frameIndex.set(stack[i], f);
      }
      sample[i] = f;
    }
    samples.push(sample);
    weights.push(value);
    total += value;
  }
  return {
    $schema: 'https://www.speedscope.app/file-format-schema.json',
    name,
    exporter: 'flamewatch',
    activeProfileIndex: 0,
    shared: { frames },
    profiles: [
      { type: 'sampled', name, unit: speedscopeUnit(unit), startValue: 0, endValue: total, samples, weights },
    ],
  };
}
