/**
 * OTLP profiles in (`POST /v1development/profiles`): requests built with
 * protobufjs from the repository's .proto files in the shapes the
 * OpenTelemetry eBPF profiler and the collector send (several resources and
 * scopes sharing one dictionary, inlined lines, unsymbolised native frames,
 * samples as timestamps with a CPU period), binary and JSON, gzip or not;
 * exact totals through `/api/v1/top`; sample attributes and links; and the
 * same over gRPC with a real @grpc/grpc-js client.
 */
import { gzipSync } from 'node:zlib';
import type * as protobuf from 'protobufjs';
import { EXPORT_PATH, startOtlpGrpc } from '../server/otlp/grpc';
import { otlpRoot } from '../server/otlp/decode';
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

/** A request of one profile whose samples carry their own attributes and links (the dictionary's tables). */
function attributed(service: string, samples: { attrs: [string, string][]; link?: number; count: number }[]) {
  const strings = ['', 'samples', 'count', 'cpu', 'nanoseconds', 'main', 'work', 'app.js'];
  const str = (x: string) => {
    if (!strings.includes(x)) strings.push(x);
    return strings.indexOf(x);
  };
  const attributeTable: Record<string, unknown>[] = [{}];
  const attr = ([k, v]: [string, string]) => {
    attributeTable.push({ keyStrindex: str(k), value: { stringValue: v } });
    return attributeTable.length - 1;
  };
  const profile = {
    sampleType: { typeStrindex: str('samples'), unitStrindex: str('count') },
    periodType: { typeStrindex: str('cpu'), unitStrindex: str('nanoseconds') },
    period: 10_000_000,
    timeUnixNano: (now - 60_000) * 1e6,
    durationNano: 10_000 * 1e6,
    attributeIndices: [attr(['profile.kind', 'steady'])],
    samples: samples.map((s) => ({
      stackIndex: 1,
      attributeIndices: s.attrs.map(attr),
      ...(s.link ? { linkIndex: s.link } : {}),
      values: [s.count],
    })),
  };
  return {
    dictionary: {
      stringTable: strings,
      functionTable: [
        {},
        { nameStrindex: str('main'), filenameStrindex: str('app.js') },
        { nameStrindex: str('work'), filenameStrindex: str('app.js') },
      ],
      locationTable: [
        {},
        { lines: [{ functionIndex: 1, line: 1 }] },
        { lines: [{ functionIndex: 2, line: 2 }] },
      ],
      stackTable: [{}, { locationIndices: [2, 1] }],
      attributeTable,
      linkTable: [
        {},
        { traceId: Buffer.alloc(16, 0x11), spanId: Buffer.from('00000000000000ab', 'hex') },
        { traceId: Buffer.alloc(16, 0x22), spanId: Buffer.from('00000000000000cd', 'hex') },
      ],
    },
    resourceProfiles: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
        scopeProfiles: [
          {
            scope: {
              name: 'profiler',
              attributes: [{ key: 'profiler.version', value: { stringValue: '1.2' } }],
            },
            profiles: [profile],
          },
        ],
      },
    ],
  };
}

const encoded = (message: Record<string, unknown>) => {
  const Req = root.lookupType(REQ);
  return Req.encode(Req.fromObject(message)).finish();
};

const labelValues = async (service: string, label: string) =>
  (
    await getJson<string[]>(
      server.url,
      `/api/v1/label-values?${new URLSearchParams({ service, label, from: 'now-10m', until: 'now' })}`,
    )
  ).json;

describe('OTLP attributes and links', () => {
  it('keeps sample attributes as labels, scope and profile attributes as the profile’s, links as span ids', async () => {
    const res = await post(
      encoded(
        attributed('otel-attrs', [
          { attrs: [['thread.name', 'main']], link: 1, count: 2 },
          { attrs: [['thread.name', 'main']], link: 2, count: 3 },
          { attrs: [['thread.name', 'io']], count: 5 },
        ]),
      ),
      'application/x-protobuf',
    );
    expect(res.status).toBe(200);
    expect(res.body.partialSuccess).toBeUndefined();
    await server.store.writer.drain();
    expect((await top('otel-attrs')).total).toBe(10 * 10_000_000);
    expect((await top('otel-attrs{thread_name="main"}')).total).toBe(5 * 10_000_000);
    expect(await labelValues('otel-attrs', 'thread_name')).toEqual(['io', 'main']);
    expect(await labelValues('otel-attrs', 'profiler_version')).toEqual(['1.2']);
    expect(await labelValues('otel-attrs', 'profile_kind')).toEqual(['steady']);
    // A link's ids are kept per sample (as span profiles' are), never as a series label.
    expect(await labelValues('otel-attrs', 'span_id')).toEqual([]);
    const spans = async (ids: string[]) => {
      const r = await fetch(`${server.url}/querier.v1.QuerierService/SelectMergeSpanProfile`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({
          profileTypeID: 'process_cpu:cpu:nanoseconds:cpu:nanoseconds',
          labelSelector: '{service_name="otel-attrs"}',
          spanSelector: ids,
          start: now - 600_000,
          end: now + 60_000,
        }),
      });
      expect(r.status).toBe(200);
      return Number(
        ((await r.json()) as { flamegraph?: { total?: string | number } }).flamegraph?.total ?? 0,
      );
    };
    expect(await spans(['00000000000000ab'])).toBe(2 * 10_000_000);
    expect(await spans(['00000000000000ab', '00000000000000cd'])).toBe(5 * 10_000_000);
  });

  it('leaves out an attribute with a value per request, and one too long, storing the profile and saying so', async () => {
    const samples = Array.from({ length: 40 }, (_, i) => ({
      attrs: [
        ['http.request.id', `req-${i}`],
        ['thread.name', i % 2 ? 'a' : 'b'],
      ] as [string, string][],
      count: 1,
    }));
    const message = attributed('otel-wide', samples);
    (message.resourceProfiles[0].resource.attributes as unknown[]).push({
      key: 'process.command_line',
      value: { stringValue: 'x'.repeat(5000) },
    });
    const res = await post(encoded(message), 'application/x-protobuf');
    expect(res.status).toBe(200);
    expect(res.body.partialSuccess).toMatchObject({
      errorMessage: expect.stringMatching(
        /http_request_id.*process_command_line|process_command_line.*http_request_id/,
      ),
    });
    expect(Number((res.body.partialSuccess as { rejectedProfiles?: number }).rejectedProfiles ?? 0)).toBe(0);
    await server.store.writer.drain();
    expect((await top('otel-wide')).total).toBe(40 * 10_000_000);
    expect(await labelValues('otel-wide', 'thread_name')).toEqual(['a', 'b']);
    expect(await labelValues('otel-wide', 'http_request_id')).toEqual([]);
    expect(await labelValues('otel-wide', 'process_command_line')).toEqual([]);
  });
});

