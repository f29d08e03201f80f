import { InputError } from '../../profile/errors';
import type { Labels, ValueType } from '../../profile/model';
import { type LabelLimits, parseSelector, selectorLabels } from '../../profile/selector';
import { parseTime } from '../../profile/time-range';

/** pprof; folded (`stack count` per line: Pyroscope's "groups"); lines (one sample per line, no count). */
export type BodyFormat = 'pprof' | 'folded' | 'lines';

/** The query string of POST /ingest, read and checked. */
export interface IngestParams {
  /** The application name as sent, before its type suffix is split off. */
  appName: string;
  labels: Labels;
  /** ms since the epoch; undefined when not given (then the profile's own time, or now). */
  from?: number;
  until?: number;
  /** Undefined when the request does not say (multipart → pprof, else sniffed). */
  format?: BodyFormat;
  units?: string;
  sampleRate?: number;
  spyName?: string;
  aggregationType: 'sum' | 'average';
  /** Work units (requests served, iterations) done in the profile's interval; 0 when not given (unknown). */
  work: number;
  /** The process (instance) that pushed; '' when not given (unknown). */
  process: string;
}

const FORMATS: Record<string, BodyFormat | 'unsupported'> = {
  pprof: 'pprof',
  folded: 'folded',
  lines: 'lines',
  groups: 'folded',
  collapsed: 'folded',
  jfr: 'unsupported',
  speedscope: 'unsupported',
  trie: 'unsupported',
  tree: 'unsupported',
};

// Profile types Pyroscope clients append to the application name.
const TYPE_SUFFIXES = new Set([
  'cpu',
  'wall',
  'itimer',
  'alloc_objects',
  'alloc_space',
  'inuse_objects',
  'inuse_space',
  'heap',
  'goroutines',
  'goroutine',
  'mutex_count',
  'mutex_duration',
  'block_count',
  'block_duration',
  'exceptions',
  'lock_count',
  'lock_duration',
  'alloc_samples',
  'alloc_size',
  'samples',
]);

/** A `work` value: a plain decimal ≥ 0 (no sign, hex, blanks or Infinity: 12, 0.5, 1e6) that is finite. */
export function isWorkText(text: string): boolean {
  return /^(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text) && Number.isFinite(Number(text));
}

/** A `process` value: 1-256 characters (code points), none of them a control character. */
export function isProcessId(text: string): boolean {
  return /^[^\p{Cc}]{1,256}$/u.test(text);
}

function one(query: Record<string, unknown>, name: string): string | undefined {
  const v = query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string')
    throw new InputError('invalid_parameter', `parameter ${name} must be given once`);
  return v;
}

/** Reads the ingest query string (labels within the tenant's limits); throws InputError naming the bad parameter. */
export function readIngestParams(
  query: Record<string, unknown>,
  now: number,
  limits?: LabelLimits,
): IngestParams {
  const name = one(query, 'name');
  if (!name)
    throw new InputError('invalid_parameter', 'parameter name is required: name=<service>{label=value,...}');
  const selector = parseSelector(name, { ingest: true, limits });
  const formatText = one(query, 'format');
  let format: BodyFormat | undefined;
  if (formatText !== undefined) {
    const f = FORMATS[formatText];
    if (f === undefined || f === 'unsupported') {
      throw new InputError(
        'unsupported_format',
        `format ${JSON.stringify(formatText.slice(0, 40))} is not supported; use pprof, folded (alias groups) or lines`,
      );
    }
    format = f;
  }
  const fromText = one(query, 'from');
  const untilText = one(query, 'until');
  const from = fromText ? parseTime(fromText, now, 'from') : undefined;
  const until = untilText ? parseTime(untilText, now, 'until') : undefined;
  if (from !== undefined && until !== undefined && from > until) {
    throw new InputError('invalid_time_range', `from (${fromText}) is after until (${untilText})`);
  }
  const sampleRateText = one(query, 'sampleRate');
  const sampleRate = sampleRateText === undefined ? undefined : Number(sampleRateText);
  if (sampleRate !== undefined && !(Number.isFinite(sampleRate) && sampleRate > 0)) {
    throw new InputError(
      'invalid_parameter',
      `sampleRate must be a positive number, not ${JSON.stringify(sampleRateText)}`,
    );
  }
  const aggregation = one(query, 'aggregationType') ?? 'sum';
  if (aggregation !== 'sum' && aggregation !== 'average') {
    throw new InputError(
      'invalid_parameter',
      `aggregationType must be sum or average, not ${JSON.stringify(aggregation.slice(0, 40))}`,
    );
  }
  const units = one(query, 'units');
  if (units !== undefined && !/^[A-Za-z_]{1,32}$/.test(units)) {
    throw new InputError('invalid_parameter', `units must be a word such as samples, nanoseconds or bytes`);
  }
  const workText = one(query, 'work');
  if (workText !== undefined && !isWorkText(workText)) {
    throw new InputError(
      'invalid_parameter',
      `work must be a finite number ≥ 0 (work units done in the profile's interval), not ${JSON.stringify(workText.slice(0, 40))}`,
    );
  }
  const processText = one(query, 'process');
  if (processText !== undefined && !isProcessId(processText)) {
    throw new InputError(
      'invalid_parameter',
      `process must be 1-256 characters without control characters, not ${JSON.stringify(processText.slice(0, 40))}${processText.length > 40 ? '...' : ''}`,
    );
  }
  return {
    appName: selector.service,
    labels: selectorLabels(selector),
    from,
    until,
    format,
    units,
    sampleRate,
    spyName: one(query, 'spyName'),
    aggregationType: aggregation,
    work: workText === undefined ? 0 : Number(workText),
    process: processText ?? '',
  };
}

/**
 * Splits `app.cpu` into the service and the type suffix, as Pyroscope reads
 * names: for folded bodies the suffix is the profile type (default cpu); for
 * pprof, whose types are inside, a known type suffix is dropped from the service.
 */
export function serviceAndType(
  appName: string,
  format: BodyFormat,
  units: string | undefined,
): { service: string; type?: ValueType } {
  const dot = appName.lastIndexOf('.');
  const suffix = dot > 0 ? appName.slice(dot + 1) : '';
  if (format === 'pprof') {
    return { service: TYPE_SUFFIXES.has(suffix) ? appName.slice(0, dot) : appName };
  }
  const isType = dot > 0 && /^[A-Za-z_][A-Za-z0-9_]*$/.test(suffix);
  const service = isType ? appName.slice(0, dot) : appName;
  return { service, type: { type: isType ? suffix : 'cpu', unit: units ?? 'samples' } };
}
