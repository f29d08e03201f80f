import type { ErrorRequestHandler } from 'express';
import { InputError, type InputErrorReason } from '../profile/errors';
import { QueueUnavailableError } from '../profile/jobs';
import { StoreUnavailableError } from '../store/errors';

/** HTTP status per refusal reason: the one place that maps errors to statuses. */
const STATUS: Record<InputErrorReason, number> = {
  invalid_profile: 422,
  empty_profile: 422,
  profile_size_limit: 413,
  decompression_limit: 413,
  unsupported_format: 415,
  invalid_selector: 400,
  invalid_time_range: 400,
  invalid_labels: 400,
  labels_limit: 400,
  label_length_limit: 400,
  invalid_parameter: 400,
  invalid_budgets: 400,
  not_found: 404,
};

/** An error with an HTTP status of its own (timeouts, unavailable store, limits, auth). */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reason = 'error',
    /** Seconds for the Retry-After header of a 429 or 503 (default 5). */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

/**
 * Errors express and its body parsers raise for a bad request (malformed
 * JSON, a body too large, a malformed URI): they carry a 4xx `status` and
 * (but for the URIError) `expose: true`, and their message is safe to show.
 */
function clientError(err: unknown): { status: number; message: string } | undefined {
  const e = err as
    { status?: unknown; statusCode?: unknown; expose?: unknown; message?: unknown } | undefined;
  const status = Number(e?.status ?? e?.statusCode);
  // The router's URIError for a malformed %-escape in a path parameter has a status of 400 but no `expose`.
  if (
    (e?.expose === true || err instanceof URIError) &&
    Number.isInteger(status) &&
    status >= 400 &&
    status < 500
  )
    return { status, message: String(e?.message) };
  return undefined;
}

export function statusOf(err: unknown): number {
  if (err instanceof InputError) return STATUS[err.reason];
  if (err instanceof HttpError) return err.status;
  if (err instanceof StoreUnavailableError || err instanceof QueueUnavailableError) return 503;
  const client = clientError(err);
  if (client) return client.status;
  // ClickHouse refuses a few user inputs only it can judge (an RE2 pattern it cannot compile).
  if (isClickHouseUserError(err)) return 400;
  return 500;
}

export function reasonOf(err: unknown): string {
  if (err instanceof InputError) return err.reason;
  if (err instanceof HttpError) return err.reason;
  if (err instanceof StoreUnavailableError) return 'store_unavailable';
  if (err instanceof QueueUnavailableError) return 'queue_unavailable';
  if (clientError(err)) return 'invalid_request';
  return isClickHouseUserError(err) ? 'invalid_parameter' : 'internal';
}

// CANNOT_COMPILE_REGEXP (427).
function isClickHouseUserError(err: unknown): boolean {
  const e = err as { type?: string; code?: string } | undefined;
  return e?.type === 'CANNOT_COMPILE_REGEXP' || e?.code === '427';
}

/** Express' error middleware: JSON `{ error }` with the mapped status; 5xx details go to the log, not the client. */
export function errorHandler(log: (msg: string) => void): ErrorRequestHandler {
  return (err, req, res, _next) => {
    const status = statusOf(err);
    const message =
      status < 500 || status === 503
        ? String((err as Error)?.message ?? err)
        : 'internal error; the server log has the details';
    if (status >= 500) log(`${req.method} ${req.path}: ${(err as Error)?.stack ?? String(err)}`);
    if (res.headersSent) {
      res.end();
      return;
    }
    if (status === 503 || status === 429)
      res.setHeader(
        'Retry-After',
        String(err instanceof HttpError && err.retryAfter !== undefined ? err.retryAfter : 5),
      );
    res.status(status).json({ error: message, reason: reasonOf(err) });
  };
}
