import type { TimeRange } from '../profile/time-range';
import { labelClauses, type QueryParams, type Selection, selectionWhere } from './selection';

/**
 * Rollups: sums of `profiles`' samples per (tenant, service, type, unit,
 * series, time bucket, stack), kept by materialized views (schema migration
 * 3) so ingest writes only `profiles`. A series is one label set, by a hash
 * of its sorted labels; `series` maps it back to the labels so matchers work.
 * Tiers are finest first; each coarser one is filled from the one before it.
 */
export interface RollupTier {
  table: string;
  /** The bucket column: the bucket's start, DateTime64(0, 'UTC'). */
  column: string;
  ms: number;
}

export const ROLLUP_TIERS: readonly RollupTier[] = [
  { table: 'profiles_1m', column: 'minute', ms: 60_000 },
  { table: 'profiles_1h', column: 'hour', ms: 3_600_000 },
];

/** A series' id: the same label set in any order is the same series. */
export const SERIES_KEY = 'sipHash64(mapSort(labels))';

/** Epoch-aligned buckets (not the server's time zone's hours). */
const bucket = (column: string, ms: number) =>
  `fromUnixTimestamp64Milli(intDiv(toUnixTimestamp64Milli(${column}), ${ms}) * ${ms}, 'UTC')`;

/**
 * `profiles` rows summed into the first tier. The series key is computed
 * before ARRAY JOIN, once per profile rather than once per sample.
 */
export function firstTierSelect(db: string, where = ''): string {
  const tier = ROLLUP_TIERS[0];
  return `SELECT tenant, service, type, unit, series, ${tier.column}, stack_id, sum(value) AS value
    FROM (SELECT tenant, service, type, unit, ${SERIES_KEY} AS series, ${bucket('time', tier.ms)} AS ${tier.column}, stack_ids, values
          FROM ${db}.profiles${where ? ` WHERE ${where}` : ''})
    ARRAY JOIN stack_ids AS stack_id, values AS value
    GROUP BY tenant, service, type, unit, series, ${tier.column}, stack_id`;
}

/** A tier's rows summed into the next coarser tier. */
export function nextTierSelect(db: string, i: number): string {
  const [from, to] = [ROLLUP_TIERS[i - 1], ROLLUP_TIERS[i]];
  return `SELECT tenant, service, type, unit, series, ${bucket(from.column, to.ms)} AS ${to.column}, stack_id, sum(value) AS value
    FROM ${db}.${from.table}
    GROUP BY tenant, service, type, unit, series, ${to.column}, stack_id`;
}

/** `profiles` rows reduced to their series (label sets). */
export function seriesSelect(db: string, where = ''): string {
  return `SELECT tenant, service, series, any(sorted) AS labels, max(time) AS last_seen
    FROM (SELECT tenant, service, time, ${SERIES_KEY} AS series, mapSort(labels) AS sorted
          FROM ${db}.profiles${where ? ` WHERE ${where}` : ''})
    GROUP BY tenant, service, series`;
}

/** What a migration's backfill runs statements with. */
export interface StatementRunner {
  command(query: string, params?: QueryParams): Promise<void>;
  rows<T>(query: string, params?: QueryParams): Promise<T[]>;
}

/**
 * Fills the rollups from the profiles already stored, after the views exist
 * (the coarser tiers fill through their views). One hour of profiles per
 * statement keeps each GROUP BY small; newest first, so the hour live ingest
 * writes into is read moments after its view started counting (a profile
 * inserted by another process in between would be counted twice).
 */
export async function backfillRollups(db: string, run: StatementRunner): Promise<void> {
  await run.command(`INSERT INTO ${db}.series ${seriesSelect(db)}`);
  const hours = await run.rows<{ h: string }>(
    `SELECT toString(intDiv(toUnixTimestamp64Milli(time), 3600000)) AS h FROM ${db}.profiles GROUP BY h ORDER BY toInt64(h) DESC`,
  );
  const where = 'time >= fromUnixTimestamp64Milli({from:Int64}) AND time < fromUnixTimestamp64Milli({until:Int64})';
  for (const { h } of hours) {
    const from = Number(h) * 3_600_000;
    await run.command(`INSERT INTO ${db}.${ROLLUP_TIERS[0].table} ${firstTierSelect(db, where)}`, { from, until: from + 3_600_000 });
  }
}

/**
 * Repairs the rollups after the process running chDB died mid-insert: the
 * views write their parts after the raw table's, not atomically with it, so
 * a profile in flight can be in `profiles` and missing from a tier. Hours
 * whose sums (per tenant, service, type, unit) differ between raw rows and
 * either tier are rebuilt from raw rows, and series are derived again.
 * Reads every tier in full: run it only after an unclean stop, on a store no
 * other process writes. Returns the hours rebuilt (ms).
 */
