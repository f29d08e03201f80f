import type { Request } from 'express';
import { InputError } from '../../profile/errors';
import { DEFAULT_PPROF_LIMITS } from '../../profile/pprof';
import { LABEL_LIMITS } from '../../profile/selector';
import { HttpError } from '../errors';

/**
 * What one tenant's ingest may cost: per request (checked at the edge,
 * before anything is parsed) and over time. Every field can be set per
 * tenant (tenant-limits.ts).
 */
export interface IngestLimits {
  /** Request body, as sent (compressed). */
  maxBodyBytes: number;
  /** A profile after gunzip. */
  maxDecompressedBytes: number;
  /** Decompressed / compressed, past a first MiB: real pprof is 3-10x, bombs are 1000x. */
  maxCompressionRatio: number;
  /** A body must arrive within this long (Pyroscope answers 408 too). */
  bodyTimeoutMs: number;
  /** Samples in one pprof, counted before decoding (decoding costs heap per sample). */
  maxSamples: number;
  /** Profiles a tenant may push per second to one server (a token bucket); 0: no limit. */
  ingestRate: number;
  /** How many profiles past the rate a burst may hold (the bucket's size). */
  ingestBurst: number;
  /** Labels of one series (the push's and the samples' own). */
  maxLabels: number;
  maxLabelNameLength: number;
  maxLabelValueLength: number;
  /** Distinct series (type and label set) one service of a tenant may start per clock hour; 0: no limit. */
  maxSeriesPerHour: number;
}

export const DEFAULT_LIMITS: IngestLimits = {
  maxBodyBytes: 16 << 20,
  maxDecompressedBytes: 64 << 20,
  maxCompressionRatio: 100,
  bodyTimeoutMs: 30_000,
  maxSamples: DEFAULT_PPROF_LIMITS.samples,
  ingestRate: 2000,
  ingestBurst: 4000,
  maxLabels: LABEL_LIMITS.maxLabels,
  maxLabelNameLength: LABEL_LIMITS.maxNameLength,
  maxLabelValueLength: LABEL_LIMITS.maxValueLength,
  maxSeriesPerHour: 10_000,
};

/** The label limits of a tenant's ingest limits, as the selector parser takes them. */
export function labelLimits(l: IngestLimits): {
  maxLabels: number;
  maxNameLength: number;
  maxValueLength: number;
} {
  return {
    maxLabels: l.maxLabels,
    maxNameLength: l.maxLabelNameLength,
    maxValueLength: l.maxLabelValueLength,
  };
}

const MiB = 1 << 20;
const fmt = (n: number) => (n >= MiB ? `${(n / MiB).toFixed(1)} MiB` : `${n} bytes`);

/** Reads the whole body, refusing (413) past the limit without buffering the rest, or (408) when it is too slow. */
export function readBody(req: Request, limits: IngestLimits): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > limits.maxBodyBytes) {
      reject(
        new InputError(
          'profile_size_limit',
          `body is ${fmt(declared)}; the limit is ${fmt(limits.maxBodyBytes)}`,
        ),
      );
      req.resume();
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    let done = false;
    const finish = (err: Error | undefined, body?: Buffer) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.off('data', onData);
      if (err) {
        req.resume(); // drain, so the client reads our answer instead of a reset
        reject(err);
      } else resolve(body!);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limits.maxBodyBytes)
        finish(new InputError('profile_size_limit', `body is over ${fmt(limits.maxBodyBytes)}, the limit`));
      else chunks.push(chunk);
    };
    const timer = setTimeout(
      () => finish(new HttpError(408, `body not received within ${limits.bodyTimeoutMs} ms`, 'body_timeout')),
      limits.bodyTimeoutMs,
    );
    req.on('data', onData);
    req.once('end', () => finish(undefined, Buffer.concat(chunks, size)));
    req.once('error', (err) => finish(err));
    req.once('aborted', () => finish(new HttpError(400, 'request aborted by the client', 'aborted')));
  });
}
