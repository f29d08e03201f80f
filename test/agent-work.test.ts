/**
 * The agent's work and process: a real service (test/fixtures/agent-host.js,
 * node's http server under load) with the agent, against a real server. The
 * work stored over its CPU/wall pushes adds up to the requests it served
 * (counted through diagnostics_channel), plus countWork() calls; heap pushes
 * carry none; every push names the same process; `work: 'off'` sends none.
 * And a benchmark under `flamewatch ci record` counting its iterations.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { optionsFromEnv, resolveOptions } from '../agent/src/config';
import { startServer, type TestServer } from './helpers/server';

const run = promisify(execFile);
const root = path.resolve(__dirname, '..');
const host = path.join(__dirname, 'fixtures', 'agent-host.js');

interface Report {
  pid: number;
  served: number;
  before: { dropped: number };
  after: { pushed: number; buffered: number; rejected: number };
  errors: string[];
}

/** Runs the host service for `seconds`, pushing every second, and waits for its last push. */
async function runHost(
  server: string,
  seconds: number,
  options: Record<string, unknown>,
  env: Record<string, string> = {},
): Promise<Report> {
  // Generous timeouts: every profile must arrive for the sums to be exact, even on a busy machine.
  const all = {
    server,
    labels: { env: 'test' },
    intervalMs: 1000,
    requestTimeoutMs: 10_000,
    stopTimeoutMs: 20_000,
    ...options,
  };
  const { stdout } = await run(process.execPath, [host], {
    env: { ...process.env, ...env, AGENT_OPTIONS: JSON.stringify(all), HOST_SECONDS: String(seconds) },
    timeout: (seconds + 40) * 1000,
  });
  const report = JSON.parse(stdout.trim().split('\n').pop()!) as Report;
  expect(report.errors).toEqual([]);
  expect([report.before.dropped, report.after.buffered, report.after.rejected]).toEqual([0, 0, 0]);
  return report;
}

interface StoredProfile {
  types: string[];
  work: number;
  process: string;
  /** Distinct (work, process) pairs over the profile's rows. */
  variants: number;
  started: number;
}

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

/** One entry per stored profile (push) of `service`, oldest first. */
async function stored(service: string): Promise<StoredProfile[]> {
  const rs = await server.store.client.query({
    query: `SELECT groupUniqArray(type) AS types, any(p.work) AS work, any(p.process) AS process, uniqExact(p.work, p.process) AS variants,
                   toUnixTimestamp64Milli(min(p.time)) AS started
            FROM ${server.store.database}.profiles AS p WHERE service = {service:String} GROUP BY profile_id ORDER BY started`,
    query_params: { service },
    format: 'JSONEachRow',
  });
  return (await rs.json<StoredProfile & { variants: string; started: string }>()).map((p) => ({
    ...p,
    variants: Number(p.variants),
    started: Number(p.started),
  }));
}

const isWall = (p: StoredProfile) => p.types.includes('cpu');
const isHeap = (p: StoredProfile) => p.types.includes('inuse_space');
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

describe('the work the agent sends', () => {
  it('adds up, over the CPU/wall pushes, to the HTTP requests the service served; heap pushes carry none; one process throughout', async () => {
    const t0 = Date.now();
    const r = await runHost(server.url, 4, { service: 'work-http' });
    expect(r.served).toBeGreaterThan(100);
    const profiles = await stored('work-http');
    const walls = profiles.filter(isWall);
    const heaps = profiles.filter(isHeap);
    expect(walls.length).toBeGreaterThanOrEqual(3);
    expect(heaps.length).toBe(walls.length);
    expect(profiles.every((p) => p.variants === 1)).toBe(true); // every row of a push has its work and process
    expect(sum(walls.map((p) => p.work))).toBe(r.served);
    expect(walls.filter((p) => p.work > 0).length).toBeGreaterThanOrEqual(3); // split by interval, not sent at once
    expect(heaps.map((p) => p.work)).toEqual(heaps.map(() => 0));
    const processes = [...new Set(profiles.map((p) => p.process))];
    expect(processes).toHaveLength(1);
    const [hostname, pid, started] = processes[0].split(':');
    expect([hostname, Number(pid)]).toEqual([os.hostname(), r.pid]);
    expect(started).toMatch(/^[0-9a-z]+$/);
    expect(parseInt(started, 36)).toBeGreaterThanOrEqual(t0 - 1000);
    expect(parseInt(started, 36)).toBeLessThan(t0 + 10_000);
  }, 60_000);

  it('adds countWork() calls to the requests by default, and counts only them with work: manual', async () => {
    const both = await runHost(server.url, 3, { service: 'work-both' }, { HOST_COUNT_WORK: '2' });
    expect(sum((await stored('work-both')).filter(isWall).map((p) => p.work))).toBe(3 * both.served);
    const manual = await runHost(
      server.url,
      3,
      { service: 'work-manual', work: 'manual' },
      { HOST_COUNT_WORK: '5' },
    );
    expect(sum((await stored('work-manual')).filter(isWall).map((p) => p.work))).toBe(5 * manual.served);
  }, 90_000);

  it('gives another process (a restart) another process id', async () => {
    await runHost(server.url, 1.5, { service: 'work-restart' });
    await runHost(server.url, 1.5, { service: 'work-restart' });
    expect(new Set((await stored('work-restart')).map((p) => p.process)).size).toBe(2);
  }, 60_000);
});

