/**
 * The regression API and the sweep's three baselines on pushed folded
 * profiles: the same window a day earlier, a named selection, and the
 * on-demand /compare; baseline settings through the API; status changes;
 * tenants kept apart; bad input refused.
 *
 * The process is the detector's unit of replication, so every side is pushed
 * from four instances. A window's or a named selection's finding is
 * `suspected` when first seen and opens (and notifies) only when a sweep of a
 * later window that does not overlap the first sees it again.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createJobRunner } from '../jobs/runner';
import { lateQueue, processors } from '../jobs/processors';
import { JOBS } from '../profile/detect-job';
import type { JobRunner } from '../jobs/runner';
import { requestPathFolded } from './helpers/synthetic-profiles';
import { getJson, ingest, startServer, type TestServer } from './helpers/server';

let server: TestServer;
let runner: JobRunner;
let hooks: http.Server;
const received: {
  event: string;
  regression: { id: string; function: string; measure: string; kind: string; status: string };
}[] = [];
const HOUR = 3_600_000;
const DAY = 86_400_000;
const now = Math.floor(Date.now() / HOUR) * HOUR - HOUR; // an hour boundary in the past, so sweeps see whole windows
const INSTANCES = ['i0', 'i1', 'i2', 'i3'];

beforeAll(async () => {
  hooks = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      received.push(JSON.parse(body) as (typeof received)[number]);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
  const hookUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/hook`;
  server = await startServer({}, async (store, url) => {
    const queue = lateQueue();
    runner = createJobRunner({
      processors: processors({
        store,
        log: () => undefined,
        queue,
        publicUrl: url,
        sweepEveryMs: 60_000,
        webhooks: [{ url: hookUrl, format: 'json' }],
      }),
      backoffMs: 100,
      log: () => undefined,
    });
    queue.bind(runner);
    return runner;
  });
}, 60_000);
afterAll(async () => {
  await server?.close();
  await new Promise((r) => hooks?.close(r));
});

async function push(name: string, t: number, body: string): Promise<void> {
  const res = await ingest(
    server.url,
    { name, from: String(Math.floor(t / 1000)), until: String(Math.floor(t / 1000) + 10), units: 'samples' },
    body,
  );
  expect(res.status).toBe(200);
}

/**
 * `perInstance` profiles a minute apart from each of INSTANCES, from `from` on: `labels` is the series' other
 * labels (`k=v,...`); `load` multiplies every stack's samples (more traffic, the same code).
 */
async function pushSide(
  app: string,
  labels: string,
  from: number,
  seed: number,
  slow: number,
  perInstance: number,
  load = 1,
): Promise<void> {
  for (const [j, instance] of INSTANCES.entries()) {
    for (let k = 0; k < perInstance; k++) {
      const body = requestPathFolded(seed + 100 * j + k, slow).replace(
        / (\d+)$/gm,
        (_m, n: string) => ` ${Number(n) * load}`,
      );
      await push(
        `${app}{${labels ? `${labels},` : ''}instance=${instance}}`,
        from + k * 60_000 + j * 1000,
        body,
      );
    }
  }
}

/**
 * Runs `fn` with the wall clock `ms` ahead (only Date is faked; timers stay real
 * and it keeps ticking): a sighting's time is when the detect job records it, so
 * "a sweep an hour later" is one whose clock, as well as its window, is an hour on.
 */
async function later<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  jest.useFakeTimers({
    now: Date.now() + ms,
    advanceTimers: true,
    doNotFake: [
      'hrtime',
      'nextTick',
      'performance',
      'queueMicrotask',
      'setImmediate',
      'clearImmediate',
      'setInterval',
      'clearInterval',
      'setTimeout',
      'clearTimeout',
    ],
  });
  try {
    return await fn();
  } finally {
    jest.useRealTimers();
  }
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

/** Until no job waits, runs or is delayed: a detect run records its findings one by one, and its webhooks after. */
async function idle(): Promise<void> {
  await until(
    async () => runner.counts(),
    (c) => Object.values(c).every((x) => x.waiting === 0 && x.active === 0 && x.delayed === 0),
  );
}

interface Reg {
  id: string;
  function: string;
  measure: string;
  kind: string;
  status: string;
  runs: number;
  relative: number;
  firstSeen: number;
  lastSeen: number;
  view: Record<string, string>;
}

