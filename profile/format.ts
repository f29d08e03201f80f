/**
 * Tells which profile format a file holds from its first bytes, so that
 * `flamewatch push` can send a directory of mixed profiles without being told.
 * Content decides; the file name only breaks ties between formats the content
 * allows.
 */

/** The formats a profile file can be pushed as. */
export type ProfileFormat = 'pprof' | 'folded' | 'perf-script';

/** Every ProfileFormat, in the order a tie is settled when the name gives no hint. */
export const PROFILE_FORMATS: readonly ProfileFormat[] = ['pprof', 'folded', 'perf-script'];

/** How many bytes detectFormat looks at; callers may pass just this prefix. */
export const DETECT_PREFIX_BYTES = 64 * 1024;

/**
 * The format of a profile, judged from `bytes`: the whole file or a prefix of
 * it (only the first DETECT_PREFIX_BYTES are read, and a last line cut short by
 * the prefix is ignored). Returns undefined when the content fits no format,
 * is empty, or is still gzip-compressed: detection stays pure, so a caller
 * holding a gzip file gunzips (a prefix of) it and passes the result.
 * `fileName` only settles what the content leaves open: it picks among the
 * formats the content fits, and lets clean text that also walks as protobuf
 * fields count as pprof.
 */
export function detectFormat(bytes: Uint8Array, fileName?: string): ProfileFormat | undefined {
  const prefix = bytes.subarray(0, DETECT_PREFIX_BYTES);
  if (prefix.length === 0 || isGzip(prefix)) return undefined;
  const truncated = bytes.length > prefix.length;

  const candidates: ProfileFormat[] = [];
  if (walksAsPprof(prefix)) candidates.push('pprof');
  const text = isPlausibleText(prefix) ? decodeLines(prefix, truncated) : undefined;
  if (text !== undefined && isFolded(text)) candidates.push('folded');
  if (text !== undefined && isPerfScript(text)) candidates.push('perf-script');

  const hints = formatsHintedBy(fileName);
  const hinted = candidates.find((f) => hints.includes(f));
  if (hinted !== undefined) return hinted;
  // Clean text can walk as protobuf fields by coincidence (a newline is the
  // tag of field 1); a real pprof is never clean text, so text means not pprof.
  return candidates.find((f) => text === undefined || f !== 'pprof');
}

/** True when the bytes start with the gzip magic number (a gzip file or body of any format). */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** The formats a file name suggests (`.pb.gz` → pprof, `.txt` → the text formats); none for other names. */
function formatsHintedBy(fileName: string | undefined): readonly ProfileFormat[] {
  const name = (fileName ?? '').toLowerCase().replace(/\.gz$/, '');
  if (/\.(pb|pprof|prof)$/.test(name)) return ['pprof'];
  if (/\.(folded|collapsed)$/.test(name)) return ['folded'];
  if (/\.(perf|perf-script)$/.test(name)) return ['perf-script'];
  if (/\.txt$/.test(name)) return ['folded', 'perf-script'];
  return [];
}

// Wire types of protobuf fields: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.
const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const FIXED32 = 5;

/** Fields of pprof's `Profile` message (profile.proto) and the wire types they are written with. */
const PROFILE_FIELDS: ReadonlyMap<number, readonly number[]> = new Map([
  [1, [LEN]], // sample_type
  [2, [LEN]], // sample
  [3, [LEN]], // mapping
  [4, [LEN]], // location
  [5, [LEN]], // function
  [6, [LEN]], // string_table
  [7, [VARINT]], // drop_frames
  [8, [VARINT]], // keep_frames
  [9, [VARINT]], // time_nanos
  [10, [VARINT]], // duration_nanos
  [11, [LEN]], // period_type
  [12, [VARINT]], // period
  [13, [VARINT, LEN]], // comment, packed or not
  [14, [VARINT]], // default_sample_type
  [15, [VARINT]], // doc_url
]);

/**
 * True when the bytes parse, field after field, as a pprof `Profile` message:
 * known field numbers with their wire types, lengths that fit. Only the last
 * field may run past the end, because `bytes` may be a prefix. Field numbers
 * past 15 are allowed (later versions of profile.proto), but the first field
 * must be a known one so that arbitrary binary data is not taken for pprof.
 */
