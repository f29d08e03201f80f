/**
 * Rollups answer exactly as raw profiles do: the same stacks with the same
 * sums for ranges with ragged edges, label matchers, units, tenants, negative
 * values; before the hours are built, after, after merges; after profiles
 * arrive late into built hours, after a build cut short, after two builds at
 * once; for profiles stored before the rollups existed.
 */
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Matcher } from '../profile/selector';
import { openStore } from '../store';
import { processors } from '../jobs/processors';
import { UnrecoverableJobError } from '../profile/jobs';
import { createStoreClient } from '../store/client';
import { ProfileQueries } from '../store/queries';
import {
  buildRollups,
  HOUR_MS,
  hourSelect,
  rolledHours,
  rolledHoursQuery,
  serviceRollupCovers,
  stackSumsQuery,
  wholeHours,
} from '../store/rollups';
import { migrate, statementRunner } from '../store/schema';
import type { Selection } from '../store/selection';
import { rng } from './helpers/synthetic-profiles';

// One chDB directory per jest process (see helpers/server.ts); a database of our own.
const dataDir = path.join(os.tmpdir(), `flamewatch-jest-${process.pid}`);
const db = `t_${randomBytes(6).toString('hex')}`;
let client: ClickHouseClient;

const HOUR = 3_600_000;
// Three hours and a bit, not aligned to anything.
const START = Date.UTC(2030, 0, 6, 21, 0, 0) + 37_123;
const SPAN = 3 * HOUR + 17 * 60_000;
const STACK_COUNT = 40;

interface Row {
  tenant: string;
  service: string;
  type: string;
  unit: string;
  time: number;
  duration_ms: number;
  profile_id: string;
  labels: Record<string, string>;
  stack_ids: string[];
  values: number[];
  total: number;
}

function profiles(count: number, seed: number): Row[] {
  const random = rng(seed);
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)];
  return Array.from({ length: count }, () => {
    const labels: Record<string, string> = {
      instance: pick(['i0', 'i1', 'i2', 'i3']),
      region: pick(['eu', 'us']),
    };
    if (random() < 0.2) labels.zone = 'z1';
    // The same label set in another order is the same series.
    const ordered = random() < 0.5 ? labels : Object.fromEntries(Object.entries(labels).reverse());
    const ids = [
      ...new Set(
        Array.from(
          { length: 1 + Math.floor(random() * 8) },
          () => 1 + Math.floor(random() ** 2 * STACK_COUNT),
        ),
      ),
    ];
    const values = ids.map(() => (random() < 0.05 ? -1 : 1) * (1 + Math.floor(random() * 100)));
    const [type, unit] = pick([
      ['cpu', 'samples'],
      ['cpu', 'samples'],
      ['cpu', 'nanoseconds'],
      ['alloc', 'bytes'],
    ]);
    return {
      tenant: pick(['default', 'default', 'other']),
      service: pick(['api', 'api', 'db']),
      type,
      unit,
      time: START + Math.floor(random() * SPAN),
      // Most are the agent's 10 s; some a pushed file's hour or two, which overlap ranges that start after them.
      duration_ms: random() < 0.1 ? 1 + Math.floor(random() * 2 * HOUR) : 10_000,
      profile_id: '00000000-0000-4000-8000-' + randomBytes(6).toString('hex'),
      labels: ordered,
      stack_ids: ids.map(String),
      values,
      total: values.reduce((a, b) => a + b, 0),
    };
  });
}

async function insert(rows: Row[]): Promise<void> {
  await client.insert({ table: `${db}.profiles`, values: rows, format: 'JSONEachRow' });
}

const stacks = Array.from({ length: STACK_COUNT }, (_, i) => ({
  stack_id: String(i + 1),
  frames: ['main', `f${i % 7}`, `g${i}`],
}));

let raw: ProfileQueries;
let rolled: ProfileQueries;

beforeAll(async () => {
  client = createStoreClient({ dataDir, database: db, retentionDays: 30 }).client;
  // Profiles stored before the rollups exist: the job builds their hours like any others.
  await migrate(client, db, 30, { upTo: 2 });
  for (const tenant of ['default', 'other']) {
    await client.insert({
      table: `${db}.stacks`,
      values: stacks.map((s) => ({ tenant, ...s })),
      format: 'JSONEachRow',
    });
  }
  await insert(profiles(600, 1));
  expect(await migrate(client, db, 30)).toEqual(expect.arrayContaining([3, 7]));
  // And profiles stored after, in several inserts.
  for (let i = 0; i < 4; i++) await insert(profiles(300, 10 + i));
  raw = new ProfileQueries(client, db, { rollups: false });
  rolled = new ProfileQueries(client, db);
});