describe('what goes on the wire', () => {
  /** A server that answers every push 200 and keeps its query string. */
  async function recorder(): Promise<{
    url: string;
    queries: URLSearchParams[];
    close: () => Promise<void>;
  }> {
    const queries: URLSearchParams[] = [];
    const srv = http.createServer((req, res) => {
      queries.push(new URL(req.url ?? '/', 'http://x').searchParams);
      req.resume();
      req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}'));
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    return {
      url: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`,
      queries,
      close: () => new Promise((r) => srv.close(() => r())),
    };
  }

  it('sends work with wall pushes only and process with every push, as extra query parameters', async () => {
    const rec = await recorder();
    try {
      const r = await runHost(rec.url, 2.5, { service: 'wire' });
      // The agent's own pushes go to the recorder: it serves no HTTP of its own there.
      const pushes = rec.queries.filter((q) => q.get('name') === 'wire{env="test"}');
      expect(pushes.length).toBe(r.after.pushed);
      const withWork = pushes.filter((q) => q.has('work'));
      expect(withWork.length).toBe(pushes.length / 2); // wall and heap alternate
      expect(sum(withWork.map((q) => Number(q.get('work'))))).toBe(r.served);
      expect(new Set(pushes.map((q) => q.get('process')))).toEqual(
        new Set([expect.stringMatching(new RegExp(`^${os.hostname()}:${r.pid}:[0-9a-z]+$`))]),
      );
      expect(pushes.every((q) => q.get('format') === 'pprof' && q.has('sampleRate'))).toBe(true);
    } finally {
      await rec.close();
    }
  }, 60_000);

  it('with a duty cycle, records profileMs of each interval: windows that short, one an interval, work only from inside them', async () => {
    const rec = await recorder();
    try {
      const t0 = Math.floor(Date.now() / 1000);
      const r = await runHost(rec.url, 9, { service: 'duty', intervalMs: 4000, profileMs: 1000 });
      const pushes = rec.queries.filter((q) => q.get('name') === 'duty{env="test"}');
      const walls = pushes.filter((q) => q.has('work'));
      // A window at once, one at a random point of 4-8 s, maybe one of 8-12 s before the stop: 2 or 3 wall pushes,
      // each with a heap push beside it, and a last heap push of its own when stop() comes between windows.
      expect(walls.length).toBeGreaterThanOrEqual(2);
      expect(walls.length).toBeLessThanOrEqual(3);
      expect(pushes.length - 2 * walls.length).toBeGreaterThanOrEqual(0);
      expect(pushes.length - 2 * walls.length).toBeLessThanOrEqual(1);
      // from and until are whole seconds, rounded out: a 1 s window (a little more on a busy machine) spans 1-3 of
      // them, the 4 s interval at least 4.
      for (const q of walls) expect(Number(q.get('until')) - Number(q.get('from'))).toBeLessThanOrEqual(3);
      const starts = walls.map((q) => Number(q.get('from')));
      expect(starts[0]).toBeGreaterThanOrEqual(t0);
      expect(starts[0]).toBeLessThanOrEqual(t0 + 2); // the first window at once
      for (let i = 1; i < walls.length; i++) expect(starts[i] - starts[i - 1]).toBeGreaterThanOrEqual(1);
      // Requests are served all the time, counted only while a window records: a quarter to a half of them here.
      const work = sum(walls.map((q) => Number(q.get('work'))));
      expect(work).toBeGreaterThan(0);
      expect(work).toBeLessThan(0.6 * r.served);
    } finally {
      await rec.close();
    }
  }, 60_000);

  it('sends no work at all with work: off, and still the process', async () => {
    const rec = await recorder();
    try {
      const r = await runHost(rec.url, 2.5, { service: 'wire-off', work: 'off' }, { HOST_COUNT_WORK: '1' });
      expect(r.served).toBeGreaterThan(50);
      expect(rec.queries.length).toBe(r.after.pushed);
      expect(rec.queries.filter((q) => q.has('work'))).toEqual([]);
      expect(rec.queries.every((q) => q.get('process')?.startsWith(`${os.hostname()}:${r.pid}:`))).toBe(true);
    } finally {
      await rec.close();
    }
  }, 60_000);
});

describe('configuration', () => {
  it('takes the profile window from FLAMEWATCH_PROFILE_SECONDS, all of the interval by default, and refuses one longer', () => {
    const base = { server: 'http://127.0.0.1:4040', service: 'svc' };
    expect(optionsFromEnv({ FLAMEWATCH_PROFILE_SECONDS: '10' }).profileMs).toBe(10_000);
    expect(resolveOptions({ ...base, intervalMs: 30_000 }).options?.profileMs).toBe(30_000);
    expect(resolveOptions({ ...base, intervalMs: 30_000, profileMs: 40_000 }).problems).toEqual([
      'profileMs must be from 1000 to intervalMs (30000), not 40000',
    ]);
  });

  it('takes work from FLAMEWATCH_WORK, defaults to http, and refuses anything else', () => {
    expect(optionsFromEnv({ FLAMEWATCH_WORK: 'manual' }).work).toBe('manual');
    expect(optionsFromEnv({ FLAMEWATCH_WORK: ' OFF ' }).work).toBe('off');
    expect(optionsFromEnv({ FLAMEWATCH_WORK: '' }).work).toBeUndefined();
    const base = { server: 'http://127.0.0.1:4040', service: 'svc' };
    expect(resolveOptions(base).options?.work).toBe('http');
    expect(resolveOptions({ ...optionsFromEnv({ FLAMEWATCH_WORK: 'requests' }), ...base }).problems).toEqual([
      'work must be http, manual, off, not "requests"',
    ]);
  });

  it('takes lines and source maps from the environment; lines turn CPU time off, and both asked for is refused', () => {
    const env = optionsFromEnv({ FLAMEWATCH_LINE_NUMBERS: 'true', FLAMEWATCH_SOURCE_MAPS: ' dist ' });
    expect(env).toMatchObject({ lineNumbers: true, sourceMapsDir: 'dist' });
    const base = { server: 'http://127.0.0.1:4040', service: 'svc' };
    expect(resolveOptions(base).options).toMatchObject({ lineNumbers: false, cpuTime: true });
    expect(resolveOptions({ ...base, lineNumbers: true }).options).toMatchObject({
      lineNumbers: true,
      cpuTime: false,
    });
    expect(resolveOptions({ ...base, lineNumbers: true, cpuTime: true }).problems).toEqual([
      'lineNumbers and cpuTime cannot both be on (@datadog/pprof keeps lines only without CPU time)',
    ]);
  });
});

describe('a benchmark under flamewatch ci record', () => {
  it('sends the iterations it counts with countWork(), also through another copy of the package', async () => {
    // A second copy of the agent's counter, as a benchmark with its own node_modules would load.
    const copy = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-agent-copy-'));
    fs.copyFileSync(path.join(root, 'agent', 'dist', 'work.js'), path.join(copy, 'work.js'));
    const bench = `
      const { countWork } = require('@flamewatch/agent');
      const other = require(${JSON.stringify(path.join(copy, 'work.js'))});
      let iterations = 0;
      const end = Date.now() + 2500;
      (function loop() {
        for (let i = 0; i < 200; i++) { let x = 0; for (let k = 0; k < 2000; k++) x += Math.sqrt(k); iterations++; }
        countWork(150);
        other.countWork(50);
        if (Date.now() < end) setImmediate(loop); else console.log(JSON.stringify({ iterations }));
      })();
    `;
    try {
      const env = Object.fromEntries(
        Object.entries(process.env).filter(([k]) => !k.startsWith('FLAMEWATCH_') && k !== 'NODE_OPTIONS'),
      );
      const { stdout } = await run(
        process.execPath,
        [
          path.join(root, 'bin', 'flamewatch.js'),
          'ci',
          'record',
          '--server',
          server.url,
          '--service',
          'work-bench',
          '--interval',
          '1',
          '--',
          process.execPath,
          '-e',
          bench,
        ],
        {
          cwd: root,
          env: { ...env, FLAMEWATCH_HEAP: 'false' },
          timeout: 40_000,
        },
      );
      const { iterations } = JSON.parse(stdout.trim().split('\n').pop()!) as { iterations: number };
      const walls = (await stored('work-bench')).filter(isWall);
      expect(walls.length).toBeGreaterThanOrEqual(2);
      expect(sum(walls.map((p) => p.work))).toBe(iterations);
    } finally {
      fs.rmSync(copy, { recursive: true, force: true });
    }
  }, 60_000);
});
