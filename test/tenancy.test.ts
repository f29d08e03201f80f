/**
 * Tenants apart, through every endpoint: with tokens on, tenant A's tokens
 * neither read, list, diff, export, compare, change nor retry anything of
 * tenant B, and cannot tell B's things from things that never existed (the
 * same status and body for B's service, regression, token or job as for a
 * made-up one; the same 403 for X-Scope-OrgID naming B as naming nobody).
 * The endpoint list is read from the app's routers, so a new endpoint fails
 * this test until it is added here.
 */
import { createApp } from '../server/app';
import { createJobRunner, type JobRunner } from '../jobs/runner';
import { UnrecoverableJobError } from '../profile/jobs';
import { startServer, type TestServer } from './helpers/server';
import { mainCalls } from './helpers/synthetic-profiles';

const ADMIN = 'operator-secret-tenancy-0123456789';
let server: TestServer;
let runner: JobRunner;
const now = Math.floor(Date.now() / 1000);
const FROM = String(now - 3600);
const UNTIL = String(now + 60);

interface Answer {
  status: number;
  body: string;
}

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });

async function call(
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string,
): Promise<Answer> {
  const res = await fetch(server.url + path, {
    method,
    headers:
      body === undefined
        ? headers
        : { 'content-type': path.startsWith('/ingest') ? 'text/plain' : 'application/json', ...headers },
    body,
  });
  return { status: res.status, body: Buffer.from(await res.arrayBuffer()).toString('base64') };
}

const text = (a: Answer) => Buffer.from(a.body, 'base64').toString('utf8');

/** What the probes name: B's real things, or ones that never existed. */
interface Names {
  service: string;
  regression: string;
  token: string;
  job: string;
}

const tok: Record<string, { token: string; id: string }> = {};
let realB: Names;
const madeUp: Names = {
  service: 'never-was',
  regression: 'ffffffffffffffffffff',
  token: '0123456789abcdef',
  job: 'no-such-job',
};

beforeAll(async () => {
  server = await startServer({ auth: { mode: 'token', adminToken: ADMIN, cacheMs: 1000 } }, async () => {
    // Detect jobs fail at once, so each tenant has a job in the dead-letter view.
    runner = createJobRunner({
      processors: {
        detect: async () => {
          throw new UnrecoverableJobError('failed on purpose');
        },
      },
      log: () => undefined,
    });
    return runner;
  });
  const make = async (tenant: string, scopes: string[]) => {
    const res = await fetch(`${server.url}/api/v1/tokens`, {
      method: 'POST',
      headers: { ...bearer(ADMIN), 'content-type': 'application/json' },
      body: JSON.stringify({ tenant, scopes }),
    });
    expect(res.status).toBe(201);
    return (await res.json()) as { token: string; id: string };
  };
  for (const t of ['a', 'b']) {
    tok[`${t}-ingest`] = await make(t, ['ingest']);
    tok[`${t}-read`] = await make(t, ['read']);
    tok[`${t}-admin`] = await make(t, ['admin']);
  }
  // B's data: a service in two versions, a regression, baseline settings, a failed job.
  for (const [i, version] of ['1', '1', '2', '2'].entries()) {
    const res = await fetch(
      `${server.url}/ingest?name=${encodeURIComponent(`secret-svc.cpu{version=${version},team=bravo}`)}&from=${now - 600 + i * 60}&until=${now - 590 + i * 60}`,
      {
        method: 'POST',
        headers: bearer(tok['b-ingest'].token),
        body: `main;bravo_handler ${10 + i}\nmain;bravo_gc 3\n`,
      },
    );
    expect(res.status).toBe(200);
  }
  // A's own data, so its answers are not trivially empty.
  expect(
    (
      await fetch(`${server.url}/ingest?name=mine.cpu&from=${now - 300}`, {
        method: 'POST',
        headers: bearer(tok['a-ingest'].token),
        body: 'main;alpha 5\n',
      })
    ).status,
  ).toBe(200);
  const { regression } = await server.store.regressions.record('b', {
    id: 'b0b0b0b0b0b0b0b0b0b0',
    service: 'secret-svc',
    type: 'cpu',
    unit: 'samples',
    function: 'bravo_handler',
    measure: 'self',
    kind: 'version',
    baseline: {
      query: 'secret-svc{version="1"}',
      from: (now - 600) * 1000,
      until: (now - 480) * 1000,
      profiles: 2,
      value: 0.1,
    },
    candidate: {
      query: 'secret-svc{version="2"}',
      from: (now - 480) * 1000,
      until: (now - 360) * 1000,
      profiles: 2,
      value: 0.2,
    },
    effect: 0.1,
    relative: 1,
    ci: [0.05, 0.15],
    p: 1e-6,
    q: 1e-5,
  });
  expect(
    (
      await fetch(`${server.url}/api/v1/baselines?service=secret-svc`, {
        method: 'PUT',
        headers: { ...bearer(tok['b-admin'].token), 'content-type': 'application/json' },
        body: '{"windowMs":7200000}',
      })
    ).status,
  ).toBe(200);
  expect(
    (
      await fetch(`${server.url}/api/v1/budgets?service=secret-svc`, {
        method: 'PUT',
        headers: { ...bearer(tok['b-admin'].token), 'content-type': 'application/json' },
        body: '{"budgets":[{"name":"b-budget","function":"bravo_handler","share":"50%"}]}',
      })
    ).status,
  ).toBe(200);
  const job = await runner.enqueue(
    'detect',
    { tenant: 'b', service: 'secret-svc' },
    { jobId: 'detect-b-secret' },
  );
  const deadline = Date.now() + 10_000;
  while ((await runner.failed()).length === 0 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 50));
  realB = { service: 'secret-svc', regression: regression.id, token: tok['b-read'].id, job: job.id };
}, 60_000);
afterAll(() => server?.close());