function walksAsPprof(bytes: Uint8Array): boolean {
  let pos = 0;
  let fields = 0;
  while (pos < bytes.length) {
    const tag = readVarint(bytes, pos);
    if (tag === undefined) return fields > 0; // cut inside the tag by the prefix
    pos = tag.next;
    const field = Math.floor(tag.value / 8);
    const wireType = tag.value % 8;
    const known = PROFILE_FIELDS.get(field);
    if (known ? !known.includes(wireType) : fields === 0 || field === 0) return false;
    if (![VARINT, FIXED64, LEN, FIXED32].includes(wireType)) return false;
    fields++;
    if (wireType === VARINT) {
      const value = readVarint(bytes, pos);
      if (value === undefined) return pos + 10 > bytes.length; // cut by the prefix, or an overlong varint
      pos = value.next;
    } else if (wireType === LEN) {
      const length = readVarint(bytes, pos);
      if (length === undefined) return pos + 10 > bytes.length;
      pos = length.next + length.value;
    } else {
      pos += wireType === FIXED64 ? 8 : 4;
    }
  }
  return fields > 0;
}

/** A base-128 varint at `pos`, or undefined when it does not end within 10 bytes or within `bytes`. */
function readVarint(bytes: Uint8Array, pos: number): { value: number; next: number } | undefined {
  let value = 0;
  let scale = 1;
  for (let i = pos; i < bytes.length && i < pos + 10; i++) {
    // Multiplication, not shifts: values above 2^31 (time_nanos) overflow 32-bit shifts.
    value += (bytes[i] & 0x7f) * scale;
    scale *= 128;
    if ((bytes[i] & 0x80) === 0) return { value, next: i + 1 };
  }
  return undefined;
}

/**
 * True when the bytes look like text: no NUL and almost no other control
 * characters. A pprof message is full of small length and index bytes, so it
 * never passes; UTF-8 beyond ASCII (C++ and Java symbols) does.
 */
function isPlausibleText(bytes: Uint8Array): boolean {
  let control = 0;
  for (const b of bytes) {
    if (b === 0) return false;
    if (b < 0x20 && b !== 0x09 && b !== 0x0a && b !== 0x0d && b !== 0x0c) control++;
  }
  return control <= bytes.length / 1000;
}

/** The lines of a text prefix, without a last line the prefix may have cut short. */
function decodeLines(bytes: Uint8Array, truncated: boolean): string[] {
  const lines = new TextDecoder('utf-8').decode(bytes).split('\n');
  if (truncated && lines.length > 1) lines.pop();
  return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

/** `stack count`, split at the last space as Pyroscope and stackcollapse do. */
const FOLDED_LINE = /^\S.* \d+$/;

/**
 * True when every non-empty line is `frames count`. A last line without its
 * count is forgiven: the caller's prefix may end inside it.
 */
function isFolded(lines: readonly string[]): boolean {
  const nonEmpty = lines.filter((l) => l.trim() !== '');
  if (nonEmpty.length === 0) return false;
  const bad = nonEmpty.filter((l) => !FOLDED_LINE.test(l));
  return (
    bad.length === 0 || (bad.length === 1 && nonEmpty.length > 1 && bad[0] === nonEmpty[nonEmpty.length - 1])
  );
}

/**
 * A sample header of `perf script`: `comm pid[/tid] [cpu] [time:] [period] event:`.
 * The command name may contain spaces (`Web Content`); the pid, then anything,
 * then an event name ending in a colon (`cycles:`, `cpu-clock:ppp:`) and
 * perhaps the single frame perf prints on the header line without call graphs.
 */
const PERF_HEADER = /^\S.*?\s\d+(?:\/\d+)?\s.*?[\w.:-]+:(?:\s|$)/;

/** A call-graph frame of `perf script`: `addr symbol (dso)`, indented by a tab or spaces (or not, in old perf). */
const PERF_FRAME = /^\s*[0-9a-fA-F]+\s+\S.*\(.*\)\s*$/;

/**
 * True when the text is `perf script` output: `#` comments, then samples, each
 * a header line followed by frame lines, with blank lines between samples.
 * At least one header must be followed by a frame, and no line may be
 * anything else.
 */
function isPerfScript(lines: readonly string[]): boolean {
  let framed = 0;
  let previousWasHeader = false;
  const last = lines.length - 1;
  for (let i = 0; i <= last; i++) {
    const line = lines[i];
    if (line.trim() === '' || line.startsWith('#')) {
      previousWasHeader = false;
      continue;
    }
    if (PERF_FRAME.test(line)) {
      if (previousWasHeader) framed++;
      previousWasHeader = false;
    } else if (PERF_HEADER.test(line)) {
      previousWasHeader = true;
    } else if (i !== last) {
      return false;
    }
  }
  return framed > 0;
}
