/**
 * Ingest limits per tenant: each tenant's limits (defaults, overridden per
 * tenant by configuration), its push rate (a token bucket) and the series
 * its services start each hour. Refusals are HttpErrors with a reason that
 * becomes the answer's `reason` and a `discarded_profiles{reason}` metric:
 * `rate_limited` and `series_limit` (429, with Retry-After).
 *
 * State is per server process by default (`LocalLimitState`); with Redis
 * (REDIS_URL) it is shared by every replica (`shared-limits.ts`), so the
 * limits hold for the fleet.
 */
import * as fs from 'node:fs';
import { z } from 'zod';
import { HttpError } from '../errors';
import { DEFAULT_LIMITS, type IngestLimits } from './limits';
import type { LimitState } from './shared-limits';

/** Limits by tenant: `*` (every tenant) and tenants by name, each overriding some fields. */
export type LimitOverrides = Record<string, Partial<IngestLimits>>;

const count = (max: number) => z.number().int().min(0).max(max);
const positive = (max: number) => z.number().int().min(1).max(max);
const overrideSchema = z
  .object({
    maxBodyBytes: positive(1 << 30),
    maxDecompressedBytes: positive(4 << 30),
    maxCompressionRatio: positive(100_000),
    bodyTimeoutMs: positive(600_000),
    maxSamples: positive(100_000_000),
    ingestRate: z.number().min(0).max(1e7),
    ingestBurst: positive(1e8),
    maxLabels: positive(1000),
    maxLabelNameLength: positive(1 << 16),
    maxLabelValueLength: positive(1 << 20),
    maxSeriesPerHour: count(10_000_000),
  })
  .partial()
  .strict();
const overridesSchema = z.record(z.string(), overrideSchema);
const LIMITS_KEY = /^(\*|[A-Za-z0-9_.\-]{1,64})$/;

/**
 * Reads FLAMEWATCH_LIMITS' value: JSON, or the path of a JSON file, of
 * `{ "*": { ...defaults }, "<tenant>": { ...overrides } }` with the fields
 * of IngestLimits. Throws naming what is wrong.
 */
export function parseLimits(text: string): LimitOverrides {
  text = text.trim();
  if (!text) return {};
  let json: string;
  if (text.startsWith('{')) json = text;
  else {
    try {
      json = fs.readFileSync(text, 'utf8');
    } catch (err) {
      throw new Error(`FLAMEWATCH_LIMITS: cannot read ${text}: ${(err as Error).message}`);
    }
  }
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch (err) {
    throw new Error(`FLAMEWATCH_LIMITS is not valid JSON: ${(err as Error).message}`);
  }
  for (const key of Object.keys(value ?? {})) {
    if (!LIMITS_KEY.test(key))
      throw new Error(
        `FLAMEWATCH_LIMITS: ${JSON.stringify(key)} is not a tenant name (1-64 letters, digits, _ . -) or *`,
      );
  }
  const parsed = overridesSchema.safeParse(value);
  if (!parsed.success) {
    throw new Error(
      `FLAMEWATCH_LIMITS: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`,
    );
  }
  return parsed.data;
}

const HOUR_MS = 3_600_000;

/** Each tenant's limits, and the state that enforces the ones over time. */
export class TenantLimits {
  private readonly base: IngestLimits;
  private readonly resolved = new Map<string, IngestLimits>();

  constructor(
    defaults: Partial<IngestLimits> = {},
    private readonly overrides: LimitOverrides = {},
    /** Where rates and series are counted: this process (default) or shared through Redis. */
    private readonly state: LimitState = new LocalLimitState(),
  ) {
    this.base = { ...DEFAULT_LIMITS, ...defaults, ...overrides['*'] };
  }

  /** A tenant's limits: the defaults, `*`'s overrides, then its own. */
  of(tenant: string): IngestLimits {
    let l = this.resolved.get(tenant);
    if (!l) {
      // Only configured tenants are kept; others share the base object (own keys only: a tenant may be called `constructor`).
      if (!Object.hasOwn(this.overrides, tenant)) return this.base;
      l = { ...this.base, ...this.overrides[tenant] };
      this.resolved.set(tenant, l);
    }
    return l;
  }

