/**
 * API tokens end to end on a real server over chDB: the operator token makes
 * tenants' tokens, each scope opens exactly its routes, Bearer and Pyroscope's
 * Basic form (from the real @pyroscope/nodejs SDK) both work, revocation
 * reaches a second replica within its cache time, only hashes are stored,
 * and `flamewatch serve` refuses to listen beyond loopback without auth.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createApp } from '../server/app';
import { cli, startServe } from './helpers/process';
import { startServer, type TestServer } from './helpers/server';

const ADMIN = 'operator-secret-0123456789abcdef';
let server: TestServer;

beforeAll(async () => {
  server = await startServer({ auth: { mode: 'token', adminToken: ADMIN, cacheMs: 400 } });
});
afterAll(() => server.close());

const bearer = (token: string) => ({ Authorization: `Bearer ${token}` });
const basic = (user: string, password: string) => ({
  Authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
});

async function call(
  method: string,
  pathAndQuery: string,
  headers: Record<string, string> = {},
  body?: unknown,
): Promise<{ status: number; json: Record<string, unknown>; headers: Headers }> {
  const init: RequestInit = { method, headers: { ...headers } };
  if (body !== undefined) {
    init.body = typeof body === 'string' ? body : JSON.stringify(body);
    (init.headers as Record<string, string>)['content-type'] =
      typeof body === 'string' ? 'text/plain' : 'application/json';
  }
  const res = await fetch(server.url + pathAndQuery, init);
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, json: json as Record<string, unknown>, headers: res.headers };
}

/** Runs node with args, asynchronously (the server under test lives in this process: a synchronous child would block it). */
function run(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ status: number | null; output: string }> {
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  return new Promise((resolve) => child.once('exit', (status) => resolve({ status, output })));
}

async function makeToken(
  tenant: string,
  scopes: string[],
  as = ADMIN,
): Promise<{ token: string; id: string }> {
  const res = await call('POST', '/api/v1/tokens', bearer(as), {
    tenant,
    scopes,
    name: `${tenant} ${scopes.join('+')}`,
  });
  expect(res.status).toBe(201);
  return res.json as { token: string; id: string };
}

const push = (token: Record<string, string>, name = 'app.cpu', extra: Record<string, string> = {}) =>
  call(
    'POST',
    `/ingest?name=${encodeURIComponent(name)}&from=${Math.floor(Date.now() / 1000) - 30}`,
    { ...token, ...extra },
    'main;work 5\n',
  );

