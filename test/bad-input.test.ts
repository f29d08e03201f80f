import * as fs from 'node:fs';
import { gunzipSync, gzipSync } from 'node:zlib';
import { encodeProfileMessage } from '../profile/pprof-schema';
import { corpusFile, generatedCorpus, sharedCorpus } from './helpers/corpus';
import { getJson, ingest, startServer, type TestServer } from './helpers/server';

let server: TestServer;
beforeAll(async () => {
  server = await startServer({
    limits: { maxBodyBytes: 1 << 20, maxDecompressedBytes: 8 << 20, maxSamples: 10_000 },
  });
});
afterAll(() => server.close());

const now = () => String(Math.floor(Date.now() / 1000));
/** A real Go CPU profile (gzip) and its protobuf bytes. */
const goCpu = fs.readFileSync(corpusFile(generatedCorpus, 'pprof/go-cpu-labels.pb.gz'));
const goCpuRaw = gunzipSync(goCpu);

/**
 * The offset nearest after `at` that falls inside a top-level protobuf field
 * rather than between two, so that cutting there truncates a field: a cut
 * between fields can leave a shorter profile that is still valid.
 */
function insideAField(raw: Buffer, at: number): number {
  const ends = new Set<number>();
  let pos = 0;
  const varint = (): number => {
    let value = 0;
    for (let shift = 0; ; shift += 7) {
      const byte = raw[pos++];
      value += (byte & 0x7f) * 2 ** shift;
      if (byte < 0x80) return value;
    }
  };
  while (pos < raw.length) {
    const wireType = varint() % 8;
    if (wireType === 0) varint();
    else if (wireType === 2) {
      const length = varint(); // read before adding: it moves pos past itself
      pos += length;
    } else if (wireType === 1) pos += 8;
    else if (wireType === 5) pos += 4;
    else throw new Error(`wire type ${wireType} at ${pos}: not a protobuf`);
    ends.add(pos);
  }
  let cut = at;
  while (ends.has(cut)) cut++;
  return cut;
}

async function storedRows(): Promise<number> {
  const rs = await server.store.client.query({
    query: `SELECT count() AS n FROM ${server.store.database}.profiles`,
    format: 'JSONEachRow',
  });
  return Number((await rs.json<{ n: string }>())[0].n);
}

async function expectRefused(
  query: Record<string, string>,
  body: Uint8Array | string,
  status: number,
  message: RegExp,
  headers: Record<string, string> = {},
) {
  const before = await storedRows();
  const res = await ingest(server.url, query, body, headers);
  expect(res.status).toBe(status);
  expect(typeof res.json.error).toBe('string');
  expect(res.json.error).toMatch(message);
  expect(await storedRows()).toBe(before);
  // and the server keeps serving
  expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
}

