/**
 * The regression jobs' payloads, declared once here where the server (which
 * enqueues) and jobs/ (which runs them) both read them. Payloads cross a
 * process boundary as JSON, so they are validated, not trusted.
 */
import { z } from 'zod';
import { formatMatchers, parseSelector } from './selector';

export const JOBS = {
  /** Compare one candidate with one baseline and record what regressed. */
  detect: 'detect',
  /** The schedule: find what to compare (windows, new versions, named selections) and enqueue detects. */
  sweep: 'detect-sweep',
  /** Deliver one regression to one webhook, with retries. */
  webhook: 'webhook',
} as const;

const side = z.object({
  /** A selector, e.g. `{service_name="checkout",version="1.5"}`. */
  query: z.string().min(1).max(8192),
  from: z.number().int(),
  until: z.number().int(),
});

export const detectJob = z.object({
  tenant: z.string().min(1).max(256),
  service: z.string().min(1).max(256),
  /** Profile type, optionally with its unit: `cpu` or `cpu:nanoseconds`. */
  type: z.string().min(1).max(256),
  kind: z.enum(['window', 'version', 'selection', 'manual']),
  /** What makes two runs find the same regression: '' for a window (the same function again), the version for a deploy. */
  key: z.string().max(1024),
  baseline: side,
  candidate: side,
  options: z
    .object({ fdr: z.number().gt(0).lt(1), minAbsolute: z.number().min(0), minRelative: z.number().min(0) })
    .partial()
    .optional(),
  /** Each named process's first this many ms are left out (warm-up); absent: none. */
  warmupMs: z.number().int().min(0).max(3_600_000).optional(),
});
export type DetectJob = z.infer<typeof detectJob>;

export const sweepJob = z.object({
  /** The sweep's time (ms); default now. Windows end on the sweep interval's boundary so repeats get the same job ids. */
  now: z.number().int().optional(),
});
export type SweepJob = z.infer<typeof sweepJob>;

export const webhookJob = z.object({
  url: z.string().url(),
  format: z.enum(['json', 'slack']),
  body: z.unknown(),
});
export type WebhookJob = z.infer<typeof webhookJob>;

/** A webhook target: `https://...` (generic JSON) or `slack=https://hooks.slack.com/...` (Slack-compatible). */
export interface WebhookTarget {
  url: string;
  format: 'json' | 'slack';
}

/**
 * A webhook URL as logs and job listings may show it: its origin only. A Slack
 * webhook's path is its secret, and other receivers put tokens in the path or
 * the query.
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return u.pathname === '/' && !u.search ? u.origin : `${u.origin}/…`;
  } catch {
    return '(a webhook URL)';
  }
}

/** Parses `FLAMEWATCH_WEBHOOKS` (comma-separated targets). Throws with the offending entry. */
export function parseWebhooks(text: string | undefined): WebhookTarget[] {
  if (!text) return [];
  return text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
    .map((entry, i) => {
      const slack = entry.startsWith('slack=');
      const url = slack ? entry.slice(6) : entry.replace(/^json=/, '');
      if (!/^https?:\/\/[^\s]+$/.test(url))
        throw new Error(
          `FLAMEWATCH_WEBHOOKS: entry ${i + 1} is not an http(s) URL (prefix slack= for Slack; the entry is not shown: a webhook URL is a secret)`,
        );
      return { url, format: slack ? ('slack' as const) : ('json' as const) };
    });
}

/** What a regression's comparison is: the two sides as the UI's compare page shows them. */
export interface ComparedSides {
  service: string;
  type: string;
  unit: string;
  function: string;
  baseline: { query: string; from: number; until: number };
  candidate: { query: string; from: number; until: number };
}

/**
 * The UI state (its URL query) of the compare page showing exactly these two
 * selections and ranges, with the function searched: notifications link it,
 * the API returns it with each regression.
 */
export function compareView(r: ComparedSides): Record<string, string> {
  const labels = (query: string) => {
    try {
      return formatMatchers(parseSelector(query).matchers);
    } catch {
      return ''; // a stored query was parsed when its job was made; never fail a listing over one
    }
  };
  return {
    view: 'compare',
    service: r.service,
    type: r.unit ? `${r.type}:${r.unit}` : r.type,
    left: labels(r.baseline.query),
    right: labels(r.candidate.query),
    lfrom: String(r.baseline.from),
    luntil: String(r.baseline.until),
    rfrom: String(r.candidate.from),
    runtil: String(r.candidate.until),
    from: String(Math.min(r.baseline.from, r.candidate.from)),
    until: String(Math.max(r.baseline.until, r.candidate.until)),
    ...(r.function ? { search: r.function } : {}),
  };
}

/** The UI state of the explore page showing a budget breach's window, its function searched. */
export function exploreView(r: ComparedSides): Record<string, string> {
  let labels = '';
  try {
    labels = formatMatchers(parseSelector(r.candidate.query).matchers);
  } catch {
    // as in compareView: never fail a listing over a stored query
  }
  // A regex budget's function is searched as the regex it is.
  return {
    view: 'explore',
    service: r.service,
    type: r.unit ? `${r.type}:${r.unit}` : r.type,
    labels,
    from: String(r.candidate.from),
    until: String(r.candidate.until),
    ...(r.function ? { search: r.function } : {}),
  };
}