describe('token mode', () => {
  let ingestA: string;
  let readA: string;
  let adminA: string;

  beforeAll(async () => {
    ingestA = (await makeToken('a', ['ingest'])).token;
    readA = (await makeToken('a', ['read'])).token;
    adminA = (await makeToken('a', ['admin'])).token;
  });

  it('answers 401 with WWW-Authenticate without a token, on ingest and every API path, whatever its spelling', async () => {
    for (const [method, p] of [
      ['POST', '/ingest?name=x'],
      ['GET', '/api/v1/services'],
      ['GET', '/API/V1/services'],
      ['GET', '/api/v1/no-such-endpoint'],
      ['GET', '/api/v1/tokens'],
      ['PUT', '/api/v1/baselines?service=x'],
      ['POST', '/INGEST?name=x'],
    ]) {
      const res = await call(method, p, {}, method === 'GET' ? undefined : 'a 1\n');
      expect([method, p, res.status]).toEqual([method, p, 401]);
      expect(res.json).toEqual({
        error: expect.stringMatching(/authentication required/),
        reason: 'unauthorized',
      });
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="flamewatch"');
    }
    const bad = await call('GET', '/api/v1/services', bearer('fw_' + 'x'.repeat(43)));
    expect(bad.status).toBe(401);
    expect(bad.json.error).toMatch(/not valid/);
    expect((await call('GET', '/api/v1/services', { Authorization: 'Token abc' })).status).toBe(401);
  });

  it('keeps the UI, health and metrics public (they hold no tenant data)', async () => {
    expect((await call('GET', '/')).status).toBe(200);
    expect((await call('GET', '/healthz')).status).toBe(200);
    expect((await call('GET', '/metrics')).status).toBe(200);
  });

  it('takes the tenant from the token: ingest as a, read as a, nothing in the default tenant', async () => {
    expect((await push(bearer(ingestA))).status).toBe(200);
    expect((await call('GET', '/api/v1/services', bearer(readA))).json).toEqual(['app']);
    expect((await call('GET', '/api/v1/services', bearer(ADMIN))).json).toEqual([]);
  });

  it("refuses X-Scope-OrgID naming another tenant (403), takes it when it names the token's own", async () => {
    const other = await call('GET', '/api/v1/services', { ...bearer(readA), 'X-Scope-OrgID': 'b' });
    expect(other.status).toBe(403);
    expect(other.json.reason).toBe('forbidden');
    expect((await push(bearer(ingestA), 'app.cpu', { 'X-Scope-OrgID': 'b' })).status).toBe(403);
    expect((await call('GET', '/api/v1/services', { ...bearer(readA), 'X-Scope-OrgID': 'a' })).json).toEqual([
      'app',
    ]);
  });

  it('opens each route to its scope only: ingest pushes, read reads, admin changes (and reads)', async () => {
    expect((await call('GET', '/api/v1/services', bearer(ingestA))).status).toBe(403);
    expect((await push(bearer(readA))).status).toBe(403);
    expect((await push(bearer(adminA))).status).toBe(403);
    const put = (t: string) =>
      call('PUT', '/api/v1/baselines?service=app', bearer(t), { windowMs: 7_200_000 });
    expect((await put(readA)).status).toBe(403);
    expect((await put(ingestA)).status).toBe(403);
    expect((await put(adminA)).status).toBe(200);
    expect((await call('GET', '/api/v1/baselines?service=app', bearer(readA))).json.windowMs).toBe(7_200_000);
    expect((await call('GET', '/api/v1/services', bearer(adminA))).status).toBe(200);
    expect(
      (await call('PATCH', '/api/v1/regressions/nope', bearer(readA), { status: 'resolved' })).status,
    ).toBe(403);
    expect(
      (await call('PATCH', '/api/v1/regressions/nope', bearer(adminA), { status: 'resolved' })).status,
    ).toBe(404);
    expect((await call('POST', '/api/v1/jobs/nope/retry', bearer(readA))).status).toBe(403);
    // Token management is admin only, reading the list included.
    expect((await call('GET', '/api/v1/tokens', bearer(readA))).status).toBe(403);
    expect((await call('GET', '/api/v1/TOKENS', bearer(readA))).status).toBe(403);
  });

  it('accepts Basic auth with the token as password (Pyroscope SDKs, Grafana Cloud style), the user ignored', async () => {
    expect((await push(basic('123456', ingestA), 'basic.cpu')).status).toBe(200);
    expect((await call('GET', '/api/v1/services', basic('anyone', readA))).json).toEqual(
      expect.arrayContaining(['app', 'basic']),
    );
    expect((await call('GET', '/api/v1/services', basic(readA, ''))).status).toBe(200);
    expect((await call('GET', '/api/v1/services', basic('a', 'wrong'))).status).toBe(401);
  });

  it('takes pushes from the real @pyroscope/nodejs SDK with basicAuthUser/basicAuthPassword', async () => {
    const script = `
      const Pyroscope = require('@pyroscope/nodejs').default;
      Pyroscope.init({ serverAddress: ${JSON.stringify(server.url)}, appName: 'sdk-app', basicAuthUser: '987654', basicAuthPassword: ${JSON.stringify(ingestA)}, flushIntervalMs: 1000 });
      Pyroscope.start();
      const end = Date.now() + 2500;
      (function spin() { let x = 0; for (let i = 0; i < 1e6; i++) x += Math.sqrt(i); if (Date.now() < end) setImmediate(spin); else Pyroscope.stop().then(() => process.exit(0)); })();
    `;
    const child = spawn(process.execPath, ['-e', script], {
      cwd: path.resolve(__dirname, '..'),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    expect(await new Promise((r) => child.once('exit', r))).toBe(0);
    const types = await call('GET', '/api/v1/profile-types?service=sdk-app', bearer(readA));
    expect([types.status, output]).toEqual([200, output]);
    expect((types.json as unknown as { type: string }[]).map((t) => t.type)).toEqual(
      expect.arrayContaining(['wall']),
    );
  });

  it('our clients send the token as Bearer: flamewatch push --token, and the agent with FLAMEWATCH_TOKEN', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-auth-push-'));
    try {
      const file = path.join(dir, 'stacks.folded');
      fs.writeFileSync(file, 'main;pushed_fn 4\n');
      const pushed = await run(
        [cli, 'push', '--server', server.url, '--service', 'pushed', '--token', ingestA, file],
        { FLAMEWATCH_TOKEN: '' },
      );
      expect([pushed.status, pushed.output]).toEqual([0, expect.stringMatching(/pushed 1 of 1 file/)]);
      const refused = await run(
        [cli, 'push', '--server', server.url, '--service', 'pushed', '--token', readA, file],
        { FLAMEWATCH_TOKEN: '' },
      );
      expect(refused.status).not.toBe(0);
      expect(refused.output).toMatch(/403/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const agent = await run(
      [
        '-r',
        require.resolve('@flamewatch/agent/register'),
        '-e',
        'const end = Date.now() + 1500; while (Date.now() < end) Math.sqrt(Math.random());',
      ],
      {
        FLAMEWATCH_SERVER: server.url,
        FLAMEWATCH_SERVICE: 'agent-app',
        FLAMEWATCH_TOKEN: ingestA,
        FLAMEWATCH_TENANT: '',
        FLAMEWATCH_INTERVAL: '1',
      },
    );
    expect(agent.status).toBe(0);
    const services = (await call('GET', '/api/v1/services', bearer(readA))).json as unknown as string[];
    expect(services).toEqual(expect.arrayContaining(['pushed', 'agent-app']));
  });

  it("lets a tenant's admin manage its own tokens only; the operator names any tenant", async () => {
    const mine = await makeToken('a', ['read'], adminA);
    const listed = await call('GET', '/api/v1/tokens', bearer(adminA));
    expect(listed.status).toBe(200);
    expect(listed.json).toEqual(
      expect.arrayContaining([
        { id: mine.id, tenant: 'a', scopes: ['read'], name: 'a read', created: expect.any(Number) },
      ]),
    );
    expect(JSON.stringify(listed.json)).not.toContain(mine.token);
    // Another tenant is the operator's business.
    expect(
      (await call('POST', '/api/v1/tokens', bearer(adminA), { tenant: 'b', scopes: ['read'] })).status,
    ).toBe(403);
    expect((await call('GET', '/api/v1/tokens?tenant=b', bearer(adminA))).status).toBe(403);
    expect((await call('POST', '/api/v1/tokens', bearer(adminA), { scopes: ['root'] })).status).toBe(400);
    expect((await call('POST', '/api/v1/tokens', bearer(adminA), '{not json')).status).toBe(400);
    expect((await call('GET', '/api/v1/tokens?tenant=a', bearer(ADMIN))).json).toEqual(
      expect.arrayContaining([expect.objectContaining({ id: mine.id })]),
    );
  });

  it('revokes at once on the replica that revoked, on another within its cache time', async () => {
    const t = await makeToken('a', ['read']);
    // A second replica: another app over the same store.
    const replica = createApp({
      store: server.store,
      auth: { mode: 'token', adminToken: ADMIN, cacheMs: 400 },
      ingestWorkers: 0,
      log: () => undefined,
    });
    const listener: Server = await new Promise((resolve) => {
      const s = replica.app.listen(0, '127.0.0.1', () => resolve(s));
    });
    const replicaUrl = `http://127.0.0.1:${(listener.address() as AddressInfo).port}`;
    try {
      const viaReplica = () =>
        fetch(`${replicaUrl}/api/v1/services`, { headers: bearer(t.token) }).then((r) => r.status);
      expect(await viaReplica()).toBe(200);
      expect((await call('DELETE', `/api/v1/tokens/${t.id}`, bearer(adminA))).status).toBe(204);
      expect((await call('DELETE', `/api/v1/tokens/${t.id}`, bearer(adminA))).status).toBe(404);
      expect((await call('GET', '/api/v1/services', bearer(t.token))).status).toBe(401);
      await new Promise((r) => setTimeout(r, 500));
      expect(await viaReplica()).toBe(401);
    } finally {
      listener.closeAllConnections();
      await new Promise((r) => listener.close(r));
      await replica.close();
    }
  });

  it('stores only SHA-256 hashes, never a token', async () => {
    const t = await makeToken('a', ['ingest']);
    const rs = await server.store.client.query({
      query: `SELECT * FROM ${server.store.database}.api_tokens`,
      format: 'JSONEachRow',
    });
    const rows = await rs.json<Record<string, unknown>>();
    expect(rows.length).toBeGreaterThan(3);
    expect(JSON.stringify(rows)).not.toContain(t.token);
    expect(JSON.stringify(rows)).not.toContain(t.token.slice(3));
    expect(rows.map((r) => r.hash)).toContain(
      require('node:crypto').createHash('sha256').update(t.token).digest('hex'),
    );
  });
});

describe('open mode', () => {
  it('has no token routes and takes the tenant from X-Scope-OrgID, as before', async () => {
    const open = await startServer();
    try {
      const res = await fetch(`${open.url}/api/v1/tokens`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: '{"scopes":["read"]}',
      });
      expect(res.status).toBe(404);
      expect(((await res.json()) as { error: string }).error).toMatch(/tokens are off/);
      expect(
        (
          await fetch(`${open.url}/ingest?name=o.cpu`, {
            method: 'POST',
            body: 'a 1\n',
            headers: { 'X-Scope-OrgID': 'z' },
          })
        ).status,
      ).toBe(200);
      expect(
        await (await fetch(`${open.url}/api/v1/services`, { headers: { 'X-Scope-OrgID': 'z' } })).json(),
      ).toEqual(['o']);
    } finally {
      await open.close();
    }
  });
});

describe('flamewatch serve and flamewatch token', () => {
  const dirs: string[] = [];
  const tmp = () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-auth-'));
    dirs.push(d);
    return d;
  };
  afterAll(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });
  const env = { FLAMEWATCH_AUTH: '', FLAMEWATCH_ADMIN_TOKEN: '', FLAMEWATCH_ADMIN_TENANT: '' };

  it('refuses to listen beyond loopback without authentication configured, saying what to set', () => {
    const res = spawnSync(
      process.execPath,
      [cli, 'serve', '--host', '0.0.0.0', '--port', '0', '--data', tmp(), '--no-self-profile'],
      { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30_000 },
    );
    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(
      /refusing to listen on 0\.0\.0\.0 without authentication: set FLAMEWATCH_ADMIN_TOKEN .* or FLAMEWATCH_AUTH=open/,
    );
    const bad = spawnSync(process.execPath, [cli, 'serve', '--port', '0', '--data', tmp()], {
      env: { ...process.env, ...env, FLAMEWATCH_AUTH: 'maybe' },
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(bad.stderr).toMatch(/FLAMEWATCH_AUTH must be open or token/);
  });

  it('says it is open on loopback, and when told to be open elsewhere', async () => {
    const local = await startServe(['--data', tmp(), '--no-self-profile'], env);
    try {
      await new Promise((r) => setTimeout(r, 200));
      expect(local.output()).toMatch(/authentication is off: listening on 127\.0\.0\.1 only/);
    } finally {
      local.proc.kill('SIGKILL');
    }
    const open = await startServe(['--host', '0.0.0.0', '--data', tmp(), '--no-self-profile'], {
      ...env,
      FLAMEWATCH_AUTH: 'open',
    });
    try {
      await new Promise((r) => setTimeout(r, 200));
      expect(open.output()).toMatch(
        /authentication is off \(FLAMEWATCH_AUTH=open\): anyone who can reach 0\.0\.0\.0/,
      );
    } finally {
      open.proc.kill('SIGKILL');
    }
  });

  it('token create prints a token once, which a server started with tokens on then accepts; its own self-profile gets in too', async () => {
    const data = tmp();
    const made = spawnSync(
      process.execPath,
      [
        cli,
        'token',
        'create',
        '--tenant',
        'ci',
        '--scope',
        'ingest,read',
        '--name',
        'pipeline',
        '--data',
        data,
      ],
      { env: { ...process.env, ...env }, encoding: 'utf8' },
    );
    expect(made.status).toBe(0);
    const token = made.stdout.trim();
    expect(token).toMatch(/^fw_[A-Za-z0-9_-]{43}$/);
    expect(made.stderr).toMatch(/for tenant ci \(ingest, read\); it is shown only now/);
    const listed = spawnSync(process.execPath, [cli, 'token', 'list', '--tenant', 'ci', '--data', data], {
      env: { ...process.env, ...env },
      encoding: 'utf8',
    });
    expect(listed.stdout).toMatch(/^[0-9a-f]{16}\tingest,read\t.*\tpipeline\n$/);
    expect(listed.stdout).not.toContain(token);

    const srv = await startServe(['--host', '0.0.0.0', '--data', data], {
      ...env,
      FLAMEWATCH_ADMIN_TOKEN: ADMIN,
    });
    try {
      const url = srv.url.replace('0.0.0.0', '127.0.0.1');
      await new Promise((r) => setTimeout(r, 200));
      expect(srv.output()).toMatch(/authentication is on/);
      expect((await fetch(`${url}/api/v1/services`)).status).toBe(401);
      const pushed = await fetch(`${url}/ingest?name=job.cpu`, {
        method: 'POST',
        body: 'a;b 3\n',
        headers: bearer(token),
      });
      expect(pushed.status).toBe(200);
      expect(await (await fetch(`${url}/api/v1/services`, { headers: bearer(token) })).json()).toEqual([
        'job',
      ]);
      // The server's agent pushes into the operator's tenant with a token that lives only in the process.
      const deadline = Date.now() + 30_000;
      let services: string[] = [];
      while (Date.now() < deadline && !services.includes('flamewatch-server')) {
        await new Promise((r) => setTimeout(r, 500));
        services = (await (
          await fetch(`${url}/api/v1/services`, { headers: bearer(ADMIN) })
        ).json()) as string[];
      }
      expect(services).toContain('flamewatch-server');
      expect(srv.output()).not.toMatch(/HTTP 40[13]/);
    } finally {
      srv.proc.kill('SIGTERM');
      await new Promise((r) => srv.proc.once('exit', r));
    }
  });
});
