/**
 * OTLP requests decoded and prepared, where the CPU work is: an ingest worker thread runs prepareOtlp (the
 * pool's `otlp` jobs), as it runs prepareIngest for a pprof. Each OTLP profile goes straight to the rows ingest
 * writes (profile/otlp.ts' conversion, then what /ingest does after its decode): no pprof is encoded and
 * decoded again on the way. Imports nothing of express, so the workers load only this.
 */
import type * as protobuf from 'protobufjs';
import { InputError, type InputErrorReason } from '../../profile/errors';
import { convertOtlp, otlpAsProfile } from '../../profile/otlp';
import { formatSelector } from '../../profile/selector';
import type { KnownStacks } from '../../store/known-stacks';
import { type IngestLimits, labelLimits } from '../ingest/limits';
import { readIngestParams } from '../ingest/params';
import { type PreparedIngest, prepareProfile } from '../ingest/prepare';
import { loadProtoRoot } from '../proto-files';

/** Profiles one request may carry (the eBPF profiler sends one a process of the host and interval). */
export const MAX_OTLP_PROFILES = 1024;

let root: protobuf.Root | undefined;
/** The OTLP messages of ./proto, loaded once. */
export function otlpRoot(): protobuf.Root {
  root ??= loadProtoRoot('server/otlp/proto', [
    'profiles.proto',
    'common.proto',
    'resource.proto',
    'collector.proto',
  ]);
  return root;
}

const REQUEST = 'opentelemetry.proto.collector.profiles.v1development.ExportProfilesServiceRequest';

/** OTLP/JSON writes trace and span ids in hex; protobufjs reads bytes as base64. */
function hexIdsToBase64(body: Record<string, unknown>): void {
  const dictionary = body.dictionary as Record<string, unknown> | undefined;
  const links = dictionary && typeof dictionary === 'object' ? dictionary.linkTable : undefined;
  if (!Array.isArray(links)) return;
  for (const link of links as Record<string, unknown>[]) {
    if (!link || typeof link !== 'object') continue;
    for (const k of ['traceId', 'spanId'])
      if (typeof link[k] === 'string' && /^[0-9a-fA-F]*$/.test(link[k] as string))
        link[k] = Buffer.from(link[k] as string, 'hex').toString('base64');
  }
}

/**
 * A request body (gunzipped) as a plain ExportProfilesServiceRequest: camelCase fields, 64-bit integers as
 * numbers. Throws InputError when it is not one.
 */
export function decodeOtlp(body: Uint8Array, json: boolean): Record<string, unknown> {
  const Request = otlpRoot().lookupType(REQUEST);
  try {
    let message: protobuf.Message;
    if (json) {
      const object = JSON.parse(Buffer.from(body).toString('utf8')) as unknown;
      if (!object || typeof object !== 'object' || Array.isArray(object))
        throw new Error('not a JSON object');
      hexIdsToBase64(object as Record<string, unknown>);
      message = Request.fromObject(object as Record<string, unknown>);
    } else message = Request.decode(body);
    return Request.toObject(message, { longs: Number, arrays: true, defaults: false });
  } catch (err) {
    throw new InputError(
      'invalid_profile',
      `the body is not an ExportProfilesServiceRequest: ${(err as Error).message}`,
    );
  }
}

/** One request's body for an ingest worker. */
export interface OtlpJob {
  tenant: string;
  /** Gunzipped. */
  body: Uint8Array;
  json: boolean;
  received: number;
  limits: IngestLimits;
}

/** What a request's profiles became: those prepared (with their labels), those refused, and what was left out. */
export interface PreparedOtlp {
  prepared: { ingest: PreparedIngest; labels: Record<string, string> }[];
  rejected: { reason: InputErrorReason; message: string }[];
  /** Attributes left out as labels (profile/otlp.ts' droppedAttributes, of every profile). */
  dropped: string[];
  unsymbolised: number;
}

/**
 * Decodes a request and prepares each of its profiles as /ingest prepares a pprof (labels checked, series
 * split, rows serialised). Throws InputError for the whole request (it does not decode, too many profiles);
 * a profile's own fault refuses that profile.
 */
export function prepareOtlp(job: OtlpJob, known?: KnownStacks): PreparedOtlp {
  const { profiles, rejected } = convertOtlp(decodeOtlp(job.body, job.json), labelLimits(job.limits));
  if (profiles.length + rejected.length > MAX_OTLP_PROFILES)
    throw new InputError(
      'profile_size_limit',
      `the request carries ${profiles.length + rejected.length} profiles; the limit is ${MAX_OTLP_PROFILES}`,
    );
  const out: PreparedOtlp = {
    prepared: [],
    rejected: rejected.map((message) => ({ reason: 'invalid_profile', message })),
    dropped: [],
    unsymbolised: 0,
  };
  const dropped = new Set<string>();
  for (const p of profiles) {
    try {
      const params = readIngestParams(
        {
          name: formatSelector(p.service, p.labels),
          format: 'pprof',
          ...(p.from !== undefined && p.until !== undefined
            ? { from: String(p.from), until: String(Math.max(p.until, p.from)) }
            : {}),
        },
        job.received,
        labelLimits(job.limits),
      );
      const ingest = prepareProfile(
        { tenant: job.tenant, params, received: job.received, limits: job.limits },
        'pprof',
        otlpAsProfile(p),
        new Set(),
        known,
      );
      out.prepared.push({ ingest, labels: params.labels });
      for (const a of p.droppedAttributes) dropped.add(a);
      out.unsymbolised += p.unsymbolised;
    } catch (err) {
      if (!(err instanceof InputError)) throw err;
      out.rejected.push({ reason: err.reason, message: err.message });
    }
  }
  out.dropped = [...dropped];
  return out;
}
