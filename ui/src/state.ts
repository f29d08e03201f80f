/**
 * The whole view state, kept in the URL's query string so a reload or a
 * shared link shows the same thing. Defaults are left out of the URL.
 */

export type View = 'explore' | 'compare' | 'regressions' | 'budgets';
export type Tab = 'both' | 'flame' | 'table' | 'sandwich';
export type CompareTab = 'diff' | 'side';

export interface State {
  view: View;
  service: string;
  /** Profile type with its unit, as the API takes it: `cpu:nanoseconds`. */
  type: string;
  /** Label matchers without braces: `version="1.5",env="prod"`. */
  labels: string;
  from: string;
  until: string;
  tab: Tab;
  orient: 'flame' | 'icicle';
  search: string;
  /** The zoomed node as its path of frame names from the root, JSON-encoded. */
  zoom: string;
  /** The function of the sandwich view. */
  fn: string;
  sort: string;
  /** Sort of the compare page's function table. */
  dsort: string;
  maxNodes: number;
  /** Compare: baseline (left) and comparison (right) label matchers and time ranges. */
  left: string;
  right: string;
  lfrom: string;
  luntil: string;
  rfrom: string;
  runtil: string;
  diffMode: 'relative' | 'absolute';
  ctab: CompareTab;
  /** Regressions: the one shown in detail, and the status filter of the list. */
  rid: string;
  rstatus: string;
}

export const DEFAULTS: State = {
  view: 'explore',
  service: '',
  type: '',
  labels: '',
  from: 'now-1h',
  until: 'now',
  tab: 'both',
  orient: 'flame',
  search: '',
  zoom: '',
  fn: '',
  sort: '-self',
  dsort: 'verdict',
  maxNodes: 16384,
  left: '',
  right: '',
  lfrom: '',
  luntil: '',
  rfrom: '',
  runtil: '',
  diffMode: 'relative',
  ctab: 'diff',
  rid: '',
  rstatus: 'open',
};

const ENUMS: Partial<Record<keyof State, readonly string[]>> = {
  view: ['explore', 'compare', 'regressions', 'budgets'],
  rstatus: ['open', 'suspected', 'acknowledged', 'resolved', 'all'],
  tab: ['both', 'flame', 'table', 'sandwich'],
  orient: ['flame', 'icicle'],
  diffMode: ['relative', 'absolute'],
  ctab: ['diff', 'side'],
};

export function parseState(search: string): State {
  const q = new URLSearchParams(search);
  const s: State = { ...DEFAULTS };
  for (const key of Object.keys(DEFAULTS) as (keyof State)[]) {
    const v = q.get(key);
    if (v === null) continue;
    if (key === 'maxNodes') {
      const n = Number(v);
      if (Number.isInteger(n) && n > 0 && n <= 1_000_000) s.maxNodes = n;
      continue;
    }
    const allowed = ENUMS[key];
    if (allowed && !allowed.includes(v)) continue;
    (s as unknown as Record<string, string>)[key] = v.slice(0, 4096);
  }
  return s;
}

export function formatState(s: State): string {
  const q = new URLSearchParams();
  for (const key of Object.keys(DEFAULTS) as (keyof State)[]) {
    if (s[key] !== DEFAULTS[key]) q.set(key, String(s[key]));
  }
  const text = q.toString();
  return text ? `?${text}` : location.pathname;
}

/** The API selector for a service and matcher text; the service is quoted so any name works. */
export function selectorOf(service: string, labels: string): string {
  const svc = `service_name="${service.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
  const rest = labels
    .trim()
    .replace(/^\{|\}$/g, '')
    .trim();
  return `{${svc}${rest ? `,${rest}` : ''}}`;
}

/**
 * A selector error from the server (`… at position N of "{service_name=…,…}"`) in the terms of what the user
 * typed in the label field: the position within their text, and their text quoted. Undefined when the error is
 * not about the selector selectorOf built from them.
 */
export function labelsError(message: string, service: string, labels: string): string | undefined {
  const built = selectorOf(service, labels);
  const m = /^(.*) at position (\d+) of (".*")$/.exec(message);
  if (!m) return undefined;
  let quoted: string;
  try {
    quoted = JSON.parse(m[3]) as string;
  } catch {
    return undefined;
  }
  if (!built.startsWith(quoted)) return undefined;
  // As selectorOf writes it: `{service_name="…",` + the user's matchers + `}`.
  const rest = labels
    .trim()
    .replace(/^\{|\}$/g, '')
    .trim();
  const start = built.length - 1 - rest.length;
  const at = Math.max(0, Math.min(Number(m[2]) - start, rest.length));
  return `${m[1]} at character ${at + 1} of “${rest}”`;
}

/** The zoom path as names, or [] when unset or malformed. */
export function zoomPath(s: State): string[] {
  if (!s.zoom) return [];
  try {
    const v: unknown = JSON.parse(s.zoom);
    return Array.isArray(v) && v.every((x) => typeof x === 'string') ? (v as string[]) : [];
  } catch {
    return [];
  }
}