describe('OTLP over gRPC (ProfilesService/Export)', () => {
  // A real gRPC client (@grpc/grpc-js) calling the server's port, the message encoded by protobufjs.
  const g = require('@grpc/grpc-js') as typeof import('@grpc/grpc-js');
  const call = (
    port: number,
    body: Uint8Array,
    metadata: Record<string, string> = {},
  ): Promise<{ code: number; details?: string; response?: Record<string, unknown> }> => {
    const client = new g.Client(`127.0.0.1:${port}`, g.credentials.createInsecure(), {
      'grpc.default_compression_algorithm': 2, // gzip, as the collector sends by default
    });
    const md = new g.Metadata();
    for (const [k, v] of Object.entries(metadata)) md.set(k, v);
    const Res = root.lookupType(RES);
    return new Promise((resolve) => {
      client.makeUnaryRequest(
        EXPORT_PATH,
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from(body),
        md,
        (err, answer) => {
          client.close();
          if (err) resolve({ code: err.code, details: err.details });
          else resolve({ code: 0, response: Res.toObject(Res.decode(answer!), { longs: Number }) });
        },
      );
    });
  };

  it('stores what HTTP stores and answers INVALID_ARGUMENT for what does not decode', async () => {
    const grpc = await startOtlpGrpc({
      address: '127.0.0.1:0',
      exporter: server.otlpExport,
      maxMessageBytes: 1 << 20,
    });
    try {
      const message = request(2);
      (message.resourceProfiles as { resource: { attributes: unknown[] } }[])[0].resource.attributes[0] = {
        key: 'service.name',
        value: { stringValue: 'otel-grpc' },
      };
      const ok = await call(grpc.port, encoded(message));
      expect(ok).toMatchObject({ code: 0, response: {} });
      await server.store.writer.drain();
      expect((await top('otel-grpc')).total).toBe(10 * 50_000_000);
      const bad = await call(grpc.port, Buffer.from([0x0a, 0xff, 0xff, 0xff, 0xff]));
      expect(bad.code).toBe(g.status.INVALID_ARGUMENT);
      expect(bad.details).toMatch(/ExportProfilesServiceRequest/);
      const big = await call(grpc.port, Buffer.alloc(2 << 20));
      expect(big.code).toBe(g.status.RESOURCE_EXHAUSTED);
    } finally {
      await grpc.close();
    }
  });

  it('asks for a token with the ingest scope when auth is on, and keeps tenants apart', async () => {
    const ADMIN = 'otlp-grpc-admin-token-0123456789';
    const authed = await startServer({ auth: { mode: 'token', adminToken: ADMIN } });
    const grpc = await startOtlpGrpc({
      address: '127.0.0.1:0',
      exporter: authed.otlpExport,
      maxMessageBytes: 1 << 20,
    });
    try {
      const body = encoded(request());
      expect((await call(grpc.port, body)).code).toBe(g.status.UNAUTHENTICATED);
      expect((await call(grpc.port, body, { authorization: 'Bearer not-a-token' })).code).toBe(
        g.status.UNAUTHENTICATED,
      );
      expect(
        (await call(grpc.port, body, { authorization: `Bearer ${ADMIN}`, 'x-scope-orgid': 'someone-else' }))
          .code,
      ).toBe(g.status.PERMISSION_DENIED);
      expect((await call(grpc.port, body, { authorization: `Bearer ${ADMIN}` })).code).toBe(0);
      await authed.store.writer.drain();
      const seen = await getJson<{ total: number }>(
        authed.url,
        `/api/v1/top?${new URLSearchParams({ query: 'otelsvc', type: 'cpu', from: 'now-10m', until: 'now' })}`,
        { authorization: `Bearer ${ADMIN}` },
      );
      expect(seen.json.total).toBe(5 * 50_000_000);
    } finally {
      await grpc.close();
      await authed.close();
    }
  });
});
