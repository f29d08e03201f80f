/**
 * Tenant limits shared by server replicas through a real redis-server: two
 * servers (two apps, each with its own TenantLimits, as two processes would
 * have) together admit a tenant's rate and its services' series once, not
 * once each; while Redis is down each falls back to its own counts and says
 * so once, and they share again when it is back.
 */
import { TenantLimits, LocalLimitState } from '../server/ingest/tenant-limits';
import { RedisLimitState } from '../server/ingest/shared-limits';
import { startRedis, type RedisServer } from './helpers/redis';
import { startServer, type TestServer } from './helpers/server';

let redis: RedisServer;
const states: RedisLimitState[] = [];
const logs: string[] = [];
let prefix = 0;

/** A replica's limit state, connected; each test gets fresh keys. */
async function replicaState(p: string): Promise<RedisLimitState> {
  const s = new RedisLimitState({
    redisUrl: redis.url,
    prefix: p,
    fallback: new LocalLimitState(),
    log: (m) => logs.push(m),
    timeoutMs: 500,
  });
  states.push(s);
  expect(await s.ready()).toBe(true);
  return s;
}

async function refused(f: () => Promise<void>): Promise<string | undefined> {
  try {
    await f();
    return undefined;
  } catch (err) {
    return (err as { reason?: string }).reason ?? (err as Error).message;
  }
}

beforeAll(async () => {
  redis = await startRedis();
});

afterAll(async () => {
  for (const s of states) await s.close();
  await redis.kill();
});

describe('tenant limits shared through Redis', () => {
  it("two replicas admit a tenant's burst once between them, and each says how long to wait", async () => {
    const p = `t${prefix++}`;
    const [a, b] = [
      new TenantLimits({}, {}, await replicaState(p)),
      new TenantLimits({}, {}, await replicaState(p)),
    ];
    const limits = { ...a.of('acme'), ingestRate: 0.5, ingestBurst: 4 };
    const answers: (string | undefined)[] = [];
    for (let i = 0; i < 8; i++) answers.push(await refused(() => (i % 2 ? a : b).admitPush('acme', limits)));
    expect(answers.filter((x) => x === undefined)).toHaveLength(4);
    expect(answers.slice(4)).toEqual(['rate_limited', 'rate_limited', 'rate_limited', 'rate_limited']);
    // Another tenant has its own bucket.
    expect(await refused(() => a.admitPush('other', limits))).toBeUndefined();
    try {
      await b.admitPush('acme', limits);
      throw new Error('admitted');
    } catch (err) {
      expect((err as { retryAfter?: number }).retryAfter).toBe(2);
    }
  });

  it("counts a service's series once across replicas, per hour", async () => {
    const p = `t${prefix++}`;
    const [a, b] = [
      new TenantLimits({}, {}, await replicaState(p)),
      new TenantLimits({}, {}, await replicaState(p)),
    ];
    const limits = { ...a.of('acme'), maxSeriesPerHour: 3 };
    const hour = Date.UTC(2030, 0, 1, 5);
    expect(await refused(() => a.admitSeries('acme', 'api', [1, 2], limits, hour))).toBeUndefined();
    expect(await refused(() => b.admitSeries('acme', 'api', [2, 3], limits, hour + 1000))).toBeUndefined();
    expect(await refused(() => b.admitSeries('acme', 'api', [4], limits, hour + 2000))).toBe('series_limit');
    expect(await refused(() => a.admitSeries('acme', 'api', [1, 3, 3], limits, hour + 3000))).toBeUndefined(); // known ones pass
    expect(await refused(() => a.admitSeries('acme', 'db', [4], limits, hour))).toBeUndefined(); // another service
    expect(await refused(() => a.admitSeries('other', 'api', [4, 5, 6], limits, hour))).toBeUndefined(); // another tenant
    expect(
      await refused(() => b.admitSeries('acme', 'api', [4, 5, 6], limits, hour + 3_600_000)),
    ).toBeUndefined(); // the next hour
  });

  it("falls back to each replica's own counts while Redis is down, says so once, and shares again when it is back", async () => {
    const p = `t${prefix++}`;
    const state = await replicaState(p);
    const a = new TenantLimits({}, {}, state);
    const limits = { ...a.of('acme'), ingestRate: 0.001, ingestBurst: 2 };
    expect(await refused(() => a.admitPush('acme', limits))).toBeUndefined();
    const port = redis.port;
    await redis.kill();
    logs.length = 0;
    const t = Date.now();
    // The local bucket starts full: two pass, the third is refused; nothing waits on the dead Redis.
    const down = [
      await refused(() => a.admitPush('acme', limits)),
      await refused(() => a.admitPush('acme', limits)),
      await refused(() => a.admitPush('acme', limits)),
    ];
    expect(Date.now() - t).toBeLessThan(3000);
    expect(down).toEqual([undefined, undefined, 'rate_limited']);
    expect(logs.filter((l) => /fall back to this server's own counts/.test(l))).toHaveLength(1);
    redis = await startRedis(port);
    // ioredis reconnects by itself; the new (empty) Redis has a full bucket for the tenant.
    const deadline = Date.now() + 10_000;
    while (!logs.some((l) => /shared by the servers again/.test(l)) && Date.now() < deadline) {
      await refused(() => a.admitPush('acme', limits));
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(logs.some((l) => /shared by the servers again/.test(l))).toBe(true);
  });
});

describe('two servers with one Redis', () => {
  const servers: TestServer[] = [];

  beforeAll(async () => {
    const p = `t${prefix++}`;
    for (let i = 0; i < 2; i++) {
      servers.push(
        await startServer({
          ingestWorkers: 0,
          tenantLimits: { '*': { ingestRate: 0.01, ingestBurst: 3 } },
          limitState: await replicaState(p),
        }),
      );
    }
  });

  afterAll(async () => {
    for (const s of servers) await s.close();
  });

  it("refuses the tenant's fourth push on either server, with Retry-After", async () => {
    const push = (i: number) =>
      fetch(`${servers[i % 2].url}/ingest?name=shared.cpu&format=folded`, {
        method: 'POST',
        body: 'main;work 1\n',
        headers: { 'x-scope-orgid': 'acme' },
      });
    const statuses: number[] = [];
    for (let i = 0; i < 3; i++) statuses.push((await push(i)).status);
    expect(statuses).toEqual([200, 200, 200]);
    for (const i of [3, 4]) {
      const res = await push(i);
      expect(res.status).toBe(429);
      expect(Number(res.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(((await res.json()) as { reason: string }).reason).toBe('rate_limited');
    }
  });
});
