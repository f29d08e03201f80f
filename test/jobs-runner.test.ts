import { spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import express from 'express';
import { Redis } from 'ioredis';
import { createJobRunner, type JobRunner, type JobRunnerOptions } from '../jobs/runner';
import { QueueUnavailableError, UnrecoverableJobError, type Processors } from '../profile/jobs';
import { errorHandler } from '../server/errors';
import { cli, startNode, startServe } from './helpers/process';
import { freePort, startRedis, type RedisServer } from './helpers/redis';

// One contract, two transports: every test in the first block runs against
// the in-process runner and against BullMQ on a real redis-server.

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean | Promise<boolean>, what: string, ms = 5000): Promise<void> {
  const started = Date.now();
  while (!(await cond())) {
    if (Date.now() - started > ms) throw new Error(`waited ${ms} ms for ${what}`);
    await sleep(20);
  }
}

let redis: RedisServer;
const runners: JobRunner[] = [];
const children: ChildProcess[] = [];
const dirs: string[] = [];
let prefixes = 0;

beforeAll(async () => {
  redis = await startRedis();
});

afterEach(async () => {
  await Promise.all(runners.splice(0).map((r) => r.close()));
});

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  await redis?.kill();
});

/** A runner of the given transport on its own key prefix, started. */
async function runner(
  kind: 'in-process' | 'bullmq',
  processors: Processors,
  opts: Partial<JobRunnerOptions> = {},
): Promise<JobRunner> {
  const r = createJobRunner({
    processors,
    attempts: 3,
    backoffMs: 50,
    log: () => undefined,
    redisUrl: kind === 'bullmq' ? redis.url : undefined,
    prefix: `t${process.pid}n${++prefixes}`,
    ...opts,
  });
  runners.push(r);
  await r.start();
  return r;
}

