/**
 * The pull-request job, declared where the server (which enqueues it when a
 * PR run's profiles arrive) and jobs/ (which compares and comments) both read
 * it. A PR run is the profiles a CI benchmark pushed with the labels
 * `flamewatch ci record` sets: `pr=<number>`, `commit=<sha>`, `branch=<name>`.
 */
import { z } from 'zod';
import { parseSelector } from './selector';

export const PR_JOB = 'pull-request';

/** The labels a CI run's profiles carry (`flamewatch ci record` sets them from the Actions environment). */
export const RUN_LABELS = { pr: 'pr', commit: 'commit', branch: 'branch' } as const;

/** The baseline of a PR when its service's settings name none: the main branch's runs. */
export const DEFAULT_PR_BASELINE = '{branch="main"}';

export const pullRequestJob = z.object({
  tenant: z.string().min(1).max(256),
  service: z.string().min(1).max(256),
  /** The pull request's number, as its profiles' `pr` label spells it. */
  pr: z.string().regex(/^[1-9]\d{0,9}$/),
});
export type PullRequestJob = z.infer<typeof pullRequestJob>;

/** A label value that names a pull request: a positive integer. */
export function isPullRequestNumber(value: string | undefined): value is string {
  return value !== undefined && /^[1-9]\d{0,9}$/.test(value);
}

/**
 * Runs close together share one job: its id names the slot `delayMs` wide
 * that `now` falls in, and it runs when the slot is over, on everything the
 * PR has by then. A profile in the next slot makes the next job, so the
 * comment follows the run and the last one sees all of it.
 */
export function pullRequestSlot(now: number, delayMs: number): { slot: number; delayMs: number } {
  const width = Math.max(1000, delayMs);
  const slot = Math.floor(now / width);
  return { slot, delayMs: (slot + 1) * width - now };
}

/** `{service_name="svc",<matchers>}` from a service and matchers written `{k="v",...}` (or without braces). */
export function withService(service: string, matchers: string): string {
  const inner = matchers
    .trim()
    .replace(/^\{|\}$/g, '')
    .trim();
  return `{service_name=${JSON.stringify(service)}${inner ? `,${inner}` : ''}}`;
}

/** The matchers of `withService`'s selector, checked: throws the parser's message. */
export function checkedSelector(service: string, matchers: string): string {
  const query = withService(service, matchers);
  parseSelector(query);
  return query;
}
