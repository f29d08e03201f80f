/**
 * The store could not be reached or did not answer (connection refused or
 * reset, timeout): the request may succeed later. The HTTP layer answers 503
 * with Retry-After, so agents back off and keep their profiles.
 */
export class StoreUnavailableError extends Error {
  constructor(cause: Error) {
    super(`the profile store is unavailable (${cause.message}); retry later`);
    this.name = 'StoreUnavailableError';
  }
}

const TRANSIENT_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** Turns transport failures into StoreUnavailableError; anything else (a query ClickHouse refused) passes unchanged. */
export function classifyStoreError(err: unknown): unknown {
  const e = err as NodeJS.ErrnoException | undefined;
  if (
    e instanceof Error &&
    ((e.code !== undefined && TRANSIENT_CODES.has(e.code)) || /timeout|socket hang up/i.test(e.message))
  ) {
    return new StoreUnavailableError(e);
  }
  return err;
}
