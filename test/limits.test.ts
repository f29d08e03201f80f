/**
 * Per-tenant ingest limits on a real server: push rate (429 rate_limited with
 * Retry-After), body and decompressed size (413), labels per series and
 * label length (400), distinct series per service per hour (429
 * series_limit, Retry-After until the hour ends); each refusal stores
 * nothing, leaves other tenants alone and shows in
 * flamewatch_discarded_profiles_total{reason}. FLAMEWATCH_LIMITS configures
 * `flamewatch serve`. And the server's own back-pressure, for all tenants
 * together: pushes in flight past its limit are refused at once (429
 * ingest_saturated with Retry-After), before their bodies are read.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { HttpError } from '../server/errors';
import { IngestAdmission } from '../server/ingest/admission';
import { loadConfig } from '../cli/config';
import { RateLimiter, SeriesTracker, TenantLimits } from '../server/ingest/tenant-limits';
import { cli, startServe } from './helpers/process';
import { ingest, startServer, type TestServer } from './helpers/server';

let server: TestServer;
beforeAll(async () => {
  server = await startServer({
    tenantLimits: {
      // Slow enough that a busy machine's slow pushes do not refill the bucket between them.
      rl: { ingestRate: 0.25, ingestBurst: 3 },
      small: { maxBodyBytes: 1000, maxDecompressedBytes: 5000 },
      lbl: { maxLabels: 2, maxLabelNameLength: 4, maxLabelValueLength: 8 },
      card: { maxSeriesPerHour: 3 },
    },
  });
});
afterAll(() => server.close());

const tenant = (t: string) => ({ 'X-Scope-OrgID': t });
const push = (t: string, name: string, body: Uint8Array | string = 'main;work 1\n') =>
  ingest(server.url, { name, from: String(Math.floor(Date.now() / 1000) - 10) }, body, tenant(t));

async function rows(t: string): Promise<number> {
  const rs = await server.store.client.query({
    query: `SELECT count() AS n FROM ${server.store.database}.profiles WHERE tenant = {t:String}`,
    query_params: { t },
    format: 'JSONEachRow',
  });
  return Number((await rs.json<{ n: string }>())[0].n);
}

async function refused(
  t: string,
  name: string,
  body: Uint8Array | string,
  status: number,
  reason: string,
  message: RegExp,
): Promise<Response> {
  const before = await rows(t);
  const res = await fetch(
    `${server.url}/ingest?${new URLSearchParams({ name, from: String(Math.floor(Date.now() / 1000) - 10) })}`,
    { method: 'POST', body, headers: tenant(t) },
  );
  const json = (await res.clone().json()) as { error: string; reason: string };
  expect([res.status, json.reason]).toEqual([status, reason]);
  expect(json.error).toMatch(message);
  await server.store.writer.drain();
  expect(await rows(t)).toBe(before);
  return res;
}

describe('per-tenant ingest limits', () => {
  it('rate: a burst passes, then 429 with Retry-After, other tenants untouched, room again after a while', async () => {
    for (let i = 0; i < 3; i++) expect((await push('rl', 'r.cpu')).status).toBe(200);
    const res = await refused(
      'rl',
      'r.cpu',
      'main;work 1\n',
      429,
      'rate_limited',
      /tenant rl is over its ingest rate of 0.25 profiles\/s \(burst 3\)/,
    );
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect((await push('other', 'r.cpu')).status).toBe(200);
    await new Promise((r) => setTimeout(r, 4200));
    expect((await push('rl', 'r.cpu')).status).toBe(200);
  });

  it("body and decompressed size: 413 past the tenant's limits, which the default tenant does not have", async () => {
    const big = 'main;work 1\n'.repeat(200); // 2,400 bytes
    await refused('small', 's.cpu', big, 413, 'profile_size_limit', /limit is 1000 bytes|over 1000 bytes/);
    const bomb = gzipSync(Buffer.from('main;work 1\n'.repeat(1000))); // ~100 bytes, 12,000 decompressed
    expect(bomb.length).toBeLessThan(1000);
    await refused('small', 's.cpu', bomb, 413, 'decompression_limit', /decompresses to more than 5000 bytes/);
    expect((await push('default', 's.cpu', big)).status).toBe(200);
    expect((await push('default', 's.cpu', bomb)).status).toBe(200);
  });

  it('labels: 400 labels_limit past the count, label_length_limit past a name or value length', async () => {
    await refused('lbl', 'l.cpu{a=1,b=2,c=3}', 'main 1\n', 400, 'labels_limit', /3 labels; the limit is 2/);
    await refused(
      'lbl',
      'l.cpu{a=123456789}',
      'main 1\n',
      400,
      'label_length_limit',
      /value of label a is 9 characters; the limit is 8/,
    );
    await refused(
      'lbl',
      'l.cpu{abcde=1}',
      'main 1\n',
      400,
      'label_length_limit',
      /label name is 5 characters; the limit is 4/,
    );
    expect((await push('lbl', 'l.cpu{a=1,b=2}')).status).toBe(200);
    expect((await push('default', 'l.cpu{a=1,b=2,c=123456789,abcde=1}')).status).toBe(200);
  });

  it('series: 429 series_limit once a service has started its limit of label sets this hour; known series and other services pass', async () => {
    for (const pod of ['1', '2', '3']) expect((await push('card', `c.cpu{pod=${pod}}`)).status).toBe(200);
    const res = await refused(
      'card',
      'c.cpu{pod=4}',
      'main 1\n',
      429,
      'series_limit',
      /service c of tenant card has started 3 distinct series/,
    );
    const retry = Number(res.headers.get('retry-after'));
    expect(retry).toBeGreaterThan(0);
    expect(retry).toBeLessThanOrEqual(3600);
    expect((await push('card', 'c.cpu{pod=2}')).status).toBe(200);
    expect((await push('card', 'other-service.cpu{pod=4}')).status).toBe(200);
  });

  it('counts every refusal by reason in /metrics', async () => {
    const metrics = await (await fetch(`${server.url}/metrics`)).text();
    for (const reason of [
      'rate_limited',
      'profile_size_limit',
      'decompression_limit',
      'labels_limit',
      'label_length_limit',
      'series_limit',
    ]) {
      expect(metrics).toMatch(
        new RegExp(`flamewatch_discarded_profiles_total\\{reason="${reason}"\\} [1-9]`),
      );
    }
    expect(metrics).not.toMatch(/tenant="/);
  });
});

/** A push whose body is sent only up to `sent` bytes until `finish()`; `answer` is its status, headers and body. */
function slowPush(url: string, name: string, body: string, sent: number) {
  const req = http.request(`${url}/ingest?${new URLSearchParams({ name })}`, {
    method: 'POST',
    headers: { 'content-length': Buffer.byteLength(body) },
  });
  const answer = new Promise<{
    status: number;
    retryAfter: string | undefined;
    json: { reason?: string; error?: string };
  }>((resolve, reject) => {
    req.on('response', (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () =>
        resolve({
          status: res.statusCode ?? 0,
          retryAfter: res.headers['retry-after'] as string | undefined,
          json: JSON.parse(text),
        }),
      );
    });
    req.on('error', reject);
  });
  req.write(body.slice(0, sent));
  return { answer, finish: () => req.end(body.slice(sent)), abort: () => req.destroy() };
}

