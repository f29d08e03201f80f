import { execFile, spawn } from 'node:child_process';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { retryDelayMs } from '../agent/src/backoff';
import { getJson, startServer, type TestServer } from './helpers/server';

const run = promisify(execFile);
const host = path.join(__dirname, 'fixtures', 'agent-host.js');
const register = path.join(__dirname, '..', 'agent', 'register.js');

interface Report {
  served: number;
  before: {
    collected: number;
    pushed: number;
    retried: number;
    rejected: number;
    dropped: number;
    buffered: number;
  };
  after: { pushed: number; buffered: number; rejected: number; retried: number };
  stopMs: number;
  errors: string[];
  logs: string[];
}

/** Runs the host service with the agent for `seconds` against `server`; returns its report. */
async function runHost(
  server: string,
  seconds: number,
  extra: Record<string, unknown> = {},
): Promise<Report> {
  const options = {
    server,
    service: 'agent-test',
    labels: { env: 'test' },
    intervalMs: 1000,
    requestTimeoutMs: 800,
    stopTimeoutMs: 1500,
    ...extra,
  };
  const { stdout } = await run(process.execPath, [host], {
    env: { ...process.env, AGENT_OPTIONS: JSON.stringify(options), HOST_SECONDS: String(seconds) },
    timeout: (seconds + 20) * 1000,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!) as Report;
}

/** A misbehaving "server" on an ephemeral port. */
async function listen(
  handler: (socket: net.Socket) => void,
): Promise<{ url: string; close: () => Promise<void>; connections: () => number }> {
  let connections = 0;
  const sockets = new Set<net.Socket>();
  const srv = net.createServer((s) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
    s.on('error', () => undefined);
    handler(s);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as net.AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    connections: () => connections,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy(); // a socket nobody reads never sees its peer leave
        srv.close(() => r());
      }),
  };
}

function httpAnswer(
  status: number,
  headers: Record<string, string> = {},
  body = '{"error":"nope"}',
): (s: net.Socket) => void {
  return (s) => {
    s.once('data', () => {
      const head = Object.entries({ 'content-length': String(body.length), connection: 'close', ...headers })
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join('');
      s.end(`HTTP/1.1 ${status} X\r\n${head}\r\n${body}`);
    });
  };
}

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

describe('the Node.js agent against a real server', () => {
  it('shows a service in the API within 15 s of start, with its labels and CPU, wall and heap profiles', async () => {
    const started = Date.now();
    const child = spawn(
      process.execPath,
      [
        '-r',
        register,
        '-e',
        "require('http').createServer((q, r) => r.end('x')).listen(0); setInterval(() => { let x = 0; for (let i = 0; i < 1e6; i++) x += i; }, 10);",
      ],
      {
        env: {
          ...process.env,
          FLAMEWATCH_SERVER: server.url,
          FLAMEWATCH_SERVICE: 'registered-svc',
          FLAMEWATCH_LABELS: 'env=ci,version=2.1',
          FLAMEWATCH_INTERVAL: '2',
        },
        stdio: 'ignore',
      },
    );
    try {
      let services: string[] = [];
      while (Date.now() - started < 15_000 && !services.includes('registered-svc')) {
        await new Promise((r) => setTimeout(r, 250));
        services = (await getJson<string[]>(server.url, '/api/v1/services')).json;
      }
      expect(services).toContain('registered-svc');
      expect(Date.now() - started).toBeLessThan(15_000);
      await new Promise((r) => setTimeout(r, 2500)); // a heap profile too
      const types = (
        await getJson<{ type: string }[]>(server.url, '/api/v1/profile-types?service=registered-svc')
      ).json.map((t) => t.type);
      expect(types).toEqual(expect.arrayContaining(['cpu', 'wall', 'inuse_space', 'inuse_objects']));
      expect(
        (await getJson(server.url, '/api/v1/label-values?service=registered-svc&label=version')).json,
      ).toEqual(['2.1']);
      const top = await getJson<{ total: number }>(
        server.url,
        '/api/v1/top?query=registered-svc{env="ci"}&type=cpu',
      );
      expect(top.json.total).toBeGreaterThan(0);
    } finally {
      child.kill();
    }
  }, 30_000);

  it('flushes the last profiles on stop(), before the first interval ends', async () => {
    // Time for the two pushes even when CI's machine is busy: this test is about stop() flushing, not about timeouts.
    const r = await runHost(server.url, 2.5, {
      service: 'flush-svc',
      intervalMs: 60_000,
      requestTimeoutMs: 5000,
      stopTimeoutMs: 10_000,
    });
    expect(r.errors).toEqual([]);
    expect(r.before.pushed).toBe(0); // the first interval has not ended
    expect(r.after.pushed).toBe(2); // wall and heap, pushed by stop()
    expect(r.after.buffered).toBe(0);
    expect((await getJson<string[]>(server.url, '/api/v1/services')).json).toContain('flush-svc');
  });

  it('lets the process exit normally while it runs, pushing the last profile on the way', async () => {
    const t0 = Date.now();
    await run(process.execPath, ['-r', register, '-e', 'let x = 0; for (let i = 0; i < 3e7; i++) x += i;'], {
      env: { ...process.env, FLAMEWATCH_SERVER: server.url, FLAMEWATCH_SERVICE: 'short-lived' },
      timeout: 15_000,
    });
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect((await getJson<string[]>(server.url, '/api/v1/services')).json).toContain('short-lived');
  });
});

