import * as fs from 'node:fs';
import { encodeProfileMessage } from '../profile/pprof-schema';
import { corpusFile, generatedCorpus } from './helpers/corpus';
import { getJson, ingest, startServer, type TestServer } from './helpers/server';

let server: TestServer;
const t0 = Math.floor(Date.now() / 1000) - 600; // ten minutes ago, whole seconds
const goLabels = fs.readFileSync(corpusFile(generatedCorpus, 'pprof/go-cpu-labels.pb.gz')); // runtime/pprof, with pprof.Do labels

beforeAll(async () => {
  server = await startServer();
  // checkout: three pushes a minute apart, two versions; a second service; another tenant.
  for (const [i, version] of ['1.4', '1.4', '1.5'].entries()) {
    const from = t0 + i * 60;
    const res = await ingest(
      server.url,
      {
        name: `checkout.cpu{env=prod,version=${version}}`,
        from: String(from),
        until: String(from + 10),
        units: 'samples',
      },
      `main;serve;handle ${10 * (i + 1)}\nmain;gc 5\n`,
    );
    expect(res.status).toBe(200);
  }
  expect(
    (
      await ingest(
        server.url,
        { name: 'gosvc{region=eu}', format: 'pprof', from: String(t0), until: String(t0 + 10) },
        goLabels,
      )
    ).status,
  ).toBe(200);
  expect(
    (
      await ingest(
        server.url,
        { name: 'checkout.cpu{env=secret}', from: String(t0), units: 'samples' },
        'other;tenant 99\n',
        { 'X-Scope-OrgID': 'acme' },
      )
    ).status,
  ).toBe(200);
});
afterAll(() => server.close());

const q = (path: string, params: Record<string, string>) =>
  `${path}?${new URLSearchParams({ from: String(t0 - 60), until: String(t0 + 600), ...params })}`;

describe('metadata endpoints', () => {
  it('lists services of the tenant only', async () => {
    expect((await getJson(server.url, '/api/v1/services')).json).toEqual(['checkout', 'gosvc']);
    expect((await getJson(server.url, '/api/v1/services', { 'X-Scope-OrgID': 'acme' })).json).toEqual([
      'checkout',
    ]);
  });

  it('lists profile types with units', async () => {
    expect((await getJson(server.url, '/api/v1/profile-types?service=checkout')).json).toEqual([
      { type: 'cpu', unit: 'samples', kind: 'cost' },
    ]);
    expect((await getJson(server.url, '/api/v1/profile-types?service=gosvc')).json).toEqual([
      { type: 'cpu', unit: 'nanoseconds', kind: 'cost' },
      { type: 'samples', unit: 'count', kind: 'cost' },
    ]);
  });

  it('lists label names from the name and from pprof sample labels, and their values', async () => {
    const labels = (await getJson<string[]>(server.url, q('/api/v1/labels', { service: 'gosvc' }))).json;
    expect(labels).toContain('region');
    expect(labels.length).toBeGreaterThan(1); // the Go profile's own pprof labels
    expect((await getJson(server.url, q('/api/v1/labels', { service: 'checkout' }))).json).toEqual([
      'env',
      'version',
    ]);
    expect(
      (await getJson(server.url, q('/api/v1/label-values', { service: 'checkout', label: 'version' }))).json,
    ).toEqual(['1.4', '1.5']);
  });
});

