/**
 * Budgets through the API on pushed folded profiles: stored from YAML (a bad
 * file refused with its lines), evaluated on a selection (share, regex,
 * rate, per-request, growth), charted over time, and the deploy gate's
 * pass / fail / inconclusive.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { lateQueue, processors } from '../jobs/processors';
import { BUDGETS_JOB } from '../jobs/processors/budgets';
import { createJobRunner, type JobRunner } from '../jobs/runner';
import { getJson, ingest, startServer, type TestServer } from './helpers/server';
import { rng } from './helpers/synthetic-profiles';

let server: TestServer;
let runner: JobRunner;
let hooks: http.Server;
const received: { body: Record<string, unknown> }[] = [];
beforeAll(async () => {
  hooks = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      received.push({ body: JSON.parse(body) as Record<string, unknown> });
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

// Half a minute past a minute, so the production check's windows (on minute boundaries) cut the data the same way
// whenever the test runs. Under 240 profiles a side, each profile is its own observation.
const t0 = Math.floor(Date.now() / 60_000) * 60 - 1800 + 30;

/** One 10-second profile of `instance`: JSON.parse about 3 %, db.query `db` of 1000 samples, the rest render. */
function folded(seed: number, db: number): string {
  const r = rng(seed);
  const n = (base: number) => Math.round(base * (0.9 + 0.2 * r()));
  return [
    `main;api;db.query ${n(db)}`,
    `main;api;JSON.parse ${n(30)}`,
    `main;api;JSON.parseInner ${n(5)}`,
    `main;api;render ${n(1000 - db - 35)}`,
  ].join('\n');
}

async function push(
  service: string,
  labels: string,
  i: number,
  body: string,
  type = 'cpu',
  units = 'samples',
): Promise<void> {
  const res = await ingest(
    server.url,
    {
      name: `${service}.${type}{${labels}}`,
      from: String(t0 + i * 10),
      until: String(t0 + i * 10 + 10),
      units,
    },
    body,
  );
  expect(res.status).toBe(200);
}

const BUDGETS = `defaults:
  owner: "@shop"
budgets:
  - name: db-share
    function: db.query
    share: 30%
  - name: json
    function: /JSON\\.parse.*/
    measure: self
    share: 5%
    severity: warn
  - name: cpu-rate
    rate: 200/s
  - name: per-order
    perRequest: 20
    counter: orders
  - name: db-growth
    function: db.query
    growth: 10%
`;

async function put(service: string, body: string, type = 'application/yaml'): Promise<Response> {
  return fetch(`${server.url}/api/v1/budgets?service=${service}`, {
    method: 'PUT',
    headers: { 'content-type': type },
    body,
  });
}

interface Result {
  name: string;
  verdict: string;
  value: number;
  valueText: string;
  limitText: string;
  needed?: number;
  observations: number;
  reason: string;
}
interface Gate {
  verdict: string;
  reason: string;
  budgets: Result[];
  regressions: { found: { function: string }[] } | null;
}

beforeAll(async () => {
  // Four instances a version (a growth limit is judged by the regression detector, processes its unit of
  // replication: two a side cannot show growth under 10 %): v1 spends 25 % in db.query, v2 40 %; both push an
  // orders counter of 10 per profile.
  for (let i = 0; i < 12; i++) {
    for (const [k, inst] of ['a', 'b', 'c', 'd'].entries()) {
      await push('shop', `version=1,instance=${inst}`, i, folded(i * 4 + k, 250));
      await push('shop', `version=2,instance=${inst}`, i + 60, folded(100 + i * 4 + k, 400));
      await push('shop', `version=1,instance=${inst}`, i, 'orders 10', 'orders', 'count');
      await push('shop', `version=2,instance=${inst}`, i + 60, 'orders 10', 'orders', 'count');
    }
  }
  await server.store.writer.drain();
}, 120_000);

test('a budgets file is stored from YAML, refused with its lines when wrong, and served with its schema', async () => {
  const bad = await put('shop', 'budgets:\n  - name: x\n    share: 2 parsecs\n');
  expect(bad.status).toBe(400);
  const msg = ((await bad.json()) as { error: string }).error;
  expect(msg).toContain('line 3:12: budgets[0].share');
  expect(
    (await getJson<{ budgets: unknown[] }>(server.url, '/api/v1/budgets?service=shop')).json.budgets,
  ).toEqual([]);

  expect((await put('shop', BUDGETS)).status).toBe(200);
  const stored = await getJson<{ budgets: { name: string; service: string }[]; source: string }>(
    server.url,
    '/api/v1/budgets?service=shop',
  );
  expect(stored.json.budgets.map((b) => `${b.service}/${b.name}`)).toEqual([
    'shop/db-share',
    'shop/json',
    'shop/cpu-rate',
    'shop/per-order',
    'shop/db-growth',
  ]);
  expect(stored.json.source).toBe(BUDGETS);
  // Another service's budget cannot be put under this one.
  expect(
    (
      await put(
        'shop',
        JSON.stringify({ budgets: [{ name: 'x', service: 'other', rate: 1 }] }),
        'application/json',
      )
    ).status,
  ).toBe(400);
  const schema = await getJson<{ title: string }>(server.url, '/api/v1/budgets/schema');
  expect(schema.json.title).toBe('Flamewatch performance budgets');
});

