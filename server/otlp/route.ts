/**
 * OTLP profiles in: `POST /v1development/profiles`, binary protobuf
 * (`application/x-protobuf`, `application/protobuf`) or OTLP's JSON mapping
 * (`application/json`), gzip or not. Each OTLP profile becomes a Flamewatch
 * profile (profile/otlp.ts) and goes through what `POST /ingest` does (the
 * tenant's rate and series limits, the worker pool, the same rows); a profile
 * refused for itself (a bad index, a label over the limits) is counted in the
 * answer's `partial_success` with the reason, and the rest are stored. A body
 * that does not decode is a 400 and stores nothing. Messages are our own
 * .proto files (./proto), read with protobufjs.
 */
import { Router, type Request, type Response } from 'express';
import { InputError } from '../../profile/errors';
import { isGzip } from '../../profile/format';
import { MAX_SAMPLE_ATTRIBUTE_VALUES } from '../../profile/otlp';
import type { AuthHeaders } from '../auth';
import { HttpError, reasonOf, statusOf } from '../errors';
import { readBody } from '../ingest/limits';
import { gunzipLimited } from '../ingest/prepare';
import { commitPrepared, type PreparedProfile } from '../ingest/commit';
import type { IngestDeps } from '../ingest/route';
import { otlpRoot } from './decode';

const RESPONSE = 'opentelemetry.proto.collector.profiles.v1development.ExportProfilesServiceResponse';

/** What an export stored and what it refused: the response's partial success, and the stored profiles' labels. */
export interface OtlpExportResult {
  rejectedProfiles: number;
  /** Why profiles were refused, or attributes left out (a warning when nothing was refused); '' when neither. */
  errorMessage: string;
  stored: PreparedProfile[];
}

/**
 * Stores one ExportProfilesServiceRequest (gunzipped) for a tenant, as HTTP and gRPC receive it: each profile
 * goes through what `POST /ingest` does (rate, label and series limits, the worker pool, one commit). Throws
 * for the whole request (a body that does not decode, the tenant's rate); a profile's own fault refuses that
 * profile only.
 */
export async function exportOtlp(
  deps: IngestDeps,
  tenant: string,
  body: Uint8Array,
  json: boolean,
  started: number,
): Promise<OtlpExportResult> {
  const limits = deps.limits.of(tenant);
  // Decoding and preparing every profile is CPU work: an ingest worker's, as a pprof's is.
  const out = await deps.pool.runOtlp({ tenant, body, json, received: started, limits });
  const prepared: PreparedProfile[] = out.prepared;
  // The tenant's rate counts profiles, as /ingest's does; past it the whole request is refused (429).
  for (let i = 0; i < prepared.length; i++) await deps.limits.admitPush(tenant, limits, started);
  for (const r of out.rejected) deps.metrics.discardedProfiles.inc({ reason: r.reason });
  if (out.unsymbolised) deps.metrics.unsymbolisedFrames.inc(out.unsymbolised);
  await commitPrepared(deps, tenant, limits, prepared, 'otlp');
  deps.metrics.ingestedBytes.inc(body.length);
  const messages = [...new Set(out.rejected.map((r) => r.message))].slice(0, 5);
  if (out.dropped.length)
    messages.push(
      `attributes not kept as labels (over the label limits, or more than ${MAX_SAMPLE_ATTRIBUTE_VALUES} values of a sample attribute in a profile): ${out.dropped.slice(0, 10).join(', ')}`,
    );
  return { rejectedProfiles: out.rejected.length, errorMessage: messages.join('; '), stored: prepared };
}

/** The ExportProfilesServiceResponse of a result, encoded (binary, or OTLP's JSON). */
export function encodeOtlpResponse(result: OtlpExportResult, json: boolean): Buffer {
  const Response = otlpRoot().lookupType(RESPONSE);
  const message = Response.fromObject(
    result.rejectedProfiles || result.errorMessage
      ? {
          partialSuccess: {
            rejectedProfiles: result.rejectedProfiles,
            errorMessage: result.errorMessage,
          },
        }
      : {},
  );
  return json
    ? Buffer.from(JSON.stringify(Response.toObject(message, { longs: String })))
    : Buffer.from(Response.encode(message).finish());
}