test("window baseline: the last hour against the same hour a day earlier, found by a sweep, confirmed by the next hour's, deduplicated across sweeps", async () => {
  // Four instances a side; db.query does 1.5x the work in both of today's hours, not a day earlier.
  await pushSide('shop.cpu', '', now - HOUR - DAY, 0, 1, 5);
  await pushSide('shop.cpu', '', now - HOUR, 1000, 1.5, 5);
  await pushSide('shop.cpu', '', now - DAY, 2000, 1, 5);
  await pushSide('shop.cpu', '', now, 3000, 1.5, 5);
  await server.store.writer.drain();
  await runner.enqueue(JOBS.sweep, { now });
  await until(
    () => getJson<Reg[]>(server.url, '/api/v1/regressions?service=shop'),
    (r) => r.json.length >= 1,
  );
  await idle();
  const found = await getJson<Reg[]>(server.url, '/api/v1/regressions?service=shop');
  // Only db.query's own total: its callers grew because it did (explained or undecided, never recorded), and
  // without a work count the whole program's cost cannot be told from traffic, so there is no '/rate'.
  expect(found.json.map((r) => `${r.function}/${r.measure}`)).toEqual(['db.query/total']);
  const [first] = found.json;
  expect(first).toMatchObject({ kind: 'window', status: 'suspected', runs: 1 });
  expect(first.relative).toBeGreaterThan(0.3);
  expect(first.relative).toBeLessThan(0.7);
  // Suspected: listed as such, not as open, and nobody notified yet.
  expect(
    (await getJson<Reg[]>(server.url, '/api/v1/regressions?service=shop&status=suspected')).json.map(
      (r) => r.id,
    ),
  ).toEqual([first.id]);
  expect((await getJson<Reg[]>(server.url, '/api/v1/regressions?service=shop&status=open')).json).toEqual([]);
  // `all`, as the UI's picker offers it, is every status; anything else is refused by name.
  expect(
    (await getJson<Reg[]>(server.url, '/api/v1/regressions?service=shop&status=all')).json.map((r) => r.id),
  ).toEqual([first.id]);
  const bad = await getJson<{ error: string }>(server.url, '/api/v1/regressions?status=closed');
  expect(bad.status).toBe(400);
  expect(bad.json.error).toMatch(/status must be one of suspected, open, acknowledged, resolved or all/);

  // The same sweep again (another replica, a retry) adds nothing; a second look at the same window updates, not
  // duplicates, and does not confirm: it is the same data.
  expect((await runner.enqueue(JOBS.sweep, { now }, { jobId: 'sweep-a' })).added).toBe(true);
  await runner.enqueue(
    JOBS.detect,
    {
      // As the sweep spells it: type and unit.
      tenant: 'default',
      service: 'shop',
      type: 'cpu:samples',
      kind: 'window',
      key: '86400000',
      baseline: { query: '{service_name="shop"}', from: now - HOUR - DAY, until: now - DAY },
      candidate: { query: '{service_name="shop"}', from: now - HOUR, until: now },
    },
    { jobId: 'detect-again' },
  );
  const again = await until(
    () => getJson<Reg[]>(server.url, '/api/v1/regressions?service=shop'),
    (r) => r.json.length === 1 && r.json[0].runs >= 2,
  );
  expect(again.json).toHaveLength(1);
  expect(again.json[0]).toMatchObject({
    id: first.id,
    status: 'suspected',
    runs: 2,
    firstSeen: first.firstSeen,
  });
  await idle();
  expect(received.filter((h) => h.regression.id === first.id)).toEqual([]);

  // An hour later the sweep's window is the next hour, disjoint from the first: seen again there, it opens and notifies once.
  const confirmed = await later(HOUR + 60_000, async () => {
    await runner.enqueue(JOBS.sweep, { now: now + HOUR });
    return until(
      () => getJson<Reg[]>(server.url, '/api/v1/regressions?service=shop'),
      (r) => r.json.length >= 1 && r.json[0].status === 'open',
    );
  });
  expect(confirmed.json).toHaveLength(1);
  expect(confirmed.json[0]).toMatchObject({
    id: first.id,
    function: 'db.query',
    measure: 'total',
    kind: 'window',
    status: 'open',
    runs: 3,
    firstSeen: first.firstSeen,
  });
  expect(
    (await getJson<Reg[]>(server.url, '/api/v1/regressions?service=shop&status=suspected')).json,
  ).toEqual([]);
  await until(
    async () => received.filter((h) => h.regression.id === first.id),
    (h) => h.length > 0,
  );
  await idle();
  const hooked = received.filter((h) => h.regression.id === first.id);
  expect(hooked).toHaveLength(1);
  expect(hooked[0]).toMatchObject({
    event: 'regression.opened',
    regression: { function: 'db.query', measure: 'total', kind: 'window', status: 'open' },
  });

  // Status through the API; an unknown status is refused and changes nothing.
  const id = confirmed.json[0].id;
  const patch = (status: unknown, headers: Record<string, string> = {}) =>
    fetch(`${server.url}/api/v1/regressions/${id}`, {
      method: 'PATCH',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ status }),
    });
  expect((await patch('acknowledged')).status).toBe(200);
  expect((await patch('gone')).status).toBe(400);
  expect((await getJson<Reg>(server.url, `/api/v1/regressions/${id}`)).json.status).toBe('acknowledged');
  expect(
    (await getJson<Reg[]>(server.url, '/api/v1/regressions?status=acknowledged')).json.map((r) => r.id),
  ).toEqual([id]);
  // Another tenant sees none of it, cannot read or change it.
  const other = { 'X-Scope-OrgID': 'other' };
  expect((await getJson<Reg[]>(server.url, '/api/v1/regressions', other)).json).toEqual([]);
  expect((await getJson(server.url, `/api/v1/regressions/${id}`, other)).status).toBe(404);
  expect((await patch('resolved', other)).status).toBe(404);
  expect((await getJson<Reg>(server.url, `/api/v1/regressions/${id}`)).json.status).toBe('acknowledged');
});

