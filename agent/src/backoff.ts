/** The first retry waits up to this long... */
export const BACKOFF_BASE_MS = 1_000;
/** ...doubling per failure up to this. */
export const BACKOFF_MAX_MS = 60_000;

/**
 * How long to wait before the next push after `failures` failed pushes in a
 * row: full jitter (uniform up to 1 s, 2 s, 4 s ... 60 s), so a fleet of
 * agents does not come back in step, and never less than the server's
 * Retry-After (capped at 5 minutes, so a mistaken header cannot silence the
 * agent for long).
 */
export function retryDelayMs(
  failures: number,
  retryAfterMs: number | undefined,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** Math.min(Math.max(failures, 1) - 1, 16));
  return Math.max(random() * ceiling, Math.min(retryAfterMs ?? 0, 5 * BACKOFF_MAX_MS));
}
