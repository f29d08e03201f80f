/**
 * What the regression detector reads and writes: one side's sufficient
 * statistics (computed in ClickHouse, so a day of profiles never crosses the
 * wire), the regressions it found, and per-service baseline settings.
 * Tenant scoping as everywhere in store/: every statement filters on it.
 */
import { createHash } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import { profileKind, type ProcessStats, type SideStats } from '../profile/regression';
import type { Matcher } from '../profile/selector';
import { classifyStoreError } from './errors';
import { queryRows } from './rows-query';
import { type QueryParams, type Selection, selectionWhere } from './selection';

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

/**
 * `suspected`: seen, not yet confirmed in a later, disjoint window (the
 * sweep's repeated looks at overlapping windows would otherwise multiply
 * false alarms); not listed as open and not notified until confirmed.
 */
export type RegressionStatus = 'suspected' | 'open' | 'acknowledged' | 'resolved';

/** A stored regression: what changed, against what, how sure, and its life cycle. */
export interface Regression {
  id: string;
  service: string;
  type: string;
  unit: string;
  /** The function ('' for the total per instance-second). */
  function: string;
  measure: 'self' | 'total' | 'rate';
  /** The baseline kind that found it: window, version, selection. */
  kind: string;
  baseline: { query: string; from: number; until: number; profiles: number; value: number };
  candidate: { query: string; from: number; until: number; profiles: number; value: number };
  effect: number;
  relative: number;
  ci: [number, number];
  p: number;
  q: number;
  firstSeen: number;
  lastSeen: number;
  runs: number;
  status: RegressionStatus;
  /** For kind `budget`: the budget a breach broke, in its own words. */
  budget?: BreachedBudget;
}

export interface BreachedBudget {
  name: string;
  kind: string;
  severity: string;
  owner: string;
  limit: number;
  limitText: string;
  valueText: string;
}

/** Per service and type: which baselines the scheduled detector compares against. */
export interface BaselineConfig {
  /** Compare the last window with the same window this long ago (ms); 0 turns it off. Default one day. */
  windowOffsetMs: number;
  /** Length of the compared window (ms). Default one hour. */
  windowMs: number;
  /** The version label: a new value is compared with the previous one; '' turns it off. Default `version`. */
  versionLabel: string;
  /** Named baseline selections, e.g. `{branch="main"}` against `{branch=~"pr-.*"}`. */
  selections: { name: string; baseline: string; candidate: string }[];
  /** Comment pull requests' benchmark runs on GitHub from the server (see jobs/processors/pull-request.ts). */
  pullRequests?: PullRequestSettings;
  /**
   * A named process's first this many ms are left out of the scheduled comparisons (JIT warm-up, module
   * loading, a heap not yet at its level). Default 10 s: the agent's first push at its default interval.
   */
  warmupMs: number;
  /** Detector thresholds (see profile/regression.ts). */
  minAbsolute?: number;
  minRelative?: number;
  fdr?: number;
}

export interface PullRequestSettings {
  /** `owner/name` of the repository whose pull requests the profiles' `pr` label numbers. */
  repository: string;
  /** The baseline: matchers of the target branch's runs. Default `{branch="main"}`. */
  baseline?: string;
  /** Also set a commit status `flamewatch/<service>` on the run's `commit`. Default false. */
  status?: boolean;
}

export const DEFAULT_BASELINES: BaselineConfig = {
  windowOffsetMs: 86_400_000,
  windowMs: 3_600_000,
  versionLabel: 'version',
  selections: [],
  warmupMs: 10_000,
};

/** A stable id (no `:`, fit for a BullMQ job id or a URL) from the parts that make a regression the same one. */
export function regressionId(parts: (string | number)[]): string {
  return createHash('sha256').update(JSON.stringify(parts)).digest('hex').slice(0, 20);
}

const ms = (col: string) => `toUnixTimestamp64Milli(${col})`;

