/**
 * Asks a Flamewatch server's `GET /api/v1/compare` for the detector's verdict
 * on two selections. Failures are `CompareError`s whose message says what to
 * fix: the server cannot be reached, or it refused the request (with its reason).
 */
import type { CompareAnswer, ComparedSide } from '../../notify/pr-report';

export interface CompareRequest {
  server: string;
  type: string;
  baseline: ComparedSide;
  candidate: ComparedSide;
  headers: Record<string, string>;
  timeoutMs: number;
}

/** The comparison could not be made; the CLI exits 2 with this message. */
export class CompareError extends Error {}

/** The compare URL for these two sides (times in ms, which the server tells apart from seconds by magnitude). */
export function compareUrl(r: Pick<CompareRequest, 'server' | 'type' | 'baseline' | 'candidate'>): string {
  const q = new URLSearchParams({
    type: r.type,
    leftQuery: r.baseline.query,
    leftFrom: String(r.baseline.from),
    leftUntil: String(r.baseline.until),
    rightQuery: r.candidate.query,
    rightFrom: String(r.candidate.from),
    rightUntil: String(r.candidate.until),
  });
  return `${r.server.replace(/\/$/, '')}/api/v1/compare?${q}`;
}

/**
 * One request to the server, answered with its JSON body when 2xx; otherwise
 * a CompareError saying what to fix (unreachable: check --server; refused:
 * the server's reason, and --token/--tenant on 401/403). `what` names the
 * request in the refusal ("the comparison", "the budgets").
 */
export async function requestJson(
  server: string,
  url: string,
  init: RequestInit,
  timeoutMs: number,
  what: string,
): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(url, {
      ...init,
      headers: { accept: 'application/json', ...(init.headers as Record<string, string>) },
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    const why =
      (err as Error).name === 'TimeoutError'
        ? `no answer within ${timeoutMs / 1000} s`
        : (cause?.code ?? cause?.message ?? (err as Error).message);
    throw new CompareError(`cannot reach the Flamewatch server at ${server} (${why}); check --server`);
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const message = (body as { error?: unknown } | undefined)?.error;
    const detail = typeof message === 'string' ? message : text.slice(0, 200);
    const hint = res.status === 401 || res.status === 403 ? ' (check --token and --tenant)' : '';
    throw new CompareError(`the server refused ${what}: ${res.status} ${detail}${hint}`);
  }
  return body;
}

/** Fetches the comparison; throws CompareError when the server is unreachable or does not answer 2xx with a verdict. */
export async function fetchComparison(r: CompareRequest): Promise<CompareAnswer> {
  const body = await requestJson(
    r.server,
    compareUrl(r),
    { headers: r.headers },
    r.timeoutMs,
    'the comparison',
  );
  const verdict = (body as { verdict?: unknown } | undefined)?.verdict;
  if (
    verdict !== 'regression' &&
    verdict !== 'no_regression' &&
    verdict !== 'inconclusive' &&
    verdict !== 'insufficient_data'
  ) {
    throw new CompareError(
      `${r.server} answered /api/v1/compare without a verdict; is it a Flamewatch server?`,
    );
  }
  return body as CompareAnswer;
}