afterAll(async () => {
  await client.command({ query: `DROP DATABASE IF EXISTS ${db}` });
  await client.close();
});

function sel(
  from: number,
  until: number,
  matchers: Matcher[] = [],
  extra: Partial<Selection> = {},
): Selection {
  return { tenant: 'default', service: 'api', type: 'cpu', range: { from, until }, matchers, ...extra };
}

async function both(s: Selection): Promise<[string[], string[]]> {
  const show = (xs: { stack: readonly string[]; value: number }[]) =>
    xs.map((x) => `${x.stack.join(';')} ${x.value}`).sort();
  return [show(await raw.stacks(s)), show(await rolled.stacks(s))];
}

const MATCHERS: Matcher[][] = [
  [],
  [{ name: 'instance', op: '=', value: 'i1' }],
  [
    { name: 'instance', op: '=~', value: 'i[12]' },
    { name: 'region', op: '!=', value: 'eu' },
  ],
  [{ name: 'instance', op: '!~', value: 'i0|i3' }],
  [{ name: 'zone', op: '=', value: '' }],
  [{ name: 'zone', op: '=', value: 'z1' }],
  [{ name: 'nosuch', op: '=', value: 'x' }],
];

function ranges(): [number, number][] {
  const random = rng(99);
  const out: [number, number][] = [
    [START - HOUR, START + SPAN + HOUR], // everything, whole hours inside
    [Math.ceil(START / HOUR) * HOUR, Math.ceil(START / HOUR) * HOUR + 2 * HOUR], // exactly two hours
    [Math.ceil(START / 60_000) * 60_000, Math.ceil(START / 60_000) * 60_000 + 17 * 60_000], // whole minutes only
    [START + 1_000, START + 50_000], // inside one minute
    [START + 59_999, START + 2 * 60_000 + 1], // one whole minute, a ms either side
    [START + 5 * 60_000 + 123, START + 2 * HOUR + 7 * 60_000 + 5], // an hour, with minutes and ms of data either side
  ];
  for (let i = 0; i < 12; i++) {
    const a = START + Math.floor(random() * SPAN);
    out.push([a, a + 1 + Math.floor(random() * (START + SPAN - a))]);
  }
  return out;
}

const AFTER = START + SPAN + 3 * HOUR; // a clock at which every hour of the data is over
const ALL: [number, number] = [START - HOUR, START + SPAN + HOUR];
const build = (opts: { now?: number; graceMs?: number } = {}) =>
  buildRollups(db, statementRunner(client), { now: AFTER, ...opts });

/** The whole hours of `default`/`api`/`cpu` over ALL that queries read from the rollup. */
async function upToDate(): Promise<number[]> {
  const hours = wholeHours({ from: ALL[0], until: ALL[1] })!;
  const params = {};
  const rs = await client.query({
    query: rolledHoursQuery(db, sel(...ALL), hours, params),
    query_params: params,
    format: 'JSONEachRow',
  });
  const set = rolledHours(await rs.json(), hours);
  // Hours holding profiles only: empty ones count as up to date and prove nothing.
  return [...set]
    .filter((h) => h >= Math.floor(START / HOUR_MS) * HOUR_MS && h < START + SPAN)
    .map((h) => (h - START) / HOUR_MS);
}

async function expectSameEverywhere(matchers = MATCHERS, rs = ranges()): Promise<void> {
  for (const [from, until] of rs) {
    for (const m of matchers) {
      const [a, b] = await both(sel(from, until, m));
      expect(b).toEqual(a);
    }
  }
}

