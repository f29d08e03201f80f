import type { ValueType } from './model';
import { encodeProfileMessage, type PbProfile } from './pprof-schema';
import type { StackValue } from './tree';

/**
 * Encodes merged stacks as an uncompressed pprof protobuf that google/pprof
 * reads: one function and one location per distinct frame name, samples
 * leaf first. Returns the bytes; gzip them for a `.pb.gz`.
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
  const locationOf = new Map<string, number>();
  const functions: NonNullable<PbProfile['function']> = [];
  const locations: NonNullable<PbProfile['location']> = [];
  const location = (name: string): number => {
    let id = locationOf.get(name);
    if (id === undefined) {
      id = locations.length + 1;
      locationOf.set(name, id);
      functions.push({ id, name: str(name), systemName: str(name) });
      locations.push({ id, line: [{ functionId: id }] });
    }
    return id;
  };
  const samples: NonNullable<PbProfile['sample']> = [];
  for (const { stack, value } of stacks) {
    if (value === 0) continue;
    const ids = new Array<number>(stack.length);
    for (let i = 0; i < stack.length; i++) ids[stack.length - 1 - i] = location(stack[i]);
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
