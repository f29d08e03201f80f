/**
 * What the regression detector reads: one side's sufficient statistics,
 * computed in ClickHouse so a day of profiles never crosses the wire, and
 * what the sweep and the pull-request job look up to choose their sides
 * (active series, a label's history, benchmark runs). Read-only; tenant
 * scoping as everywhere in store/: every statement filters on it.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import type { ProcessStats, ProfileKind, SideStats } from '../profile/regression';
import { selectionKind } from './kind';
import type { Matcher } from '../profile/selector';
import { queryRows } from './rows-query';
import { overlapClause, type QueryParams, type Selection, selectionWhere } from './selection';

/**
 * At most about this many observations a side. One pushed profile is one
 * observation; when a side holds more, each instance's profiles are pooled
 * into equal time buckets (batch means): the spread between observations is
 * still in the test, a t-test with a few hundred observations has all but
 * the power of one with thousands, and the query's cost (observations ×
 * stacks × frames) stays bounded.
 */
export const MAX_OBSERVATIONS = 240;

/**
 * At most about this many profiles are read a side. Past it, a deterministic
 * sample of profile ids is read (by hash, so both sides and repeats read the
 * same ones): a day of 20 instances is 172,800 profiles, and beyond a few
 * tens of thousands, more profiles add sampling precision that the spread
 * between observations already swamps, while the query's cost grows with
 * every one (see BENCHMARKS.md, detection speed).
 */
export const MAX_PROFILES_READ = 25_000;

const ms = (col: string) => `toUnixTimestamp64Milli(${col})`;

/** A function's key in SideStats as sideStats returns them: its name, and its file when known (`name\0file`). */
export function functionKey(name: string, file: string): string {
  return file ? `${name}\u0000${file}` : name;
}

/** The name and file of a `functionKey`. */
export function splitFunctionKey(key: string): { name: string; file: string } {
  const i = key.indexOf('\u0000');
  return i < 0 ? { name: key, file: '' } : { name: key.slice(0, i), file: key.slice(i + 1) };
}

export class DetectorStatsStore {
  constructor(
    private readonly client: ClickHouseClient,
    private readonly db: string,
  ) {}

  private rows<T>(query: string, params: QueryParams): Promise<T[]> {
    return queryRows<T>(this.client, query, params);
  }