describe('rollups answer as raw profiles do', () => {
  it('before any hour is built: raw profiles answer, nothing is read from the rollup', async () => {
    expect(await upToDate()).toEqual([]);
    await expectSameEverywhere(MATCHERS.slice(0, 2), ranges().slice(0, 6));
  });

  it('builds the hours that are over, not those within the grace period, and only once', async () => {
    const partial = await build({ now: START + 2 * HOUR, graceMs: 0 });
    expect(partial.hoursBuilt).toBe(2); // 21:00 and 22:00; 23:00 is not over
    expect(partial.unverified).toBe(0);
    const rest = await build();
    expect(rest.hoursBuilt).toBe(2); // 23:00 and 00:00
    expect(rest.built).toBe(rest.pending);
    expect(await build()).toMatchObject({ pending: 0, hoursBuilt: 0 });
    expect((await upToDate()).length).toBe(4);
  });

  it.each(
    MATCHERS.map(
      (m) => [m.map((x) => `${x.name}${x.op}"${x.value}"`).join(',') || 'no matchers', m] as const,
    ),
  )('same stacks and sums with %s, over ragged and whole ranges', async (_name, matchers) => {
    let nonEmpty = 0;
    for (const [from, until] of ranges()) {
      const [a, b] = await both(sel(from, until, matchers));
      expect(b).toEqual(a);
      if (a.length) nonEmpty++;
    }
    if (!matchers.some((m) => m.name === 'nosuch')) expect(nonEmpty).toBeGreaterThan(5);
  });

  it('keeps units, types, services and tenants apart', async () => {
    for (const extra of [
      { unit: 'nanoseconds' },
      { unit: 'samples' },
      { type: 'alloc' },
      { service: 'db' },
      { tenant: 'other' },
      { tenant: 'nobody' },
    ]) {
      const [a, b] = await both(sel(...ALL, [{ name: 'region', op: '=', value: 'us' }], extra));
      expect(b).toEqual(a);
    }
  });

  it('still after the rollups are merged, each (series, hour, stack) held once: really pre-aggregated', async () => {
    for (const t of ['profiles_1h', 'profiles_1h_all', 'series', 'rollup_hours'])
      await client.command({ query: `OPTIMIZE TABLE ${db}.${t} FINAL` });
    await expectSameEverywhere(MATCHERS.slice(0, 3), ranges().slice(0, 6));
    const rs = await client.query({
      query: `SELECT count() AS rows, uniqExact(tenant, service, type, unit, series, hour, stack_id) AS keys,
                (SELECT count() FROM ${db}.profiles ARRAY JOIN values) AS samples FROM ${db}.profiles_1h`,
      format: 'JSONEachRow',
    });
    const [{ rows, keys, samples }] = await rs.json<{ rows: string; keys: string; samples: string }>();
    expect(rows).toBe(keys);
    expect(Number(rows)).toBeLessThan(Number(samples));
    // The service rollup: each (service, hour, stack) once, every series summed into it.
    const all = await client.query({
      query: `SELECT count() AS rows, uniqExact(tenant, service, type, unit, hour, stack_id) AS keys, sum(value) AS value,
                (SELECT sum(value) FROM ${db}.profiles_1h) AS series_value FROM ${db}.profiles_1h_all`,
      format: 'JSONEachRow',
    });
    const [a] = await all.json<{ rows: string; keys: string; value: string; series_value: string }>();
    expect(a.rows).toBe(a.keys);
    expect(Number(a.rows)).toBeLessThan(Number(rows));
    expect(a.value).toBe(a.series_value);
  });
});