export function otlpRouter(deps: IngestDeps, log?: (msg: string) => void): Router {
  const router = Router();
  router.post('/v1development/profiles', (req: Request, res: Response) => void handle(req, res));

  async function handle(req: Request, res: Response): Promise<void> {
    const started = Date.now();
    const release = deps.writer.announce();
    let finished: (() => void) | undefined;
    const type = (req.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    const json = type === 'application/json';
    try {
      if (!json && type !== 'application/x-protobuf' && type !== 'application/protobuf')
        throw new InputError(
          'unsupported_format',
          'send OTLP profiles as application/x-protobuf (or application/protobuf) or application/json',
        );
      const tenant = deps.tenantOf(req);
      const limits = deps.limits.of(tenant);
      finished = deps.admission.admit();
      let body: Buffer = await readBody(req, limits);
      if (isGzip(body)) body = gunzipLimited(body, limits);
      const result = await exportOtlp(deps, tenant, body, json, started);
      res
        .status(200)
        .type(json ? 'application/json' : 'application/x-protobuf')
        .send(encodeOtlpResponse(result, json));
      for (const p of result.stored)
        deps.onStored?.({ tenant, service: p.ingest.summary.service, labels: p.labels });
    } catch (err) {
      req.resume();
      deps.metrics.discardedProfiles.inc({ reason: reasonOf(err) });
      const status = statusOf(err);
      if (status >= 500 && status !== 503) log?.(`otlp: ${(err as Error)?.stack ?? String(err)}`);
      if (res.headersSent) return;
      if (status === 503 || status === 429)
        res.setHeader('Retry-After', String((err as { retryAfter?: number }).retryAfter ?? 5));
      // OTLP/HTTP answers failures with a google.rpc.Status; its JSON form carries the message.
      res
        .status(status)
        .type('application/json')
        .send(
          JSON.stringify({
            code: grpcCode(status),
            message: status < 500 || status === 503 ? (err as Error).message : 'internal error',
            reason: reasonOf(err),
          }),
        );
    } finally {
      finished?.();
      release();
    }
  }
  return router;
}

/**
 * OTLP's Export for a transport other than express (gRPC, ./grpc.ts): the tenant from the call's headers (the
 * ingest scope), then what the HTTP route does after reading its body.
 */
export function otlpExporter(
  deps: IngestDeps,
  tenantOfHeaders: (headers: AuthHeaders) => Promise<string>,
): (headers: AuthHeaders, body: Buffer) => Promise<Buffer> {
  return async (headers, body) => {
    const started = Date.now();
    const release = deps.writer.announce();
    let finished: (() => void) | undefined;
    try {
      const tenant = await tenantOfHeaders(headers);
      const limits = deps.limits.of(tenant);
      if (body.length > limits.maxDecompressedBytes)
        throw new HttpError(
          413,
          `the message is ${body.length} bytes; the limit is ${limits.maxDecompressedBytes}`,
          'body_too_large',
        );
      finished = deps.admission.admit();
      const result = await exportOtlp(deps, tenant, body, false, started);
      for (const p of result.stored)
        deps.onStored?.({ tenant, service: p.ingest.summary.service, labels: p.labels });
      return encodeOtlpResponse(result, false);
    } catch (err) {
      deps.metrics.discardedProfiles.inc({ reason: reasonOf(err) });
      throw err;
    } finally {
      finished?.();
      release();
    }
  };
}

/** The gRPC status code of an HTTP status, as OTLP answers failures on either transport. */
export function grpcCode(status: number): number {
  if (status === 400 || status === 413 || status === 415 || status === 422) return 3; // INVALID_ARGUMENT
  if (status === 401) return 16; // UNAUTHENTICATED
  if (status === 403) return 7; // PERMISSION_DENIED
  if (status === 429) return 8; // RESOURCE_EXHAUSTED
  if (status === 503) return 14; // UNAVAILABLE
  return 13; // INTERNAL
}
