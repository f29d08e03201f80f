/**
 * Tenant limit state shared by every server replica through Redis (when
 * REDIS_URL is set), so a tenant's push rate and its services' series per
 * hour are limited across the fleet, not per process. Each check is one
 * Lua script (atomic in Redis), on Redis' clock for the rate. Ingest never
 * waits on a Redis that is away: commands fail fast and the process falls
 * back to its own, per-process state until Redis answers again (a tenant
 * may then push up to N times its rate for that while, as before).
 */
import { Redis } from 'ioredis';

/** Where TenantLimits keeps its state: in the process, or shared. */
export interface LimitState {
  /** Takes a token from `key`'s bucket; 0, or the ms until one is there (nothing taken). */
  take(key: string, ratePerSecond: number, burst: number, now: number): Promise<number>;
  /** Adds the series when they fit under `limit` this hour; else why not, adding none. */
  admitSeries(
    key: string,
    series: readonly number[],
    limit: number,
    now: number,
  ): Promise<'limit' | 'capacity' | undefined>;
  close(): Promise<void>;
}

// Token bucket on Redis' clock: a hash of tokens and the time they were counted.
const TAKE = `
local b = redis.call('HMGET', KEYS[1], 't', 'at')
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local tokens = tonumber(b[1])
local at = tonumber(b[2])
if tokens == nil or at == nil then tokens = burst; at = now end
if now > at then tokens = math.min(burst, tokens + (now - at) / 1000 * rate); at = now end
local wait = 0
if tokens >= 1 then tokens = tokens - 1 else wait = math.ceil((1 - tokens) / rate * 1000) end
redis.call('HSET', KEYS[1], 't', tostring(tokens), 'at', tostring(at))
redis.call('PEXPIRE', KEYS[1], math.ceil(burst / rate * 1000) + 60000)
return wait`;

// The series a (tenant, service) started this hour: a set that expires after it.
const ADMIT = `
local limit = tonumber(ARGV[1])
local fresh = 0
for i = 2, #ARGV do
  if redis.call('SISMEMBER', KEYS[1], ARGV[i]) == 0 then fresh = fresh + 1 end
end
if fresh == 0 then return 0 end
if redis.call('SCARD', KEYS[1]) + fresh > limit then return 1 end
redis.call('SADD', KEYS[1], unpack(ARGV, 2))
redis.call('EXPIRE', KEYS[1], 7200)
return 0`;

const HOUR_MS = 3_600_000;

export interface RedisLimitStateOptions {
  redisUrl: string;
  /** Key prefix, as the job queues' (default `flamewatch`). */
  prefix?: string;
  /** Used while Redis cannot answer. */
  fallback: LimitState;
  /** How long a check waits for Redis before using the fallback. Default 250 ms. */
  timeoutMs?: number;
  log?: (msg: string) => void;
}

export class RedisLimitState implements LimitState {
  private readonly redis: Redis;
  private readonly prefix: string;
  private readonly fallback: LimitState;
  private readonly log: (msg: string) => void;
  /** Why Redis is not used now (logged once per outage); undefined while it answers. */
  private down: string | undefined;
  private everReady = false;

  constructor(opts: RedisLimitStateOptions) {
    this.prefix = opts.prefix ?? 'flamewatch';
    this.fallback = opts.fallback;
    this.log = opts.log ?? ((m) => console.error(m));
    this.redis = new Redis(opts.redisUrl, {
      // Fail at once while disconnected rather than queue: ingest must not wait on Redis.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: opts.timeoutMs ?? 250,
      connectTimeout: 2000,
      retryStrategy: (times) => Math.min(times * 200, 2000),
    });
    this.redis.on('error', () => undefined); // reported through the commands that fail
    this.redis.on('ready', () => (this.everReady = true));
    this.redis.defineCommand('fwTake', { numberOfKeys: 1, lua: TAKE });
    this.redis.defineCommand('fwAdmitSeries', { numberOfKeys: 1, lua: ADMIT });
  }

  /** Resolves once connected (or after `ms`): the first pushes after a start need not fall back. */
  ready(ms = 5000): Promise<boolean> {
    if (this.redis.status === 'ready') return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), ms);
      this.redis.once('ready', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  private async shared<T>(
    work: (r: Redis & Commands) => Promise<T>,
    otherwise: () => Promise<T>,
  ): Promise<T> {
    // Not connected: no command would be sent (no offline queue), so do not try.
    if (this.redis.status !== 'ready') {
      if (!this.down && this.everReady) {
        this.down = `Redis is ${this.redis.status}`;
        this.log(
          `flamewatch: tenant limits fall back to this server's own counts while Redis cannot be used (${this.down})`,
        );
      }
      return otherwise();
    }
    try {
      const result = await work(this.redis as Redis & Commands);
      if (this.down) {
        this.log('flamewatch: Redis answers again: tenant limits are shared by the servers again');
        this.down = undefined;
      }
      return result;
    } catch (err) {
      if (!this.down) {
        this.down = (err as Error).message;
        this.log(
          `flamewatch: tenant limits fall back to this server's own counts while Redis cannot be used (${this.down})`,
        );
      }
      return otherwise();
    }
  }

  take(key: string, ratePerSecond: number, burst: number, now: number): Promise<number> {
    return this.shared(
      async (r) => Number(await r.fwTake(`${this.prefix}:limits:rate:${key}`, ratePerSecond, burst)),
      () => this.fallback.take(key, ratePerSecond, burst, now),
    );
  }

  admitSeries(
    key: string,
    series: readonly number[],
    limit: number,
    now: number,
  ): Promise<'limit' | 'capacity' | undefined> {
    const hour = Math.floor(now / HOUR_MS);
    const fresh = [...new Set(series)].map(String);
    return this.shared(
      async (r) =>
        (await r.fwAdmitSeries(`${this.prefix}:limits:series:${hour}:${key}`, limit, ...fresh)) === 1
          ? 'limit'
          : undefined,
      () => this.fallback.admitSeries(key, series, limit, now),
    );
  }

  async close(): Promise<void> {
    this.redis.disconnect();
  }
}

interface Commands {
  fwTake(key: string, rate: number, burst: number): Promise<number>;
  fwAdmitSeries(key: string, limit: number, ...series: string[]): Promise<number>;
}