describe('rollups stay exact when', () => {
  it('profiles arrive late into built hours: those hours read raw profiles until the next build', async () => {
    const before = await upToDate();
    // Late profiles of cpu (and of other keys) into the first two hours only.
    const late = profiles(400, 31).filter((r) => r.time < Math.ceil(START / HOUR) * HOUR + HOUR);
    await insert(late);
    const stale = await upToDate();
    expect(stale.length).toBeLessThan(before.length);
    await expectSameEverywhere(MATCHERS.slice(0, 3));
    const r = await build();
    expect(r.pending).toBeGreaterThan(0);
    expect(r.unverified).toBe(0);
    expect(await upToDate()).toEqual(before);
    await expectSameEverywhere(MATCHERS.slice(0, 3));
  });

  it('a build was cut short (rows written, no record): the hour stays raw, and the next build replaces the rows', async () => {
    const hour = Math.ceil(START / HOUR) * HOUR; // 22:00
    await insert(profiles(300, 41).filter((r) => r.time >= hour && r.time < hour + HOUR));
    // What a kill after the rollup INSERT and before the record leaves: the hour's rows, twice over for good measure.
    const where = `time >= fromUnixTimestamp64Milli(${hour}) AND time < fromUnixTimestamp64Milli(${hour + HOUR})`;
    for (let i = 0; i < 2; i++)
      await client.command({ query: `INSERT INTO ${db}.profiles_1h ${hourSelect(db, where)}` });
    await expectSameEverywhere(MATCHERS.slice(0, 3));
    const r = await build();
    expect(r.hoursBuilt).toBe(1);
    expect(r.unverified).toBe(0);
    await expectSameEverywhere(MATCHERS.slice(0, 3));
    expect((await upToDate()).length).toBe(4);
  });

  it('a builder from before the service rollup rebuilt an hour (levels 1): queries read the series rollup, and the next build writes both', async () => {
    const hour = Math.ceil(START / HOUR) * HOUR; // 22:00
    const where = `tenant = 'default' AND service = 'api' AND type = 'cpu' AND hour = fromUnixTimestamp64Milli(${hour})`;
    const [{ n }] = await (
      await client.query({
        query: `SELECT toString(count()) AS n FROM ${db}.profiles WHERE tenant = 'default' AND service = 'api' AND type = 'cpu'
                AND time >= fromUnixTimestamp64Milli(${hour}) AND time < fromUnixTimestamp64Milli(${hour + HOUR})`,
        format: 'JSONEachRow',
      })
    ).json<{ n: string }>();
    // What an older builder leaves: its record, without levels (1), and no service rollup of the hour.
    await client.command({ query: `DELETE FROM ${db}.profiles_1h_all WHERE ${where}` });
    await client.insert({
      table: `${db}.rollup_hours`,
      values: [
        { tenant: 'default', service: 'api', type: 'cpu', hour: hour / 1000, profiles: n, built: Date.now() },
      ],
      format: 'JSONEachRow',
    });
    const hours = wholeHours({ from: ALL[0], until: ALL[1] })!;
    /** Which hours are rolled, and whether the service rollup answers a query without matchers. */
    const readFrom = async () => {
      const params = {};
      const rs = await client.query({
        query: rolledHoursQuery(db, sel(...ALL), hours, params),
        query_params: params,
        format: 'JSONEachRow',
      });
      const rows = await rs.json<{ side: string; h: string; n: string; levels: number }>();
      const rolledNow = rolledHours(rows, hours);
      const covers = serviceRollupCovers(rows, rolledNow);
      return { rolledNow, covers, sql: stackSumsQuery(db, sel(...ALL), {}, rolledNow, covers) };
    };
    const before = await readFrom();
    expect(before.rolledNow.has(hour)).toBe(true);
    expect(before.covers).toBe(false);
    expect(before.sql).not.toMatch(/profiles_1h_all/);
    await expectSameEverywhere([[]]);
    const r = await build();
    expect(r.pending).toBe(1);
    expect(r.unverified).toBe(0);
    const after = await readFrom();
    expect(after.covers).toBe(true);
    expect(after.sql).toMatch(/profiles_1h_all/);
    await expectSameEverywhere([[]]);
  });

  it('two builds run at once: whatever they leave, answers are right, and a later build settles it', async () => {
    await insert(profiles(300, 51));
    await Promise.all([build(), build()]);
    await expectSameEverywhere(MATCHERS.slice(0, 3));
    await build();
    await expectSameEverywhere(MATCHERS.slice(0, 3));
    expect((await upToDate()).length).toBe(4);
    expect(await build()).toMatchObject({ pending: 0 });
  });
});

describe('many (tenant, service, type)s in one hour', () => {
  it('builds them in bounded statements (500 keys each) and records every one', async () => {
    const db2 = `t_${randomBytes(6).toString('hex')}`;
    const c = createStoreClient({ dataDir, database: db2, retentionDays: 30 }).client;
    try {
      await migrate(c, db2, 30);
      await c.insert({
        table: `${db2}.stacks`,
        values: stacks.map((x) => ({ tenant: 'default', ...x })),
        format: 'JSONEachRow',
      });
      const rows = profiles(1300, 71).map((r, i) => ({
        ...r,
        tenant: 'default',
        service: `svc${i % 1100}`,
        time: START + (i % 50) * 1000,
      }));
      await c.insert({ table: `${db2}.profiles`, values: rows, format: 'JSONEachRow' });
      const keys = new Set(rows.map((r) => `${r.service}/${r.type}`)).size;
      expect(keys).toBeGreaterThan(1000);
      const r = await buildRollups(db2, statementRunner(c), { now: AFTER });
      expect(r).toMatchObject({ pending: keys, built: keys, unverified: 0, hoursBuilt: 1 });
      const rawQ = new ProfileQueries(c, db2, { rollups: false });
      const q = new ProfileQueries(c, db2);
      const show = (xs: { stack: readonly string[]; value: number }[]) =>
        xs.map((x) => `${x.stack.join(';')} ${x.value}`).sort();
      for (const service of ['svc0', 'svc777', 'svc1099']) {
        const s2 = sel(START - HOUR, START + 2 * HOUR, [], { service });
        expect(show(await q.stacks(s2))).toEqual(show(await rawQ.stacks(s2)));
      }
    } finally {
      await c.command({ query: `DROP DATABASE IF EXISTS ${db2}` });
      await c.close();
    }
  });
});