  /**
   * One side's sufficient statistics for the detector: per process (the
   * `process` an agent names, else the series' labels) its observations'
   * sums of total, work and their squares and products, and per (process,
   * function) the sums of self and total, their squares and their products
   * with the observation's total and work. An observation is a pushed
   * profile, or past `maxObservations` a time bucket of one process's
   * profiles. Everything is aggregated in ClickHouse; functions under
   * `minShare` of the side's cost are left out (they are not tested, and
   * never move a size factor).
   *
   * With `warmupMs`, the profiles a named process (`process` given) pushed
   * in its first `warmupMs` (from its first profile of the service, of any
   * type) are left out: JIT warm-up, module loading and a heap not yet at
   * its level are no build's steady state, and a deploy's first looks would
   * otherwise compare young processes with old ones.
   */
  async sideStats(
    sel: Selection,
    {
      maxObservations = MAX_OBSERVATIONS,
      maxProfiles = MAX_PROFILES_READ,
      minShare = 0.0005,
      warmupMs = 0,
      kind = undefined as ProfileKind | undefined,
    } = {},
  ): Promise<SideStats> {
    const params: QueryParams = {};
    let where = selectionWhere(sel, params);
    const proc = `if(process != '', process, toString(cityHash64(labels)))`;
    if (warmupMs > 0) {
      const starts = await this.rows<{ process: string; first: string }>(
        `SELECT process, toString(min(${ms('time')})) AS first FROM ${this.db}.profiles
         WHERE tenant = {tenant:String} AND service = {service:String}
           AND process IN (SELECT DISTINCT process FROM ${this.db}.profiles WHERE ${where} AND process != '')
         GROUP BY process`,
        params,
      );
      if (starts.length > 0) {
        params.warmProcesses = starts.map((r) => r.process);
        params.warmFrom = starts.map((r) => String(Number(r.first) + warmupMs));
        where += ` AND (process = '' OR ${ms('time')} >= transform(process, {warmProcesses:Array(String)}, arrayMap(x -> toInt64(x), {warmFrom:Array(String)}), toInt64(0)))`;
      }
    }
    const [shape] = await this.rows<{ profiles: string; processes: string }>(
      `SELECT uniqExact(profile_id) AS profiles, uniqExact(${proc}) AS processes FROM ${this.db}.profiles WHERE ${where}`,
      params,
    );
    const profiles = Number(shape?.profiles ?? 0);
    const processes = Math.max(1, Number(shape?.processes ?? 1));
    if (profiles > maxProfiles) {
      params.sampleMod = Math.ceil(profiles / maxProfiles);
      where += ' AND cityHash64(profile_id) % {sampleMod:UInt64} = 0';
    }
    let key = 'cityHash64(profile_id)';
    let obsKey = key;
    if (profiles > maxObservations) {
      // Buckets sized so processes × buckets ≈ maxObservations; one UInt64 per
      // (process, bucket), computed per profile before any ARRAY JOIN, groups
      // faster than a string or a tuple computed per sample.
      params.bucketMs = Math.max(
        1000,
        Math.ceil((sel.range.until - sel.range.from) / Math.max(1, Math.floor(maxObservations / processes))),
      );
      key = `cityHash64(${proc}, intDiv(${ms('time')}, {bucketMs:Int64}))`;
      obsKey = `cityHash64(pp, intDiv(${ms('t0')}, {bucketMs:Int64}))`;
    }
    // V8's `(idle)` names no code (in the agent's cpu type it holds the CPU of work that ran between two samples,
    // agent/README.md): its stacks count in neither a function's nor the whole program's cost here (a quieter side,
    // whose short requests land on it more, would otherwise look costlier per request).
    const [idle] = await this.rows<{ ids: string[] }>(
      `SELECT groupArray(stack_id) AS ids FROM (SELECT DISTINCT stack_id FROM ${this.db}.stacks
         WHERE tenant = {tenant:String} AND frames[length(frames)] = '(idle)'
           AND stack_id IN (SELECT arrayJoin(stack_ids) FROM ${this.db}.profiles WHERE ${where}))`,
      params,
    );
    params.idle = (idle?.ids ?? []).map(String);
    // A push split by sample labels is several rows of one profile_id, each
    // carrying the push's work and duration: take those once per profile.
    const obs = `SELECT ${obsKey} AS obs, min(pp) AS proc, sum(pt) AS t, sum(pw) AS w, sum(pd) AS d FROM (
         SELECT profile_id, min(${proc}) AS pp, min(time) AS t0, any(work) AS pw, any(duration_ms) AS pd,
           toFloat64(sum(total) - sum(arraySum(arrayFilter((v, s) -> has(arrayMap(x -> toUInt64(x), {idle:Array(String)}), s), values, stack_ids)))) AS pt
         FROM ${this.db}.profiles WHERE ${where} GROUP BY profile_id)
       GROUP BY obs HAVING t > 0`;
    const procRows = await this.rows<{
      proc: string;
      n: string;
      seconds: number;
      t1: number;
      t2: number;
      tw: number;
      w1: number;
      w2: number;
    }>(
      `SELECT proc, count() AS n, sum(d) / 1000 AS seconds, sum(t) AS t1, sum(t * t) AS t2, sum(t * w) AS tw, sum(w) AS w1, sum(w * w) AS w2
       FROM (${obs}) GROUP BY proc ORDER BY proc`,
      params,
    );
    const stats: SideStats = { processes: [] };
    const byKey = new Map<string, ProcessStats>();
    let sideTotal = 0;
    for (const r of procRows) {
      const p: ProcessStats = {
        key: r.proc,
        n: Number(r.n),
        seconds: r.seconds,
        total: { x: r.t1, xx: r.t2, xt: r.t2, xw: r.tw },
        work: { x: r.w1, xx: r.w2 },
        functions: new Map(),
      };
      byKey.set(r.proc, p);
      stats.processes.push(p);
      sideTotal += r.t1;
    }
    if (stats.processes.length === 0) return stats;
    if ((kind ?? (await selectionKind(this.client, this.db, sel))) === 'gauge') {
      // One sample's weight in a sampled heap snapshot (SideStats.quantum): the smallest positive value a stack holds.
      const [q] = await this.rows<{ quantum: number | null }>(
        `SELECT toFloat64(min(arrayMin(arrayFilter(v -> v > 0, values)))) AS quantum FROM ${this.db}.profiles WHERE ${where} AND arrayExists(v -> v > 0, values)`,
        params,
      );
      if (q?.quantum && Number.isFinite(q.quantum) && q.quantum > 0) stats.quantum = q.quantum;
    }
    params.minValue = minShare * sideTotal;
    // Per (observation, stack) sums, joined to each stack's distinct functions
    // (self where it is the leaf), summed per (observation, function), then per
    // (process, function) with the observation's total and work. A function is
    // its name and file where this side holds the name in several files (two
    // `emit`s), else its name (with its one file, which may differ on the other
    // side: a path that moved between builds); grouped by a 64-bit hash
    // (faster than the strings). Keys are `functionKey`s: store/compare.ts
    // labels them alike on both sides before the detector sees them.
    const fns = await this.rows<{
      proc: string;
      fn: string;
      file: string;
      collides: number | boolean;
      s1: number;
      s2: number;
      st: number;
      sw: number;
      a1: number;
      a2: number;
      at: number;
      aw: number;
    }>(
      `WITH per_stack AS (
         SELECT obs, stack_id, toFloat64(sum(value)) AS v
         FROM (SELECT ${key} AS obs, stack_ids, values FROM ${this.db}.profiles WHERE ${where})
         ARRAY JOIN stack_ids AS stack_id, values AS value
         WHERE NOT has(arrayMap(x -> toUInt64(x), {idle:Array(String)}), stack_id)
         GROUP BY obs, stack_id
       ),
       stack_frames AS (
         SELECT stack_id, pair.1 AS fn, pair.2 AS file, pair = last AS leaf
         FROM (SELECT stack_id, frames, ff, (frames[length(frames)], ff[length(ff)]) AS last
               FROM (SELECT stack_id, any(frames) AS frames, any(files) AS fl FROM ${this.db}.stacks
                     WHERE tenant = {tenant:String} AND stack_id IN (SELECT arrayJoin(stack_ids) FROM ${this.db}.profiles WHERE ${where})
                     GROUP BY stack_id)
               ARRAY JOIN [if(length(fl) = length(frames), fl, arrayMap(x -> '', frames))] AS ff)
         ARRAY JOIN arrayDistinct(arrayZip(frames, ff)) AS pair
       ),
       stack_fns AS (
         SELECT stack_id, fn, kf AS file, cityHash64(fn, kf) AS fid, max(leaf) AS leaf, any(many) AS collides
         FROM (SELECT stack_id, fn, leaf, nf > 1 AS many, if(nf > 1, file, f1) AS kf
               FROM (SELECT stack_id, fn, leaf, file,
                       uniqExactIf(file, file != '') OVER (PARTITION BY fn) AS nf,
                       anyIf(file, file != '') OVER (PARTITION BY fn) AS f1
                     FROM stack_frames))
         GROUP BY stack_id, fn, kf
       ),
       per_fn AS (
         SELECT p.obs AS obs, f.fid AS fid, any(f.fn) AS fn, any(f.file) AS file, any(f.collides) AS collides,
           sumIf(p.v, f.leaf) AS self, sum(p.v) AS total
         FROM per_stack AS p INNER JOIN stack_fns AS f ON p.stack_id = f.stack_id
         GROUP BY obs, fid
       ),
       kept AS (SELECT fid FROM per_fn GROUP BY fid HAVING sum(total) >= {minValue:Float64})
       SELECT o.proc AS proc, any(fo.fn) AS fn, any(fo.file) AS file, any(fo.collides) AS collides,
         sum(fo.self) AS s1, sum(fo.self * fo.self) AS s2, sum(fo.self * o.t) AS st, sum(fo.self * o.w) AS sw,
         sum(fo.total) AS a1, sum(fo.total * fo.total) AS a2, sum(fo.total * o.t) AS at, sum(fo.total * o.w) AS aw
       FROM (SELECT * FROM per_fn WHERE fid IN (SELECT fid FROM kept)) AS fo INNER JOIN (${obs}) AS o ON fo.obs = o.obs
       GROUP BY proc, fo.fid`,
      params,
    );
    for (const r of fns) {
      // A name this side holds in several files, even where only one of them passed the threshold: named by file,
      // as the views name it (store/compare.ts).
      if (Number(r.collides)) (stats.collisions ??= new Set()).add(r.fn);
      byKey.get(r.proc)?.functions.set(functionKey(r.fn, r.file), {
        self: { x: r.s1, xx: r.s2, xt: r.st, xw: r.sw },
        total: { x: r.a1, xx: r.a2, xt: r.at, xw: r.aw },
      });
    }
    return stats;
  }

