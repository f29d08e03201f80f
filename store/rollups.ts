import { TupleParam } from '@clickhouse/client';
import type { TimeRange } from '../profile/time-range';
import { carriedInClause, labelClauses, type QueryParams, type Selection, selectionWhere } from './selection';

/**
 * Rollups: `profiles_1h` holds the samples of `profiles` summed per (tenant,
 * service, type, unit, series, hour, stack). A series is one label set, by
 * a hash of its sorted labels; `series` maps it back to the labels so
 * matchers work. The `rollup` job builds an hour once it is over, off the
 * ingest path, and records in `rollup_hours` how many profiles it summed per
 * (tenant, service, type). A query reads an hour from the rollup only while
 * that count still equals the raw table's, so a profile that arrives late,
 * or a build that a crash cut short, sends the hour back to raw profiles
 * until the job builds it again: the answer is always the raw query's.
 * `profiles_1h_all` holds the same sums with every series together, for
 * queries without label matchers (a fleet's 50 instances are 50 series:
 * ~100× fewer rows); it is read only for hours whose newest build wrote it
 * (`rollup_hours.levels` 2, migration 13).
 */
export const HOUR_MS = 3_600_000;
export const ROLLUP_TABLE = 'profiles_1h';
/** The same sums per (tenant, service, type, unit, hour, stack), every series together: what a query without label matchers reads. */
export const SERVICE_ROLLUP_TABLE = 'profiles_1h_all';
/** `rollup_hours.levels` of a build that wrote both tables (1: profiles_1h only, as builders before migration 13). */
const BOTH_LEVELS = 2;

/** A series' id: the same label set in any order is the same series. */
export const SERIES_KEY = 'sipHash64(mapSort(labels))';

/** Hours since the epoch (UTC, not the server's time zone) of a DateTime64 column. */
const hourNumber = (column: string) => `intDiv(toUnixTimestamp64Milli(${column}), ${HOUR_MS})`;
const hourStart = (column: string) => `fromUnixTimestamp64Milli(${hourNumber(column)} * ${HOUR_MS}, 'UTC')`;
const within = (column: string, from = 'from', until = 'until') =>
  `${column} >= fromUnixTimestamp64Milli({${from}:Int64}) AND ${column} < fromUnixTimestamp64Milli({${until}:Int64})`;

/** `profiles` rows summed into hours; the series key is computed once per profile, before ARRAY JOIN. */
export function hourSelect(db: string, where: string): string {
  return `SELECT tenant, service, type, unit, series, hour, stack_id, sum(value) AS value
    FROM (SELECT tenant, service, type, unit, ${SERIES_KEY} AS series, ${hourStart('time')} AS hour, stack_ids, values
          FROM ${db}.profiles WHERE ${where})
    ARRAY JOIN stack_ids AS stack_id, values AS value
    GROUP BY tenant, service, type, unit, series, hour, stack_id`;
}

/** `profiles` rows reduced to their series (label sets). */
export function seriesSelect(db: string, where: string): string {
  return `SELECT tenant, service, series, any(sorted) AS labels, max(time) AS last_seen
    FROM (SELECT tenant, service, time, ${SERIES_KEY} AS series, mapSort(labels) AS sorted
          FROM ${db}.profiles WHERE ${where})
    GROUP BY tenant, service, series`;
}

/** What the builder runs statements with. */
export interface StatementRunner {
  command(query: string, params?: QueryParams): Promise<void>;
  rows<T>(query: string, params?: QueryParams): Promise<T[]>;
  insert(table: string, rows: Record<string, unknown>[]): Promise<void>;
}

export interface BuildOptions {
  /** The clock: hours that ended `graceMs` before it are built. */
  now: number;
  /** How long after an hour ends before it is built (profiles still in flight). Default 2 minutes. */
  graceMs?: number;
  /** Looks only at hours from this time on (ms); default: every stored hour. */
  sinceMs?: number;
  /** Builds at most this many hours a run, newest first; the next run goes on. Default 24. */
  maxHours?: number;
  /** Cluster mode: deletes go to the shards' local tables, ON CLUSTER. */
  cluster?: string;
  log?: (msg: string) => void;
}

export interface BuildResult {
  /** (tenant, service, type, hour)s whose rollup was missing or out of date. */
  pending: number;
  /** Hours built in this run, and the (tenant, service, type, hour)s among them now in use. */
  hoursBuilt: number;
  built: number;
  /** Built but not recorded: profiles arrived meanwhile, or another build ran at once. The next run tries again. */
  unverified: number;
  /** Hours left for the next run. */
  hoursLeft: number;
}

export const DEFAULT_GRACE_MS = 2 * 60_000;