export async function repairRollups(db: string, run: StatementRunner): Promise<number[]> {
  const sums = async (table: string, time: string, value: string) => {
    const rows = await run.rows<{ tenant: string; service: string; type: string; unit: string; h: string; s: string }>(
      `SELECT tenant, service, type, unit, toString(intDiv(toUnixTimestamp64Milli(${time}), 3600000)) AS h, toString(sum(${value})) AS s
       FROM ${db}.${table} GROUP BY tenant, service, type, unit, h`,
    );
    return new Map(rows.map((r) => [JSON.stringify([r.tenant, r.service, r.type, r.unit, r.h]), r.s]));
  };
  const raw = await sums('profiles', 'time', 'total');
  const hours = new Set<number>();
  for (const tier of ROLLUP_TIERS) {
    const rolled = await sums(tier.table, tier.column, 'value');
    for (const k of new Set([...raw.keys(), ...rolled.keys()])) {
      if ((raw.get(k) ?? '0') !== (rolled.get(k) ?? '0')) hours.add(Number((JSON.parse(k) as string[])[4]) * 3_600_000);
    }
  }
  const where = (col: string) => `${col} >= fromUnixTimestamp64Milli({from:Int64}) AND ${col} < fromUnixTimestamp64Milli({until:Int64})`;
  for (const from of hours) {
    const params = { from, until: from + 3_600_000 };
    for (const tier of ROLLUP_TIERS) await run.command(`DELETE FROM ${db}.${tier.table} WHERE ${where(tier.column)}`, params);
    // The coarser tiers fill from this one through their views.
    await run.command(`INSERT INTO ${db}.${ROLLUP_TIERS[0].table} ${firstTierSelect(db, where('time'))}`, params);
  }
  await run.command(`INSERT INTO ${db}.series ${seriesSelect(db)}`);
  return [...hours].sort((a, b) => a - b);
}

/** A piece of a time range and where it is read: `tier` undefined means raw profiles. */
export interface Segment {
  tier?: RollupTier;
  from: number;
  until: number;
}

/**
 * Splits a range into the coarsest whole buckets it holds, then finer ones at
 * its edges, then raw profiles for the parts of minutes left over. A profile
 * belongs to the bucket holding its start time, as raw queries compare it.
 */
export function planRange(range: TimeRange, tiers: readonly RollupTier[] = ROLLUP_TIERS): Segment[] {
  const split = (from: number, until: number, level: number): Segment[] => {
    if (from >= until) return [];
    if (level < 0) return [{ from, until }];
    const tier = tiers[level];
    const a = Math.ceil(from / tier.ms) * tier.ms;
    const b = Math.floor(until / tier.ms) * tier.ms;
    if (a >= b) return split(from, until, level - 1);
    return [...split(from, a, level - 1), { tier, from: a, until: b }, ...split(b, until, level - 1)];
  };
  return split(range.from, range.until, tiers.length - 1);
}

function timeRanges(column: string, segments: Segment[], params: QueryParams, name: string): string {
  const ranges = segments.map((s, i) => {
    params[`${name}${i}f`] = s.from;
    params[`${name}${i}u`] = s.until;
    return `${column} >= fromUnixTimestamp64Milli({${name}${i}f:Int64}) AND ${column} < fromUnixTimestamp64Milli({${name}${i}u:Int64})`;
  });
  return ranges.length === 1 ? ranges[0] : `(${ranges.map((r) => `(${r})`).join(' OR ')})`;
}

/**
 * The selection's samples summed per stack id, reading rollups for the whole
 * buckets of its range and raw profiles for the rest; the same answer as
 * the raw query alone (sums of integers, in any order). Ranges holding no
 * whole bucket of the coarsest tier read raw profiles only: measured
 * (BENCHMARKS.md), minutes alone read about as many rows as raw profiles
 * and were no faster.
 */
export function stackSumsQuery(db: string, sel: Selection, params: QueryParams, tiers: readonly RollupTier[] = ROLLUP_TIERS): string {
  const segments = planRange(sel.range, tiers);
  if (!segments.some((s) => s.tier && s.tier === tiers[tiers.length - 1])) {
    return `SELECT toString(stack_id) AS id, sum(value) AS value
       FROM ${db}.profiles ARRAY JOIN stack_ids AS stack_id, values AS value
       WHERE ${selectionWhere(sel, params)} GROUP BY stack_id`;
  }
  params.tenant = sel.tenant;
  params.service = sel.service;
  params.type = sel.type;
  const keys = ['tenant = {tenant:String}', 'service = {service:String}', 'type = {type:String}'];
  if (sel.unit !== undefined) {
    params.unit = sel.unit;
    keys.push('unit = {unit:String}');
  }
  const labels = labelClauses(sel, params);
  const branches: string[] = [];
  const raw = segments.filter((s) => !s.tier);
  if (raw.length) {
    branches.push(`SELECT stack_id, sum(value) AS value
       FROM ${db}.profiles ARRAY JOIN stack_ids AS stack_id, values AS value
       WHERE ${[...keys, timeRanges('time', raw, params, 'raw'), ...labels].join(' AND ')} GROUP BY stack_id`);
  }
  // Series are filtered by id: the labels are read once per series, not once per row.
  const series = labels.length
    ? [`series IN (SELECT series FROM ${db}.series WHERE tenant = {tenant:String} AND service = {service:String} AND ${labels.join(' AND ')})`]
    : [];
  tiers.forEach((tier, i) => {
    const mine = segments.filter((s) => s.tier === tier);
    if (!mine.length) return;
    branches.push(`SELECT stack_id, sum(value) AS value FROM ${db}.${tier.table}
       WHERE ${[...keys, timeRanges(tier.column, mine, params, `t${i}_`), ...series].join(' AND ')} GROUP BY stack_id`);
  });
  return `SELECT toString(stack_id) AS id, sum(value) AS value FROM (
    ${branches.join('\n    UNION ALL\n    ')}
  ) GROUP BY stack_id`;
}
