/**
 * Pyroscope's query API over Connect, as Grafana's data source calls it:
 * unary POSTs of binary protobuf (`application/proto`), each answer checked
 * against the REST API on the same data. The messages are encoded and decoded
 * by protobufjs from the repository's .proto files; a few bytes are checked
 * by hand to pin the field numbers that are Pyroscope's wire contract.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as protobuf from 'protobufjs';
import { protoRoot } from '../server/connect/codec';
import { corpusFile, generatedCorpus, toolsDir, type Expected } from './helpers/corpus';
import { mainCalls } from './helpers/synthetic-profiles';
import { getJson, ingest, startServer, type TestServer } from './helpers/server';

let server: TestServer;
let secured: TestServer;
const ADMIN = 'connect-admin-token-0123456789';
const now = Date.now();
const t0 = Math.floor(now / 1000) - 600;
const goCpu = fs.readFileSync(corpusFile(generatedCorpus, 'pprof/go-cpu-labels.pb.gz'));

beforeAll(async () => {
  server = await startServer();
  secured = await startServer({ auth: { mode: 'token', adminToken: ADMIN, cacheMs: 400 } });
  // checkout in two versions and two regions, folded; gosvc a real Go pprof.
  for (const [i, [version, region]] of [
    ['1', 'eu'],
    ['1', 'us'],
    ['2', 'eu'],
    ['2', 'us'],
  ].entries()) {
    const from = t0 + i * 60;
    const res = await ingest(
      server.url,
      {
        name: `checkout.cpu{version=${version},region=${region}}`,
        from: String(from),
        until: String(from + 10),
        units: 'samples',
      },
      `main;serve;handle ${10 * (i + 1)}\nmain;gc 5\nmain;serve;encode ${version === '2' ? 30 : 3}\n`,
    );
    expect(res.status).toBe(200);
  }
  expect(
    (await ingest(server.url, { name: 'gosvc{region=eu}', format: 'pprof', from: String(t0) }, goCpu)).status,
  ).toBe(200);
});
afterAll(async () => {
  await server.close();
  await secured.close();
});

const range = { start: (t0 - 60) * 1000, end: now + 60_000 };

/** One unary Connect call in binary protobuf; the answer decoded, or the error's status and body. */
async function call(
  method: string,
  request: Record<string, unknown>,
  responseType: string,
  requestType: string,
  url = server.url,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown>; raw: Buffer }> {
  const root = protoRoot();
  const reqType = root.lookupType(requestType);
  const res = await fetch(`${url}/querier.v1.QuerierService/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/proto', 'connect-protocol-version': '1', ...headers },
    body: reqType.encode(reqType.fromObject(request)).finish(),
  });
  const raw = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200) return { status: res.status, body: JSON.parse(raw.toString('utf8')) as never, raw };
  expect(res.headers.get('content-type')).toMatch(/^application\/proto/);
  const type: protobuf.Type = root.lookupType(responseType);
  return {
    status: 200,
    body: type.toObject(type.decode(raw), { longs: Number, enums: String, arrays: true, defaults: true }),
    raw,
  };
}

describe('querier.v1.QuerierService over Connect, binary protobuf', () => {
  it('ProfileTypes: every stored type in Pyroscope’s ID spelling; an empty range (the health check) succeeds', async () => {
    const { status, body } = await call(
      'ProfileTypes',
      { start: 1000, end: 4000 },
      'querier.v1.ProfileTypesResponse',
      'querier.v1.ProfileTypesRequest',
    );
    expect(status).toBe(200);
    const ids = (body.profileTypes as { ID: string; sampleType: string; sampleUnit: string }[]).map(
      (t) => t.ID,
    );
    expect(ids).toEqual(
      expect.arrayContaining([
        'process_cpu:cpu:nanoseconds:cpu:nanoseconds',
        'process_cpu:cpu:samples:cpu:nanoseconds',
      ]),
    );
    // Each type's ID names its sample type and unit: what REST's profile-types lists.
    const rest = (
      await getJson<{ type: string; unit: string }[]>(server.url, '/api/v1/profile-types?service=gosvc')
    ).json;
    for (const t of rest)
      expect(ids.some((id) => id.split(':')[1] === t.type && id.split(':')[2] === t.unit)).toBe(true);
  });

  it('LabelNames, LabelValues and Series: service_name and the labels, as REST lists them', async () => {
    const names = await call(
      'LabelNames',
      { matchers: ['{service_name="checkout"}'], ...range },
      'types.v1.LabelNamesResponse',
      'types.v1.LabelNamesRequest',
    );
    const restNames = (
      await getJson<string[]>(server.url, `/api/v1/labels?service=checkout&from=${t0 - 60}&until=${t0 + 600}`)
    ).json;
    expect(names.body.names).toEqual(['__name__', '__profile_type__', 'service_name', ...restNames].sort());
    const services = await call(
      'LabelValues',
      { name: 'service_name', ...range },
      'types.v1.LabelValuesResponse',
      'types.v1.LabelValuesRequest',
    );
    expect(services.body.names).toEqual(['checkout', 'gosvc']);
    const regions = await call(
      'LabelValues',
      { name: 'region', matchers: ['{service_name="checkout"}'], ...range },
      'types.v1.LabelValuesResponse',
      'types.v1.LabelValuesRequest',
    );
    expect(regions.body.names).toEqual(['eu', 'us']);
    const series = await call(
      'Series',
      { matchers: ['{service_name="checkout"}'], labelNames: ['service_name', 'version'], ...range },
      'querier.v1.SeriesResponse',
      'querier.v1.SeriesRequest',
    );
    const sets = (series.body.labelsSet as { labels: { name: string; value: string }[] }[]).map((l) =>
      l.labels.map((p) => `${p.name}=${p.value}`).join(','),
    );
    expect(sets.sort()).toEqual(['service_name=checkout,version=1', 'service_name=checkout,version=2']);
    // SeriesResponse's labels_set is field 2 (Pyroscope's numbering has no field 1): tag (2 << 3) | 2.
    expect(series.raw[0]).toBe(0x12);
    // As Grafana's Profiles Drilldown lists services and their types.
    const drilldown = await call(
      'Series',
      { labelNames: ['service_name', '__profile_type__'], ...range },
      'querier.v1.SeriesResponse',
      'querier.v1.SeriesRequest',
    );
    const pairs = (drilldown.body.labelsSet as { labels: { name: string; value: string }[] }[]).map((l) =>
      l.labels.map((p) => p.value).join(' '),
    );
    expect(pairs).toEqual(
      expect.arrayContaining([
        'process_cpu:cpu:samples:cpu:nanoseconds checkout',
        'process_cpu:cpu:nanoseconds:cpu:nanoseconds gosvc',
      ]),
    );
    const types = await call(
      'LabelValues',
      { name: '__profile_type__', matchers: ['{service_name="gosvc"}'], ...range },
      'types.v1.LabelValuesResponse',
      'types.v1.LabelValuesRequest',
    );
    expect(types.body.names).toContain('process_cpu:cpu:nanoseconds:cpu:nanoseconds');
    expect(types.body.names).not.toContain('process_cpu:cpu:samples:cpu:nanoseconds');
  });

  it('SelectMergeStacktraces: the flame graph REST answers, in Pyroscope’s rows', async () => {
    for (const [selector, query, type, id] of [
      ['{service_name="checkout"}', 'checkout', 'cpu:samples', 'process_cpu:cpu:samples:cpu:nanoseconds'],
      [
        '{service_name="checkout", version="2"}',
        'checkout{version="2"}',
        'cpu:samples',
        'process_cpu:cpu:samples:cpu:samples',
      ],
      ['{service_name="gosvc"}', 'gosvc', 'cpu:nanoseconds', 'process_cpu:cpu:nanoseconds:cpu:nanoseconds'],
    ]) {
      const { status, body } = await call(
        'SelectMergeStacktraces',
        { profileTypeID: id, labelSelector: selector, ...range, maxNodes: 1024 },
        'querier.v1.SelectMergeStacktracesResponse',
        'querier.v1.SelectMergeStacktracesRequest',
      );
      expect(status).toBe(200);
      const rest = (
        await getJson<{ names: string[]; levels: number[][]; total: number; maxSelf: number }>(
          server.url,
          `/api/v1/flamegraph?${new URLSearchParams({ query, type, from: String(t0 - 60), until: String(Math.ceil(now / 1000) + 60), maxNodes: '1024' })}`,
        )
      ).json;
      const fg = body.flamegraph as {
        names: string[];
        levels: { values: number[] }[];
        total: number;
        maxSelf: number;
      };
      expect(rest.total).toBeGreaterThan(0);
      expect([selector, fg.total, fg.maxSelf]).toEqual([selector, rest.total, rest.maxSelf]);
      expect(fg.names).toEqual(rest.names);
      expect(fg.levels.map((l) => l.values)).toEqual(rest.levels);
    }
  });

  it('SelectSeries: per step and grouped by a label, summing to the REST timeline', async () => {
    const { body } = await call(
      'SelectSeries',
      {
        profileTypeID: 'process_cpu:cpu:samples:cpu:samples',
        labelSelector: '{service_name="checkout"}',
        ...range,
        step: 60,
        groupBy: ['version'],
      },
      'querier.v1.SelectSeriesResponse',
      'querier.v1.SelectSeriesRequest',
    );
    const series = body.series as {
      labels: { name: string; value: string }[];
      points: { value: number; timestamp: number }[];
    }[];
    expect(series.map((s) => s.labels.map((l) => `${l.name}=${l.value}`).join())).toEqual([
      'version=2',
      'version=1',
    ]);
    const sum = (version: string) =>
      series.find((s) => s.labels[0].value === version)!.points.reduce((a, p) => a + p.value, 0);
    for (const version of ['1', '2']) {
      const rest = (
        await getJson<{ points: [number, number][] }>(
          server.url,
          `/api/v1/timeline?${new URLSearchParams({ query: `checkout{version="${version}"}`, type: 'cpu:samples', from: String(t0 - 60), until: String(Math.ceil(now / 1000) + 60), step: '60' })}`,
        )
      ).json;
      expect(sum(version)).toBe(rest.points.reduce((a, p) => a + p[1], 0));
    }
    for (const s of series) for (const p of s.points) expect(p.timestamp % 60_000).toBe(0);
  });

  it('Diff: both sides’ ticks as REST’s diff totals, 7 numbers a node', async () => {
    const side = (version: string) => ({
      profileTypeID: 'process_cpu:cpu:samples:cpu:samples',
      labelSelector: `{service_name="checkout",version="${version}"}`,
      ...range,
    });
    const { status, body } = await call(
      'Diff',
      { left: side('1'), right: side('2') },
      'querier.v1.DiffResponse',
      'querier.v1.DiffRequest',
    );
    expect(status).toBe(200);
    const fg = body.flamegraph as {
      names: string[];
      levels: { values: number[] }[];
      leftTicks: number;
      rightTicks: number;
      total: number;
    };
    expect([fg.leftTicks, fg.rightTicks]).toEqual([10 + 5 + 3 + 20 + 5 + 3, 30 + 5 + 30 + 40 + 5 + 30]);
    expect(fg.total).toBe(fg.leftTicks + fg.rightTicks);
    for (const l of fg.levels) expect(l.values.length % 7).toBe(0);
    // Offsets are gaps after the previous node of the row: every node lies inside a node of the row above, on
    // each side, and the children of a node never add up to more than it.
    const spans = (side: 0 | 3) =>
      fg.levels.map((l) => {
        const out: [number, number][] = [];
        let x = 0;
        for (let i = 0; i < l.values.length; i += 7) {
          x += l.values[i + side];
          out.push([x, x + l.values[i + side + 1]]);
          x += l.values[i + side + 1];
        }
        return out;
      });
    for (const side of [0, 3] as const) {
      const rows = spans(side);
      for (let d = 1; d < rows.length; d++)
        for (const [a, b] of rows[d]) expect(rows[d - 1].some(([pa, pb]) => pa <= a && b <= pb)).toBe(true);
    }
    // encode: 3 a push in version 1, 30 in version 2, under main;serve.
    const encode = fg.names.indexOf('encode');
    const row = fg.levels[3].values;
    const at = row.findIndex((v, i) => i % 7 === 6 && v === encode);
    expect([row[at - 5], row[at - 2]]).toEqual([6, 60]);
  });
});

describe('pprof, spans and Connect push', () => {
  it('SelectMergeProfile: a pprof google/pprof reads, with the flame graph’s totals and functions', async () => {
    const { status, raw } = await call(
      'SelectMergeProfile',
      {
        profileTypeID: 'process_cpu:cpu:nanoseconds:cpu:nanoseconds',
        labelSelector: '{service_name="gosvc"}',
        ...range,
      },
      'google.v1.Profile',
      'querier.v1.SelectMergeProfileRequest',
    );
    expect(status).toBe(200);
    const file = path.join(os.tmpdir(), `fw-connect-${process.pid}.pb`);
    fs.writeFileSync(file, raw);
    try {
      const ref = JSON.parse(
        execFileSync(path.join(toolsDir, 'refprof'), [file], { encoding: 'utf8' }),
      ) as Expected;
      const top = (
        await getJson<{ total: number; functions: { name: string; self: number; total: number }[] }>(
          server.url,
          `/api/v1/top?${new URLSearchParams({ query: 'gosvc', type: 'cpu:nanoseconds', from: String(t0 - 60), until: String(Math.ceil(now / 1000) + 60), limit: '0' })}`,
        )
      ).json;
      expect(ref.sampleTypes[0]).toMatchObject({ type: 'cpu', unit: 'nanoseconds', total: top.total });
      for (const f of top.functions)
        expect([f.name, ref.sampleTypes[0].functions[f.name]]).toEqual([
          f.name,
          { flat: f.self, cum: f.total },
        ]);
    } finally {
      fs.rmSync(file, { force: true });
    }
  });

  it('SelectMergeSpanProfile: the samples recorded under the given spans; none without span labels', async () => {
    const pprof = mainCalls('cpu', 'nanoseconds', 'work', [
      { value: 5, labels: { span_id: '00000000000000AB' } },
      { value: 7, labels: { span_id: '00000000000000cd' } },
      { value: 11 },
    ]);
    expect(
      (await ingest(server.url, { name: 'spansvc', format: 'pprof', from: String(t0) }, pprof)).status,
    ).toBe(200);
    const spans = async (ids: string[], service = 'spansvc') =>
      (
        await call(
          'SelectMergeSpanProfile',
          {
            profileTypeID: 'process_cpu:cpu:nanoseconds:cpu:nanoseconds',
            labelSelector: `{service_name="${service}"}`,
            spanSelector: ids,
            ...range,
          },
          'querier.v1.SelectMergeSpanProfileResponse',
          'querier.v1.SelectMergeSpanProfileRequest',
        )
      ).body.flamegraph as { total: number; names: string[] };
    expect((await spans(['00000000000000ab'])).total).toBe(5);
    expect((await spans(['00000000000000ab', '00000000000000CD'])).total).toBe(12);
    expect((await spans(['00000000000000ab'])).names).toEqual(['total', 'main', 'work']);
    expect((await spans(['ffff'])).total).toBe(0);
    expect((await spans(['00000000000000ab'], 'gosvc')).total).toBe(0);
  });

  it('push.v1.PusherService/Push: every profile of a push stored as /ingest stores it, or none of them', async () => {
    const root = protoRoot();
    const Push = root.lookupType('push.v1.PushRequest');
    const post = (message: Record<string, unknown>, url = server.url, headers: Record<string, string> = {}) =>
      fetch(`${url}/push.v1.PusherService/Push`, {
        method: 'POST',
        headers: { 'content-type': 'application/proto', ...headers },
        body: Push.encode(Push.fromObject(message)).finish(),
      });
    const series = (service: string, raw: Uint8Array[]) => ({
      labels: [
        { name: '__name__', value: 'process_cpu' },
        { name: 'service_name', value: service },
        { name: 'region', value: 'eu' },
      ],
      samples: raw.map((rawProfile, i) => ({ rawProfile, ID: `00000000-0000-4000-8000-00000000000${i}` })),
    });
    const ok = await post({ series: [series('pushed', [goCpu, goCpu])] });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('content-type')).toMatch(/^application\/proto/);
    await server.store.writer.drain();
    const q = (service: string) =>
      `/api/v1/top?${new URLSearchParams({ query: `${service}{region="eu"}`, type: 'cpu:nanoseconds', from: 'now-5m', until: 'now' })}`;
    const [pushed, ingested] = await Promise.all([
      getJson<{ total: number }>(server.url, q('pushed')),
      getJson<{ total: number }>(server.url, q('gosvc')),
    ]);
    // Two pushes of the file against one through /ingest; __name__ is not a label.
    expect(pushed.json.total).toBe(2 * ingested.json.total);
    expect((await getJson<string[]>(server.url, '/api/v1/labels?service=pushed')).json).not.toContain(
      '__name__',
    );
    // A bad profile anywhere in the push: 4xx in Connect's shape, and the good one beside it is not stored.
    const bad = await post({
      series: [series('halfpushed', [goCpu]), series('halfpushed', [Buffer.from('not a profile')])],
    });
    expect(bad.status).toBeGreaterThanOrEqual(400);
    expect(bad.status).toBeLessThan(500);
    expect(await bad.json()).toMatchObject({ code: 'invalid_argument' });
    const missing = await post({
      series: [{ labels: [{ name: 'region', value: 'eu' }], samples: [{ rawProfile: goCpu }] }],
    });
    expect(missing.status).toBe(400);
    expect(await missing.json()).toMatchObject({ message: expect.stringMatching(/no service_name/) });
    await server.store.writer.drain();
    expect((await getJson<string[]>(server.url, '/api/v1/services')).json).not.toContain('halfpushed');
    // The ingest scope, as /ingest: no token, 401 in Connect's shape.
    const denied = await post({ series: [series('pushed', [goCpu])] }, secured.url);
    expect(denied.status).toBe(401);
    expect(await denied.json()).toMatchObject({ code: 'unauthenticated' });
  });
});

describe('selectors as Grafana writes them, and abuse', () => {
  it('reads __name__ and __profile_type__ as Pyroscope’s, not as labels; a user regex runs in RE2, not here', async () => {
    const total = async (labelSelector: string) => {
      const r = await call(
        'SelectMergeStacktraces',
        { profileTypeID: 'process_cpu:cpu:samples:cpu:nanoseconds', labelSelector, ...range },
        'querier.v1.SelectMergeStacktracesResponse',
        'querier.v1.SelectMergeStacktracesRequest',
      );
      expect(r.status).toBe(200);
      return (r.body.flamegraph as { total: number }).total;
    };
    const all = await total('{service_name="checkout"}');
    expect(all).toBeGreaterThan(0);
    expect(await total('{__name__="process_cpu", service_name="checkout"}')).toBe(all);
    expect(
      await total('{service_name="checkout", __profile_type__="process_cpu:cpu:samples:cpu:nanoseconds"}'),
    ).toBe(all);
    expect(await total('{service_name="checkout", __name__="memory"}')).toBe(0);
    // (a+)+ against a long name of a's that does not match takes a backtracking engine seconds; RE2 none.
    expect(
      (await ingest(server.url, { name: `${'a'.repeat(40)}b`, from: String(t0), units: 'samples' }, 'x 1\n'))
        .status,
    ).toBe(200);
    const started = Date.now();
    expect(await total('{service_name=~"(a+)+"}')).toBe(0);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('refuses a push of more profiles than it holds at once, and nonsense times', async () => {
    const Push = protoRoot().lookupType('push.v1.PushRequest');
    const res = await fetch(`${server.url}/push.v1.PusherService/Push`, {
      method: 'POST',
      headers: { 'content-type': 'application/proto' },
      body: Push.encode(
        Push.fromObject({
          series: [
            {
              labels: [{ name: 'service_name', value: 'many' }],
              samples: Array.from({ length: 65 }, () => ({ rawProfile: goCpu })),
            },
          ],
        }),
      ).finish(),
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({
      code: 'resource_exhausted',
      message: expect.stringMatching(/65 profiles; the limit is 64/),
    });
    const bad = await call(
      'SelectSeries',
      {
        profileTypeID: 'process_cpu:cpu:samples:cpu:nanoseconds',
        labelSelector: '{service_name="checkout"}',
        start: 0,
        end: 1e18,
        step: 60,
      },
      'querier.v1.SelectSeriesResponse',
      'querier.v1.SelectSeriesRequest',
    );
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({ code: 'invalid_argument' });
  });
});

describe('errors and encodings', () => {
  it('answers Connect errors: a bad type 400 invalid_argument, an unknown method 501, another content type 415', async () => {
    const bad = await call(
      'SelectMergeStacktraces',
      { profileTypeID: 'cpu', labelSelector: '{service_name="checkout"}', ...range },
      'querier.v1.SelectMergeStacktracesResponse',
      'querier.v1.SelectMergeStacktracesRequest',
    );
    expect(bad.status).toBe(400);
    expect(bad.body).toMatchObject({
      code: 'invalid_argument',
      message: expect.stringMatching(/profile_typeID must be/),
    });
    const unknown = await call(
      'Nope',
      {},
      'querier.v1.ProfileTypesResponse',
      'querier.v1.ProfileTypesRequest',
    );
    expect(unknown.status).toBe(501);
    expect(unknown.body).toMatchObject({ code: 'unimplemented' });
    const text = await fetch(`${server.url}/querier.v1.QuerierService/ProfileTypes`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: 'x',
    });
    expect(text.status).toBe(415);
    const garbage = await fetch(`${server.url}/querier.v1.QuerierService/ProfileTypes`, {
      method: 'POST',
      headers: { 'content-type': 'application/proto' },
      body: Buffer.from([0xff, 0xff, 0xff]),
    });
    expect(garbage.status).toBe(400);
    expect(await garbage.json()).toMatchObject({ code: 'invalid_argument' });
  });

  it('speaks the JSON mapping too: camelCase fields, 64-bit integers as strings', async () => {
    const res = await fetch(`${server.url}/querier.v1.QuerierService/SelectMergeStacktraces`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        profileTypeID: 'process_cpu:cpu:samples:cpu:samples',
        labelSelector: '{service_name="checkout"}',
        start: String(range.start),
        end: String(range.end),
      }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { flamegraph: { total: string; maxSelf: string; names: string[] } };
    expect(body.flamegraph.total).toBe(String(10 + 5 + 3 + 20 + 5 + 3 + 30 + 5 + 30 + 40 + 5 + 30));
    expect(body.flamegraph.names[0]).toBe('total');
  });

  it('asks for a token as the REST API does, and answers its refusal in Connect’s shape; Grafana’s Basic auth works', async () => {
    const none = await call(
      'ProfileTypes',
      { start: 1000, end: 4000 },
      'querier.v1.ProfileTypesResponse',
      'querier.v1.ProfileTypesRequest',
      secured.url,
    );
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ code: 'unauthenticated' });
    const basic = await call(
      'ProfileTypes',
      { start: 1000, end: 4000 },
      'querier.v1.ProfileTypesResponse',
      'querier.v1.ProfileTypesRequest',
      secured.url,
      { authorization: `Basic ${Buffer.from(`grafana:${ADMIN}`).toString('base64')}` },
    );
    expect(basic.status).toBe(200);
  });
});