describe('top, flame graph and timeline', () => {
  it('merges every push in range, sorted by self', async () => {
    const { json } = await getJson<{
      total: number;
      unit: string;
      functions: { name: string; self: number; total: number }[];
    }>(server.url, q('/api/v1/top', { query: 'checkout', type: 'cpu' }));
    expect(json.unit).toBe('samples');
    expect(json.total).toBe(75);
    expect(json.functions).toEqual([
      { name: 'handle', self: 60, total: 60 },
      { name: 'gc', self: 15, total: 15 },
      { name: 'main', self: 0, total: 75 },
      { name: 'serve', self: 0, total: 60 },
    ]);
  });

  it('filters with = != =~ !~ matchers', async () => {
    const total = async (query: string) =>
      (await getJson<{ total: number }>(server.url, q('/api/v1/top', { query, type: 'cpu' }))).json.total;
    expect(await total('checkout{version="1.5"}')).toBe(35);
    expect(await total('checkout{version!="1.5"}')).toBe(40);
    expect(await total('checkout{version=~"1\\\\.[45]"}')).toBe(75);
    expect(await total('checkout{version=~"1"}')).toBe(0); // anchored
    expect(await total('checkout{version!~"1.4"}')).toBe(35);
    expect(await total('{service_name="checkout", env="prod"}')).toBe(75);
    expect(await total('checkout{missing=""}')).toBe(75); // an absent label is empty, as in Prometheus
  });

  it('filters by pprof sample labels', async () => {
    const all = (
      await getJson<{ total: number }>(server.url, q('/api/v1/top', { query: 'gosvc', type: 'cpu' }))
    ).json.total;
    const names = (
      await getJson<string[]>(server.url, q('/api/v1/labels', { service: 'gosvc' }))
    ).json.filter((n) => n !== 'region');
    const values = (
      await getJson<string[]>(server.url, q('/api/v1/label-values', { service: 'gosvc', label: names[0] }))
    ).json;
    let sum = 0;
    for (const v of values) {
      sum += (
        await getJson<{ total: number }>(
          server.url,
          q('/api/v1/top', { query: `gosvc{${names[0]}=${JSON.stringify(v)}}`, type: 'cpu' }),
        )
      ).json.total;
    }
    expect(sum).toBeGreaterThan(0);
    expect(sum).toBeLessThanOrEqual(all);
  });

  it('honours the time range and limit', async () => {
    const { json } = await getJson<{ total: number; functions: unknown[] }>(
      server.url,
      `/api/v1/top?${new URLSearchParams({ query: 'checkout', type: 'cpu', from: String(t0 + 30), until: String(t0 + 90), limit: '1' })}`,
    );
    expect(json.total).toBe(25); // the second push only
    expect(json.functions).toHaveLength(1);
  });

  it('returns the flame graph in levels, children by name, with pruning', async () => {
    const { json } = await getJson<{
      names: string[];
      levels: number[][];
      total: number;
      nodes: { total: number; shown: number };
    }>(server.url, q('/api/v1/flamegraph', { query: 'checkout', type: 'cpu' }));
    const name = (level: number, i: number) => json.names[json.levels[level][i * 4 + 3]];
    expect(json.total).toBe(75);
    expect(json.levels[0]).toEqual([0, 75, 0, json.names.indexOf('total')]);
    expect(name(1, 0)).toBe('main');
    expect(json.levels[2].length / 4).toBe(2);
    expect([name(2, 0), name(2, 1)]).toEqual(['gc', 'serve']);
    expect(json.levels[2].slice(0, 3)).toEqual([0, 15, 15]);
    expect(json.levels[2].slice(4, 7)).toEqual([0, 60, 0]);
    expect(json.levels[3].slice(0, 3)).toEqual([15, 60, 60]); // handle starts after gc
    const pruned = (
      await getJson<{ nodes: { shown: number }; levels: number[][] }>(
        server.url,
        q('/api/v1/flamegraph', { query: 'checkout', type: 'cpu', maxNodes: '3' }),
      )
    ).json;
    expect(pruned.nodes.shown).toBe(3);
    const tiny = (
      await getJson<{ levels: number[][] }>(
        server.url,
        q('/api/v1/flamegraph', { query: 'checkout', type: 'cpu', minShare: '0.5' }),
      )
    ).json;
    expect(tiny.levels[2].length / 4).toBe(1); // gc (20%) pruned
  });

  it('returns totals per step, zero where nothing was pushed', async () => {
    const { json } = await getJson<{ step: number; points: [number, number][] }>(
      server.url,
      `/api/v1/timeline?${new URLSearchParams({ query: 'checkout', type: 'cpu', from: String(t0), until: String(t0 + 240), step: '60' })}`,
    );
    expect(json.step).toBe(60);
    const values = json.points.map((p) => p[1]);
    expect(values.reduce((a, b) => a + b, 0)).toBe(75);
    expect(values.filter((v) => v > 0)).toEqual([15, 25, 35]);
    for (const [t] of json.points) expect(t % 60_000).toBe(0);
  });

  it('a profile that began before the range and ran into it is in it, drawn at its start', async () => {
    // Fifty minutes of one profile, ending 100 s after t0.
    expect(
      (
        await ingest(
          server.url,
          { name: 'longsvc.cpu', from: String(t0 - 3000), until: String(t0 + 100), units: 'samples' },
          'main;batch 40\n',
        )
      ).status,
    ).toBe(200);
    const top = async (from: number, until: number) =>
      (
        await getJson<{ total: number }>(
          server.url,
          `/api/v1/top?${new URLSearchParams({ query: 'longsvc', type: 'cpu', from: String(from), until: String(until) })}`,
        )
      ).json.total;
    expect(await top(t0, t0 + 200)).toBe(40);
    expect(await top(t0 + 100, t0 + 200)).toBe(0); // it had ended
    expect(await top(t0 - 4000, t0 - 3000)).toBe(0); // it had not begun
    const { json } = await getJson<{ points: [number, number][] }>(
      server.url,
      `/api/v1/timeline?${new URLSearchParams({ query: 'longsvc', type: 'cpu', from: String(t0), until: String(t0 + 240), step: '60' })}`,
    );
    expect(json.points.filter(([, v]) => v > 0)).toEqual([[Math.floor(t0 / 60) * 60_000, 40]]);
    // A pushed file of an hour with no from or until ends now: it is in the last hour.
    const hour = encodeProfileMessage({
      sampleType: [{ type: 1, unit: 2 }],
      stringTable: ['', 'cpu', 'nanoseconds', 'main'],
      function: [{ id: 1, name: 3 }],
      location: [{ id: 1, line: [{ functionId: 1 }] }],
      sample: [{ locationId: [1], value: [7e9] }],
      durationNanos: 3600e9,
    });
    expect((await ingest(server.url, { name: 'hourfile', format: 'pprof' }, hour)).status).toBe(200);
    const last = await getJson<{ total: number }>(
      server.url,
      `/api/v1/top?${new URLSearchParams({ query: 'hourfile', type: 'cpu', from: 'now-1h', until: 'now' })}`,
    );
    expect(last.json.total).toBe(7e9);
  });

  it('never shows one tenant the data of another', async () => {
    const acme = (
      await getJson<{ total: number }>(server.url, q('/api/v1/top', { query: 'checkout', type: 'cpu' }), {
        'X-Scope-OrgID': 'acme',
      })
    ).json;
    expect(acme.total).toBe(99);
    const def = (
      await getJson<{ functions: { name: string }[] }>(
        server.url,
        q('/api/v1/top', { query: 'checkout', type: 'cpu', limit: '0' }),
      )
    ).json;
    expect(def.functions.map((f) => f.name)).not.toContain('tenant');
  });
});