describe('ingest refuses bad input with a clear 4xx and stores nothing', () => {
  it('stores a real profile whose function name has bytes that are not UTF-8, the bad bytes replaced', async () => {
    const bytes = Buffer.from(goCpuRaw);
    const at = bytes.indexOf('main.checkout');
    expect(at).toBeGreaterThan(0);
    bytes[at] = 0xff; // same length: the protobuf stays whole, the string is no longer UTF-8
    const res = await ingest(server.url, { name: 'utf8-bad-go', format: 'pprof', from: now() }, bytes);
    expect(res.status).toBe(200);
    const top = await getJson<{ functions: { name: string }[] }>(
      server.url,
      '/api/v1/top?query=utf8-bad-go&type=cpu&limit=0',
    );
    expect(top.json.functions.map((f) => f.name)).toContain('\uFFFDain.checkout');
  });

  if (sharedCorpus !== undefined) {
    const shared = sharedCorpus;
    it("stores the shared corpus' profile with invalid UTF-8 names, the bad bytes replaced", async () => {
      const res = await ingest(
        server.url,
        { name: 'utf8-bad', format: 'pprof', from: now() },
        fs.readFileSync(corpusFile(shared, 'pprof/bad/invalid-utf8.pb.gz')),
      );
      expect(res.status).toBe(200);
      const top = await getJson<{ functions: { name: string }[] }>(
        server.url,
        '/api/v1/top?query=utf8-bad&type=cpu&limit=0',
      );
      expect(top.json.functions.some((f) => f.name.includes('\uFFFD'))).toBe(true);
    });

    it('stores a profile whose locations have neither address nor line, as frame 0x0', async () => {
      const res = await ingest(
        server.url,
        { name: 'no-addr', format: 'pprof', from: now() },
        fs.readFileSync(corpusFile(shared, 'pprof/bad/no-addr-no-line.pb.gz')),
      );
      expect(res.status).toBe(200);
    });
  }

  it('refuses a truncated pprof', async () => {
    const cut = insideAField(goCpuRaw, goCpuRaw.length - 1000);
    await expectRefused(
      { name: 'trunc', format: 'pprof' },
      goCpuRaw.subarray(0, cut),
      422,
      /truncated|not a valid pprof/,
    );
  });

  it('refuses a truncated gzip', async () => {
    await expectRefused(
      { name: 'trunc-gz', format: 'pprof' },
      goCpu.subarray(0, goCpu.length / 2),
      422,
      /gzip/,
    );
  });

  it('never crashes on bit-flipped pprof, and answers 200 or 4xx', async () => {
    const raw = goCpuRaw;
    let seed = 12345;
    const rand = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
    for (let i = 0; i < 60; i++) {
      const copy = Buffer.from(raw);
      for (let k = 0; k < 1 + (i % 8); k++)
        copy[Math.floor(rand() * copy.length)] ^= 1 << Math.floor(rand() * 8);
      const res = await ingest(server.url, { name: 'flipped', format: 'pprof', from: now() }, copy);
      expect([200, 400, 422]).toContain(res.status);
    }
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('refuses a gzip bomb by decompressed size', async () => {
    const bomb = gzipSync(Buffer.alloc(20 << 20)); // 20 MiB of zeros, ~20 kB compressed
    await expectRefused({ name: 'bomb', format: 'pprof' }, bomb, 413, /decompresses to more than/);
  });

  it('refuses a pprof with more samples than the limit before decoding it', async () => {
    const sample = { locationId: [1], value: [1] };
    const bytes = encodeProfileMessage({
      sampleType: [{ type: 1, unit: 2 }],
      stringTable: ['', 'cpu', 'nanoseconds', 'f'],
      function: [{ id: 1, name: 3 }],
      location: [{ id: 1, line: [{ functionId: 1 }] }],
      sample: Array.from({ length: 12_000 }, () => sample),
    });
    await expectRefused(
      { name: 'many-samples', format: 'pprof' },
      bytes,
      413,
      /12000 samples; the limit is 10000/,
    );
  });

  it('refuses a body over the size limit', async () => {
    await expectRefused({ name: 'big', format: 'pprof' }, Buffer.alloc(2 << 20, 1), 413, /limit/);
  });

  it('refuses unknown formats', async () => {
    await expectRefused({ name: 'fmt', format: 'jfr' }, 'x', 415, /not supported/);
    await expectRefused({ name: 'fmt', format: 'nonsense' }, 'x', 415, /not supported/);
  });

  it('refuses malformed names and selectors', async () => {
    await expectRefused({ name: 'svc{env=prod', format: 'folded' }, 'a;b 1', 400, /missing closing|expected/);
    await expectRefused({ name: 'svc{=x}', format: 'folded' }, 'a;b 1', 400, /label name/);
    await expectRefused({ name: 'svc{env!=x}', format: 'folded' }, 'a;b 1', 400, /only = is allowed/);
    await expectRefused({ format: 'folded' }, 'a;b 1', 400, /name is required/);
  });

  it('refuses malformed time ranges', async () => {
    await expectRefused({ name: 'time', from: 'yesterday', format: 'folded' }, 'a;b 1', 400, /not a time/);
    await expectRefused(
      { name: 'time', from: '200', until: '100', format: 'folded' },
      'a;b 1',
      400,
      /after until/,
    );
  });

  it('refuses folded lines without counts, and empty bodies', async () => {
    await expectRefused({ name: 'fold.cpu', format: 'folded' }, 'a;b;c\n', 422, /line 1/);
    await expectRefused({ name: 'fold.cpu', format: 'folded' }, '', 422, /no profile/);
  });

  it('refuses too many labels and too long values', async () => {
    const many = Array.from({ length: 40 }, (_, i) => `l${i}=v`).join(',');
    await expectRefused({ name: `svc{${many}}`, format: 'folded' }, 'a 1', 400, /limit is 32/);
    await expectRefused(
      { name: `svc{k="${'x'.repeat(10_000)}"}`, format: 'folded' },
      'a 1',
      400,
      /limit is 1024/,
    );
  });

  it('refuses a bad tenant header', async () => {
    await expectRefused({ name: 'svc', format: 'folded' }, 'a 1', 400, /X-Scope-OrgID/, {
      'X-Scope-OrgID': "a'b; DROP TABLE",
    });
  });
});

describe('untrusted names and labels round-trip, never interpolated into SQL', () => {
  const nasty = [
    "quote ' single",
    'quote " double',
    "back\\slash \\' mix",
    '<script>alert(1)</script>',
    'nul\u0000byte',
    "'), ('x') -- DROP TABLE profiles", // no ';': folded text splits frames there
    '{curly} and {param:String}',
    'x'.repeat(10_000),
  ];

  it('stores and returns function names exactly', async () => {
    const body = nasty.map((n, i) => `root;${n} ${i + 1}`).join('\n');
    const res = await ingest(server.url, { name: 'nasty.cpu', from: now() }, body);
    expect(res.status).toBe(200);
    const top = await getJson<{ functions: { name: string; self: number }[] }>(
      server.url,
      '/api/v1/top?query=nasty&type=cpu&limit=0',
    );
    const got = new Map(top.json.functions.map((f) => [f.name, f.self]));
    nasty.forEach((n, i) => expect(got.get(n)).toBe(i + 1));
  });

  it('stores label values with quotes and backslashes and matches them exactly', async () => {
    const value = `it's "q" \\ {x}`;
    const name = `labelled.cpu{tag=${JSON.stringify(value)}}`;
    expect((await ingest(server.url, { name, from: now() }, 'a;b 5')).status).toBe(200);
    const query = `labelled{tag=${JSON.stringify(value)}}`;
    const top = await getJson<{ total: number }>(
      server.url,
      `/api/v1/top?${new URLSearchParams({ query, type: 'cpu' })}`,
    );
    expect(top.json.total).toBe(5);
    const values = await getJson<string[]>(server.url, '/api/v1/label-values?service=labelled&label=tag');
    expect(values.json).toEqual([value]);
  });
});