/**
 * Builds the rollups of the hours whose `rollup_hours` count differs from
 * their raw profiles' (never built, late profiles, a build cut short), or
 * whose newest build predates the service rollup (levels 1). Per
 * hour, only the (tenant, service, type)s that need it: their rows are
 * deleted and summed again from raw profiles, their series derived, and the
 * count recorded only if the raw count is still the one the build started
 * from and the rollup's sum equals the raw sum (a concurrent build would have
 * doubled it). Idempotent; safe to kill at any point.
 */
export async function buildRollups(
  db: string,
  run: StatementRunner,
  opts: BuildOptions,
): Promise<BuildResult> {
  const until = Math.floor((opts.now - (opts.graceMs ?? DEFAULT_GRACE_MS)) / HOUR_MS) * HOUR_MS;
  const since = Math.max(0, Math.floor((opts.sinceMs ?? 0) / HOUR_MS) * HOUR_MS);
  const result: BuildResult = { pending: 0, hoursBuilt: 0, built: 0, unverified: 0, hoursLeft: 0 };
  if (until <= since) return result;
  // (tenant, service, type, hour)s whose recorded count is not the raw one, over [since, until).
  const pendingSql = `SELECT r.tenant AS tenant, r.service AS service, r.type AS type, r.h AS h, r.n AS n
     FROM (SELECT tenant, service, type, ${hourNumber('time')} AS h, count() AS n FROM ${db}.profiles
           WHERE ${within('time', 'since', 'until')} GROUP BY tenant, service, type, h) AS r
     LEFT JOIN (SELECT tenant, service, type, ${hourNumber('hour')} AS h, argMax(profiles, built) AS n,
                  argMax(levels, built) AS levels FROM ${db}.rollup_hours
           WHERE ${within('hour', 'since', 'until')} GROUP BY tenant, service, type, h) AS s
     ON r.tenant = s.tenant AND r.service = s.service AND r.type = s.type AND r.h = s.h
     WHERE r.n != s.n OR s.levels < ${BOTH_LEVELS}`;
  // Hours first (at most one row an hour), newest first; each hour's keys only when it is built.
  const hours = await run.rows<{ h: string; keys: string }>(
    `SELECT toString(h) AS h, toString(count()) AS keys FROM (${pendingSql}) GROUP BY h ORDER BY h DESC`,
    { since, until },
  );
  const maxHours = opts.maxHours ?? 24;
  result.pending = hours.reduce((sum, r) => sum + Number(r.keys), 0);
  result.hoursLeft = Math.max(0, hours.length - maxHours);
  const deleteFrom = (table: string) =>
    opts.cluster ? `${db}.${table}_local ON CLUSTER ${opts.cluster}` : `${db}.${table}`;
  for (const { h } of hours.slice(0, maxHours)) {
    const from = Number(h) * HOUR_MS;
    const all = await run.rows<{ tenant: string; service: string; type: string; n: string }>(
      `SELECT tenant, service, type, toString(n) AS n FROM (${pendingSql})`,
      { since: from, until: from + HOUR_MS },
    );
    // Bounded parameter lists (they travel in the URL over HTTP).
    for (let i = 0; i < all.length; i += KEYS_PER_STATEMENT) {
      const checked = await buildKeys(db, run, from, all.slice(i, i + KEYS_PER_STATEMENT), deleteFrom);
      result.built += checked;
      result.unverified += Math.min(KEYS_PER_STATEMENT, all.length - i) - checked;
    }
    result.hoursBuilt++;
  }
  return result;
}

const KEYS_PER_STATEMENT = 500;

