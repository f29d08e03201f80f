/**
 * Rollups answer exactly as raw profiles do: the same stacks with the same
 * sums for ranges with ragged edges (ms, minutes, hours), label matchers,
 * units, tenants, negative values; before and after merges; for profiles
 * stored before the rollups existed (the migration's backfill), and when the
 * backfill runs again.
 */
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import type { Matcher } from '../profile/selector';
import * as fs from 'node:fs';
import { openStore } from '../store';
import { createStoreClient } from '../store/client';
import { ProfileQueries } from '../store/queries';
import { stackSumsQuery } from '../store/rollups';
import { migrate } from '../store/schema';
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
    const labels: Record<string, string> = { instance: pick(['i0', 'i1', 'i2', 'i3']), region: pick(['eu', 'us']) };
    if (random() < 0.2) labels.zone = 'z1';
    // The same label set in another order is the same series.
    const ordered = random() < 0.5 ? labels : Object.fromEntries(Object.entries(labels).reverse());
    const ids = [...new Set(Array.from({ length: 1 + Math.floor(random() * 8) }, () => 1 + Math.floor(random() ** 2 * STACK_COUNT)))];
    const values = ids.map(() => (random() < 0.05 ? -1 : 1) * (1 + Math.floor(random() * 100)));
    const [type, unit] = pick([['cpu', 'samples'], ['cpu', 'samples'], ['cpu', 'nanoseconds'], ['alloc', 'bytes']]);
    return {
      tenant: pick(['default', 'default', 'other']),
      service: pick(['api', 'api', 'db']),
      type,
      unit,
      time: START + Math.floor(random() * SPAN),
      duration_ms: 10_000,
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

const stacks = Array.from({ length: STACK_COUNT }, (_, i) => ({ stack_id: String(i + 1), frames: ['main', `f${i % 7}`, `g${i}`] }));

let raw: ProfileQueries;
let rolled: ProfileQueries;

beforeAll(async () => {
  client = createStoreClient({ dataDir, database: db, retentionDays: 30 }).client;
  // Profiles stored before the rollups exist: the upgrade's backfill must find them.
  await migrate(client, db, 30, { upTo: 2 });
  for (const tenant of ['default', 'other']) {
    await client.insert({ table: `${db}.stacks`, values: stacks.map((s) => ({ tenant, ...s })), format: 'JSONEachRow' });
  }
  await insert(profiles(600, 1));
  expect(await migrate(client, db, 30)).toContain(3);
  // And profiles stored after, through the views, in several inserts.
  for (let i = 0; i < 4; i++) await insert(profiles(300, 10 + i));
  raw = new ProfileQueries(client, db, { rollups: false });
  rolled = new ProfileQueries(client, db);
});

afterAll(async () => {
  await client.command({ query: `DROP DATABASE IF EXISTS ${db}` });
  await client.close();
});

function sel(from: number, until: number, matchers: Matcher[] = [], extra: Partial<Selection> = {}): Selection {
  return { tenant: 'default', service: 'api', type: 'cpu', range: { from, until }, matchers, ...extra };
}

async function both(s: Selection): Promise<[string[], string[]]> {
  const show = (xs: { stack: readonly string[]; value: number }[]) => xs.map((x) => `${x.stack.join(';')} ${x.value}`).sort();
  return [show(await raw.stacks(s)), show(await rolled.stacks(s))];
}

const MATCHERS: Matcher[][] = [
  [],
  [{ name: 'instance', op: '=', value: 'i1' }],
  [{ name: 'instance', op: '=~', value: 'i[12]' }, { name: 'region', op: '!=', value: 'eu' }],
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

describe('rollups answer as raw profiles do', () => {
  it('plans rollups for these ranges (the test would prove nothing otherwise)', () => {
    const params = {};
    expect(stackSumsQuery(db, sel(START - HOUR, START + SPAN + HOUR), params)).toMatch(/profiles_1h[\s\S]*profiles_1m|profiles_1m[\s\S]*profiles_1h/);
    expect(stackSumsQuery(db, sel(START + 1_000, START + 50_000), params)).not.toMatch(/profiles_1/);
    // Raw edges, minutes at both ends of the whole hours, all holding profiles.
    const [from, until] = ranges()[5];
    const sql = stackSumsQuery(db, sel(from, until), {});
    expect(sql).toMatch(/FROM [\w.]+\.profiles ARRAY JOIN[\s\S]*profiles_1m[\s\S]*\(\(minute[\s\S]* OR \(minute[\s\S]*profiles_1h/);
  });

  it.each(MATCHERS.map((m) => [m.map((x) => `${x.name}${x.op}"${x.value}"`).join(',') || 'no matchers', m] as const))(
    'same stacks and sums with %s, over ragged and whole ranges',
    async (_name, matchers) => {
      let nonEmpty = 0;
      for (const [from, until] of ranges()) {
        const [a, b] = await both(sel(from, until, matchers));
        expect(b).toEqual(a);
        if (a.length) nonEmpty++;
      }
      if (!matchers.some((m) => m.name === 'nosuch')) expect(nonEmpty).toBeGreaterThan(5);
    },
  );

  it('keeps units, types, services and tenants apart', async () => {
    const all: [number, number] = [START - HOUR, START + SPAN + HOUR];
    for (const extra of [{ unit: 'nanoseconds' }, { unit: 'samples' }, { type: 'alloc' }, { service: 'db' }, { tenant: 'other' }, { tenant: 'nobody' }]) {
      const [a, b] = await both(sel(...all, [{ name: 'region', op: '=', value: 'us' }], extra));
      expect(b).toEqual(a);
    }
  });

  it('still after the rollups are merged', async () => {
    for (const t of ['profiles_1m', 'profiles_1h', 'series']) await client.command({ query: `OPTIMIZE TABLE ${db}.${t} FINAL` });
    for (const [from, until] of ranges().slice(0, 6)) {
      for (const m of MATCHERS.slice(0, 3)) {
        const [a, b] = await both(sel(from, until, m));
        expect(b).toEqual(a);
      }
    }
  });

  it('holds each (series, minute, stack) once after merges: the minutes are really pre-aggregated', async () => {
    const rs = await client.query({
      query: `SELECT count() AS rows, uniqExact(tenant, service, type, unit, series, minute, stack_id) AS keys FROM ${db}.profiles_1m`,
      format: 'JSONEachRow',
    });
    const [{ rows, keys }] = await rs.json<{ rows: string; keys: string }>();
    expect(rows).toBe(keys);
  });

  it('backfills again to the same sums when the migration is re-run (a crash before it was recorded)', async () => {
    await client.command({ query: `ALTER TABLE ${db}.schema_migrations DELETE WHERE version = 3`, clickhouse_settings: { mutations_sync: '2' } });
    expect(await migrate(client, db, 30)).toEqual([3]);
    for (const [from, until] of ranges()) {
      for (const m of MATCHERS.slice(0, 3)) {
        const [a, b] = await both(sel(from, until, m));
        expect(b).toEqual(a);
      }
    }
  });
});

describe('after a crash mid-insert', () => {
  it('rebuilds the hours a view missed when the store is opened again, and the series', async () => {
    const db2 = `t_${randomBytes(6).toString('hex')}`;
    const first = await openStore({ dataDir, database: db2, retentionDays: 30 });
    const marker = path.join(dataDir, `.flamewatch-${db2}.open`);
    try {
      expect(fs.existsSync(marker)).toBe(true);
      const put = (rows: Row[]) => first.client.insert({ table: `${db2}.profiles`, values: rows, format: 'JSONEachRow' });
      await put(profiles(200, 21));
      // What a kill between the raw part and the views' parts leaves: rows the
      // hour tier never saw, and rows no view saw (with a series of their own).
      await first.client.command({ query: `DETACH TABLE ${db2}.profiles_1h_mv` });
      await put(profiles(50, 22));
      await first.client.command({ query: `DETACH TABLE ${db2}.profiles_1m_mv` });
      await first.client.command({ query: `DETACH TABLE ${db2}.series_mv` });
      await put(profiles(50, 23).map((r) => ({ ...r, labels: { ...r.labels, zone: 'crashed' } })));
      for (const v of ['profiles_1m_mv', 'profiles_1h_mv', 'series_mv']) await first.client.command({ query: `ATTACH TABLE ${db2}.${v}` });

      const rawQ = new ProfileQueries(first.client, db2, { rollups: false });
      const cases = [sel(START - HOUR, START + SPAN + HOUR), sel(START + 5 * 60_000 + 123, START + 2 * HOUR + 7 * 60_000 + 5), sel(START - HOUR, START + SPAN + HOUR, [{ name: 'zone', op: '=', value: 'crashed' }])];
      const show = (xs: { stack: readonly string[]; value: number }[]) => xs.map((x) => `${x.stack.join(';')} ${x.value}`).sort();
      const before = new ProfileQueries(first.client, db2);
      expect(show(await before.stacks(cases[0]))).not.toEqual(show(await rawQ.stacks(cases[0])));

      // The process died: no close(). The next open repairs.
      const second = await openStore({ dataDir, database: db2, retentionDays: 30 });
      try {
        for (const c of cases) expect(show(await second.queries.stacks(c))).toEqual(show(await rawQ.stacks(c)));
        expect(show(await rawQ.stacks(cases[2])).length).toBeGreaterThan(0);
      } finally {
        await second.close();
      }
      expect(fs.existsSync(marker)).toBe(false);
      // A clean close leaves nothing to repair.
      const third = await openStore({ dataDir, database: db2, retentionDays: 30 });
      await third.close();
    } finally {
      await first.client.command({ query: `DROP DATABASE IF EXISTS ${db2}` });
      await first.client.close();
    }
  });
});