describe('upgrade from per-insert views (migration 3 as it was)', () => {
  it('drops the views and the minute tier, empties the hour tier, and the job builds it again', async () => {
    const db2 = `t_${randomBytes(6).toString('hex')}`;
    const c = createStoreClient({ dataDir, database: db2, retentionDays: 30 }).client;
    try {
      await migrate(c, db2, 30, { upTo: 6 });
      // What the old migration 3 left: a minute tier, views, rows the views wrote.
      await c.command({
        query: `CREATE TABLE ${db2}.profiles_1m (minute DateTime, x UInt8) ENGINE = MergeTree ORDER BY minute`,
      });
      await c.command({
        query: `CREATE MATERIALIZED VIEW ${db2}.series_mv TO ${db2}.series AS SELECT tenant, service, ${'sipHash64(mapSort(labels))'} AS series, labels, time AS last_seen FROM ${db2}.profiles`,
      });
      await c.insert({
        table: `${db2}.profiles_1h`,
        values: [
          {
            tenant: 'default',
            service: 'api',
            type: 'cpu',
            unit: 'samples',
            series: '1',
            hour: Math.floor(START / 1000),
            stack_id: '1',
            value: 5,
          },
        ],
        format: 'JSONEachRow',
      });
      expect(await migrate(c, db2, 30)).toEqual([7, 8, 9, 10, 11, 12, 13]);
      const tables = await (
        await c.query({
          query: `SELECT name FROM system.tables WHERE database = {d:String} ORDER BY name`,
          query_params: { d: db2 },
          format: 'JSONEachRow',
        })
      ).json<{ name: string }>();
      expect(tables.map((t) => t.name)).toEqual([
        'api_tokens',
        'baselines',
        'budgets',
        'profiles',
        'profiles_1h',
        'profiles_1h_all',
        'regressions',
        'rollup_hours',
        'schema_migrations',
        'series',
        'stacks',
      ]);
      const [{ n }] = await (
        await c.query({ query: `SELECT count() AS n FROM ${db2}.profiles_1h`, format: 'JSONEachRow' })
      ).json<{ n: string }>();
      expect(n).toBe('0');
    } finally {
      await c.command({ query: `DROP DATABASE IF EXISTS ${db2}` });
      await c.close();
    }
  });
});

describe('the rollup job', () => {
  it('builds through the store, rejects a bad payload, and leaves the flame graph as raw profiles give it', async () => {
    const db2 = `t_${randomBytes(6).toString('hex')}`;
    const store = await openStore({ dataDir, database: db2, retentionDays: 30 });
    try {
      await store.client.insert({
        table: `${db2}.stacks`,
        values: stacks.map((s) => ({ tenant: 'default', ...s })),
        format: 'JSONEachRow',
      });
      await store.client.insert({
        table: `${db2}.profiles`,
        values: profiles(300, 61),
        format: 'JSONEachRow',
      });
      const jobs = processors({ store, log: () => undefined, queue: undefined as never });
      const logs: string[] = [];
      const ctx = { id: 'rollup-test', attempt: 1, log: (m: string) => logs.push(m) };
      await expect(jobs.rollup({ nope: 1 } as never, ctx)).rejects.toBeInstanceOf(UnrecoverableJobError);
      // Looking back 2 hours from AFTER finds nothing; every hour is found without a lookback.
      expect(await jobs.rollup({ now: AFTER, lookbackHours: 2 } as never, ctx)).toMatchObject({ pending: 0 });
      // One hour a batch: a time budget spent at once stops after the first batch...
      expect(
        await jobs.rollup({ now: AFTER, maxHours: 1, budgetSeconds: 0.001 } as never, ctx),
      ).toMatchObject({ hoursBuilt: 1, hoursLeft: 3 });
      // ...else the run goes on through the backlog, batch after batch.
      const r = (await jobs.rollup({ now: AFTER, maxHours: 1 } as never, ctx)) as {
        hoursBuilt: number;
        hoursLeft: number;
      };
      expect(r).toMatchObject({ hoursBuilt: 3, hoursLeft: 0 });
      expect(logs.join('\n')).toMatch(
        /rollup: \d+ \(service, type, hour\)s built in 3 hour\(s\), 0 to retry, 0 hour\(s\) left/,
      );
      const rawQ = new ProfileQueries(store.client, db2, { rollups: false });
      const show = (xs: { stack: readonly string[]; value: number }[]) =>
        xs.map((x) => `${x.stack.join(';')} ${x.value}`).sort();
      expect(show(await store.queries.stacks(sel(...ALL)))).toEqual(show(await rawQ.stacks(sel(...ALL))));
    } finally {
      await store.client.command({ query: `DROP DATABASE IF EXISTS ${db2}` });
      await store.close();
    }
  });
});