describe('backoff', () => {
  it('waits a random time up to 1 s, doubling per failure up to 60 s, and never less than Retry-After (capped at 5 minutes)', () => {
    expect(retryDelayMs(1, undefined, () => 0.5)).toBe(500);
    expect(retryDelayMs(3, undefined, () => 0.5)).toBe(2000);
    expect(retryDelayMs(30, undefined, () => 0.5)).toBe(30_000);
    expect(retryDelayMs(1, 5000, () => 0.5)).toBe(5000);
    expect(retryDelayMs(6, 5000, () => 0.5)).toBe(16_000);
    expect(retryDelayMs(1, 3_600_000, () => 0)).toBe(300_000);
  });
});

describe('the agent never harms its host when the server misbehaves', () => {
  const cases: [string, (s: net.Socket) => void][] = [
    ['answers 500', httpAnswer(500)],
    ['answers 429 with Retry-After', httpAnswer(429, { 'retry-after': '1' })],
    ['hangs without answering', () => undefined],
    ['resets connections', (s) => s.resetAndDestroy()],
    ['answers garbage', (s) => s.once('data', () => s.end('\u0000\u0001 not http at all\r\n\r\n'))],
  ];

  it.each(cases)(
    'keeps serving, throws nothing and keeps memory bounded when the server %s',
    async (_name, handler) => {
      const bad = await listen(handler);
      try {
        const r = await runHost(bad.url, 5, { maxBufferedProfiles: 4 });
        expect(r.errors).toEqual([]);
        expect(r.served).toBeGreaterThan(100);
        expect(r.before.pushed).toBe(0);
        expect(r.before.retried).toBeGreaterThanOrEqual(1);
        expect(r.before.buffered).toBeLessThanOrEqual(4);
        expect(r.before.collected).toBeGreaterThanOrEqual(6);
        expect(r.before.dropped).toBe(r.before.collected - r.before.buffered);
        expect(r.stopMs).toBeLessThan(2500); // stop() gives up on a failing server
        // backoff: far fewer attempts than collected profiles
        expect(bad.connections()).toBeLessThan(r.before.collected + 4);
      } finally {
        await bad.close();
      }
    },
    30_000,
  );

  it('keeps serving when the server is down (connection refused)', async () => {
    const bad = await listen(() => undefined);
    await bad.close(); // nothing listens on that port any more
    const r = await runHost(bad.url, 4, { maxBufferedProfiles: 3 });
    expect(r.errors).toEqual([]);
    expect(r.served).toBeGreaterThan(100);
    expect(r.before.buffered).toBeLessThanOrEqual(3);
    expect(r.before.retried).toBeGreaterThanOrEqual(1);
  }, 30_000);

  it('logs a 4xx refusal once and does not retry it', async () => {
    let requests = 0;
    const srv = http.createServer((req, res) => {
      requests++;
      req.resume();
      res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"labels are wrong"}');
    });
    await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
    try {
      const r = await runHost(`http://127.0.0.1:${(srv.address() as net.AddressInfo).port}`, 3.5);
      expect(r.errors).toEqual([]);
      expect(r.before.retried).toBe(0);
      expect(r.before.rejected).toBeGreaterThanOrEqual(4);
      expect(r.after.retried).toBe(0);
      expect(requests).toBe(r.after.rejected); // each profile tried once
      expect(r.logs.filter((l) => l.includes('labels are wrong'))).toHaveLength(1);
    } finally {
      await new Promise((r) => srv.close(r));
    }
  }, 30_000);

  it('starts nothing and throws nothing on unusable options', async () => {
    const r = await runHost('not a url', 1.5);
    expect(r.errors).toEqual([]);
    expect(r.before.collected).toBe(0);
    expect(r.logs.join('\n')).toMatch(/not started: server is not a URL/);
  });
});