describe.each(['in-process', 'bullmq'] as const)('the %s job runner', (kind) => {
  it('runs a job with its payload, id and attempt, and counts it as completed', async () => {
    const seen: unknown[] = [];
    const r = await runner(kind, {
      double: async (payload: { n: number }, ctx) => {
        seen.push({ doubled: payload.n * 2, id: ctx.id, attempt: ctx.attempt });
        return payload.n * 2;
      },
    });
    expect(await r.enqueue('double', { n: 21 }, { jobId: 'double-21' })).toEqual({
      id: 'double-21',
      added: true,
    });
    await until(async () => (await r.counts()).double.completed === 1, 'the completed job');
    expect(seen).toEqual([{ doubled: 42, id: 'double-21', attempt: 1 }]);
    expect(await r.counts()).toEqual({
      double: { waiting: 0, active: 0, completed: 1, failed: 0, delayed: 0 },
    });
  });

  it('runs a job id once while it waits, runs or is kept as completed; refuses bad ids and unknown names', async () => {
    let runs = 0;
    const r = await runner(kind, {
      once: async () => {
        runs++;
        await sleep(100);
      },
    });
    const first = await r.enqueue('once', {}, { jobId: 'once-1' });
    const again = await r.enqueue('once', {}, { jobId: 'once-1' });
    expect([first.added, again.added]).toEqual([true, false]);
    await until(() => runs === 1, 'the run');
    expect((await r.enqueue('once', {}, { jobId: 'once-1' })).added).toBe(false);
    await until(async () => (await r.counts()).once.completed === 1, 'completion');
    expect((await r.enqueue('once', {}, { jobId: 'once-1' })).added).toBe(false);
    const fresh = await r.enqueue('once', {});
    expect(fresh.added).toBe(true);
    await until(async () => (await r.counts()).once.completed === 2, 'the job without an id');
    expect(runs).toBe(2);
    await expect(r.enqueue('once', {}, { jobId: 'once:1' })).rejects.toThrow(/no ':'/);
    await expect(r.enqueue('twice', {})).rejects.toThrow(/no processor for jobs named "twice"; known: once/);
  });

  it('holds a job enqueued with delayMs as delayed until its time', async () => {
    const ran: number[] = [];
    const r = await runner(kind, {
      later: async () => {
        ran.push(Date.now());
      },
    });
    const at = Date.now();
    await r.enqueue('later', {}, { jobId: 'later-1', delayMs: 400 });
    expect((await r.counts()).later).toMatchObject({ delayed: 1, waiting: 0 });
    await until(() => ran.length === 1, 'the delayed run');
    expect(ran[0] - at).toBeGreaterThanOrEqual(395);
  });

  it('retries a throwing job with exponential backoff until its third attempt succeeds', async () => {
    const attempts: { attempt: number; at: number }[] = [];
    const r = await runner(
      kind,
      {
        flaky: async (_payload, ctx) => {
          attempts.push({ attempt: ctx.attempt, at: Date.now() });
          if (ctx.attempt < 3) throw new Error(`flake ${ctx.attempt}`);
        },
      },
      { attempts: 3, backoffMs: 100 },
    );
    await r.enqueue('flaky', {}, { jobId: 'flaky-1' });
    await until(async () => (await r.counts()).flaky.completed === 1, 'completion');
    expect(attempts.map((a) => a.attempt)).toEqual([1, 2, 3]);
    // 100 ms, then 200 ms (a few ms of timer slack allowed).
    expect(attempts[1].at - attempts[0].at).toBeGreaterThanOrEqual(95);
    expect(attempts[2].at - attempts[1].at).toBeGreaterThanOrEqual(195);
    expect(await r.failed()).toEqual([]);
  });

  it('fails an UnrecoverableJobError at once, without retrying, into the dead-letter view', async () => {
    let calls = 0;
    const r = await runner(kind, {
      strict: async () => {
        calls++;
        throw new UnrecoverableJobError('payload has no service');
      },
    });
    await r.enqueue('strict', { x: 1 }, { jobId: 'strict-1' });
    await until(async () => (await r.failed()).length === 1, 'the failure');
    const [failed] = await r.failed();
    expect(failed).toMatchObject({
      id: 'strict-1',
      name: 'strict',
      payload: { x: 1 },
      error: 'payload has no service',
      attempts: 1,
    });
    expect(Math.abs(failed.failedAt - Date.now())).toBeLessThan(5000);
    await sleep(200);
    expect(calls).toBe(1);
  });

  it('keeps a job that failed all its attempts as dead letter (error, attempts), and retry() runs it again', async () => {
    let broken = true;
    let runs = 0;
    const r = await runner(
      kind,
      {
        save: async (_payload, ctx) => {
          runs++;
          if (broken) throw new Error(`disk full (attempt ${ctx.attempt})`);
        },
      },
      { attempts: 2, backoffMs: 20 },
    );
    await r.enqueue('save', { k: 'v' }, { jobId: 'save-1' });
    await until(async () => (await r.failed()).length === 1, 'the dead letter');
    expect((await r.failed())[0]).toMatchObject({
      id: 'save-1',
      name: 'save',
      payload: { k: 'v' },
      error: 'disk full (attempt 2)',
      attempts: 2,
    });
    expect(runs).toBe(2);
    expect((await r.counts()).save).toMatchObject({ failed: 1, completed: 0 });
    // A dead-lettered id stays taken: retry it instead.
    expect((await r.enqueue('save', {}, { jobId: 'save-1' })).added).toBe(false);
    broken = false;
    expect(await r.retry('save-1')).toBe(true);
    await until(async () => (await r.counts()).save.completed === 1, 'the retried run');
    expect(runs).toBe(3);
    expect(await r.failed()).toEqual([]);
    expect(await r.retry('save-1')).toBe(false);
    expect(await r.retry('no-such-job')).toBe(false);
  });

  it('fires a schedule every 300 ms, once per tick when set twice, until unscheduled', async () => {
    const ticks: unknown[] = [];
    const r = await runner(kind, {
      tick: async (payload: { service: string }) => {
        ticks.push(payload.service);
      },
    });
    await r.schedule('tick-checkout', 'tick', { service: 'checkout' }, { ms: 300 });
    await r.schedule('tick-checkout', 'tick', { service: 'checkout' }, { ms: 300 });
    await sleep(1650);
    // About 6 ticks (the first at once); twice as many would mean two schedules.
    expect(ticks.length).toBeGreaterThanOrEqual(3);
    expect(ticks.length).toBeLessThanOrEqual(7);
    expect(new Set(ticks)).toEqual(new Set(['checkout']));
    await r.unschedule('tick-checkout');
    await sleep(400);
    const after = ticks.length;
    await sleep(900);
    expect(ticks.length).toBe(after);
    await expect(r.schedule('both', 'tick', {}, { ms: 300, cron: '* * * * *' })).rejects.toThrow(
      /exactly one/,
    );
  });

  it('fires a cron schedule (six fields: every second)', async () => {
    let ticks = 0;
    const r = await runner(kind, {
      tick: async () => {
        ticks++;
      },
    });
    await r.schedule('every-second', 'tick', {}, { cron: '* * * * * *' });
    await sleep(2600);
    await r.unschedule('every-second');
    expect(ticks).toBeGreaterThanOrEqual(2);
    expect(ticks).toBeLessThanOrEqual(4);
  });

  it('runs at most `concurrency` jobs of a name at once', async () => {
    let active = 0;
    let most = 0;
    let done = 0;
    const r = await runner(
      kind,
      {
        slow: async () => {
          active++;
          most = Math.max(most, active);
          await sleep(150);
          active--;
          done++;
        },
      },
      { concurrency: 2 },
    );
    for (let i = 0; i < 6; i++) await r.enqueue('slow', { i });
    await until(() => done === 6, 'six jobs');
    expect(most).toBe(2);
  });

  it('waits in close() for the job it is running, then refuses queue calls', async () => {
    let started = false;
    let finished = false;
    const r = await runner(kind, {
      long: async () => {
        started = true;
        await sleep(400);
        finished = true;
      },
    });
    await r.enqueue('long', {});
    await until(() => started, 'the start');
    await r.close();
    expect(finished).toBe(true);
    await expect(r.enqueue('long', {})).rejects.toThrow(QueueUnavailableError);
    await expect(r.counts()).rejects.toThrow(QueueUnavailableError);
  });
});