  /** Takes one push from the tenant's bucket, or throws 429 `rate_limited` with the seconds until there is room. */
  async admitPush(tenant: string, limits: IngestLimits, now = Date.now()): Promise<void> {
    if (limits.ingestRate <= 0) return;
    const waitMs = await this.state.take(tenant, limits.ingestRate, Math.max(1, limits.ingestBurst), now);
    if (waitMs > 0) {
      throw new HttpError(
        429,
        `tenant ${tenant} is over its ingest rate of ${limits.ingestRate} profiles/s (burst ${limits.ingestBurst}); retry later`,
        'rate_limited',
        Math.max(1, Math.ceil(waitMs / 1000)),
      );
    }
  }

  /** Admits a profile's series (their keys), or throws 429 `series_limit` until the next hour when they would pass the service's limit. */
  async admitSeries(
    tenant: string,
    service: string,
    keys: readonly number[],
    limits: IngestLimits,
    now = Date.now(),
  ): Promise<void> {
    if (limits.maxSeriesPerHour <= 0) return;
    const refused = await this.state.admitSeries(
      `${tenant}\u0000${service}`,
      keys,
      limits.maxSeriesPerHour,
      now,
    );
    if (refused) {
      const retryAfter = Math.max(1, Math.ceil((HOUR_MS - (now % HOUR_MS)) / 1000));
      const why =
        refused === 'limit'
          ? `service ${service} of tenant ${tenant} has started ${limits.maxSeriesPerHour} distinct series (label sets) this hour, its limit; drop high-cardinality labels (request ids, timestamps)`
          : 'this server tracks as many series this hour as it can hold';
      throw new HttpError(
        429,
        `${why}; new series are refused until the hour ends`,
        'series_limit',
        retryAfter,
      );
    }
  }
}

/** Rates and series counted in this process. */
export class LocalLimitState implements LimitState {
  private readonly rate = new RateLimiter();
  private readonly series: SeriesTracker;

  constructor(maxTrackedSeries = 1_000_000) {
    this.series = new SeriesTracker(maxTrackedSeries);
  }

  async take(key: string, ratePerSecond: number, burst: number, now: number): Promise<number> {
    return this.rate.take(key, ratePerSecond, burst, now);
  }

  async admitSeries(
    key: string,
    series: readonly number[],
    limit: number,
    now: number,
  ): Promise<'limit' | 'capacity' | undefined> {
    return this.series.admit(key, series, limit, now);
  }

  async close(): Promise<void> {}
}

/** Token buckets by key, refilled continuously; full (idle) buckets are dropped when there are many. */
export class RateLimiter {
  private readonly buckets = new Map<string, { tokens: number; at: number }>();

  constructor(private readonly maxBuckets = 10_000) {}

  /** Takes a token; answers 0, or the ms until one is available (nothing taken). */
  take(key: string, ratePerSecond: number, burst: number, now = Date.now()): number {
    let b = this.buckets.get(key);
    if (!b) {
      if (this.buckets.size >= this.maxBuckets) this.dropFull(now);
      b = { tokens: burst, at: now };
      this.buckets.set(key, b);
    }
    b.tokens = Math.min(burst, b.tokens + ((now - b.at) / 1000) * ratePerSecond);
    b.at = now;
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - b.tokens) / ratePerSecond) * 1000);
  }

  private dropFull(now: number): void {
    // A bucket idle long enough to be full again behaves exactly like a new one.
    for (const [k, b] of this.buckets) if (now - b.at > 60_000) this.buckets.delete(k);
  }
}

/**
 * Distinct series keys per key (tenant and service) in the current clock
 * hour. Memory is bounded: a key holds at most its limit, and the whole
 * tracker at most `maxTracked` series; everything is dropped at the hour.
 */
export class SeriesTracker {
  private hour = -1;
  private readonly sets = new Map<string, Set<number>>();
  private tracked = 0;

  constructor(private readonly maxTracked: number) {}

  /** Adds the keys when they fit; else answers why not, adding none. */
  admit(
    key: string,
    series: readonly number[],
    limit: number,
    now = Date.now(),
  ): 'limit' | 'capacity' | undefined {
    const hour = Math.floor(now / HOUR_MS);
    if (hour !== this.hour) {
      this.hour = hour;
      this.sets.clear();
      this.tracked = 0;
    }
    let set = this.sets.get(key);
    const fresh = new Set<number>();
    for (const s of series) if (!set?.has(s)) fresh.add(s);
    if (fresh.size === 0) return undefined;
    if ((set?.size ?? 0) + fresh.size > limit) return 'limit';
    if (this.tracked + fresh.size > this.maxTracked) return 'capacity';
    if (!set) this.sets.set(key, (set = new Set()));
    for (const s of fresh) set.add(s);
    this.tracked += fresh.size;
    return undefined;
  }
}
