/**
 * The regression API and the sweep's three baselines on pushed folded
 * profiles: the same window a day earlier, a named selection, and the
 * on-demand /compare; baseline settings through the API; status changes;
 * tenants kept apart; bad input refused.
 */
import { createJobRunner } from '../jobs/runner';
import { lateQueue, processors } from '../jobs/processors';
import { JOBS } from '../profile/detect-job';
import type { JobRunner } from '../jobs/runner';
import { requestPathFolded } from './helpers/synthetic-profiles';
import { getJson, ingest, startServer, type TestServer } from './helpers/server';

let server: TestServer;
let runner: JobRunner;
const HOUR = 3_600_000;
const now = Math.floor(Date.now() / HOUR) * HOUR - HOUR; // an hour boundary in the past, so sweeps see whole windows

beforeAll(async () => {
  server = await startServer({}, async (store, url) => {
    const queue = lateQueue();
    runner = createJobRunner({ processors: processors({ store, log: () => undefined, queue, publicUrl: url, sweepEveryMs: 60_000 }), backoffMs: 100, log: () => undefined });
    queue.bind(runner);
    return runner;
  });
}, 60_000);
afterAll(async () => server?.close());

async function push(name: string, t: number, seed: number, slow: number, headers: Record<string, string> = {}): Promise<void> {
  const res = await ingest(server.url, { name, from: String(Math.floor(t / 1000)), until: String(Math.floor(t / 1000) + 10), units: 'samples' }, requestPathFolded(seed, slow), headers);
  expect(res.status).toBe(200);
}

async function until<T>(what: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  let v = await what();
  while (!ok(v) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 200));
    v = await what();
  }
  return v;
}

interface Reg { id: string; function: string; measure: string; kind: string; status: string; runs: number; relative: number; view: Record<string, string> }

test('window baseline: the last hour against the same hour a day earlier, found by a sweep, deduplicated across sweeps', async () => {
  for (let i = 0; i < 30; i++) {
    await push('shop.cpu', now - HOUR - 86_400_000 + i * 60_000, i, 1);
    await push('shop.cpu', now - HOUR + i * 60_000, 100 + i, 1.5);
  }
  await server.store.writer.drain();
  await runner.enqueue(JOBS.sweep, { now });
  // A detect run records its findings one by one: wait for all three.
  const found = await until(() => getJson<Reg[]>(server.url, '/api/v1/regressions?service=shop'), (r) => r.json.length >= 3);
  // db.query did 1.5x the work: its shares grew, and so did the samples per instance-second (the rate).
  expect(found.json.map((r) => `${r.function}/${r.measure}`).sort()).toEqual(['/rate', 'db.query/self', 'db.query/total']);
  expect(found.json.every((r) => r.kind === 'window' && r.status === 'open')).toBe(true);
  expect(found.json[0].relative).toBeGreaterThan(0.2);
  // The same sweep again (another replica, a retry) adds nothing; a later sweep of the same window updates, not duplicates.
  expect((await runner.enqueue(JOBS.sweep, { now }, { jobId: 'sweep-a' })).added).toBe(true);
  await runner.enqueue(JOBS.detect, {
    tenant: 'default', service: 'shop', type: 'cpu', kind: 'window', key: '86400000',
    baseline: { query: '{service_name="shop"}', from: now - HOUR - 86_400_000, until: now - 86_400_000 },
    candidate: { query: '{service_name="shop"}', from: now - HOUR, until: now },
  }, { jobId: 'detect-again' });
  const again = await until(() => getJson<Reg[]>(server.url, '/api/v1/regressions?service=shop'), (r) => r.json.length === 3 && r.json.every((x) => x.runs >= 2));
  expect(again.json).toHaveLength(3);

  // Status through the API; an unknown status is refused and changes nothing.
  const id = again.json[0].id;
  const patch = (status: unknown, headers: Record<string, string> = {}) =>
    fetch(`${server.url}/api/v1/regressions/${id}`, { method: 'PATCH', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ status }) });
  expect((await patch('acknowledged')).status).toBe(200);
  expect((await patch('gone')).status).toBe(400);
  expect((await getJson<Reg>(server.url, `/api/v1/regressions/${id}`)).json.status).toBe('acknowledged');
  expect((await getJson<Reg[]>(server.url, '/api/v1/regressions?status=acknowledged')).json.map((r) => r.id)).toEqual([id]);
  // Another tenant sees none of it, cannot read or change it.
  const other = { 'X-Scope-OrgID': 'other' };
  expect((await getJson<Reg[]>(server.url, '/api/v1/regressions', other)).json).toEqual([]);
  expect((await getJson(server.url, `/api/v1/regressions/${id}`, other)).status).toBe(404);
  expect((await patch('resolved', other)).status).toBe(404);
  expect((await getJson<Reg>(server.url, `/api/v1/regressions/${id}`)).json.status).toBe('acknowledged');
});

