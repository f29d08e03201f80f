/**
 * Graceful degradation with real parts: a real redis-server stopped and
 * started again under a server whose jobs run on BullMQ (what needs the
 * queue answers 503 with Retry-After, ingest and queries carry on, the
 * server recovers by itself), and `flamewatch serve` stopped with SIGTERM in
 * the middle of an ingest request (the request is answered, its profile
 * committed, the process exits 0).
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { createJobRunner } from '../jobs/runner';
import { startServe } from './helpers/process';
import { freePort, startRedis, type RedisServer } from './helpers/redis';
import { getJson, ingest, startServer, type TestServer } from './helpers/server';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('Redis away and back', () => {
  let redis: RedisServer;
  let port: number;
  let server: TestServer;
  const logs: string[] = [];

  beforeAll(async () => {
    port = await freePort();
    redis = await startRedis(port);
    server = await startServer({}, async () =>
      createJobRunner({
        redisUrl: redis.url,
        role: 'enqueue-only',
        prefix: `fw-degrade-${process.pid}`,
        processors: { detect: async () => undefined },
        timeoutMs: 1000,
        log: (m) => logs.push(m),
      }),
    );
  }, 30_000);
  afterAll(async () => {
    await server?.close();
    await redis?.kill();
  });

  const t = () => String(Math.floor(Date.now() / 1000) - 5);

  it('answers 503 with Retry-After where the queue is needed while Redis is down, keeps ingest and queries, and recovers by itself', async () => {
    expect((await getJson(server.url, '/api/v1/jobs')).status).toBe(200);

    await redis.kill();
    await sleep(300);
    const started = Date.now();
    const res = await fetch(`${server.url}/api/v1/jobs`);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(await res.json()).toEqual({
      error: expect.stringMatching(/^the job queue is unavailable .*; retry later$/),
      reason: 'queue_unavailable',
    });
    expect(Date.now() - started).toBeLessThan(1500);
    const retry = await fetch(`${server.url}/api/v1/jobs/some-job/retry`, { method: 'POST' });
    expect([retry.status, retry.headers.get('retry-after')]).toEqual([503, '5']);

    // Ingest needs no Redis (a pull request's label would enqueue its comparison: that is logged, not refused).
    for (const name of ['svc.cpu{env=prod}', 'svc.cpu{pr=12,branch=pr-12}']) {
      expect((await ingest(server.url, { name, from: t() }, 'main;work 7\n')).status).toBe(200);
    }
    expect((await getJson<{ total: number }>(server.url, '/api/v1/top?query=svc&type=cpu')).json.total).toBe(
      14,
    );
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
    expect(logs.join('\n')).toMatch(/is unreachable/);

    redis = await startRedis(port);
    const deadline = Date.now() + 15_000;
    let status = 0;
    while (Date.now() < deadline && status !== 200) {
      await sleep(200);
      status = (await fetch(`${server.url}/api/v1/jobs`)).status;
    }
    expect(status).toBe(200);
    expect(logs.join('\n')).toMatch(/is back/);
  }, 60_000);
});

describe('graceful shutdown', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  it('finishes an ingest request in flight at SIGTERM, commits its profile, exits 0', async () => {
    const data = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-drain-'));
    dirs.push(data);
    const env = { FLAMEWATCH_AUTH: '', FLAMEWATCH_ADMIN_TOKEN: '' };
    const srv = await startServe(['--data', data, '--no-self-profile'], env);
    const exited = new Promise<number | null>((r) => srv.proc.once('exit', (code) => r(code)));
    const url = new URL(`${srv.url}/ingest?name=drained.cpu&from=${Math.floor(Date.now() / 1000) - 5}`);
    const body = Buffer.from('main;slow;work 11\nmain;gc 2\n');

    // Half the body, then SIGTERM, then the rest.
    const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = http.request(
        url,
        { method: 'POST', agent: false, headers: { 'content-length': body.length } },
        (res) => {
          let text = '';
          res.on('data', (d: Buffer) => (text += d.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
        },
      );
      req.on('error', reject);
      req.write(body.subarray(0, 10));
      setTimeout(() => {
        srv.proc.kill('SIGTERM');
        setTimeout(() => req.end(body.subarray(10)), 500);
      }, 200);
    });
    const res = await answer;
    expect([res.status, res.text]).toEqual([200, expect.stringContaining('"service":"drained"')]);
    expect(await exited).toBe(0);
    expect(srv.output()).toMatch(/SIGTERM, finishing in-flight requests/);

    // The profile was committed before the process left: a new server on the same data has it.
    const again = await startServe(['--data', data, '--no-self-profile'], env);
    try {
      const top = await getJson<{ total: number }>(again.url, '/api/v1/top?query=drained&type=cpu');
      expect(top.json.total).toBe(13);
    } finally {
      again.proc.kill('SIGTERM');
      await new Promise((r) => again.proc.once('exit', r));
    }
  }, 60_000);
});