describe('BullMQ across processes', () => {
  it('shares one queue between two worker processes and runs each job exactly once', async () => {
    const prefix = `two${process.pid}`;
    const fixture = path.join(__dirname, 'fixtures', 'job-worker.js');
    const workers = await Promise.all([0, 1].map(() => startNode([fixture, redis.url, prefix], /ready \d+/)));
    children.push(...workers.map((w) => w.proc));
    const producer = await runner(
      'bullmq',
      { record: async () => undefined },
      { role: 'enqueue-only', prefix },
    );
    for (let n = 0; n < 40; n++)
      expect((await producer.enqueue('record', { n }, { jobId: `record-${n}` })).added).toBe(true);
    for (let n = 0; n < 10; n++)
      expect((await producer.enqueue('record', { n }, { jobId: `record-${n}` })).added).toBe(false);
    const client = new Redis(redis.url);
    try {
      await until(async () => (await client.llen(`${prefix}-runs`)) >= 40, '40 runs', 10_000);
      await sleep(300);
      const runs = (await client.lrange(`${prefix}-runs`, 0, -1)).map(
        (line) => JSON.parse(line) as { id: string; pid: number },
      );
      expect(runs).toHaveLength(40);
      expect(new Set(runs.map((run) => run.id)).size).toBe(40);
      expect(new Set(runs.map((run) => run.pid))).toEqual(new Set(workers.map((w) => w.proc.pid)));
    } finally {
      client.disconnect();
    }
    for (const w of workers) w.proc.kill('SIGTERM');
    expect(await Promise.all(workers.map((w) => new Promise((r) => w.proc.once('exit', r))))).toEqual([0, 0]);
  });

  it('rejects queue calls with QueueUnavailableError at once while Redis is down, logs it once, and recovers', async () => {
    const port = await freePort();
    const logs: string[] = [];
    const r = await runner(
      'bullmq',
      { record: async () => undefined },
      { redisUrl: `redis://127.0.0.1:${port}`, role: 'enqueue-only', log: (m) => logs.push(m) },
    );
    let t = Date.now();
    await expect(r.enqueue('record', {})).rejects.toThrow(QueueUnavailableError);
    expect(Date.now() - t).toBeLessThan(1000);
    t = Date.now();
    await expect(r.counts()).rejects.toThrow(/job queue is unavailable/);
    await expect(r.failed()).rejects.toThrow(QueueUnavailableError);
    expect(Date.now() - t).toBeLessThan(200);
    await sleep(1200);
    expect(logs).toEqual([
      expect.stringMatching(
        /^jobs: Redis at redis:\/\/127\.0\.0\.1:\d+ is unreachable \(.*ECONNREFUSED.*\); queue calls fail with 503/,
      ),
    ]);

    const late = await startRedis(port);
    await until(
      () =>
        r.enqueue('record', {}).then(
          () => true,
          () => false,
        ),
      'the queue to come back',
      10_000,
    );
    expect(logs[1]).toMatch(/is back$/);
    await late.kill();
    t = Date.now();
    await expect(r.enqueue('record', {})).rejects.toThrow(QueueUnavailableError);
    expect(Date.now() - t).toBeLessThan(1000);
  });

  it('answers QueueUnavailableError with 503, Retry-After and reason queue_unavailable', async () => {
    const app = express();
    app.get('/enqueue', () => {
      throw new QueueUnavailableError('Redis at redis://127.0.0.1:1: connect ECONNREFUSED');
    });
    app.use(errorHandler(() => undefined));
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    try {
      const res = await fetch(`http://127.0.0.1:${(server.address() as { port: number }).port}/enqueue`);
      expect(res.status).toBe(503);
      expect(res.headers.get('retry-after')).toBe('5');
      expect(await res.json()).toEqual({
        error: expect.stringMatching(/^the job queue is unavailable .*; retry later$/),
        reason: 'queue_unavailable',
      });
    } finally {
      server.close();
    }
  });
});