test('named selection baseline, set through the API: a PR branch against main', async () => {
  const put = (q: string, settings: unknown, headers: Record<string, string> = {}) =>
    fetch(`${server.url}/api/v1/baselines?${q}`, { method: 'PUT', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(settings) });
  expect((await getJson(server.url, '/api/v1/baselines?service=bench')).json).toMatchObject({ windowOffsetMs: 86_400_000, versionLabel: 'version', selections: [] });
  const bad = await put('service=bench', { windowMs: 5, nope: 1 });
  expect(bad.status).toBe(400);
  expect(((await bad.json()) as { error: string }).error).toMatch(/windowMs/);
  const ok = await put('service=bench', { windowOffsetMs: 0, selections: [{ name: 'pr', baseline: 'branch="main"', candidate: 'branch="pr-7"' }] });
  expect(ok.status).toBe(200);
  expect((await getJson(server.url, '/api/v1/baselines?service=bench&type=cpu')).json).toMatchObject({ windowOffsetMs: 0, selections: [{ name: 'pr' }] });
  // Settings are per tenant.
  expect((await getJson(server.url, '/api/v1/baselines?service=bench', { 'X-Scope-OrgID': 'other' })).json).toMatchObject({ selections: [] });

  for (let i = 0; i < 10; i++) {
    await push('bench.cpu{branch=main}', now - 50 * 60_000 + i * 60_000, 300 + i, 1);
    await push('bench.cpu{branch=pr-7}', now - 40 * 60_000 + i * 60_000, 400 + i, 2);
  }
  await server.store.writer.drain();
  await runner.enqueue(JOBS.sweep, { now }, { jobId: 'sweep-selection' });
  const found = await until(() => getJson<Reg[]>(server.url, '/api/v1/regressions?service=bench'), (r) => r.json.filter((x) => x.function === 'db.query').length >= 2);
  expect([...new Set(found.json.filter((r) => r.measure !== 'rate').map((r) => r.function))]).toEqual(['db.query']);
  expect(found.json.find((r) => r.function === 'db.query')).toMatchObject({ kind: 'selection', view: { left: 'branch="main"', right: 'branch="pr-7"', search: 'db.query' } });
});

test('/compare answers the detector now, and refuses bad input', async () => {
  const q = (p: Record<string, string>) => `/api/v1/compare?${new URLSearchParams({ type: 'cpu', leftFrom: String(now - HOUR), leftUntil: String(now), rightFrom: String(now - HOUR), rightUntil: String(now), ...p })}`;
  const res = await getJson<{ verdict: string; regressions: { function: string; measure: string }[]; explained: { function: string; explainedBy: string }[] }>(
    server.url, q({ leftQuery: 'bench{branch="main"}', rightQuery: 'bench{branch="pr-7"}' }));
  expect(res.status).toBe(200);
  expect(res.json.verdict).toBe('regression');
  expect([...new Set(res.json.regressions.filter((f) => f.measure !== 'rate').map((f) => f.function))]).toEqual(['db.query']);
  // handler's total grew only because db.query did.
  expect(res.json.explained.some((f) => f.function === 'handler' && f.explainedBy === 'db.query')).toBe(true);
  const few = await getJson<{ verdict: string; reason: string }>(server.url, q({ leftQuery: 'bench{branch="main"}', rightQuery: 'bench{branch="none"}' }));
  expect(few.json.verdict).toBe('insufficient_data');
  expect(few.json.reason).toContain('candidate 0');
  expect((await getJson(server.url, q({ leftQuery: 'bench{', rightQuery: 'bench' }))).status).toBe(400);
  expect((await getJson(server.url, q({ leftQuery: 'bench', rightQuery: 'bench', fdr: '2' }))).status).toBe(400);
  expect((await getJson(server.url, q({ rightQuery: 'bench' }))).status).toBe(400);
  // Another tenant's /compare sees no profiles.
  expect((await getJson<{ verdict: string }>(server.url, q({ leftQuery: 'bench{branch="main"}', rightQuery: 'bench{branch="pr-7"}' }), { 'X-Scope-OrgID': 'other' })).json.verdict).toBe('insufficient_data');
});

test('the job queue view', async () => {
  const res = await getJson<{ counts: Record<string, { completed: number }>; failed: unknown[] }>(server.url, '/api/v1/jobs');
  expect(res.status).toBe(200);
  expect(res.json.counts[JOBS.detect].completed).toBeGreaterThan(0);
  expect(res.json.failed).toEqual([]);
});
