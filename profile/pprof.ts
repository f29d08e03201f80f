import { InputError } from './errors';
import type { Labels, Profile, Sample, ValueType } from './model';
import {
  countEntries,
  decodeProfileMessage,
  type EntryCounts,
  int64,
  type Int64,
  type PbProfile,
  uint64Hex,
} from './pprof-schema';
import { frameHash, sourceFrameHash, StackHasher } from './stack-id';

/** The most of each entry a profile may hold (decoding costs ~150 bytes of heap per entry). */
export type PprofLimits = EntryCounts;

// Generous for real profiles (the corpus' largest has 1,662 samples and ~3,000
// functions); Pyroscope's default is 16,000 samples.
export const DEFAULT_PPROF_LIMITS: PprofLimits = {
  samples: 200_000,
  locations: 1_000_000,
  functions: 1_000_000,
  strings: 2_000_000,
};

/**
 * Ids by which samples and lines refer to locations and functions. Real
 * profilers are sloppy: the .NET one writes every function with id 0 and
 * refers to them by position (1-based), which google/pprof rejects and
 * Pyroscope accepts. An entry with id 0 therefore takes its position's id.
 */
function byId<T extends { id?: Int64 }, V>(entries: T[] | undefined, value: (e: T) => V): IdTable<V> {
  const table = new IdTable<V>(entries?.length ?? 0);
  if (!entries) return table;
  for (let i = 0; i < entries.length; i++) {
    const id = int64(entries[i].id);
    table.set(id === 0 ? i + 1 : id, value(entries[i]));
  }
  return table;
}

/** Id → value: a dense array for the usual ids 1..n, a Map for the rest (hashes, addresses). */
class IdTable<V> {
  private readonly dense: (V | undefined)[];
  private sparse: Map<number, V> | undefined;
  constructor(size: number) {
    this.dense = new Array<V | undefined>(size * 2 + 1);
  }
  set(id: number, v: V): void {
    if (id >= 0 && id < this.dense.length) this.dense[id] = v;
    else (this.sparse ??= new Map()).set(id, v);
  }
  get(id: Int64 | undefined): V | undefined {
    const n = typeof id === 'number' ? id : int64(id);
    return n >= 0 && n < this.dense.length ? this.dense[n] : this.sparse?.get(n);
  }
}

/** A function: its name, its file ('' unknown) and its name's hash (profile/stack-id). */
interface Frame {
  name: string;
  file: string;
  hash: number;
}

/** A location's frames, root first, their files and lines, and their hashes (with file and line). */
interface LocationFrames {
  frames: string[];
  files: string[];
  lines: number[];
  hashes: number[];
}

/**
 * A pprof sample whose frames are expanded on first use: ingest hashes every
 * stack but needs the frames only of stacks it has not stored yet.
 */
class PprofSample implements Sample {
  private frames: string[] | undefined;
  labels?: Labels;
  numLabels?: Record<string, number>;

  constructor(
    /** The sample's location ids, leaf first as pprof lists them, all defined in `table`. */
    private readonly locationIds: Int64[],
    private readonly table: IdTable<LocationFrames>,
    readonly stackId: string,
    readonly values: number[],
    /** Whether the profile says where any of its code lives: else `files` and `lines` are absent. */
    private readonly sourced: boolean,
  ) {}

  private gather<K extends 'frames' | 'files' | 'lines'>(key: K): LocationFrames[K][number][] {
    const out: LocationFrames[K][number][] = [];
    for (let i = this.locationIds.length - 1; i >= 0; i--)
      for (const f of this.table.get(this.locationIds[i])![key]) out.push(f);
    return out;
  }

  get stack(): readonly string[] {
    return (this.frames ??= this.gather('frames') as string[]);
  }

  get files(): readonly string[] | undefined {
    return this.sourced ? (this.gather('files') as string[]) : undefined;
  }

  get lines(): readonly number[] | undefined {
    return this.sourced ? (this.gather('lines') as number[]) : undefined;
  }
}

/**
 * Decodes an uncompressed pprof protobuf into the internal model.
 *
 * Frames follow google/pprof's reading: a location's lines expand in place
 * (Line[0] innermost), a location with no line is the frame `0x<address>`, a
 * line with no function is `?`; a line whose function is not defined, a sample whose location is not, or a
 * string index past the table means damaged bytes and is refused. Lenient
 * where real profilers are merely sloppy: ids of 0 (refer by position), value
 * arrays shorter than the sample types, empty names. Names that are not valid UTF-8 have their
 * bad bytes replaced by U+FFFD. Throws InputError('invalid_profile') on bytes
 * that are not a pprof message or a profile with no sample type, and
 * InputError('profile_size_limit') past `limits`, before decoding.
 */
