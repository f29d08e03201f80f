/** The server's query API (/api/v1), typed as the UI uses it. */

import type {
  ProfileType,
  TopPayload,
  FlamePayload,
  DiffPayload,
  ComparePayload,
  FunctionLinesPayload,
  Regression,
  TimelinePayload,
  BudgetsPayload,
  BudgetEvaluation,
  BudgetSide,
  BudgetSeries,
} from '../../server/api/wire';

export type * from '../../server/api/wire';

/** An error answer from the server, with its status and message. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export type Params = Record<string, string | number | undefined>;

/**
 * The API token of a server with authentication on: asked for once (on a 401,
 * see panels.ts) and kept in this origin's localStorage, sent as a Bearer
 * header, never in a URL (where logs and history would keep it).
 */
const TOKEN_KEY = 'flamewatch.token';

export function storedToken(): string | undefined {
  try {
    return localStorage.getItem(TOKEN_KEY) || undefined;
  } catch {
    return undefined; // storage disabled
  }
}

/** Keeps a token for the next requests; an empty one forgets it. */
export function storeToken(token: string): void {
  try {
    if (token.trim()) localStorage.setItem(TOKEN_KEY, token.trim());
    else localStorage.removeItem(TOKEN_KEY);
  } catch {
    /* storage disabled: requests go without */
  }
}

function authHeaders(): Record<string, string> {
  const token = storedToken();
  return token ? { authorization: `Bearer ${token}` } : {};
}

async function errorOf(res: Response): Promise<ApiError> {
  let message = `${res.status} ${res.statusText}`;
  try {
    const body = (await res.json()) as { error?: string };
    if (body.error) message = body.error;
  } catch {
    /* not JSON: keep the status line */
  }
  return new ApiError(res.status, message);
}

export function apiUrl(path: string, params: Params = {}): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) if (v !== undefined && v !== '') q.set(k, String(v));
  const qs = q.toString();
  return `/api/v1/${path}${qs ? `?${qs}` : ''}`;
}

export async function getJson<T>(path: string, params: Params = {}, signal?: AbortSignal): Promise<T> {
  let res: Response;
  try {
    res = await fetch(apiUrl(path, params), {
      signal,
      headers: { accept: 'application/json', ...authHeaders() },
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(0, 'The Flamewatch server did not answer. Is `flamewatch serve` still running?');
  }
  if (!res.ok) throw await errorOf(res);
  const text = await res.text();
  const t0 = performance.now();
  const value = JSON.parse(text) as T;
  parseMs.set(path, performance.now() - t0);
  return value;
}

/** POSTs JSON and parses the JSON answer (errors as `getJson`'s). */
export async function postJson<T>(path: string, body: unknown, signal?: AbortSignal): Promise<T> {
  let res: Response;
  try {
    res = await fetch(apiUrl(path), {
      method: 'POST',
      signal,
      headers: { accept: 'application/json', 'content-type': 'application/json', ...authHeaders() },
      body: JSON.stringify(body),
    });
  } catch (err) {
    if ((err as Error).name === 'AbortError') throw err;
    throw new ApiError(0, 'The Flamewatch server did not answer. Is `flamewatch serve` still running?');
  }
  if (!res.ok) throw await errorOf(res);
  return (await res.json()) as T;
}

/** How long the last answer of each endpoint took to parse (for the render benchmark). */
export const parseMs = new Map<string, number>();

export const api = {
  services: (signal?: AbortSignal) => getJson<string[]>('services', {}, signal),
  profileTypes: (service: string, signal?: AbortSignal) =>
    getJson<ProfileType[]>('profile-types', { service }, signal),
  labels: (service: string, from: string, until: string, signal?: AbortSignal) =>
    getJson<string[]>('labels', { service, from, until }, signal),
  labelValues: (
    service: string,
    label: string,
    from: string,
    until: string,
    signal?: AbortSignal,
    order?: 'recent',
  ) => getJson<string[]>('label-values', { service, label, from, until, order }, signal),
  /** A function's cost per source line, per file. */
  functionLines: (p: Params, signal?: AbortSignal) =>
    getJson<FunctionLinesPayload>('function-lines', p, signal),
  /** The detector's verdict on two selections (what CI and the schedule ask). */
  compare: (p: Params, signal?: AbortSignal) => getJson<ComparePayload>('compare', p, signal),
  top: (p: Params, signal?: AbortSignal) => getJson<TopPayload>('top', p, signal),
  flamegraph: (p: Params, signal?: AbortSignal) => getJson<FlamePayload>('flamegraph', p, signal),
  diff: (p: Params, signal?: AbortSignal) => getJson<DiffPayload>('diff', p, signal),
  timeline: (p: Params, signal?: AbortSignal) => getJson<TimelinePayload>('timeline', p, signal),
  regressions: (p: Params, signal?: AbortSignal) => getJson<Regression[]>('regressions', p, signal),
  regression: (id: string, signal?: AbortSignal) =>
    getJson<Regression>(`regressions/${encodeURIComponent(id)}`, {}, signal),
  budgets: (service: string, signal?: AbortSignal) => getJson<BudgetsPayload>('budgets', { service }, signal),
  /** The stored budgets of the candidate's service judged on it (growth budgets against `baseline`). */
  evaluateBudgets: (candidate: BudgetSide, baseline?: BudgetSide, signal?: AbortSignal) =>
    postJson<BudgetEvaluation>('budgets/evaluate', { candidate, ...(baseline ? { baseline } : {}) }, signal),
  budgetSeries: (p: Params, signal?: AbortSignal) => getJson<BudgetSeries>('budgets/series', p, signal),
  setStatus: async (id: string, status: Regression['status']): Promise<Regression> => {
    const res = await fetch(apiUrl(`regressions/${encodeURIComponent(id)}`), {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', ...authHeaders() },
      body: JSON.stringify({ status }),
    });
    const body = (await res.json()) as Regression & { error?: string };
    if (!res.ok) throw new ApiError(res.status, body.error ?? res.statusText);
    return body;
  },
  /** An export as a file, fetched with the token (a plain link cannot send one); saved through a blob: URL. */
  download: async (p: Params): Promise<void> => {
    const res = await fetch(apiUrl('export', p), { headers: authHeaders() });
    if (!res.ok) throw await errorOf(res);
    const name = /filename="([^"]+)"/.exec(res.headers.get('content-disposition') ?? '')?.[1] ?? 'profile';
    const url = URL.createObjectURL(await res.blob());
    const a = document.createElement('a');
    a.href = url;
    a.download = name;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  },
};
