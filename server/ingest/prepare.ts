import { createHash } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import { InputError } from '../../profile/errors';
import { parseFolded, samplesAsCpuTime } from '../../profile/folded';
import type { Profile } from '../../profile/model';
import { isGzip } from '../../profile/format';
import { DEFAULT_PPROF_LIMITS, decodePprof } from '../../profile/pprof';
import { checkLabels } from '../../profile/selector';
import { splitProfile } from '../../profile/series';
import type { KnownStacks } from '../../store/known-stacks';
import { type PreparedWrite, prepareWrite } from '../../store/rows';
import { type IngestLimits, labelLimits } from './limits';
import { parseMultipart } from './multipart';
import { type BodyFormat, type IngestParams, serviceAndType } from './params';
import { applySampleTypeConfig } from './sample-type-config';

/** One ingest request's body and what the request line said about it. */
export interface IngestJob {
  tenant: string;
  params: IngestParams;
  body: Uint8Array;
  contentType: string;
  /** When the request arrived (ms): "now" for missing from/until. */
  received: number;
  limits: IngestLimits;
}

/** What an accepted profile becomes: its rows, and the summary the client is answered. */
export interface PreparedIngest {
  write: PreparedWrite;
  format: BodyFormat;
  summary: { service: string; types: string[]; series: number; samples: number; time: number };
  /** One number per series (its type, unit and labels hashed): what the series limit counts. */
  seriesKeys: number[];
}

/** A series' identity as a 48-bit number (collisions are negligible at the limits' sizes). */
function seriesKey(type: string, unit: string, labels: Record<string, string>): number {
  const names = Object.keys(labels).sort();
  const text = JSON.stringify([type, unit, ...names.map((n) => [n, labels[n]])]);
  return createHash('sha1').update(text).digest().readUIntBE(0, 6);
}

const MiB = 1 << 20;
const MAX_FILE_DURATION_MS = 24 * 3600_000;
const fmt = (n: number) => (n >= MiB ? `${(n / MiB).toFixed(1)} MiB` : `${n} bytes`);

// Folded text has no control bytes but whitespace; a pprof message is binary from its first field.
function looksLikeText(bytes: Uint8Array): boolean {
  const n = Math.min(bytes.length, 512);
  for (let i = 0; i < n; i++) {
    const b = bytes[i];
    if ((b < 0x09 && b !== 0x00) || (b > 0x0d && b < 0x20)) return false;
  }
  return true;
}

/** Gunzips, capped in size and ratio: a zip bomb gets a 413, not our memory. */
export function gunzipLimited(bytes: Uint8Array, limits: IngestLimits): Buffer {
  const cap = Math.min(limits.maxDecompressedBytes, Math.max(MiB, bytes.length * limits.maxCompressionRatio));
  try {
    return gunzipSync(bytes, { maxOutputLength: cap, chunkSize: 256 * 1024 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE' || err instanceof RangeError) {
      throw new InputError(
        'decompression_limit',
        `profile decompresses to more than ${fmt(cap)} (limits: ${fmt(limits.maxDecompressedBytes)}, ${limits.maxCompressionRatio}x the compressed size)`,
      );
    }
    throw new InputError('invalid_profile', `body is not valid gzip: ${(err as Error).message}`);
  }
}

/**
 * Body → rows: multipart, gunzip, decode (pprof or folded), split into series,
 * check labels, place in time, serialise. CPU-bound: it runs in an ingest
 * worker thread (pool.ts). Rejects with InputError on bad input.
 */
export async function prepareIngest(job: IngestJob, known?: KnownStacks): Promise<PreparedIngest> {
  const { params, limits } = job;
  let bytes = job.body;
  let format: BodyFormat | undefined = params.format;
  let sampleTypeConfig: Uint8Array | undefined;
  if (job.contentType.startsWith('multipart/form-data')) {
    const parts = await parseMultipart(bytes, job.contentType);
    bytes = parts.profile;
    sampleTypeConfig = parts.sampleTypeConfig;
    format ??= 'pprof';
  }
  if (bytes.length === 0) throw new InputError('empty_profile', 'the request has no profile in its body');
  if (isGzip(bytes)) bytes = gunzipLimited(bytes, limits);
  // With no format and no multipart, Pyroscope reads folded text.
  if (format === undefined && !looksLikeText(bytes)) {
    throw new InputError(
      'invalid_profile',
      'body is binary, not folded text: for pprof add format=pprof to the query string',
    );
  }
  format ??= 'folded';

  const { type } = serviceAndType(params.appName, format, params.units);
  let profile: Profile =
    format === 'pprof'
      ? decodePprof(bytes, { ...DEFAULT_PPROF_LIMITS, samples: limits.maxSamples })
      : parseFolded(new TextDecoder().decode(bytes), type!, format === 'lines');
  // Gauges by declaration (Pyroscope's aggregationType=average, or its per-type sample_type_config): stored as
  // such, so queries and the detector average their snapshots as they do for in-use types by name.
  const averaged = new Set<string>();
  if (sampleTypeConfig) {
    const configured = applySampleTypeConfig(profile, sampleTypeConfig);
    profile = configured.profile;
    for (const t of configured.averaged) averaged.add(t);
  }
  if (params.aggregationType === 'average') for (const t of profile.sampleTypes) averaged.add(t.type);
  // Pyroscope's sampleRate: folded CPU samples are stored as CPU time, like pprof CPU profiles.
  if (type?.type === 'cpu' && type.unit === 'samples' && params.sampleRate !== undefined)
    profile = samplesAsCpuTime(profile, params.sampleRate);

  return prepareProfile(job, format, profile, averaged, known);
}

/**
 * A decoded profile → rows: split into series, labels checked, placed in time, serialised. What every format
 * comes to after its own decoding (pprof, folded, and OTLP's profiles in server/otlp/decode.ts).
 */
export function prepareProfile(
  job: Pick<IngestJob, 'tenant' | 'params' | 'received' | 'limits'>,
  format: BodyFormat,
  profile: Profile,
  averaged: Set<string>,
  known?: KnownStacks,
): PreparedIngest {
  const { params, limits } = job;
  const { service } = serviceAndType(params.appName, format, params.units);
  const split = splitProfile(profile, params.labels);
  const labelLimit = labelLimits(limits);
  for (const s of split.series) checkLabels(s.labels, labelLimit);
  // As Pyroscope reads them: missing from/until mean now (the file's own
  // timestamp is not trusted: agents' clocks and replays would misplace it).
  // The file's duration places `from` when only `until` is known, if it is
  // plausible: some converters write the start time into duration_nanos.
  const until = params.until ?? job.received;
  const fileDurationMs = profile.durationNanos !== undefined ? Math.round(profile.durationNanos / 1e6) : 0;
  const time =
    params.from ??
    (fileDurationMs > 0 && fileDurationMs <= MAX_FILE_DURATION_MS ? until - fileDurationMs : until);

  return {
    write: prepareWrite(
      {
        tenant: job.tenant,
        service,
        time,
        durationMs: until - time,
        work: params.work,
        process: params.process,
        averaged,
        profile: split,
      },
      known,
    ),
    format,
    seriesKeys: split.series.map((s) => seriesKey(s.type.type, s.type.unit, s.labels)),
    summary: {
      service,
      types: profile.sampleTypes.map((t) => `${t.type}:${t.unit}`),
      series: split.series.length,
      samples: split.samples,
      time,
    },
  };
}