describe("the server's back-pressure: pushes in flight", () => {
  it('past the limit a push is refused at once with 429 ingest_saturated and Retry-After, before its body arrives; room again once they finish', async () => {
    const srv = await startServer({ ingestMaxInFlight: 2 });
    try {
      const inFlight = async () =>
        Number(
          /^flamewatch_ingest_in_flight (\d+)/m.exec(await (await fetch(`${srv.url}/metrics`)).text())?.[1],
        );
      // Two pushes whose bodies are still on their way hold both places.
      const slow = [1, 2].map((i) => slowPush(srv.url, `bp.cpu{i=${i}}`, `main;work ${i}\n`, 4));
      for (let i = 0; i < 100 && (await inFlight()) < 2; i++) await new Promise((r) => setTimeout(r, 20));
      expect(await inFlight()).toBe(2);
      // A third is answered although it never sends its body.
      const third = slowPush(srv.url, 'bp.cpu{i=3}', 'main;work 3\n', 0);
      const refused = await third.answer;
      third.abort();
      expect([refused.status, refused.json.reason]).toEqual([429, 'ingest_saturated']);
      expect(refused.json.error).toMatch(/ingest is saturated \(2 profiles in progress/);
      expect(Number(refused.retryAfter)).toBeGreaterThanOrEqual(1);
      // The two finish and are stored; then there is room again.
      for (const s of slow) s.finish();
      expect((await Promise.all(slow.map((s) => s.answer))).map((a) => a.status)).toEqual([200, 200]);
      expect((await ingest(srv.url, { name: 'bp.cpu{i=4}' }, 'main;work 4\n')).status).toBe(200);
      expect(await inFlight()).toBe(0);
      expect(await (await fetch(`${srv.url}/metrics`)).text()).toMatch(
        /flamewatch_discarded_profiles_total\{reason="ingest_saturated"\} 1/,
      );
    } finally {
      await srv.close();
    }
  });

  it('Retry-After: what is in flight over the recent finishing rate (10 s when none finished), spread over one to two times', () => {
    let now = 1_000_000_000;
    let random = 0;
    const admission = new IngestAdmission(
      2,
      () => random,
      () => now,
    );
    const refusal = (): HttpError => {
      try {
        admission.admit();
      } catch (err) {
        return err as HttpError;
      }
      throw new Error('admitted');
    };
    const held = [admission.admit(), admission.admit()];
    expect(refusal()).toMatchObject({ status: 429, reason: 'ingest_saturated', retryAfter: 10 });
    random = 0.999;
    expect(refusal().retryAfter).toBe(20);
    held.forEach((release) => release());
    // 42 pushes finish within three clock seconds (14/s), so 2 in flight drain within a second.
    for (let i = 0; i < 40; i++) {
      now += 50;
      admission.admit()();
    }
    const again = [admission.admit(), admission.admit()];
    random = 0;
    expect(refusal().retryAfter).toBe(1);
    random = 0.999;
    expect(refusal().retryAfter).toBe(2);
    again.forEach((release) => release());
    expect(admission.current).toBe(0);
    expect(() => new IngestAdmission(0)).toThrow(/at least 1/);
  });
});

describe('the pieces', () => {
  it('RateLimiter refills continuously and says how long to wait', () => {
    const r = new RateLimiter();
    expect([r.take('t', 10, 2, 0), r.take('t', 10, 2, 0)]).toEqual([0, 0]);
    expect(r.take('t', 10, 2, 0)).toBe(100);
    expect(r.take('t', 10, 2, 50)).toBe(50);
    expect(r.take('t', 10, 2, 100)).toBe(0);
  });

  it('SeriesTracker counts distinct series per key within the hour, bounded overall', () => {
    const s = new SeriesTracker(5);
    expect(s.admit('k', [1, 2, 2], 3, 0)).toBeUndefined();
    expect(s.admit('k', [3, 4], 3, 0)).toBe('limit');
    expect(s.admit('k', [3], 3, 0)).toBeUndefined();
    expect(s.admit('j', [1, 2, 3], 10, 0)).toBe('capacity');
    expect(s.admit('j', [1, 2], 10, 0)).toBeUndefined();
    // A new hour starts from nothing.
    expect(s.admit('k', [4, 5, 6], 3, 3_600_000)).toBeUndefined();
  });

  it("TenantLimits: defaults, then *, then the tenant's own; names of Object's properties are tenants like any other", () => {
    const limits = new TenantLimits(
      { maxLabels: 10 },
      { '*': { maxLabels: 20, ingestRate: 5 }, acme: { ingestRate: 50 } },
    );
    expect(limits.of('acme')).toMatchObject({ maxLabels: 20, ingestRate: 50, maxSeriesPerHour: 10_000 });
    expect(limits.of('other')).toMatchObject({ maxLabels: 20, ingestRate: 5 });
    for (const t of ['constructor', '__proto__', 'toString'])
      expect(limits.of(t)).toEqual(limits.of('other'));
  });

  it('FLAMEWATCH_LIMITS is JSON or a file of it, checked', () => {
    const limitsFromEnv = (env: Record<string, string>) => loadConfig(env).limits;
    expect(limitsFromEnv({})).toEqual({});
    expect(
      limitsFromEnv({ FLAMEWATCH_LIMITS: '{"*":{"ingestRate":50},"acme":{"maxSeriesPerHour":0}}' }),
    ).toEqual({ '*': { ingestRate: 50 }, acme: { maxSeriesPerHour: 0 } });
    const file = path.join(os.tmpdir(), `fw-limits-${process.pid}.json`);
    fs.writeFileSync(file, '{"acme":{"maxLabels":8}}');
    try {
      expect(limitsFromEnv({ FLAMEWATCH_LIMITS: file })).toEqual({ acme: { maxLabels: 8 } });
    } finally {
      fs.rmSync(file);
    }
    expect(() => limitsFromEnv({ FLAMEWATCH_LIMITS: '{"acme":{"ingestRat":5}}' })).toThrow(
      /FLAMEWATCH_LIMITS: acme: .*ingestRat/,
    );
    expect(() => limitsFromEnv({ FLAMEWATCH_LIMITS: '{"acme":{"maxLabels":0}}' })).toThrow(/acme\.maxLabels/);
    expect(() => limitsFromEnv({ FLAMEWATCH_LIMITS: '{"a b":{}}' })).toThrow(/"a b" is not a tenant name/);
    expect(() => limitsFromEnv({ FLAMEWATCH_LIMITS: '{nope' })).toThrow(/not valid JSON/);
    expect(() => limitsFromEnv({ FLAMEWATCH_LIMITS: '/no/such/file.json' })).toThrow(
      /cannot read \/no\/such\/file\.json/,
    );
  });

  it('flamewatch serve takes FLAMEWATCH_LIMITS, and refuses to start on a bad one', async () => {
    const data = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-limits-'));
    try {
      const bad = spawnSync(
        process.execPath,
        [cli, 'serve', '--port', '0', '--data', data, '--no-self-profile'],
        {
          env: { ...process.env, FLAMEWATCH_LIMITS: '{"*":{"ingestRate":-1}}' },
          encoding: 'utf8',
          timeout: 30_000,
        },
      );
      expect(bad.status).toBe(1);
      expect(bad.stderr).toMatch(/FLAMEWATCH_LIMITS: \*\.ingestRate/);
      const srv = await startServe(['--data', data, '--no-self-profile'], {
        FLAMEWATCH_LIMITS: '{"*":{"ingestRate":0.5,"ingestBurst":1}}',
      });
      try {
        const once = () => fetch(`${srv.url}/ingest?name=x.cpu`, { method: 'POST', body: 'a 1\n' });
        expect((await once()).status).toBe(200);
        const second = await once();
        expect(second.status).toBe(429);
        expect(second.headers.get('retry-after')).toBe('2');
      } finally {
        srv.proc.kill('SIGKILL');
      }
    } finally {
      fs.rmSync(data, { recursive: true, force: true });
    }
  });
});