test('evaluate: each kind judged on the candidate, growth against the baseline', async () => {
  const evaluate = async (candidate: string, baseline?: string) => {
    const res = await fetch(`${server.url}/api/v1/budgets/evaluate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        candidate: { query: candidate, from: 'now-2h' },
        ...(baseline ? { baseline: { query: baseline, from: 'now-2h' } } : {}),
      }),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as { verdict: string; budgets: Result[] };
  };
  const v1 = await evaluate('shop{version="1"}', 'shop{version="1"}');
  const by = (r: { budgets: Result[] }) => Object.fromEntries(r.budgets.map((b) => [b.name, b]));
  expect(by(v1)['db-share']).toMatchObject({ verdict: 'pass' });
  expect(by(v1)['db-share'].value).toBeCloseTo(0.25, 1);
  expect(by(v1).json.value).toBeCloseTo(0.035, 2); // the regex matched both JSON.parse frames, each sample once
  expect(by(v1)['cpu-rate']).toMatchObject({ verdict: 'pass' }); // about 100 samples a second per instance
  expect(by(v1)['per-order'].value).toBeCloseTo(100, -1); // 1000 samples per 10 orders
  expect(by(v1)['per-order'].verdict).toBe('fail');
  expect(by(v1)['db-growth']).toMatchObject({ verdict: 'pass' });
  expect(v1.verdict).toBe('fail');

  const v2 = await evaluate('shop{version="2"}', 'shop{version="1"}');
  expect(by(v2)['db-share']).toMatchObject({
    verdict: 'fail',
    valueText: expect.stringMatching(/^(39|40|41)\.\d\d %$/) as unknown as string,
  });
  expect(by(v2)['db-growth'].verdict).toBe('fail');
  expect(by(v2)['db-growth'].value).toBeCloseTo(0.6, 1);
  // Budgets sent with the request (CI's file) instead of the stored ones.
  const sent = await fetch(`${server.url}/api/v1/budgets/evaluate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      budgets: { budgets: [{ name: 'only', function: 'render', share: '90%' }] },
      candidate: { query: 'shop{version="2"}', from: 'now-2h' },
    }),
  });
  expect(((await sent.json()) as { budgets: Result[] }).budgets.map((b) => `${b.name}:${b.verdict}`)).toEqual(
    ['only:pass'],
  );
  // A function that appears nowhere (a typo) passes at 0 % with a warning; nothing crashes.
  const typo = await fetch(`${server.url}/api/v1/budgets/evaluate`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      budgets: { budgets: [{ name: 'typo', function: 'db.qurey', share: '10%' }] },
      candidate: { query: 'shop{version="2"}', from: 'now-2h' },
    }),
  });
  const [t] = ((await typo.json()) as { budgets: (Result & { warning?: string })[] }).budgets;
  expect(t).toMatchObject({ verdict: 'pass', value: 0 });
  expect(t.warning).toMatch(/^db\.qurey is in none of the \d+ observations' stacks: check the name$/);
});

test('a budget over time, for the chart', async () => {
  const s = await getJson<{ points: { t: number; value: number }[] }>(
    server.url,
    '/api/v1/budgets/series?service=shop&name=db-share&from=now-2h&points=200',
  );
  expect(s.status).toBe(200);
  const values = s.json.points.map((p) => p.value);
  expect(Math.min(...values)).toBeGreaterThan(0.2);
  expect(Math.max(...values)).toBeGreaterThan(0.35);
  expect((await getJson(server.url, '/api/v1/budgets/series?service=shop&name=nope')).status).toBe(404);
});

test('the gate: fail for the slow version naming the budget and function, pass for the other, inconclusive with too few profiles', async () => {
  // Only the db-share and growth budgets: the per-order one fails every version.
  await put(
    'shop',
    'budgets:\n  - name: db-share\n    function: db.query\n    share: 30%\n  - name: db-growth\n    function: db.query\n    growth: 10%\n',
  );
  const gate = (q: string) => getJson<Gate>(server.url, `/api/v1/gate?service=shop&from=now-2h&${q}`);
  const slow = await gate('version=2&baseline=1');
  expect(slow.json.verdict).toBe('fail');
  expect(slow.json.reason).toMatch(/budget db-share: db\.query total (39|40|41)\.\d\d % over 30%/);
  expect(slow.json.regressions?.found.map((r) => r.function)).toContain('db.query');
  const ok = await gate('version=1&baseline=1');
  expect(ok.json.verdict).toBe('pass');
  // A new version with 3 profiles so far: nothing can be said yet.
  for (let i = 0; i < 3; i++) await push('shop', 'version=3,instance=a', 100 + i, folded(300 + i, 250));
  await server.store.writer.drain();
  const early = await gate('version=3&baseline=1');
  expect(early.json.verdict).toBe('inconclusive');
  expect(early.json.budgets[0]).toMatchObject({ verdict: 'inconclusive', needed: 5 });
  expect((await getJson(server.url, '/api/v1/gate?service=shop')).status).toBe(400);
});