describe('errors are JSON with a status that says what was wrong', () => {
  it.each([
    ['/api/v1/top?type=cpu', 400, /query is required/],
    ['/api/v1/top?query=checkout', 400, /type is required/],
    ['/api/v1/top?query=checkout{a=~"("}&type=cpu', 400, /regular expression/],
    ['/api/v1/top?query=checkout&type=cpu&from=now-1h&until=now-2h', 400, /must be before/],
    ['/api/v1/top?query=checkout&type=cpu&limit=-1', 400, /limit/],
    ['/api/v1/flamegraph?query=checkout&type=cpu&maxNodes=x', 400, /maxNodes/],
    ['/api/v1/timeline?query=checkout&type=cpu&from=0&step=1', 400, /limit is 20000/],
    ['/api/v1/export?query=checkout&type=cpu&format=svg', 415, /pprof, folded or speedscope, not "svg"/],
    ['/api/v1/nope', 404, /no API endpoint/],
    ['/nope', 404, /no route GET \/nope/],
  ])('GET %s → %i', async (path, status, message) => {
    const { status: got, json } = await getJson<{ error: string }>(server.url, path);
    expect(got).toBe(status);
    expect(json.error).toMatch(message);
  });
});

describe('health and metrics', () => {
  it('answers /healthz and /metrics', async () => {
    expect((await getJson(server.url, '/healthz')).json).toEqual({ status: 'ok', engine: 'chdb' });
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    expect(metrics).toMatch(/flamewatch_ingested_profiles_total\{format="folded"\} 5/);
    expect(metrics).toMatch(/flamewatch_ingested_profiles_total\{format="pprof"\} 2/);
    expect(metrics).toMatch(/flamewatch_http_request_duration_seconds_bucket/);
  });
});