export function decodePprof(bytes: Uint8Array, limits: PprofLimits = DEFAULT_PPROF_LIMITS): Profile {
  let msg: PbProfile;
  try {
    const counts = countEntries(bytes);
    for (const key of Object.keys(limits) as (keyof PprofLimits)[]) {
      if (counts[key] > limits[key]) {
        throw new InputError(
          'profile_size_limit',
          `profile has ${counts[key]} ${key}; the limit is ${limits[key]}`,
        );
      }
    }
    msg = decodeProfileMessage(bytes);
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError('invalid_profile', `not a valid pprof protobuf: ${(err as Error).message}`);
  }
  // A reference to a string, location or function that the message does not
  // define means the bytes are damaged (a truncated upload decodes cleanly up
  // to a field boundary): refuse rather than store a wrong stack.
  const corrupt = (what: string): never => {
    throw new InputError('invalid_profile', `pprof profile is damaged or truncated: ${what}`);
  };
  const strings = msg.stringTable ?? [];
  const str = (i: Int64 | undefined): string => {
    const s = strings[int64(i)];
    return s !== undefined
      ? s
      : corrupt(`string index ${int64(i)} is past the string table (${strings.length} strings)`);
  };

  if (!msg.sampleType || msg.sampleType.length === 0) {
    throw new InputError('invalid_profile', 'pprof profile has no sample types');
  }
  const sampleTypes: ValueType[] = msg.sampleType.map((t) => ({ type: str(t.type), unit: str(t.unit) }));

  // Each function's name and its hash (profile/stack-id), computed once here
  // rather than once per location line or per sample.
  let sourced = false;
  const functions = byId(msg.function, (f): Frame => {
    const name = str(f.name);
    const file = str(f.filename);
    if (file !== '') sourced = true;
    return { name, file, hash: frameHash(name) };
  });
  const unknownFunction: Frame = { name: '?', file: '', hash: frameHash('?') };
  // Each location's frames, root first: pprof lists Line[0] innermost. A frame is its function's name and file
  // and its line: the same name in two files, or at two lines, is two frames of two stacks.
  const locationFrames = byId(msg.location, (loc): LocationFrames => {
    const lines = loc.line ?? [];
    if (lines.length === 0) {
      const frame = '0x' + uint64Hex(loc.address);
      return { frames: [frame], files: [''], lines: [0], hashes: [frameHash(frame)] };
    }
    const n = lines.length;
    const out: LocationFrames = {
      frames: new Array<string>(n),
      files: new Array<string>(n),
      lines: new Array<number>(n),
      hashes: new Array<number>(n),
    };
    for (let i = 0; i < n; i++) {
      const fid = int64(lines[i].functionId);
      const fn =
        fid === 0
          ? unknownFunction
          : (functions.get(fid) ?? corrupt(`location ${int64(loc.id)} refers to undefined function ${fid}`));
      const line = Math.max(0, int64(lines[i].line));
      if (line !== 0) sourced = true;
      const j = n - 1 - i;
      out.frames[j] = fn.name;
      out.files[j] = fn.file;
      out.lines[j] = line;
      out.hashes[j] = sourceFrameHash(fn.hash, fn.file, line);
    }
    return out;
  });

  const nTypes = sampleTypes.length;
  const hasher = new StackHasher();
  const pbSamples = msg.sample ?? [];
  const samples: Sample[] = new Array(pbSamples.length);
  for (let si = 0; si < pbSamples.length; si++) {
    const s = pbSamples[si];
    const ids = s.locationId ?? [];
    hasher.reset();
    for (let i = ids.length - 1; i >= 0; i--) {
      const loc =
        locationFrames.get(ids[i]) ?? corrupt(`sample ${si} refers to undefined location ${int64(ids[i])}`);
      for (let j = 0; j < loc.hashes.length; j++) hasher.push(loc.hashes[j]);
    }
    const raw = s.value ?? [];
    const values = new Array<number>(nTypes);
    for (let i = 0; i < nTypes; i++) values[i] = int64(raw[i]);
    const sample = new PprofSample(ids, locationFrames, hasher.id(), values, sourced);
    if (s.label && s.label.length > 0) addLabels(sample, s.label, str);
    samples[si] = sample;
  }

  const profile: Profile = { sampleTypes, samples };
  const timeNanos = int64(msg.timeNanos);
  const durationNanos = int64(msg.durationNanos);
  if (timeNanos > 0) profile.timeNanos = timeNanos;
  if (durationNanos > 0) profile.durationNanos = durationNanos;
  if (msg.periodType) profile.periodType = { type: str(msg.periodType.type), unit: str(msg.periodType.unit) };
  if (int64(msg.period) !== 0) profile.period = int64(msg.period);
  return profile;
}

function addLabels(
  sample: Sample,
  pbLabels: NonNullable<PbProfile['sample']>[number]['label'] & object,
  str: (i: Int64 | undefined) => string,
): void {
  let labels: Labels | undefined;
  let numLabels: Record<string, number> | undefined;
  for (const l of pbLabels) {
    const key = str(l.key);
    if (key === '') continue;
    if (int64(l.str) !== 0) (labels ??= {})[key] = str(l.str);
    else (numLabels ??= {})[key] = int64(l.num);
  }
  if (labels) sample.labels = labels;
  if (numLabels) sample.numLabels = numLabels;
}
