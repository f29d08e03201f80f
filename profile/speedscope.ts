import type { StackValue } from './tree';

/** speedscope's file format (https://www.speedscope.app/file-format-schema.json), the part we write. */
export interface SpeedscopeFile {
  $schema: 'https://www.speedscope.app/file-format-schema.json';
  name: string;
  exporter: string;
  activeProfileIndex: number;
  shared: { frames: SpeedscopeFrame[] };
  profiles: SpeedscopeSampledProfile[];
}

/** A frame: its name, and where its code lives when known (speedscope shows `file:line`). */
export interface SpeedscopeFrame {
  name: string;
  file?: string;
  line?: number;
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
  const frames: SpeedscopeFrame[] = [];
  const frameIndex = new Map<string, number>();
  const samples: number[][] = [];
  const weights: number[] = [];
  let total = 0;
  for (const { stack, value, files, lines } of stacks) {
    if (value === 0) continue;
    const sample = new Array<number>(stack.length);
    for (let i = 0; i < stack.length; i++) {
      // A frame is a function, its name and file: speedscope's sandwich and left-heavy views group by frame, so
      // one frame per line would split a function into rows. Its line is the first the stacks name (speedscope
      // shows a frame's line as where the function is).
      const file = files?.[i] ?? '';
      const line = lines?.[i] ?? 0;
      const key = file === '' ? stack[i] : `${stack[i]}\u0000${file}`;
      let f = frameIndex.get(key);
      if (f === undefined) {
        f = frames.length;
        frames.push({ name: stack[i], ...(file !== '' ? { file } : {}) });
        frameIndex.set(key, f);
      }
      const frame = frames[f];
      if (line > 0 && (frame.line === undefined || line < frame.line)) frame.line = line;
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