/** Builds one hour of some (tenant, service, type)s; answers how many were verified and recorded. */
async function buildKeys(
  db: string,
  run: StatementRunner,
  from: number,
  keys: { tenant: string; service: string; type: string; n: string }[],
  deleteFrom: (table: string) => string,
): Promise<number> {
  const params: QueryParams = {
    from,
    until: from + HOUR_MS,
    keys: keys.map((k) => new TupleParam([k.tenant, k.service, k.type])),
  };
  const mine = '(tenant, service, type) IN {keys:Array(Tuple(String, String, String))}';
  for (const table of [ROLLUP_TABLE, SERVICE_ROLLUP_TABLE]) {
    const [{ n }] = await run.rows<{ n: string }>(
      `SELECT toString(count()) AS n FROM ${db}.${table} WHERE ${within('hour')} AND ${mine}`,
      params,
    );
    // Left by a build that was cut short or ran twice, or from before late profiles came.
    if (n !== '0')
      await run.command(`DELETE FROM ${deleteFrom(table)} WHERE ${within('hour')} AND ${mine}`, params);
  }
  await run.command(
    `INSERT INTO ${db}.${ROLLUP_TABLE} ${hourSelect(db, `${within('time')} AND ${mine}`)}`,
    params,
  );
  // From the series' sums just written (unmerged parts sum alike): one pass over the hour's raw rows, not two.
  await run.command(
    `INSERT INTO ${db}.${SERVICE_ROLLUP_TABLE}
     SELECT tenant, service, type, unit, hour, stack_id, sum(value) AS value FROM ${db}.${ROLLUP_TABLE}
     WHERE ${within('hour')} AND ${mine} GROUP BY tenant, service, type, unit, hour, stack_id`,
    params,
  );
  await run.command(`INSERT INTO ${db}.series ${seriesSelect(db, `${within('time')} AND ${mine}`)}`, params);
  const checked = await run.rows<{ tenant: string; service: string; type: string; n: string }>(
    `SELECT r.tenant AS tenant, r.service AS service, r.type AS type, toString(r.n) AS n
     FROM (SELECT tenant, service, type, count() AS n, sum(total) AS s FROM ${db}.profiles
           WHERE ${within('time')} AND ${mine} GROUP BY tenant, service, type) AS r
     LEFT JOIN (SELECT tenant, service, type, sum(value) AS s FROM ${db}.${ROLLUP_TABLE}
           WHERE ${within('hour')} AND ${mine} GROUP BY tenant, service, type) AS t
     ON r.tenant = t.tenant AND r.service = t.service AND r.type = t.type
     LEFT JOIN (SELECT tenant, service, type, sum(value) AS s FROM ${db}.${SERVICE_ROLLUP_TABLE}
           WHERE ${within('hour')} AND ${mine} GROUP BY tenant, service, type) AS u
     ON r.tenant = u.tenant AND r.service = u.service AND r.type = u.type
     WHERE r.s = t.s AND r.s = u.s AND (r.tenant, r.service, r.type, r.n) IN {expected:Array(Tuple(String, String, String, UInt64))}`,
    { ...params, expected: keys.map((k) => new TupleParam([k.tenant, k.service, k.type, Number(k.n)])) },
  );
  if (checked.length) {
    const built = Date.now();
    await run.insert(
      `${db}.rollup_hours`,
      checked.map((c) => ({
        tenant: c.tenant,
        service: c.service,
        type: c.type,
        hour: from / 1000,
        profiles: c.n,
        built,
        levels: BOTH_LEVELS,
      })),
    );
  }
  return checked.length;
}

/** A piece of a time range and where it is read. */
export interface Segment {
  rollup: boolean;
  from: number;
  until: number;
}

/** The whole hours inside a range, if any. */
export function wholeHours(range: TimeRange): { from: number; until: number } | undefined {
  const from = Math.ceil(range.from / HOUR_MS) * HOUR_MS;
  const until = Math.floor(range.until / HOUR_MS) * HOUR_MS;
  return from < until ? { from, until } : undefined;
}

/**
 * Splits a range into runs of whole hours read from the rollup (those
 * `rolled` says are up to date) and the rest, read from raw profiles.
 * Adjacent pieces of one kind are merged. A profile belongs to the hour
 * holding its start time, as raw queries compare it.
 */
export function planRange(range: TimeRange, rolled: (hourStart: number) => boolean): Segment[] {
  const out: Segment[] = [];
  const add = (rollup: boolean, from: number, until: number) => {
    if (from >= until) return;
    const last = out[out.length - 1];
    if (last && last.rollup === rollup && last.until === from) last.until = until;
    else out.push({ rollup, from, until });
  };
  const whole = wholeHours(range);
  if (!whole) {
    add(false, range.from, range.until);
    return out;
  }
  add(false, range.from, whole.from);
  for (let h = whole.from; h < whole.until; h += HOUR_MS) add(rolled(h), h, h + HOUR_MS);
  add(false, whole.until, range.until);
  return out;
}

/**
 * Which whole hours of the selection's range its rollup can answer: per
 * hour, the raw profiles of (tenant, service, type) and the count the
 * rollup recorded. Equal counts (including none and none) mean up to date.
 */
export function rolledHoursQuery(
  db: string,
  sel: Selection,
  hours: { from: number; until: number },
  params: QueryParams,
): string {
  Object.assign(params, {
    tenant: sel.tenant,
    service: sel.service,
    type: sel.type,
    from: hours.from,
    until: hours.until,
  });
  const key = 'tenant = {tenant:String} AND service = {service:String} AND type = {type:String}';
  return `SELECT 'raw' AS side, toString(h) AS h, toString(count()) AS n, 0 AS levels
      FROM (SELECT ${hourNumber('time')} AS h FROM ${db}.profiles WHERE ${key} AND ${within('time')}) GROUP BY h
    UNION ALL
    SELECT 'rollup' AS side, toString(${hourNumber('hour')}) AS h, toString(argMax(profiles, built)) AS n,
      toUInt8(argMax(levels, built)) AS levels
      FROM ${db}.rollup_hours WHERE ${key} AND ${within('hour')} GROUP BY hour`;
}