const sel = (service: string, extra: Record<string, string> = {}) =>
  new URLSearchParams({
    query: `${service}{team=~".*"}`,
    type: 'cpu',
    from: FROM,
    until: UNTIL,
    ...extra,
  }).toString();
const sides = (service: string) =>
  new URLSearchParams({
    type: 'cpu',
    leftQuery: `${service}{version="1"}`,
    rightQuery: `${service}{version="2"}`,
    leftFrom: FROM,
    leftUntil: UNTIL,
    rightFrom: FROM,
    rightUntil: UNTIL,
  }).toString();

/**
 * Every endpoint with tenant data, as a request naming things (`n`). `as`
 * is the scope the probe uses (writes need admin). Keys are the routes as
 * the app declares them.
 */
const PROBES: Record<
  string,
  { as: 'read' | 'admin' | 'ingest'; req: (n: Names) => { method: string; path: string; body?: string } }
> = {
  'POST /ingest': {
    as: 'ingest',
    req: (n) => ({
      method: 'POST',
      path: `/ingest?name=${n.service}.cpu&from=${now - 100}`,
      body: 'probe 1\n',
    }),
  },
  // Pyroscope's Connect APIs, in their JSON mapping.
  'POST /querier.v1.QuerierService/:method': {
    as: 'read',
    req: (n) => ({
      method: 'POST',
      path: '/querier.v1.QuerierService/SelectMergeStacktraces',
      body: JSON.stringify({
        profileTypeID: 'process_cpu:cpu:samples:cpu:nanoseconds',
        labelSelector: `{service_name="${n.service}"}`,
        start: String(Number(FROM) * 1000),
        end: String(Number(UNTIL) * 1000),
      }),
    }),
  },
  'POST /push.v1.PusherService/Push': {
    as: 'ingest',
    req: (n) => ({
      method: 'POST',
      path: '/push.v1.PusherService/Push',
      body: JSON.stringify({
        series: [
          {
            labels: [{ name: 'service_name', value: n.service }],
            samples: [
              {
                rawProfile: Buffer.from(mainCalls('cpu', 'nanoseconds', 'probe', [{ value: 1 }])).toString(
                  'base64',
                ),
              },
            ],
          },
        ],
      }),
    }),
  },
  // OTLP profiles, in OTLP/JSON: a resource naming the service.
  'POST /v1development/profiles': {
    as: 'ingest',
    req: (n) => ({
      method: 'POST',
      path: '/v1development/profiles',
      body: JSON.stringify({
        dictionary: {
          stringTable: ['', 'cpu', 'nanoseconds', 'probe'],
          functionTable: [{}, { nameStrindex: 3 }],
          locationTable: [{}, { lines: [{ functionIndex: 1 }] }],
          stackTable: [{}, { locationIndices: [1] }],
        },
        resourceProfiles: [
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValue: n.service } }] },
            scopeProfiles: [
              {
                profiles: [
                  {
                    sampleType: { typeStrindex: 1, unitStrindex: 2 },
                    samples: [{ stackIndex: 1, values: ['1'] }],
                  },
                ],
              },
            ],
          },
        ],
      }),
    }),
  },
  'GET /api/v1/services': { as: 'read', req: () => ({ method: 'GET', path: '/api/v1/services' }) },
  'GET /api/v1/profile-types': {
    as: 'read',
    req: (n) => ({ method: 'GET', path: `/api/v1/profile-types?service=${n.service}` }),
  },
  'GET /api/v1/labels': {
    as: 'read',
    req: (n) => ({ method: 'GET', path: `/api/v1/labels?service=${n.service}&from=${FROM}&until=${UNTIL}` }),
  },
  'GET /api/v1/label-values': {
    as: 'read',
    req: (n) => ({
      method: 'GET',
      path: `/api/v1/label-values?service=${n.service}&label=version&from=${FROM}&until=${UNTIL}`,
    }),
  },
  'GET /api/v1/top': { as: 'read', req: (n) => ({ method: 'GET', path: `/api/v1/top?${sel(n.service)}` }) },
  'GET /api/v1/function-lines': {
    as: 'read',
    req: (n) => ({ method: 'GET', path: `/api/v1/function-lines?${sel(n.service, { function: 'main' })}` }),
  },
  'GET /api/v1/flamegraph': {
    as: 'read',
    req: (n) => ({ method: 'GET', path: `/api/v1/flamegraph?${sel(n.service)}` }),
  },
  'GET /api/v1/diff': {
    as: 'read',
    req: (n) => ({ method: 'GET', path: `/api/v1/diff?${sides(n.service)}` }),
  },
  'GET /api/v1/timeline': {
    as: 'read',
    req: (n) => ({ method: 'GET', path: `/api/v1/timeline?${sel(n.service, { step: '60' })}` }),
  },
  'GET /api/v1/export': {
    as: 'read',
    req: (n) => ({ method: 'GET', path: `/api/v1/export?${sel(n.service, { format: 'folded' })}` }),
  },
  'GET /api/v1/compare': {
    as: 'read',
    req: (n) => ({ method: 'GET', path: `/api/v1/compare?${sides(n.service)}` }),
  },
  'GET /api/v1/regressions': {
    as: 'read',
    req: (n) => ({ method: 'GET', path: `/api/v1/regressions?service=${n.service}` }),
  },
  'GET /api/v1/regressions/:id': {
    as: 'read',
    req: (n) => ({ method: 'GET', path: `/api/v1/regressions/${n.regression}` }),
  },
  'PATCH /api/v1/regressions/:id': {
    as: 'admin',
    req: (n) => ({
      method: 'PATCH',
      path: `/api/v1/regressions/${n.regression}`,
      body: '{"status":"resolved"}',
    }),
  },
  'GET /api/v1/baselines': {
    as: 'read',
    req: (n) => ({ method: 'GET', path: `/api/v1/baselines?service=${n.service}` }),
  },
  'PUT /api/v1/baselines': {
    as: 'admin',
    req: (n) => ({
      method: 'PUT',
      path: `/api/v1/baselines?service=${n.service}`,
      body: '{"versionLabel":"release"}',
    }),
  },
  'GET /api/v1/budgets': {
    as: 'read',
    req: (n) => ({ method: 'GET', path: `/api/v1/budgets?service=${n.service}` }),
  },
  'PUT /api/v1/budgets': {
    as: 'admin',
    req: (n) => ({
      method: 'PUT',
      path: `/api/v1/budgets?service=${n.service}`,
      body: '{"budgets":[{"name":"probe","rate":1}]}',
    }),
  },
  'GET /api/v1/budgets/schema': {
    as: 'read',
    req: () => ({ method: 'GET', path: '/api/v1/budgets/schema' }),
  },
  'GET /api/v1/budgets/series': {
    as: 'read',
    req: (n) => ({
      method: 'GET',
      path: `/api/v1/budgets/series?service=${n.service}&name=b-budget&from=${FROM}&until=${UNTIL}`,
    }),
  },
  'POST /api/v1/budgets/evaluate': {
    as: 'read',
    req: (n) => ({
      method: 'POST',
      path: '/api/v1/budgets/evaluate',
      body: JSON.stringify({ candidate: { query: `${n.service}{version="2"}`, from: FROM, until: UNTIL } }),
    }),
  },
  'GET /api/v1/gate': {
    as: 'read',
    req: (n) => ({
      method: 'GET',
      path: `/api/v1/gate?service=${n.service}&version=2&baseline=1&from=${FROM}&until=${UNTIL}`,
    }),
  },
  'GET /api/v1/jobs': { as: 'read', req: () => ({ method: 'GET', path: '/api/v1/jobs' }) },
  'POST /api/v1/jobs/:id/retry': {
    as: 'admin',
    req: (n) => ({ method: 'POST', path: `/api/v1/jobs/${n.job}/retry` }),
  },
  'GET /api/v1/tokens': { as: 'admin', req: () => ({ method: 'GET', path: '/api/v1/tokens' }) },
  'POST /api/v1/tokens': {
    as: 'admin',
    req: () => ({ method: 'POST', path: '/api/v1/tokens', body: '{"scopes":["read"],"name":"probe"}' }),
  },
  'DELETE /api/v1/tokens/:id': {
    as: 'admin',
    req: (n) => ({ method: 'DELETE', path: `/api/v1/tokens/${n.token}` }),
  },
};