export class RegressionStore {
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
    // V8's `(idle)` is no code's cost: its stacks count in neither a function's nor the whole program's cost
    // (a quieter side would otherwise look costlier per request).
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
    if (profileKind(sel.type) === 'gauge') {
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
    // (process, function) with the observation's total and work. Functions are
    // grouped by a 64-bit hash of the name (faster than the string).
    const fns = await this.rows<{
      proc: string;
      fn: string;
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
       stack_fns AS (
         SELECT stack_id, fn, cityHash64(fn) AS fid, fn = frames[length(frames)] AS leaf
         FROM (SELECT stack_id, any(frames) AS frames FROM ${this.db}.stacks
               WHERE tenant = {tenant:String} AND stack_id IN (SELECT arrayJoin(stack_ids) FROM ${this.db}.profiles WHERE ${where})
               GROUP BY stack_id)
         ARRAY JOIN arrayDistinct(frames) AS fn
       ),
       per_fn AS (
         SELECT p.obs AS obs, f.fid AS fid, any(f.fn) AS fn, sumIf(p.v, f.leaf) AS self, sum(p.v) AS total
         FROM per_stack AS p INNER JOIN stack_fns AS f ON p.stack_id = f.stack_id
         GROUP BY obs, fid
       ),
       kept AS (SELECT fid FROM per_fn GROUP BY fid HAVING sum(total) >= {minValue:Float64})
       SELECT o.proc AS proc, any(fo.fn) AS fn,
         sum(fo.self) AS s1, sum(fo.self * fo.self) AS s2, sum(fo.self * o.t) AS st, sum(fo.self * o.w) AS sw,
         sum(fo.total) AS a1, sum(fo.total * fo.total) AS a2, sum(fo.total * o.t) AS at, sum(fo.total * o.w) AS aw
       FROM (SELECT * FROM per_fn WHERE fid IN (SELECT fid FROM kept)) AS fo INNER JOIN (${obs}) AS o ON fo.obs = o.obs
       GROUP BY proc, fo.fid`,
      params,
    );
    for (const r of fns) {
      byKey.get(r.proc)?.functions.set(r.fn, {
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
         AND time >= fromUnixTimestamp64Milli({from:Int64}) AND time < fromUnixTimestamp64Milli({until:Int64}) ORDER BY type`,
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
       WHERE time >= fromUnixTimestamp64Milli({from:Int64}) GROUP BY tenant, service, type, unit ORDER BY tenant, service, type, unit`,
      { from },
    );
    return rows.map((r) => ({ ...r, profiles: Number(r.profiles) }));
  }

  /**
   * Records a finding: a new regression, or the next sighting of one already
   * open (same id): its first sighting, run count and status are kept, the
   * latest statistics replace the old. A resolved regression seen again opens again.
   *
   * With `confirm`, a new finding is `suspected` until it is seen again at
   * least `afterMs` after its first sighting (a window that does not overlap
   * the first); a suspicion not seen for `staleMs` starts over. `created` is
   * true when a regression opens (the moment to notify).
   */
  async record(
    tenant: string,
    r: Omit<Regression, 'firstSeen' | 'lastSeen' | 'runs' | 'status'>,
    now = Date.now(),
    confirm?: { afterMs: number; staleMs: number },
  ): Promise<{ regression: Regression; created: boolean }> {
    const existing = await this.get(tenant, r.id);
    // A suspicion not seen again in time starts over; a resolved regression seen again reopens with its history.
    const fresh =
      !existing ||
      (existing.status === 'suspected' && confirm !== undefined && now - existing.lastSeen > confirm.staleMs);
    const firstSeen = fresh ? now : existing.firstSeen;
    let status: RegressionStatus = fresh || existing.status === 'resolved' ? 'open' : existing.status;
    if (confirm && (fresh || existing.status === 'suspected'))
      status = now - firstSeen >= confirm.afterMs ? 'open' : 'suspected';
    else if (!confirm && status === 'suspected') status = 'open';
    const regression: Regression = {
      ...r,
      firstSeen,
      lastSeen: now,
      runs: fresh ? 1 : existing.runs + 1,
      status,
    };
    await this.write(tenant, regression, now);
    return {
      regression,
      created:
        status === 'open' && (fresh || existing.status === 'suspected' || existing.status === 'resolved'),
    };
  }

  async setStatus(tenant: string, id: string, status: RegressionStatus): Promise<Regression | undefined> {
    const existing = await this.get(tenant, id);
    if (!existing) return undefined;
    const updated = { ...existing, status };
    await this.write(tenant, updated, Date.now());
    return updated;
  }

  private async write(tenant: string, r: Regression, now: number): Promise<void> {
    // DateTime64(3) takes integer milliseconds in JSON, as the profile writer sends them.
    const t = (msValue: number) => Math.round(msValue);
    try {
      await this.client.insert({
        table: `${this.db}.regressions`,
        format: 'JSONEachRow',
        values: [
          {
            tenant,
            id: r.id,
            service: r.service,
            type: r.type,
            unit: r.unit,
            function: r.function,
            measure: r.measure,
            kind: r.kind,
            baseline_query: r.baseline.query,
            baseline_from: t(r.baseline.from),
            baseline_until: t(r.baseline.until),
            candidate_query: r.candidate.query,
            candidate_from: t(r.candidate.from),
            candidate_until: t(r.candidate.until),
            baseline_value: r.baseline.value,
            candidate_value: r.candidate.value,
            effect: r.effect,
            relative: finite(r.relative),
            ci_low: r.ci[0],
            ci_high: r.ci[1],
            p: r.p,
            q: r.q,
            baseline_profiles: r.baseline.profiles,
            candidate_profiles: r.candidate.profiles,
            first_seen: t(r.firstSeen),
            last_seen: t(r.lastSeen),
            runs: r.runs,
            status: r.status,
            budget: r.budget ? JSON.stringify(r.budget) : '',
            // Strictly increasing per write, so FINAL keeps the newest even within one millisecond.
            updated: t(Math.max(now, this.lastUpdated + 1)),
          },
        ],
      });
      this.lastUpdated = Math.max(now, this.lastUpdated + 1);
    } catch (err) {
      throw classifyStoreError(err);
    }
  }

  private lastUpdated = 0;

  async get(tenant: string, id: string): Promise<Regression | undefined> {
    const [row] = await this.rows<Row>(
      `${SELECT} FROM ${this.db}.regressions FINAL WHERE tenant = {tenant:String} AND id = {id:String}`,
      { tenant, id },
    );
    return row ? fromRow(row) : undefined;
  }

  async list(
    tenant: string,
    filter: { service?: string; status?: string; limit?: number } = {},
  ): Promise<Regression[]> {
    const params: QueryParams = { tenant, limit: filter.limit ?? 200 };
    const clauses = ['tenant = {tenant:String}'];
    if (filter.service) {
      params.service = filter.service;
      clauses.push('service = {service:String}');
    }
    if (filter.status) {
      params.status = filter.status;
      clauses.push('status = {status:String}');
    }
    const rows = await this.rows<Row>(
      `${SELECT} FROM ${this.db}.regressions FINAL WHERE ${clauses.join(' AND ')} ORDER BY last_seen DESC, abs(effect) DESC LIMIT {limit:UInt32}`,
      params,
    );
    return rows.map(fromRow);
  }

  async baselineConfig(tenant: string, service: string, type: string): Promise<BaselineConfig> {
    const [row] = await this.rows<{ config: string }>(
      `SELECT config FROM ${this.db}.baselines FINAL WHERE tenant = {tenant:String} AND service = {service:String} AND type IN ({type:String}, '*')
       ORDER BY type = '*' LIMIT 1`,
      { tenant, service, type },
    );
    return row
      ? { ...DEFAULT_BASELINES, ...(JSON.parse(row.config) as Partial<BaselineConfig>) }
      : { ...DEFAULT_BASELINES };
  }

  /** Settings for a service and type (`*`: every type of the service). */
  async setBaselineConfig(
    tenant: string,
    service: string,
    type: string,
    config: BaselineConfig,
  ): Promise<void> {
    try {
      await this.client.insert({
        table: `${this.db}.baselines`,
        format: 'JSONEachRow',
        values: [{ tenant, service, type, config: JSON.stringify(config), updated: Date.now() }],
      });
    } catch (err) {
      throw classifyStoreError(err);
    }
  }
}

function finite(x: number): number {
  return Number.isFinite(x) ? x : x > 0 ? 1e308 : -1e308;
}

const SELECT = `SELECT id, service, type, unit, function, measure, kind,
  baseline_query, toString(${ms('baseline_from')}) AS baseline_from, toString(${ms('baseline_until')}) AS baseline_until,
  candidate_query, toString(${ms('candidate_from')}) AS candidate_from, toString(${ms('candidate_until')}) AS candidate_until,
  baseline_value, candidate_value, effect, relative, ci_low, ci_high, p, q, baseline_profiles, candidate_profiles,
  toString(${ms('first_seen')}) AS first_seen, toString(${ms('last_seen')}) AS last_seen, runs, status, budget`;

interface Row {
  id: string;
  service: string;
  type: string;
  unit: string;
  function: string;
  measure: string;
  kind: string;
  baseline_query: string;
  baseline_from: string;
  baseline_until: string;
  candidate_query: string;
  candidate_from: string;
  candidate_until: string;
  baseline_value: number;
  candidate_value: number;
  effect: number;
  relative: number;
  ci_low: number;
  ci_high: number;
  p: number;
  q: number;
  baseline_profiles: number;
  candidate_profiles: number;
  first_seen: string;
  last_seen: string;
  runs: number;
  status: string;
  budget: string;
}

function fromRow(r: Row): Regression {
  return {
    id: r.id,
    service: r.service,
    type: r.type,
    unit: r.unit,
    function: r.function,
    measure: r.measure as Regression['measure'],
    kind: r.kind,
    baseline: {
      query: r.baseline_query,
      from: Number(r.baseline_from),
      until: Number(r.baseline_until),
      profiles: Number(r.baseline_profiles),
      value: r.baseline_value,
    },
    candidate: {
      query: r.candidate_query,
      from: Number(r.candidate_from),
      until: Number(r.candidate_until),
      profiles: Number(r.candidate_profiles),
      value: r.candidate_value,
    },
    effect: r.effect,
    relative: r.relative >= 1e308 ? Infinity : r.relative,
    ci: [r.ci_low, r.ci_high],
    p: r.p,
    q: r.q,
    firstSeen: Number(r.first_seen),
    lastSeen: Number(r.last_seen),
    runs: Number(r.runs),
    status: r.status as RegressionStatus,
    ...(r.budget ? { budget: JSON.parse(r.budget) as BreachedBudget } : {}),
  };
}
