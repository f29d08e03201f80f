/**
 * The facts the regression detector judges cost per unit of work by, from
 * ingest to the `profiles` table: `work` and `process` on POST /ingest
 * (stored on every row of a profile, 0 and '' when not sent, refused when
 * malformed), Pyroscope's `sampleRate` turning folded CPU samples into
 * nanoseconds, and migration 8 adding the columns to an existing database.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ProfileQueries } from '../store/queries';
import { MIGRATIONS, migrate } from '../store/schema';
import { corpusFile, generatedCorpus } from './helpers/corpus';
import { getJson, ingest, startServer, type TestServer } from './helpers/server';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

const now = () => String(Math.floor(Date.now() / 1000));
const goHeap = fs.readFileSync(corpusFile(generatedCorpus, 'pprof/go-heap.pb.gz'));
const nodeCpu = fs.readFileSync(corpusFile(generatedCorpus, 'pprof/nodejs-cpu.pb.gz'));

interface StoredRow {
  type: string;
  unit: string;
  work: number;
  process: string;
  profile_id: string;
  total: string;
}

async function rows(service: string): Promise<StoredRow[]> {
  const rs = await server.store.client.query({
    query: `SELECT type, unit, work, process, toString(profile_id) AS profile_id, toString(total) AS total FROM ${server.store.database}.profiles WHERE service = {service:String} ORDER BY type, total`,
    query_params: { service },
    format: 'JSONEachRow',
  });
  return rs.json<StoredRow>();
}

async function storedRows(): Promise<number> {
  const rs = await server.store.client.query({
    query: `SELECT count() AS n FROM ${server.store.database}.profiles`,
    format: 'JSONEachRow',
  });
  return Number((await rs.json<{ n: string }>())[0].n);
}

describe('work and process on POST /ingest', () => {
  it('stores the same work and process on every row of a pprof with several sample types', async () => {
    const res = await ingest(
      server.url,
      {
        name: 'work-heap{env=prod}',
        format: 'pprof',
        from: now(),
        work: '1234.5',
        process: 'web-1:4242:m1abc',
      },
      goHeap,
    );
    expect(res.status).toBe(200);
    const stored = await rows('work-heap');
    expect(stored.map((r) => r.type)).toEqual([
      'alloc_objects',
      'alloc_space',
      'inuse_objects',
      'inuse_space',
    ]);
    for (const r of stored)
      expect(r).toMatchObject({
        work: 1234.5,
        process: 'web-1:4242:m1abc',
        profile_id: stored[0].profile_id,
      });
  });

  it('stores work 0 and process "" when they are not sent', async () => {
    expect((await ingest(server.url, { name: 'no-work.cpu', format: 'folded' }, 'main;f 3\n')).status).toBe(
      200,
    );
    expect(await rows('no-work')).toEqual([expect.objectContaining({ work: 0, process: '' })]);
  });

  it('stores work 0 and process "" for the real @pyroscope/nodejs SDK, which never sends them', async () => {
    const script = `
      const Pyroscope = require('@pyroscope/nodejs').default;
      Pyroscope.init({ serverAddress: ${JSON.stringify(server.url)}, appName: 'sdk-work', flushIntervalMs: 1000 });
      Pyroscope.start();
      const end = Date.now() + 2500;
      (function spin() { let x = 0; for (let i = 0; i < 1e6; i++) x += Math.sqrt(i); if (Date.now() < end) setImmediate(spin); else Pyroscope.stop().then(() => process.exit(0)); })();
    `;
    const child = spawn(process.execPath, ['-e', script], {
      cwd: path.resolve(__dirname, '..'),
      stdio: 'ignore',
    });
    expect(await new Promise((r) => child.once('exit', r))).toBe(0);
    await server.store.writer.drain();
    const stored = await rows('sdk-work');
    expect(stored.length).toBeGreaterThan(0);
    for (const r of stored) expect(r).toMatchObject({ work: 0, process: '' });
  }, 30_000);

  it('accepts work 0, a decimal or an exponent, and a process of 256 characters (code points, not UTF-16 units)', async () => {
    const cases: [string, number, string][] = [
      ['0', 0, 'a'],
      ['.5', 0.5, 'x'.repeat(256)],
      ['1e6', 1e6, '🦊'.repeat(256)],
    ];
    for (const [i, [work, value, processId]] of cases.entries()) {
      expect(
        (
          await ingest(
            server.url,
            { name: `work-ok-${i}.cpu`, format: 'folded', work, process: processId },
            'a;b 1\n',
          )
        ).status,
      ).toBe(200);
      expect(await rows(`work-ok-${i}`)).toEqual([
        expect.objectContaining({ work: value, process: processId }),
      ]);
    }
  });

  const refusals: [string, Record<string, string>, string | [string, string][]][] = [
    ['a negative work', { work: '-1' }, 'work'],
    ['a word as work', { work: 'lots' }, 'work'],
    ['an empty work', { work: '' }, 'work'],
    ['an infinite work', { work: 'Infinity' }, 'work'],
    ['a work past Float64', { work: '1e400' }, 'work'],
    ['a hexadecimal work', { work: '0x10' }, 'work'],
    ['a work with blanks', { work: ' 5' }, 'work'],
    [
      'a work given twice',
      {},
      [
        ['work', '1'],
        ['work', '2'],
      ],
    ],
    ['an empty process', { process: '' }, 'process'],
    ['a process of 257 characters', { process: 'p'.repeat(257) }, 'process'],
    ['a process with a newline', { process: 'web-1\n:42' }, 'process'],
    ['a process with a C1 control character', { process: 'web-1\u0085' }, 'process'],
    [
      'a process given twice',
      {},
      [
        ['process', 'a'],
        ['process', 'b'],
      ],
    ],
  ];

  it.each(refusals)(
    'refuses %s with 400 invalid_parameter naming it, storing nothing',
    async (_what, params, bad) => {
      const before = await storedRows();
      const query = new URLSearchParams({ name: 'refused-work.cpu', format: 'folded', ...params });
      const pairs = typeof bad === 'string' ? [] : bad;
      for (const [k, v] of pairs) query.append(k, v);
      const res = await fetch(`${server.url}/ingest?${query}`, { method: 'POST', body: 'a;b 1\n' });
      const json = (await res.json()) as { error: string; reason: string };
      expect([res.status, json.reason]).toEqual([400, 'invalid_parameter']);
      expect(json.error).toMatch(new RegExp(`\\b${typeof bad === 'string' ? bad : bad[0][0]}\\b`));
      expect(await storedRows()).toBe(before);
    },
  );
});

describe('sampleRate on folded CPU profiles', () => {
  const top = async (service: string) =>
    (
      await getJson<{ unit: string; total: number; functions: { name: string; self: number }[] }>(
        server.url,
        `/api/v1/top?query=${service}&type=cpu`,
      )
    ).json;

  it('stores samples at sampleRate Hz as nanoseconds of CPU time: 3 samples at 100 Hz are 30 ms', async () => {
    const res = await ingest(
      server.url,
      { name: 'rate-samples.cpu', format: 'folded', units: 'samples', sampleRate: '100' },
      'a;b 3\n',
    );
    expect([res.status, res.json.types]).toEqual([200, ['cpu:nanoseconds']]);
    expect(await top('rate-samples')).toMatchObject({
      unit: 'nanoseconds',
      total: 30_000_000,
      functions: [
        { name: 'b', self: 30_000_000 },
        { name: 'a', self: 0 },
      ],
    });
  });

  it('converts when units are absent, and for the cpu type Pyroscope assumes for a name without a type', async () => {
    expect(
      (await ingest(server.url, { name: 'rate-default.cpu', sampleRate: '100' }, 'a;b 3\n')).status,
    ).toBe(200);
    expect(await top('rate-default')).toMatchObject({ unit: 'nanoseconds', total: 30_000_000 });
    expect(
      (await ingest(server.url, { name: 'rate-untyped', format: 'lines', sampleRate: '99' }, 'a;b\na;b\n'))
        .status,
    ).toBe(200);
    expect(await top('rate-untyped')).toMatchObject({ unit: 'nanoseconds', total: 20_202_020 });
  });

  it('leaves values as sent without sampleRate, with other units, for other types, and for pprof', async () => {
    expect((await ingest(server.url, { name: 'rate-none.cpu', format: 'folded' }, 'a;b 3\n')).status).toBe(
      200,
    );
    expect(await top('rate-none')).toMatchObject({ unit: 'samples', total: 3 });
    expect(
      (
        await ingest(
          server.url,
          { name: 'rate-ns.cpu', format: 'folded', units: 'nanoseconds', sampleRate: '100' },
          'a;b 3\n',
        )
      ).status,
    ).toBe(200);
    expect(await top('rate-ns')).toMatchObject({ unit: 'nanoseconds', total: 3 });
    expect(
      (
        await ingest(
          server.url,
          { name: 'rate-alloc.alloc_objects', format: 'folded', sampleRate: '100' },
          'a;b 3\n',
        )
      ).status,
    ).toBe(200);
    expect(await rows('rate-alloc')).toEqual([
      expect.objectContaining({ type: 'alloc_objects', unit: 'samples', total: '3' }),
    ]);
    const from = now();
    expect((await ingest(server.url, { name: 'rate-pprof-a', format: 'pprof', from }, nodeCpu)).status).toBe(
      200,
    );
    expect(
      (await ingest(server.url, { name: 'rate-pprof-b', format: 'pprof', from, sampleRate: '100' }, nodeCpu))
        .status,
    ).toBe(200);
    const plain = await rows('rate-pprof-a');
    expect(plain.length).toBeGreaterThan(0);
    expect((await rows('rate-pprof-b')).map(({ type, unit, total }) => ({ type, unit, total }))).toEqual(
      plain.map(({ type, unit, total }) => ({ type, unit, total })),
    );
  });
});

describe('migration 8', () => {
  it('adds work and process to an existing profiles table, old rows reading 0 and ""', async () => {
    const db = `t_${randomBytes(6).toString('hex')}`;
    const client = server.store.client;
    try {
      await migrate(client, db, 30, { upTo: 7 });
      const old = {
        tenant: 'default',
        service: 'old',
        type: 'cpu',
        unit: 'samples',
        time: Date.now(),
        duration_ms: 10_000,
        profile_id: '00000000-0000-4000-8000-000000000001',
        labels: {},
        stack_ids: ['1'],
        values: [3],
        total: 3,
      };
      await client.insert({ table: `${db}.profiles`, values: [old], format: 'JSONEachRow' });
      await client.insert({
        table: `${db}.stacks`,
        values: [{ tenant: 'default', stack_id: '1', frames: ['main', 'work'] }],
        format: 'JSONEachRow',
      });
      expect(await migrate(client, db, 30)).toEqual([8, 9, 10, 11, 12, 13]);
      // Each statement is idempotent: run again after a crash before its record, it changes nothing.
      for (const m of MIGRATIONS.filter((m) => m.version >= 8))
        for (const statement of m.statements(db, 30)) await client.command({ query: statement });
      // Migration 9: old rows are judged by their type's name (aggregation '').
      const agg = await client.query({
        query: `SELECT aggregation FROM ${db}.profiles`,
        format: 'JSONEachRow',
      });
      expect(await agg.json()).toEqual([{ aggregation: '' }]);
      // Migration 10: stacks stored before it have no files and lines, and read as names only.
      const stacks = await client.query({
        query: `SELECT frames, files, lines FROM ${db}.stacks`,
        format: 'JSONEachRow',
      });
      expect(await stacks.json()).toEqual([{ frames: ['main', 'work'], files: [], lines: [] }]);
      const source = await new ProfileQueries(client, db).stacks(
        {
          tenant: 'default',
          service: 'old',
          type: 'cpu',
          range: { from: old.time - 1000, until: old.time + 1000 },
          matchers: [],
        },
        { source: true },
      );
      expect(source).toEqual([{ stack: ['main', 'work'], value: 3 }]);
      await client.insert({
        table: `${db}.profiles`,
        values: [{ ...old, service: 'new', work: 250, process: 'host:1:abc' }],
        format: 'JSONEachRow',
      });
      const rs = await client.query({
        query: `SELECT service, work, process FROM ${db}.profiles ORDER BY service`,
        format: 'JSONEachRow',
      });
      expect(await rs.json()).toEqual([
        { service: 'new', work: 250, process: 'host:1:abc' },
        { service: 'old', work: 0, process: '' },
      ]);
      const columns = await client.query({
        query: `SELECT name, type, default_expression FROM system.columns WHERE database = {db:String} AND table = 'profiles' AND name IN ('work', 'process') ORDER BY name`,
        query_params: { db },
        format: 'JSONEachRow',
      });
      expect(await columns.json()).toEqual([
        { name: 'process', type: 'String', default_expression: "''" },
        { name: 'work', type: 'Float64', default_expression: '0' },
      ]);
      // Migration 12: the codecs, on a table holding rows already.
      const codecs = await client.query({
        query: `SELECT table, name, compression_codec FROM system.columns WHERE database = {db:String} AND compression_codec != '' ORDER BY table, name`,
        query_params: { db },
        format: 'JSONEachRow',
      });
      expect(await codecs.json()).toEqual([
        { table: 'profiles', name: 'stack_ids', compression_codec: 'CODEC(ZSTD(1))' },
        { table: 'profiles', name: 'values', compression_codec: 'CODEC(ZSTD(1))' },
        { table: 'profiles_1h', name: 'value', compression_codec: 'CODEC(ZSTD(1))' },
        { table: 'profiles_1h_all', name: 'value', compression_codec: 'CODEC(ZSTD(1))' },
      ]);
      expect(await migrate(client, db, 30)).toEqual([]);
    } finally {
      await client.command({ query: `DROP DATABASE IF EXISTS ${db}` });
    }
  });
});