/** The probes, pushes last: A's pushes add services to A's own list, which the listing probes would otherwise see change between two calls. */
const probes = () => Object.entries(PROBES).sort(([x], [y]) => Number(isPush(x)) - Number(isPush(y)));
const isPush = (key: string) =>
  key === 'POST /ingest' ||
  key === 'POST /push.v1.PusherService/Push' ||
  key === 'POST /v1development/profiles';

/** `METHOD /path` of every route the app declares under /ingest and /api/v1. */
function declaredRoutes(): string[] {
  const { app, close } = createApp({
    store: server.store,
    ingestWorkers: 0,
    jobs: runner,
    auth: { mode: 'token', adminToken: ADMIN },
    log: () => undefined,
  });
  void close();
  type Layer = {
    route?: { path: string; methods: Record<string, boolean> };
    handle: { stack?: Layer[] };
    match(path: string): boolean;
  };
  const out = new Set<string>();
  const walk = (stack: Layer[], prefix: string) => {
    for (const layer of stack) {
      if (layer.route)
        for (const m of Object.keys(layer.route.methods))
          out.add(`${m.toUpperCase()} ${prefix}${layer.route.path}`);
      else if (layer.handle.stack)
        walk(layer.handle.stack, layer.match('/api/v1/x') && !layer.match('/x') ? '/api/v1' : prefix);
    }
  };
  walk((app as unknown as { router: { stack: Layer[] } }).router.stack, '');
  return [...out].filter((r) => / \/(ingest|api\/|querier\.v1\.|push\.v1\.|v1development\/)/.test(r)).sort();
}