test('named selection baseline, set through the API: a PR branch against main', async () => {
  const put = (q: string, settings: unknown, headers: Record<string, string> = {}) =>
    fetch(`${server.url}/api/v1/baselines?${q}`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(settings),
    });
  expect((await getJson(server.url, '/api/v1/baselines?service=bench')).json).toMatchObject({
    windowOffsetMs: 86_400_000,
    versionLabel: 'version',
    selections: [],
  });
  const bad = await put('service=bench', { windowMs: 5, nope: 1 });
  expect(bad.status).toBe(400);
  expect(((await bad.json()) as { error: string }).error).toMatch(/windowMs/);
  const ok = await put('service=bench', {
    windowOffsetMs: 0,
    selections: [{ name: 'pr', baseline: 'branch="main"', candidate: 'branch="pr-7"' }],
  });
  expect(ok.status).toBe(200);
  expect((await getJson(server.url, '/api/v1/baselines?service=bench&type=cpu')).json).toMatchObject({
    windowOffsetMs: 0,
    selections: [{ name: 'pr' }],
  });
  // Settings are per tenant.
  expect(
    (await getJson(server.url, '/api/v1/baselines?service=bench', { 'X-Scope-OrgID': 'other' })).json,
  ).toMatchObject({ selections: [] });

  // Four instances a branch; the PR's db.query does twice the work.
  await pushSide('bench.cpu', 'branch=main', now - 50 * 60_000, 300, 1, 3);
  await pushSide('bench.cpu', 'branch=pr-7', now - 40 * 60_000, 400, 2, 3);
  await server.store.writer.drain();
  await runner.enqueue(JOBS.sweep, { now }, { jobId: 'sweep-selection' });
  await until(
    () => getJson<Reg[]>(server.url, '/api/v1/regressions?service=bench'),
    (r) => r.json.length >= 1,
  );
  await idle();
  const found = await getJson<Reg[]>(server.url, '/api/v1/regressions?service=bench');
  expect(found.json.map((r) => `${r.function}/${r.measure}`)).toEqual(['db.query/total']);
  expect(found.json[0]).toMatchObject({
    kind: 'selection',
    status: 'suspected',
    view: { left: 'branch="main"', right: 'branch="pr-7"', search: 'db.query' },
  });
  expect(received.filter((h) => h.regression.id === found.json[0].id)).toEqual([]);

  // The next hour's selections show it again: confirmed, open, notified.
  await pushSide('bench.cpu', 'branch=main', now + 10 * 60_000, 500, 1, 3);
  await pushSide('bench.cpu', 'branch=pr-7', now + 20 * 60_000, 600, 2, 3);
  await server.store.writer.drain();
  const confirmed = await later(HOUR + 60_000, async () => {
    await runner.enqueue(JOBS.sweep, { now: now + HOUR }, { jobId: 'sweep-selection-later' });
    return until(
      () => getJson<Reg[]>(server.url, '/api/v1/regressions?service=bench'),
      (r) => r.json.length >= 1 && r.json[0].status === 'open',
    );
  });
  expect(confirmed.json).toHaveLength(1);
  expect(confirmed.json[0]).toMatchObject({
    id: found.json[0].id,
    function: 'db.query',
    measure: 'total',
    kind: 'selection',
    status: 'open',
    runs: 2,
  });
  await until(
    async () => received.filter((h) => h.regression.id === found.json[0].id),
    (h) => h.length > 0,
  );
  await idle();
  const hooked = received.filter((h) => h.regression.id === found.json[0].id);
  expect(hooked).toHaveLength(1);
  expect(hooked[0]).toMatchObject({
    event: 'regression.opened',
    regression: { function: 'db.query', kind: 'selection', status: 'open' },
  });
});

