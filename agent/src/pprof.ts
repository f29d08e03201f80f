/**
 * A pprof Profile (google/pprof's profile.proto) written as protobuf bytes, for the profiles the agent builds
 * from V8's inspector (v8.ts). Only what those need: sample types, samples with values, locations with one
 * line each, functions, the string table, time, duration and period. The agent is its own small package, so
 * this does not import the platform's codec; test/agent-v8.test.ts reads its output with the platform's
 * decoder and with google/pprof's own tool.
 */

/** Interns strings as pprof's string table does: index 0 is always "". */
export class StringTable {
  readonly strings: string[] = [''];
  private readonly index = new Map<string, number>([['', 0]]);

  id(s: string): number {
    let i = this.index.get(s);
    if (i === undefined) {
      i = this.strings.length;
      this.strings.push(s);
      this.index.set(s, i);
    }
    return i;
  }
}

export interface PprofFunction {
  id: number;
  name: number;
  filename: number;
  startLine: number;
}
export interface PprofLocation {
  id: number;
  functionId: number;
  line: number;
}
export interface PprofSample {
  /** Leaf first, as pprof orders them. */
  locationIds: number[];
  values: number[];
}
export interface PprofProfile {
  sampleTypes: Array<{ type: number; unit: number }>;
  samples: PprofSample[];
  locations: PprofLocation[];
  functions: PprofFunction[];
  strings: StringTable;
  timeNanos: number;
  durationNanos: number;
  periodType: { type: number; unit: number };
  period: number;
}

/** A growable buffer of protobuf fields. Numbers are non-negative integers below 2^53. */
class Writer {
  private buf = new Uint8Array(4096);
  pos = 0;

  private room(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
  }

  varint(v: number): void {
    this.room(10);
    // Past 2^31 the bitwise operators would truncate: divide instead.
    while (v >= 0x80) {
      this.buf[this.pos++] = (v % 0x80) | 0x80;
      v = Math.floor(v / 0x80);
    }
    this.buf[this.pos++] = v;
  }

  /** A varint field; zero is the default and is left out. */
  uint(field: number, v: number): void {
    if (!v) return;
    this.varint(field << 3);
    this.varint(v);
  }

  bytes(field: number, b: Uint8Array): void {
    this.varint((field << 3) | 2);
    this.varint(b.length);
    this.room(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** A length-delimited field whose body `write` puts in this same buffer: its length is patched in after. */
  message(field: number, write: () => void): void {
    this.varint((field << 3) | 2);
    // Reserve the most a length needs in practice (4 bytes: 256 MiB), then move the body back if it took fewer.
    this.room(4);
    const at = this.pos;
    this.pos += 4;
    write();
    const len = this.pos - at - 4;
    if (len >= 0x10000000) throw new Error('a pprof message over 256 MiB');
    const lenBytes = len < 0x80 ? 1 : len < 0x4000 ? 2 : len < 0x200000 ? 3 : 4;
    if (lenBytes < 4) this.buf.copyWithin(at + lenBytes, at + 4, this.pos);
    let v = len;
    for (let i = 0; i < lenBytes; i++) {
      this.buf[at + i] = (v & 0x7f) | (i < lenBytes - 1 ? 0x80 : 0);
      v >>>= 7;
    }
    this.pos -= 4 - lenBytes;
  }

  packed(field: number, vs: number[]): void {
    if (!vs.length) return;
    this.message(field, () => {
      for (const v of vs) this.varint(v);
    });
  }

  done(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

const utf8 = new TextEncoder();

/** The profile as protobuf bytes (not gzipped). */
export function encodePprof(p: PprofProfile): Uint8Array {
  const w = new Writer();
  const valueType = (field: number, t: { type: number; unit: number }) =>
    w.message(field, () => {
      w.uint(1, t.type);
      w.uint(2, t.unit);
    });
  for (const t of p.sampleTypes) valueType(1, t);
  for (const s of p.samples)
    w.message(2, () => {
      w.packed(1, s.locationIds);
      w.packed(2, s.values);
    });
  for (const l of p.locations)
    w.message(4, () => {
      w.uint(1, l.id);
      w.message(4, () => {
        w.uint(1, l.functionId);
        w.uint(2, l.line);
      });
    });
  for (const f of p.functions)
    w.message(5, () => {
      w.uint(1, f.id);
      w.uint(2, f.name);
      w.uint(3, f.name);
      w.uint(4, f.filename);
      w.uint(5, f.startLine);
    });
  for (const s of p.strings.strings) w.bytes(6, utf8.encode(s));
  w.uint(9, p.timeNanos);
  w.uint(10, p.durationNanos);
  valueType(11, p.periodType);
  w.uint(12, p.period);
  return w.done();
}
