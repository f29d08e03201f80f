import * as protobuf from 'protobufjs';

/**
 * google/pprof's profile.proto (perftools.profiles), the fields this project
 * reads and writes. Decoded with protobufjs, not by hand.
 */
const PROFILE_PROTO = `
syntax = "proto3";
package perftools.profiles;
message Profile {
  repeated ValueType sample_type = 1; repeated Sample sample = 2; repeated Mapping mapping = 3;
  repeated Location location = 4; repeated Function function = 5; repeated string string_table = 6;
  int64 drop_frames = 7; int64 keep_frames = 8; int64 time_nanos = 9; int64 duration_nanos = 10;
  ValueType period_type = 11; int64 period = 12; repeated int64 comment = 13; int64 default_sample_type = 14;
}
message ValueType { int64 type = 1; int64 unit = 2; }
message Sample { repeated uint64 location_id = 1; repeated int64 value = 2; repeated Label label = 3; }
message Label { int64 key = 1; int64 str = 2; int64 num = 3; int64 num_unit = 4; }
message Mapping {
  uint64 id = 1; uint64 memory_start = 2; uint64 memory_limit = 3; uint64 file_offset = 4;
  int64 filename = 5; int64 build_id = 6; bool has_functions = 7; bool has_filenames = 8;
  bool has_line_numbers = 9; bool has_inline_frames = 10;
}
message Location { uint64 id = 1; uint64 mapping_id = 2; uint64 address = 3; repeated Line line = 4; bool is_folded = 5; }
message Line { uint64 function_id = 1; int64 line = 2; int64 column = 3; }
message Function { uint64 id = 1; int64 name = 2; int64 system_name = 3; int64 filename = 4; int64 start_line = 5; }
`;

// The fields ingest reads, and only those: protobufjs skips the rest (mappings,
// columns, system names) without building objects for them.
const READ_PROTO = `
syntax = "proto3";
package perftools.profiles.read;
message Profile {
  repeated ValueType sample_type = 1; repeated Sample sample = 2; repeated Location location = 4;
  repeated Function function = 5; repeated string string_table = 6; int64 time_nanos = 9;
  int64 duration_nanos = 10; ValueType period_type = 11; int64 period = 12;
}
message ValueType { int64 type = 1; int64 unit = 2; }
message Sample { repeated uint64 location_id = 1; repeated int64 value = 2; repeated Label label = 3; }
message Label { int64 key = 1; int64 str = 2; int64 num = 3; }
message Location { uint64 id = 1; uint64 address = 3; repeated Line line = 4; }
message Line { uint64 function_id = 1; int64 line = 2; }
message Function { uint64 id = 1; int64 name = 2; int64 filename = 4; }
`;

export const ProfileType = protobuf.parse(PROFILE_PROTO).root.lookupType('perftools.profiles.Profile');
const ReadProfileType = protobuf.parse(READ_PROTO).root.lookupType('perftools.profiles.read.Profile');

/** A 64-bit integer as decoded: a number when exact, a bigint beyond 2^53, or a Long default. */
export type Int64 = number | bigint | { high: number; low: number; unsigned?: boolean };

export interface PbValueType {
  type?: Int64;
  unit?: Int64;
}
export interface PbLabel {
  key?: Int64;
  str?: Int64;
  num?: Int64;
  numUnit?: Int64;
}
export interface PbSample {
  locationId?: Int64[];
  value?: Int64[];
  label?: PbLabel[];
}
export interface PbLine {
  functionId?: Int64;
  line?: Int64;
}
export interface PbLocation {
  id?: Int64;
  mappingId?: Int64;
  address?: Int64;
  line?: PbLine[];
}
export interface PbFunction {
  id?: Int64;
  name?: Int64;
  systemName?: Int64;
  filename?: Int64;
  startLine?: Int64;
}
export interface PbMapping {
  id?: Int64;
  memoryStart?: Int64;
  memoryLimit?: Int64;
  filename?: Int64;
  buildId?: Int64;
}
export interface PbProfile {
  sampleType?: PbValueType[];
  sample?: PbSample[];
  mapping?: PbMapping[];
  location?: PbLocation[];
  function?: PbFunction[];
  stringTable?: string[];
  timeNanos?: Int64;
  durationNanos?: Int64;
  periodType?: PbValueType;
  period?: Int64;
  defaultSampleType?: Int64;
}