/**
 * Whether every rolled hour's newest build also wrote the service rollup (`levels` 2), so a query without
 * label matchers can read it for all of them; an hour with no profiles needs nothing.
 */
export function serviceRollupCovers(
  rows: { side: string; h: string; levels?: number | string }[],
  rolled: ReadonlySet<number>,
): boolean {
  const levels = new Map<number, number>();
  const raw = new Set<number>();
  for (const r of rows) {
    const h = Number(r.h) * HOUR_MS;
    if (r.side === 'raw') raw.add(h);
    else levels.set(h, Number(r.levels ?? 1));
  }
  for (const h of rolled) if (raw.has(h) && (levels.get(h) ?? 1) < BOTH_LEVELS) return false;
  return true;
}

/** The up-to-date hours (their start, ms) from `rolledHoursQuery`'s rows. */
export function rolledHours(
  rows: { side: string; h: string; n: string; levels?: number | string }[],
  hours: { from: number; until: number },
): Set<number> {
  const raw = new Map<number, string>();
  const rollup = new Map<number, string>();
  for (const r of rows) (r.side === 'raw' ? raw : rollup).set(Number(r.h) * HOUR_MS, r.n);
  const out = new Set<number>();
  for (let h = hours.from; h < hours.until; h += HOUR_MS)
    if ((raw.get(h) ?? '0') === (rollup.get(h) ?? '0')) out.add(h);
  return out;
}

function timeRanges(column: string, segments: Segment[], params: QueryParams, name: string): string {
  const ranges = segments.map((s, i) => {
    params[`${name}${i}f`] = s.from;
    params[`${name}${i}u`] = s.until;
    return within(column, `${name}${i}f`, `${name}${i}u`);
  });
  return ranges.length === 1 ? ranges[0] : `(${ranges.map((r) => `(${r})`).join(' OR ')})`;
}

/**
 * The selection's samples summed per stack id: the up-to-date hours of its
 * range (`rolled`, from `rolledHours`) from the rollup, the rest from raw
 * profiles; the same answer as the raw query alone (sums of integers, in any
 * order). Without `rolled`, or when none of its hours is in the range, the
 * raw query alone.
 */
export function stackSumsQuery(
  db: string,
  sel: Selection,
  params: QueryParams,
  rolled?: ReadonlySet<number>,
  /** Every rolled hour's build wrote the service rollup too (serviceRollupCovers): read it when no label matters. */
  serviceRollup = false,
): string {
  const segments = planRange(sel.range, (h) => rolled?.has(h) ?? false);
  if (!segments.some((s) => s.rollup)) {
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
  const raw = segments.filter((s) => !s.rollup);
  if (raw.length) {
    branches.push(`SELECT stack_id, sum(value) AS value
       FROM ${db}.profiles ARRAY JOIN stack_ids AS stack_id, values AS value
       WHERE ${[...keys, timeRanges('time', raw, params, 'raw'), ...labels].join(' AND ')} GROUP BY stack_id`);
  }
  // Profiles that started before the range and ran into it (selectionWhere's overlap): in no hour of the range.
  params.carryFrom = sel.range.from;
  branches.push(`SELECT stack_id, sum(value) AS value
       FROM ${db}.profiles ARRAY JOIN stack_ids AS stack_id, values AS value
       WHERE ${[...keys, carriedInClause('carryFrom'), ...labels].join(' AND ')} GROUP BY stack_id`);
  // Series are filtered by id: the labels are read once per series, not once per row.
  const series = labels.length
    ? [
        `series IN (SELECT series FROM ${db}.series WHERE tenant = {tenant:String} AND service = {service:String} AND ${labels.join(' AND ')})`,
      ]
    : [];
  // Without labels to match, the series are summed already: ~1 % of the rows for a fleet of 50 instances.
  const table = labels.length === 0 && serviceRollup ? SERVICE_ROLLUP_TABLE : ROLLUP_TABLE;
  branches.push(`SELECT stack_id, sum(value) AS value FROM ${db}.${table}
       WHERE ${[
         ...keys,
         timeRanges(
           'hour',
           segments.filter((s) => s.rollup),
           params,
           'h',
         ),
         ...series,
       ].join(' AND ')} GROUP BY stack_id`);
  return `SELECT toString(stack_id) AS id, sum(value) AS value FROM (
    ${branches.join('\n    UNION ALL\n    ')}
  ) GROUP BY stack_id`;
}