describe('the flamewatch commands with REDIS_URL', () => {
  function tmp(): string {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-jobs-'));
    dirs.push(d);
    return d;
  }

  it('flamewatch worker says what it needs without REDIS_URL or CLICKHOUSE_URL', () => {
    const env = { ...process.env, REDIS_URL: '', CLICKHOUSE_URL: '' };
    const noRedis = spawnSync(process.execPath, [cli, 'worker'], { env, encoding: 'utf8' });
    expect(noRedis.status).toBe(1);
    expect(noRedis.stderr).toMatch(
      /flamewatch worker needs REDIS_URL; without Redis the jobs run inside flamewatch serve/,
    );
    const noClickHouse = spawnSync(process.execPath, [cli, 'worker'], {
      env: { ...env, REDIS_URL: redis.url },
      encoding: 'utf8',
    });
    expect(noClickHouse.status).toBe(1);
    expect(noClickHouse.stderr).toMatch(/needs CLICKHOUSE_URL/);
  });

  it('flamewatch worker runs against Redis and ClickHouse, and stops cleanly on SIGTERM', async () => {
    const shim = await startNode(
      [path.join(__dirname, 'helpers', 'clickhouse-http-shim.js'), tmp()],
      /listening (\d+)/,
    );
    children.push(shim.proc);
    const worker = await startNode(
      [cli, 'worker', '--concurrency', '2'],
      /flamewatch worker running .* from BullMQ on Redis at redis:\/\/127\.0\.0\.1:\d+ \(concurrency 2/,
      {
        REDIS_URL: redis.url,
        CLICKHOUSE_URL: `http://default:@127.0.0.1:${shim.match[1]}`,
      },
    );
    children.push(worker.proc);
    worker.proc.kill('SIGTERM');
    expect(await new Promise((r) => worker.proc.once('exit', r))).toBe(0);
    expect(worker.output()).toMatch(/SIGTERM, finishing running jobs/);
  });

  it('flamewatch serve starts and serves while REDIS_URL points at no Redis, and says so', async () => {
    const port = await freePort();
    const serve = await startServe(['--data', tmp(), '--no-self-profile'], {
      REDIS_URL: `redis://127.0.0.1:${port}`,
    });
    children.push(serve.proc);
    expect(await (await fetch(`${serve.url}/healthz`)).json()).toMatchObject({ status: 'ok' });
    expect(serve.output()).toMatch(
      /flamewatch jobs: BullMQ on Redis at redis:\/\/127\.0\.0\.1:\d+, run by flamewatch worker/,
    );
    await until(() => /is unreachable \(.*ECONNREFUSED/.test(serve.output()), 'the Redis warning');
    expect(serve.output()).toMatch(/store is embedded chDB, which workers cannot read/);
    serve.proc.kill('SIGTERM');
    expect(await new Promise((r) => serve.proc.once('exit', r))).toBe(0);
  });
});