  /** Values of a label in a range with their first and last profile time and profile count, oldest first. */
  async labelHistory(
    tenant: string,
    service: string,
    type: string,
    label: string,
    from: number,
    until: number,
  ): Promise<{ value: string; first: number; last: number; profiles: number }[]> {
    const rows = await this.rows<{ value: string; first: string; last: string; profiles: string }>(
      `SELECT labels[{label:String}] AS value, toString(${ms('min(time)')}) AS first, toString(${ms('max(time)')}) AS last, uniqExact(profile_id) AS profiles
       FROM ${this.db}.profiles
       WHERE tenant = {tenant:String} AND service = {service:String} AND type = {type:String} AND mapContains(labels, {label:String})
         AND time >= fromUnixTimestamp64Milli({from:Int64}) AND time < fromUnixTimestamp64Milli({until:Int64})
       GROUP BY value ORDER BY first`,
      { tenant, service, type, label, from, until },
    );
    return rows.map((r) => ({
      value: r.value,
      first: Number(r.first),
      last: Number(r.last),
      profiles: Number(r.profiles),
    }));
  }

  /**
   * The runs of a selection: per profile type and value of `label` ('' where
   * a profile lacks it), the first and last profile time and the profile
   * count of the service's profiles that match `matchers` in [from, until),
   * oldest first. What a pull request's benchmark run, or a branch's runs by
   * commit, consist of.
   */
  async runs(
    tenant: string,
    service: string,
    matchers: Matcher[],
    label: string,
    from: number,
    until: number,
  ): Promise<{ type: string; unit: string; value: string; first: number; last: number; profiles: number }[]> {
    const types = await this.rows<{ type: string }>(
      `SELECT DISTINCT type FROM ${this.db}.profiles WHERE tenant = {tenant:String} AND service = {service:String}
         AND ${overlapClause('from', 'until')} ORDER BY type`,
      { tenant, service, from, until },
    );
    const out: {
      type: string;
      unit: string;
      value: string;
      first: number;
      last: number;
      profiles: number;
    }[] = [];
    for (const { type } of types) {
      const params: QueryParams = { label };
      const where = selectionWhere({ tenant, service, type, range: { from, until }, matchers }, params);
      const rows = await this.rows<{
        unit: string;
        value: string;
        first: string;
        last: string;
        profiles: string;
      }>(
        `SELECT unit, labels[{label:String}] AS value, toString(${ms('min(time)')}) AS first, toString(${ms('max(time)')}) AS last,
           uniqExact(profile_id) AS profiles
         FROM ${this.db}.profiles WHERE ${where} GROUP BY unit, value ORDER BY first`,
        params,
      );
      for (const r of rows)
        out.push({
          type,
          unit: r.unit,
          value: r.value,
          first: Number(r.first),
          last: Number(r.last),
          profiles: Number(r.profiles),
        });
    }
    return out;
  }

  /** Tenants' (service, type, unit)s with profiles since `from`: what a scheduled sweep looks at. */
  async activeSeries(
    from: number,
  ): Promise<{ tenant: string; service: string; type: string; unit: string; profiles: number }[]> {
    const rows = await this.rows<{
      tenant: string;
      service: string;
      type: string;
      unit: string;
      profiles: string;
    }>(
      `SELECT tenant, service, type, unit, uniqExact(profile_id) AS profiles FROM ${this.db}.profiles
       WHERE ${overlapClause('from')} GROUP BY tenant, service, type, unit ORDER BY tenant, service, type, unit`,
      { from },
    );
    return rows.map((r) => ({ ...r, profiles: Number(r.profiles) }));
  }
}
