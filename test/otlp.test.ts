/**
 * OTLP profiles in (`POST /v1development/profiles`): requests built with
 * protobufjs from the repository's .proto files in the shapes the
 * OpenTelemetry eBPF profiler and the collector send (several resources and
 * scopes sharing one dictionary, inlined lines, unsymbolised native frames,
 * samples as timestamps with a CPU period), binary and JSON, gzip or not;
 * exact totals through `/api/v1/top`.
 */
import { gzipSync } from 'node:zlib';
import type * as protobuf from 'protobufjs';
import { otlpRoot } from '../server/otlp/route';
import { getJson, startServer, type TestServer } from './helpers/server';

let server: TestServer;
let root: protobuf.Root;
const now = Date.now();

beforeAll(async () => {
  server = await startServer();
  root = otlpRoot();
});
afterAll(() => server.close());

const REQ = 'opentelemetry.proto.collector.profiles.v1development.ExportProfilesServiceRequest';
const RES = 'opentelemetry.proto.collector.profiles.v1development.ExportProfilesServiceResponse';

/**
 * Two resources (one named, one not: unknown_service:<executable>), one dictionary. Frames: main → handle
 * (with parse inlined into it: one location, two lines) → a native frame of libc with no function.
 */
function request(scale = 1): Record<string, unknown> {
  const strings = [
    '',
    'samples',
    'count',
    'cpu',
    'nanoseconds',
    'main',
    'app.go',
    'handle',
    'parse',
    'libc.so.6',
    'service.name',
    'host.name',
    'process.executable.name',
    'thread.name',
  ];
  const s = (x: string) => strings.indexOf(x);
  const dictionary = {
    stringTable: strings,
    mappingTable: [{}, { memoryStart: 0x1000, memoryLimit: 0x9000, filenameStrindex: s('libc.so.6') }],
    functionTable: [
      {},
      { nameStrindex: s('main'), filenameStrindex: s('app.go') },
      { nameStrindex: s('handle'), filenameStrindex: s('app.go') },
      { nameStrindex: s('parse'), filenameStrindex: s('app.go') },
    ],
    locationTable: [
      {},
      { lines: [{ functionIndex: 1, line: 10 }] },
      // parse inlined into handle: the last line is the caller.
      {
        lines: [
          { functionIndex: 3, line: 30 },
          { functionIndex: 2, line: 20 },
        ],
      },
      { mappingIndex: 1, address: 0x4a2f },
    ],
    // Leaf first.
    stackTable: [{}, { locationIndices: [2, 1] }, { locationIndices: [3, 2, 1] }],
    attributeTable: [{}, { keyStrindex: s('thread.name'), value: { stringValue: 'worker' } }],
  };
  const cpuProfile = (samples: { stack: number; times: number }[]) => ({
    sampleType: { typeStrindex: s('samples'), unitStrindex: s('count') },
    periodType: { typeStrindex: s('cpu'), unitStrindex: s('nanoseconds') },
    period: 50_000_000, // 20 Hz
    timeUnixNano: (now - 60_000) * 1e6,
    durationNano: 10_000 * 1e6,
    samples: samples.map(({ stack, times }) => ({
      stackIndex: stack,
      attributeIndices: [1],
      timestampsUnixNano: Array.from({ length: times * scale }, (_, i) => (now - 60_000 + i) * 1e6),
    })),
  });
  return {
    dictionary,
    resourceProfiles: [
      {
        resource: {
          attributes: [
            { key: 'service.name', value: { stringValue: 'otelsvc' } },
            { key: 'host.name', value: { stringValue: 'node-1' } },
          ],
        },
        scopeProfiles: [
          { scope: { name: 'ebpf-profiler' }, profiles: [cpuProfile([{ stack: 1, times: 3 }])] },
          { scope: { name: 'other' }, profiles: [cpuProfile([{ stack: 2, times: 2 }])] },
        ],
      },
      {
        resource: { attributes: [{ key: 'process.executable.name', value: { stringValue: 'bash' } }] },
        scopeProfiles: [{ profiles: [cpuProfile([{ stack: 2, times: 4 }])] }],
      },
    ],
  };
}

