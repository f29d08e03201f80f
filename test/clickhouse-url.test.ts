import type { ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { corpusFile, expectedFor, generatedCorpus } from './helpers/corpus';
import { startNode, type Started } from './helpers/process';
import { getJson, ingest } from './helpers/server';
import { loadConfig, storeWith } from '../cli/config';
import { openStore } from '../store';
import { ProfileQueries } from '../store/queries';

// No ClickHouse server installs here: a shim answers ClickHouse's HTTP
// interface with chDB in its own process (helpers/clickhouse-http-shim.js), so
// the server runs its CLICKHOUSE_URL path, over HTTP, with the same SQL.
const repo = path.resolve(__dirname, '..');
const children: ChildProcess[] = [];
const dirs: string[] = [];

function start(args: string[], env: Record<string, string>, ready: RegExp): Promise<Started> {
  return startNode(args, ready, env).then((started) => {
    children.push(started.proc);
    return started;
  });
}

function tmp(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-churl-'));
  dirs.push(d);
  return d;
}

let url: string;
let clickhouseUrl: string;
let shimDir: string;
let shimPort: string;
let shim: ChildProcess;
const shimScript = path.join(__dirname, 'helpers', 'clickhouse-http-shim.js');

beforeAll(async () => {
  shimDir = tmp();
  const started = await start([shimScript, shimDir], {}, /listening (\d+)/);
  shim = started.proc;
  shimPort = started.match[1];
  clickhouseUrl = `http://default:@127.0.0.1:${shimPort}`;
  const server = await start(
    [path.join(repo, 'bin', 'flamewatch.js'), 'serve', '--port', '0', '--data', tmp(), '--no-self-profile'],
    { CLICKHOUSE_URL: clickhouseUrl, FLAMEWATCH_ROLLUP_EVERY: '0' },
    /listening on (http:\/\/[\d.]+:\d+)/,
  );
  url = server.match[1];
});

afterAll(() => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

describe('flamewatch serve with CLICKHOUSE_URL (the scale-out path)', () => {
  it('reports the ClickHouse engine', async () => {
    expect((await getJson(url, '/healthz')).json).toEqual({ status: 'ok', engine: 'clickhouse' });
  });

  it('stores and reads back go-cpu-labels.pb.gz exactly, as google/pprof reads it', async () => {
    const file = corpusFile(generatedCorpus, 'pprof/go-cpu-labels.pb.gz');
    const expected = expectedFor(file);
    expect(
      (await ingest(url, { name: 'gocpu{env=http}', format: 'pprof' }, fs.readFileSync(file))).status,
    ).toBe(200);
    for (const st of expected.sampleTypes) {
      const { json } = await getJson<{
        total: number;
        unit: string;
        functions: { name: string; self: number; total: number }[];
      }>(
        url,
        `/api/v1/top?${new URLSearchParams({ query: 'gocpu{env="http"}', type: st.type, limit: '0' })}`,
      );
      expect(json.unit).toBe(st.unit);
      expect(json.total).toBe(st.total);
      const got = Object.fromEntries(json.functions.map((f) => [f.name, { flat: f.self, cum: f.total }]));
      const want = Object.fromEntries(Object.entries(st.functions).filter(([, v]) => v.cum !== 0));
      expect(got).toEqual(want);
    }
  });

  it('passes label values with quotes and backslashes as query parameters over HTTP', async () => {
    const value = `it's "q" \\ \t tab`;
    expect((await ingest(url, { name: `quoted.cpu{v=${JSON.stringify(value)}}` }, 'a;b 3\n')).status).toBe(
      200,
    );
    expect((await getJson(url, '/api/v1/label-values?service=quoted&label=v')).json).toEqual([value]);
    const top = await getJson<{ total: number }>(
      url,
      `/api/v1/top?${new URLSearchParams({ query: `quoted{v=${JSON.stringify(value)}}`, type: 'cpu' })}`,
    );
    expect(top.json.total).toBe(3);
  });

  it('sends large parameters (a 400-stack answer: ids, names) and concurrent queries each with their own', async () => {
    // 400 stacks: their ids (~8 kB) and names (801) make a URL of ~30 kB, as the client sends parameters.
    const lines = Array.from({ length: 400 }, (_, i) => `main;work${i};leaf${i} ${i + 1}`);
    expect((await ingest(url, { name: 'wide.cpu' }, lines.join('\n') + '\n')).status).toBe(200);
    expect((await ingest(url, { name: 'narrow.cpu' }, 'main;one 7\n')).status).toBe(200);
    const top = (service: string) =>
      getJson<{ total: number; functions: { name: string; self: number }[] }>(
        url,
        `/api/v1/top?${new URLSearchParams({ query: service, type: 'cpu', from: 'now-1h', until: 'now', limit: '0' })}`,
      );
    // Two services at once, several times: neither answer may carry the other's parameters.
    const answers = await Promise.all([top('wide'), top('narrow'), top('wide'), top('narrow')]);
    for (const [i, { status, json }] of answers.entries()) {
      expect({ status, json: status === 200 ? 'ok' : json }).toEqual({ status: 200, json: 'ok' });
      if (i % 2 === 0) {
        expect(json.total).toBe((400 * 401) / 2);
        expect(json.functions.find((f) => f.name === 'leaf399')?.self).toBe(400);
      } else {
        expect(json.total).toBe(7);
        expect(json.functions.map((f) => f.name).sort()).toEqual(['main', 'one']);
      }
    }
  });

  it('keeps tenants apart', async () => {
    expect(
      (await ingest(url, { name: 'private.cpu' }, 'secret 1\n', { 'X-Scope-OrgID': 'other' })).status,
    ).toBe(200);
    expect((await getJson<string[]>(url, '/api/v1/services')).json).not.toContain('private');
    expect((await getJson<string[]>(url, '/api/v1/services', { 'X-Scope-OrgID': 'other' })).json).toEqual([
      'private',
    ]);
  });

  // The server's own rollup job is off here (FLAMEWATCH_ROLLUP_EVERY=0): this test builds, and counts what it built.
  it('builds rollups over HTTP (tuple parameters, the lightweight DELETE) and answers from them as raw profiles do', async () => {
    const store = await openStore(
      storeWith(loadConfig({ CLICKHOUSE_URL: clickhouseUrl }), { dataDir: tmp() }),
    );
    try {
      // Three hours of profiles, pushed through the server two hours and more ago, with a label to select by.
      const hour = Math.floor(Date.now() / 3_600_000) * 3_600_000 - 4 * 3_600_000;
      for (let i = 0; i < 36; i++) {
        const from = Math.floor((hour + i * 300_000 + 7_000) / 1000);
        const body = `main;serve;parse ${1 + (i % 5)}\nmain;serve;render ${2 + (i % 3)}\nmain;gc ${i % 2}\n`;
        expect(
          (
            await ingest(
              url,
              { name: `rolled.cpu{pod=p${i % 3}}`, from: String(from), until: String(from + 10) },
              body,
            )
          ).status,
        ).toBe(200);
      }
      const now = hour + 4 * 3_600_000;
      const built = await store.buildRollups({ now, sinceMs: hour - 3_600_000 });
      expect(built).toMatchObject({ hoursBuilt: 3, built: 3, unverified: 0 });
      // A late profile, then a rebuild that deletes the hour's rows first.
      expect(
        (
          await ingest(
            url,
            { name: 'rolled.cpu{pod=p9}', from: String(hour / 1000 + 99), until: String(hour / 1000 + 109) },
            'main;late 5\n',
          )
        ).status,
      ).toBe(200);
      expect(await store.buildRollups({ now, sinceMs: hour - 3_600_000 })).toMatchObject({
        hoursBuilt: 1,
        built: 1,
        unverified: 0,
      });
      const raw = new ProfileQueries(store.client, store.database, { rollups: false });
      const show = (xs: { stack: readonly string[]; value: number }[]) =>
        xs.map((x) => `${x.stack.join(';')} ${x.value}`).sort();
      for (const matchers of [[], [{ name: 'pod', op: '=~' as const, value: 'p[09]' }]]) {
        const sel = {
          tenant: 'default',
          service: 'rolled',
          type: 'cpu',
          range: { from: hour - 60_000, until: hour + 3 * 3_600_000 + 60_000 },
          matchers,
        };
        const got = show(await store.queries.stacks(sel));
        expect(got).toEqual(show(await raw.stacks(sel)));
        expect(got.length).toBeGreaterThan(2);
      }
      const [{ n }] = await (
        await store.client.query({
          query: `SELECT toString(count()) AS n FROM ${store.database}.rollup_hours WHERE service = 'rolled'`,
          format: 'JSONEachRow',
        })
      ).json<{ n: string }>();
      expect(Number(n)).toBeGreaterThanOrEqual(3);
    } finally {
      await store.close();
    }
  });

  it('answers 503 with Retry-After while ClickHouse is away, and recovers by itself when it returns', async () => {
    const exited = new Promise((r) => shim.once('exit', r));
    shim.kill('SIGKILL');
    await exited;
    const refused = await fetch(`${url}/ingest?name=away.cpu`, { method: 'POST', body: 'a;b 1\n' });
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(((await refused.json()) as { error: string }).error).toMatch(/profile store is unavailable/);
    const query = await fetch(`${url}/api/v1/services`);
    expect(query.status).toBe(503);
    expect((await fetch(`${url}/healthz`)).status).toBe(503);

    shim = (await start([shimScript, shimDir, shimPort], {}, /listening (\d+)/)).proc;
    expect((await ingest(url, { name: 'back.cpu' }, 'a;b 2\n')).status).toBe(200);
    expect((await getJson<string[]>(url, '/api/v1/services')).json).toEqual(
      expect.arrayContaining(['back', 'gocpu']),
    );
  });

  it('refuses to start, naming the URL without its password, when ClickHouse is unreachable', async () => {
    const failing = start(
      [path.join(repo, 'bin', 'flamewatch.js'), 'serve', '--port', '0'],
      { CLICKHOUSE_URL: 'http://user:s3cret@127.0.0.1:9' },
      /never/,
    );
    await expect(failing).rejects.toThrow(
      /cannot open the store \(ClickHouse at http:\/\/\*\*\*@127\.0\.0\.1:9\)/,
    );
    await expect(failing).rejects.not.toThrow(/s3cret/);
  });
});
