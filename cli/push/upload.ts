/**
 * One ingest request, retried as a well-behaved client should: server errors
 * (5xx), rate limiting (429), timeouts and network failures are retried with
 * exponential backoff and jitter; other 4xx answers are final, because the
 * same body would be refused again.
 */

/** A request ready to send. */
export interface IngestRequest {
  url: URL;
  body: Uint8Array;
  contentType: string;
  /** Extra headers: tenant, authorisation. */
  headers: Readonly<Record<string, string>>;
}

/** How hard to try. */
export interface RetryPolicy {
  /** Retries after the first attempt. */
  retries: number;
  /** Delay before the first retry; doubled for each one after. */
  baseDelayMs: number;
  /** Time allowed for one attempt, answer included. */
  timeoutMs: number;
}

/** How an upload ended: `samples` when the server's JSON reply counted them. */
export type UploadResult =
  { ok: true; status: number; samples?: number } | { ok: false; status?: number; message: string };

/** Told before each retry: which attempt comes next, out of how many, why, and after what delay. */
export type RetryListener = (nextAttempt: number, attempts: number, reason: string, delayMs: number) => void;

type Attempt =
  UploadResult | { ok: false; status?: number; message: string; retryable: true; retryAfterMs?: number };

/** A Retry-After longer than this is not waited for in full: the user is watching. */
const MAX_RETRY_AFTER_MS = 60_000;

/**
 * Posts the request until it succeeds, fails for good, or runs out of
 * retries; never throws. Note that a timed-out attempt may still have been
 * stored by the server, so a retry after a timeout can store a profile twice.
 */
export async function upload(
  request: IngestRequest,
  policy: RetryPolicy,
  onRetry: RetryListener,
): Promise<UploadResult> {
  const attempts = policy.retries + 1;
  for (let attempt = 1; ; attempt++) {
    const result = await attemptOnce(request, policy.timeoutMs);
    if (result.ok || !('retryable' in result) || attempt >= attempts) {
      return result.ok ? result : { ok: false, status: result.status, message: result.message };
    }
    const delayMs = backoff(policy.baseDelayMs, attempt, result.retryAfterMs);
    onRetry(attempt + 1, attempts, result.message, delayMs);
    await new Promise((resolve) => setTimeout(resolve, delayMs));
  }
}

async function attemptOnce(request: IngestRequest, timeoutMs: number): Promise<Attempt> {
  let status: number | undefined;
  try {
    const response = await fetch(request.url, {
      method: 'POST',
      body: request.body,
      headers: { 'Content-Type': request.contentType, 'User-Agent': 'flamewatch-push', ...request.headers },
      signal: AbortSignal.timeout(timeoutMs),
    });
    status = response.status;
    const text = await response.text();
    if (response.ok) return { ok: true, status, samples: samplesIn(text) };
    const message = `HTTP ${status}: ${errorIn(text) ?? (response.statusText || 'no message')}`;
    if (status === 429 || status >= 500) {
      return {
        ok: false,
        status,
        message,
        retryable: true,
        retryAfterMs: retryAfterMs(response.headers.get('retry-after')),
      };
    }
    return { ok: false, status, message };
  } catch (err) {
    return { ok: false, status, message: networkMessage(err, timeoutMs), retryable: true };
  }
}

/** Exponential backoff with ±25 % jitter, so that parallel uploads do not retry in step; at least Retry-After. */
function backoff(baseMs: number, attempt: number, retryAfter: number | undefined): number {
  const exponential = baseMs * 2 ** (attempt - 1) * (0.75 + Math.random() * 0.5);
  return Math.round(Math.max(exponential, Math.min(retryAfter ?? 0, MAX_RETRY_AFTER_MS)));
}

/** Retry-After in seconds or as an HTTP date. */
function retryAfterMs(header: string | null): number | undefined {
  if (header === null) return undefined;
  if (/^\d+$/.test(header.trim())) return Number(header) * 1000;
  const date = Date.parse(header);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

/** The sample count of a success reply, if it is JSON with a numeric `samples`. */
function samplesIn(text: string): number | undefined {
  const json = parseJson(text);
  const samples = isRecord(json) ? json.samples : undefined;
  return typeof samples === 'number' ? samples : undefined;
}

/** The server's `{ "error": "..." }`, else the start of a non-JSON body (a proxy's error page). */
function errorIn(text: string): string | undefined {
  const json = parseJson(text);
  if (isRecord(json) && typeof json.error === 'string') return json.error;
  const firstLine = text.trim().split('\n')[0]?.trim() ?? '';
  return firstLine === '' ? undefined : firstLine.slice(0, 200);
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** fetch's "fetch failed" says nothing; its cause says "connect ECONNREFUSED 127.0.0.1:4040". */
function networkMessage(err: unknown, timeoutMs: number): string {
  if (err instanceof Error && (err.name === 'TimeoutError' || err.name === 'AbortError')) {
    return `no answer within ${timeoutMs / 1000} s`;
  }
  const cause = err instanceof Error ? err.cause : undefined;
  if (cause instanceof Error) return cause.message;
  return err instanceof Error ? err.message : String(err);
}