test("production: the scheduled check stores a breach like a regression (once, then updated), shows its window's flame graph, and notifies", async () => {
  await put(
    'shop',
    'budgets:\n  - name: db-share\n    function: db.query\n    share: 30%\n    owner: "@db"\n  - name: render-share\n    function: render\n    share: 90%\n',
  );
  // Five-minute windows: the one before \`now\` holds version 2 alone, db.query at 40 %.
  expect(
    (
      await fetch(`${server.url}/api/v1/baselines?service=shop`, {
        method: 'PUT',
        headers: { 'content-type': 'application/json' },
        body: '{"windowMs":300000}',
      })
    ).status,
  ).toBe(200);
  const now = (t0 + 780) * 1000;
  await runner.enqueue(BUDGETS_JOB, { now }, { jobId: 'budgets-1' });
  const list = async () =>
    (
      await getJson<
        {
          id: string;
          kind: string;
          function: string;
          runs: number;
          budget?: { name: string; owner: string; valueText: string };
          view: Record<string, string>;
        }[]
      >(server.url, '/api/v1/regressions?service=shop')
    ).json.filter((r) => r.kind === 'budget');
  let found = await list();
  for (let i = 0; i < 50 && found.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 200));
    found = await list();
  }
  expect(found).toHaveLength(1);
  expect(found[0]).toMatchObject({
    function: 'db.query',
    runs: 1,
    budget: { name: 'db-share', owner: '@db' },
  });
  expect(found[0].view).toMatchObject({ view: 'explore', service: 'shop', search: 'db.query' });
  for (let i = 0; i < 50 && received.length === 0; i++) await new Promise((r) => setTimeout(r, 100));
  expect(received).toHaveLength(1);
  expect(received[0].body.event).toBe('budget.breached');
  // The next check finds it again: the same breach, seen twice, notified once.
  await runner.enqueue(BUDGETS_JOB, { now: now + 60_000 }, { jobId: 'budgets-2' });
  for (let i = 0; i < 50 && (await list())[0].runs < 2; i++) await new Promise((r) => setTimeout(r, 200));
  expect((await list()).map((r) => r.runs)).toEqual([2]);
  expect(received).toHaveLength(1);
});

test('a limit in cores needs CPU time: samples with no rate are refused with the reason, samples with a rate are converted', async () => {
  const evaluate = async (service: string) => {
    const res = await fetch(`${server.url}/api/v1/budgets/evaluate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        budgets: {
          budgets: [
            { name: 'cores', rate: '0.5 cores' },
            { name: 'db', function: 'db.query', share: '50%' },
          ],
        },
        candidate: { query: service, from: 'now-2h' },
      }),
    });
    expect(res.status).toBe(200);
    return Object.fromEntries(((await res.json()) as { budgets: Result[] }).budgets.map((b) => [b.name, b]));
  };
  for (let i = 0; i < 6; i++) {
    // 1,000 samples a 10 s profile: at 100 Hz, 10 s of CPU in 10 s, one core.
    await push('nosamplerate', 'instance=a', i, folded(i, 250));
    const res = await ingest(
      server.url,
      {
        name: 'withrate.cpu{instance=a}',
        from: String(t0 + i * 10),
        until: String(t0 + i * 10 + 10),
        units: 'samples',
        sampleRate: '100',
      },
      folded(i, 250),
    );
    expect(res.status).toBe(200);
  }
  await server.store.writer.drain();
  const bare = await evaluate('nosamplerate');
  expect(bare.cores).toMatchObject({ verdict: 'inconclusive' });
  expect(bare.cores.reason).toMatch(
    /cpu is stored in samples here, which a limit in time or cores \(0\.5 cores\) cannot be derived from; push CPU with its sample rate/,
  );
  // A share needs no unit.
  expect(bare.db.verdict).toBe('pass');
  const rated = await evaluate('withrate');
  expect(rated.cores.verdict).toBe('fail');
  // About one core: ~1,000 samples of 10 ms each per 10 s.
  expect(rated.cores.value).toBeGreaterThan(0.9e9);
  expect(rated.cores.value).toBeLessThan(1.1e9);
});