/** Replaces the probe's own names in an answer, so answers about different names compare. */
function normalise(a: Answer, n: Names): string {
  let s = text(a);
  for (const v of Object.values(n)) s = s.split(v).join('<name>');
  // Answers that carry the clock or fresh ids (a made token, a stored push).
  s = s
    .replace(/"(time|created)":\d+/g, '"$1":0')
    .replace(/"token":"fw_[^"]+"/g, '"token":"*"')
    .replace(/"id":"[0-9a-f]{16}"/g, '"id":"*"');
  return `${a.status} ${s}`;
}

describe('tenant A cannot reach or infer tenant B', () => {
  it('probes every declared endpoint', () => {
    expect(declaredRoutes()).toEqual(Object.keys(PROBES).sort());
  });

  it('sanity: B itself gets real answers from the probes that name its things', async () => {
    for (const key of [
      'GET /api/v1/top',
      'GET /api/v1/diff',
      'GET /api/v1/export',
      'GET /api/v1/regressions/:id',
      'GET /api/v1/labels',
      'GET /api/v1/jobs',
    ]) {
      const r = PROBES[key].req(realB);
      const b = await call(r.method, r.path, bearer(tok[`b-${PROBES[key].as}`].token), r.body);
      expect([key, b.status]).toEqual([key, 200]);
      expect(text(b)).toMatch(/bravo|secret-svc|detect-b-secret|version/);
    }
  });

  it("answers A's X-Scope-OrgID: b exactly as X-Scope-OrgID: nobody (403), on every endpoint", async () => {
    for (const [key, probe] of probes()) {
      const r = probe.req(realB);
      const token = bearer(tok[`a-${probe.as}`].token);
      const asB = await call(r.method, r.path, { ...token, 'X-Scope-OrgID': 'b' }, r.body);
      const asNobody = await call(r.method, r.path, { ...token, 'X-Scope-OrgID': 'nobody' }, r.body);
      expect([key, asB.status]).toEqual([key, 403]);
      expect([key, text(asB)]).toEqual([key, text(asNobody)]);
    }
  });

  it("answers A about B's service, regression, token and job exactly as about ones that never existed", async () => {
    for (const [key, probe] of probes()) {
      const token = bearer(tok[`a-${probe.as}`].token);
      const real = probe.req(realB);
      const fake = probe.req(madeUp);
      const aboutB = normalise(await call(real.method, real.path, token, real.body), realB);
      const aboutNothing = normalise(await call(fake.method, fake.path, token, fake.body), madeUp);
      expect([key, aboutB]).toEqual([key, aboutNothing]);
      expect(aboutB).not.toMatch(/bravo|team|detect-b-secret/);
    }
  });

  it("left B's things as they were: A's writes landed in A, or nowhere", async () => {
    const b = bearer(tok['b-admin'].token);
    const reg = (await (
      await fetch(`${server.url}/api/v1/regressions/${realB.regression}`, { headers: b })
    ).json()) as { status: string };
    expect(reg.status).toBe('open');
    const settings = (await (
      await fetch(`${server.url}/api/v1/baselines?service=secret-svc`, { headers: b })
    ).json()) as { versionLabel: string; windowMs: number };
    expect(settings).toMatchObject({ versionLabel: 'version', windowMs: 7_200_000 });
    expect(
      (await fetch(`${server.url}/api/v1/services`, { headers: bearer(tok['b-read'].token) })).status,
    ).toBe(200);
    const top = (await (
      await fetch(`${server.url}/api/v1/top?${sel('secret-svc')}`, { headers: b })
    ).json()) as { total: number; functions: { name: string }[] };
    expect(top.total).toBe(10 + 11 + 12 + 13 + 4 * 3);
    expect(top.functions.map((f) => f.name)).not.toContain('probe');
    // B's job is still failed, for B to see and retry; A saw only its own (none).
    const jobs = (await (await fetch(`${server.url}/api/v1/jobs`, { headers: b })).json()) as {
      failed: { id: string }[];
      counts?: unknown;
    };
    expect(jobs.failed.map((j) => j.id)).toEqual(['detect-b-secret']);
    expect(jobs.counts).toBeUndefined();
    // B's token list is B's alone, B's read token still works.
    const list = (await (await fetch(`${server.url}/api/v1/tokens`, { headers: b })).json()) as {
      id: string;
      tenant: string;
    }[];
    expect(list.every((t) => t.tenant === 'b')).toBe(true);
    expect(list.map((t) => t.id)).toContain(realB.token);
    // A's pushes under B's service name are A's.
    expect(
      await (await fetch(`${server.url}/api/v1/services`, { headers: bearer(tok['a-read'].token) })).json(),
    ).toEqual(['mine', 'never-was', 'secret-svc']);
    expect(
      (
        (await (
          await fetch(`${server.url}/api/v1/top?${sel('secret-svc')}`, {
            headers: bearer(tok['a-read'].token),
          })
        ).json()) as { functions: { name: string }[] }
      ).functions
        .map((f) => f.name)
        .filter((n) => n !== 'main'), // the Connect push's pprof is main;probe
    ).toEqual(['probe']);
  });

  it('the operator sees the whole queue; B retries its own job', async () => {
    const all = (await (await fetch(`${server.url}/api/v1/jobs`, { headers: bearer(ADMIN) })).json()) as {
      counts: Record<string, unknown>;
      failed: unknown[];
    };
    expect(Object.keys(all.counts)).toEqual(['detect']);
    expect(all.failed).toHaveLength(1);
    expect(
      (
        await fetch(`${server.url}/api/v1/jobs/${realB.job}/retry`, {
          method: 'POST',
          headers: bearer(tok['b-admin'].token),
        })
      ).status,
    ).toBe(200);
  });
});