const TWO_32 = 4294967296;
const LongReader = protobuf.Reader.prototype;
const readUint64 = LongReader.uint64;
const readInt64 = LongReader.int64;

function exact(high: number, low: number, unsigned: boolean): number | bigint {
  const hi = unsigned ? high >>> 0 : high | 0;
  if (hi >= -0x200000 && hi < 0x200000) return hi * TWO_32 + (low >>> 0);
  const bits = (BigInt(high >>> 0) << 32n) | BigInt(low >>> 0);
  return unsigned ? bits : BigInt.asIntN(64, bits);
}

/**
 * A reader that yields plain numbers for 64-bit fields (bigint past 2^53), so
 * the hot path handles no Long objects and no precision is lost: addresses of
 * kernel frames need all 64 bits. Ids and values are small: varints of up to
 * seven bytes (< 2^49) are summed directly; longer ones (negative values, high
 * addresses) take protobufjs' own 64-bit path.
 */
class NumberReader extends protobuf.BufferReader {
  private small(): number {
    const buf = this.buf;
    const pos = this.pos;
    const end = Math.min(this.len, pos + 7);
    let value = 0;
    let scale = 1;
    for (let i = pos; i < end; i++) {
      const b = buf[i];
      value += (b & 0x7f) * scale;
      if (b < 0x80) {
        this.pos = i + 1;
        return value;
      }
      scale *= 128;
    }
    return -1;
  }
  override uint64(): never {
    const v = this.small();
    if (v >= 0) return v as never;
    const l = readUint64.call(this) as unknown as { high: number; low: number };
    return exact(l.high, l.low, true) as never;
  }
  override int64(): never {
    const v = this.small();
    if (v >= 0) return v as never;
    const l = readInt64.call(this) as unknown as { high: number; low: number };
    return exact(l.high, l.low, false) as never;
  }
}

/** How many of each repeated top-level entry a profile holds. */
export interface EntryCounts {
  samples: number;
  locations: number;
  functions: number;
  strings: number;
}

/**
 * Counts the top-level entries without decoding them (protobufjs skips each
 * by its length), so a profile too large to decode safely is refused before
 * it is turned into millions of objects: 17 MB of minimal samples decode to
 * 2.3 GB of heap.
 */
export function countEntries(bytes: Uint8Array): EntryCounts {
  const reader = protobuf.Reader.create(bytes);
  const counts: EntryCounts = { samples: 0, locations: 0, functions: 0, strings: 0 };
  while (reader.pos < reader.len) {
    const tag = reader.uint32();
    const field = tag >>> 3;
    if (field === 2) counts.samples++;
    else if (field === 4) counts.locations++;
    else if (field === 5) counts.functions++;
    else if (field === 6) counts.strings++;
    reader.skipType(tag & 7);
  }
  return counts;
}

/** Decodes the profile.proto fields ingest reads; throws protobufjs' error on malformed input. */
export function decodeProfileMessage(bytes: Uint8Array): PbProfile {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return ReadProfileType.decode(new NumberReader(buf)) as unknown as PbProfile;
}

/** Encodes a profile.proto message (fields as in PbProfile, numbers or bigints). */
export function encodeProfileMessage(message: PbProfile): Uint8Array {
  return ProfileType.encode(ProfileType.fromObject(message as Record<string, unknown>)).finish();
}

/** An Int64 as a number (bigints beyond 2^53 are rounded; use int64Hex for addresses). */
export function int64(v: Int64 | undefined | null): number {
  if (v === undefined || v === null) return 0;
  if (typeof v === 'number') return v;
  if (typeof v === 'bigint') return Number(v);
  return Number(exact(v.high, v.low, v.unsigned === true));
}

/** An unsigned Int64 in lower-case hex, exactly. */
export function uint64Hex(v: Int64 | undefined | null): string {
  if (v === undefined || v === null) return '0';
  if (typeof v === 'number') return v.toString(16);
  if (typeof v === 'bigint') return BigInt.asUintN(64, v).toString(16);
  return BigInt.asUintN(64, BigInt(exact(v.high, v.low, true))).toString(16);
}