async function post(
  body: Uint8Array | string,
  contentType: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server.url}/v1development/profiles`, {
    method: 'POST',
    headers: { 'content-type': contentType, ...headers },
    body,
  });
  const raw = Buffer.from(await res.arrayBuffer());
  if (res.status !== 200 || contentType === 'application/json')
    return {
      status: res.status,
      body: raw.length ? (JSON.parse(raw.toString('utf8')) as Record<string, unknown>) : {},
    };
  const t = root.lookupType(RES);
  return { status: res.status, body: t.toObject(t.decode(raw), { longs: Number }) };
}

const top = async (query: string) =>
  (
    await getJson<{
      total: number;
      unit: string;
      functions: { name: string; self: number; total: number }[];
    }>(
      server.url,
      `/api/v1/top?${new URLSearchParams({ query, type: 'cpu', from: 'now-10m', until: 'now', limit: '0' })}`,
    )
  ).json;

describe('POST /v1development/profiles', () => {
  it('stores binary OTLP profiles: samples as CPU time, inlined frames, native frames named by module and address', async () => {
    const Req = root.lookupType(REQ);
    const bytes = Req.encode(Req.fromObject(request())).finish();
    const res = await post(bytes, 'application/x-protobuf');
    expect(res.status).toBe(200);
    expect(res.body.partialSuccess).toBeUndefined();
    await server.store.writer.drain();
    const named = await top('otelsvc');
    // 3 + 2 samples at 50 ms of CPU each.
    expect(named.unit).toBe('nanoseconds');
    expect(named.total).toBe(5 * 50_000_000);
    const self = Object.fromEntries(named.functions.map((f) => [f.name, f.self]));
    expect(self).toMatchObject({ parse: 3 * 50_000_000, 'libc.so.6+0x4a2f': 2 * 50_000_000 });
    expect(named.functions.find((f) => f.name === 'handle')).toMatchObject({
      self: 0,
      total: 5 * 50_000_000,
    });
    // The resource with no service.name: unknown_service:<executable>, as OpenTelemetry's conventions say.
    expect((await top('unknown_service:bash')).total).toBe(4 * 50_000_000);
    // Resource attributes are labels (dots as _).
    expect(
      (await getJson<string[]>(server.url, '/api/v1/label-values?service=otelsvc&label=host_name')).json,
    ).toEqual(['node-1']);
  });

  it('takes OTLP/JSON, gzip, and counts a refused profile in partial_success while storing the rest', async () => {
    const body = request(10);
    // The second resource's profile names a stack that is not in the table: refused alone.
    const rps = body.resourceProfiles as {
      scopeProfiles: { profiles: { samples: { stackIndex: number }[] }[] }[];
    }[];
    rps[1].scopeProfiles[0].profiles[0].samples[0].stackIndex = 99;
    (rps[0] as unknown as { resource: { attributes: unknown[] } }).resource.attributes[0] = {
      key: 'service.name',
      value: { stringValue: 'otel-json' },
    };
    const res = await post(gzipSync(JSON.stringify(body)), 'application/json', {
      'content-encoding': 'gzip',
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      partialSuccess: { rejectedProfiles: '1', errorMessage: expect.stringMatching(/stack index 99/) },
    });
    await server.store.writer.drain();
    expect((await top('otel-json')).total).toBe(50 * 50_000_000);
  });

  it('refuses what it cannot read with a 4xx and stores nothing', async () => {
    const garbage = await post(Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff]), 'application/x-protobuf');
    expect(garbage.status).toBe(422);
    expect(garbage.body).toMatchObject({ reason: 'invalid_profile' });
    const text = await post('hello', 'text/plain');
    expect(text.status).toBe(415);
    const json = await post('{not json', 'application/json');
    expect(json.status).toBe(422);
  });
});