test('/compare answers the detector now, and refuses bad input', async () => {
  const q = (p: Record<string, string>) =>
    `/api/v1/compare?${new URLSearchParams({ type: 'cpu', leftFrom: String(now - HOUR), leftUntil: String(now), rightFrom: String(now - HOUR), rightUntil: String(now), ...p })}`;
  const res = await getJson<{
    verdict: string;
    normalisation: string;
    regressions: { function: string; measure: string }[];
    explained: { function: string; explainedBy: string }[];
  }>(server.url, q({ leftQuery: 'bench{branch="main"}', rightQuery: 'bench{branch="pr-7"}' }));
  expect(res.status).toBe(200);
  expect(res.json.verdict).toBe('regression');
  expect(res.json.normalisation).toBe('size');
  expect(res.json.regressions.map((f) => `${f.function}/${f.measure}`)).toEqual(['db.query/total']);
  // handler's (and its callers') totals grew only because db.query's did.
  expect(
    res.json.explained
      .filter((f) => f.explainedBy === 'db.query')
      .map((f) => f.function)
      .sort(),
  ).toEqual(['handler', 'http', 'main']);
  // Traffic alone (every function's samples doubled) is no regression: the size factor takes it out.
  await pushSide('bench.cpu', 'branch=busy', now - 50 * 60_000, 700, 1, 3, 2);
  await server.store.writer.drain();
  const busy = await getJson<{
    verdict: string;
    regressions: unknown[];
    perSecond: { baseline: number; candidate: number };
  }>(server.url, q({ leftQuery: 'bench{branch="main"}', rightQuery: 'bench{branch="busy"}' }));
  expect(busy.json.perSecond.candidate / busy.json.perSecond.baseline).toBeGreaterThan(1.8);
  expect(busy.json.regressions).toEqual([]);
  expect(busy.json.verdict).toBe('no_regression');
  const few = await getJson<{ verdict: string; reason: string }>(
    server.url,
    q({ leftQuery: 'bench{branch="main"}', rightQuery: 'bench{branch="none"}' }),
  );
  expect(few.json.verdict).toBe('insufficient_data');
  expect(few.json.reason).toContain('candidate 0');
  expect((await getJson(server.url, q({ leftQuery: 'bench{', rightQuery: 'bench' }))).status).toBe(400);
  expect((await getJson(server.url, q({ leftQuery: 'bench', rightQuery: 'bench', fdr: '2' }))).status).toBe(
    400,
  );
  expect((await getJson(server.url, q({ rightQuery: 'bench' }))).status).toBe(400);
  // Another tenant's /compare sees no profiles.
  expect(
    (
      await getJson<{ verdict: string }>(
        server.url,
        q({ leftQuery: 'bench{branch="main"}', rightQuery: 'bench{branch="pr-7"}' }),
        { 'X-Scope-OrgID': 'other' },
      )
    ).json.verdict,
  ).toBe('insufficient_data');
});

test('the job queue view', async () => {
  const res = await getJson<{ counts: Record<string, { completed: number }>; failed: unknown[] }>(
    server.url,
    '/api/v1/jobs',
  );
  expect(res.status).toBe(200);
  expect(res.json.counts[JOBS.detect].completed).toBeGreaterThan(0);
  expect(res.json.failed).toEqual([]);
});
