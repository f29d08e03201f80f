import type { ValueType } from './model';
import { encodeProfileMessage, type PbProfile } from './pprof-schema';
import type { StackValue } from './tree';

/**
 * Encodes merged stacks as an uncompressed pprof protobuf that google/pprof
 * reads: one function per distinct frame name and file (its `filename`), one
 * location per function and line, samples leaf first, so `pprof -list` and
 * `pprof -lines` see where the code lives when the stacks say (StackValue's
 * files and lines). Returns the bytes; gzip them for a `.pb.gz`.
 */
export function encodePprof(
  stacks: Iterable<StackValue>,
  type: ValueType,
  range: { from: number; until: number },
): Uint8Array {
  const strings = [''];
  const stringIndex = new Map<string, number>([['', 0]]);
  const str = (s: string): number => {
    let i = stringIndex.get(s);
    if (i === undefined) {
      i = strings.length;
      strings.push(s);
      stringIndex.set(s, i);
    }
    return i;
  };
  // Keys join name, file and line with NUL, which none of them holds in a way that could collide here.
  const functionOf = new Map<string, number>();
  const locationOf = new Map<string, number>();
  const functions: NonNullable<PbProfile['function']> = [];
  const locations: NonNullable<PbProfile['location']> = [];
  const location = (name: string, file: string, line: number): number => {
    const fkey = `${name}\u0000${file}`;
    const lkey = `${fkey}\u0000${line}`;
    let id = locationOf.get(lkey);
    if (id === undefined) {
      let fid = functionOf.get(fkey);
      if (fid === undefined) {
        fid = functions.length + 1;
        functionOf.set(fkey, fid);
        functions.push({ id: fid, name: str(name), systemName: str(name), filename: str(file) });
      }
      id = locations.length + 1;
      locationOf.set(lkey, id);
      locations.push({ id, line: [{ functionId: fid, line }] });
    }
    return id;
  };
  const samples: NonNullable<PbProfile['sample']> = [];
  for (const { stack, value, files, lines } of stacks) {
    if (value === 0) continue;
    const ids = new Array<number>(stack.length);
    for (let i = 0; i < stack.length; i++)
      ids[stack.length - 1 - i] = location(stack[i], files?.[i] ?? '', lines?.[i] ?? 0);
    samples.push({ locationId: ids, value: [value] });
  }
  const sampleType = { type: str(type.type), unit: str(type.unit) };
  return encodeProfileMessage({
    sampleType: [sampleType],
    sample: samples,
    location: locations,
    function: functions,
    stringTable: strings,
    timeNanos: range.from * 1e6,
    durationNanos: (range.until - range.from) * 1e6,
    periodType: sampleType,
    period: 1,
  });
}
