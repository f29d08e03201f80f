import type { ClickHouseClient } from '@clickhouse/client';
import type { StackValue } from '../profile/tree';
import type { ValueType } from '../profile/model';
import type { Matcher } from '../profile/selector';
import { profileKind, type ProfileKind } from '../profile/regression';
import { selectionKind } from './kind';
import {
  rolledHours,
  rolledHoursQuery,
  SERIES_KEY,
  serviceRollupCovers,
  stackSumsQuery,
  wholeHours,
} from './rollups';
import { queryRows } from './rows-query';
import { overlapClause, type QueryParams, type Selection, selectionWhere } from './selection';

const FRAME_CACHE_LIMIT = 500_000;
const INTERNED_LIMIT = 200_000;

/**
 * The read side of the store: every query the API and jobs run. Tenant scoping
 * happens here and nowhere else: each method takes the tenant and every SQL
 * statement filters on it.
 */
/** A gauge's series: the process an agent names, else the label set (as the rollup's series). */
const GAUGE_SERIES = `if(process != '', process, toString(${SERIES_KEY}))`;

export class ProfileQueries {
  // Stack frames never change for an id, so they are cached across queries.
  private readonly frames = new Map<string, Map<string, readonly string[]>>(); // tenant -> stack id -> frames
  private cachedFrames = 0;
  private readonly loading = new Map<string, Promise<Map<string, readonly string[]>>>();
  /** Each cached frame array's files, when its stack was stored with them. */
  private readonly filesOf = new WeakMap<readonly string[], readonly string[]>();
  /** Frame names and files, interned across loads (readStacks). */
  private readonly interned = new Map<string, string>();

  constructor(
    private readonly client: ClickHouseClient,
    private readonly db: string,
    /** Off: every query reads raw profiles (the reference the rollup path is tested against). */
    private readonly options: { rollups: boolean } = { rollups: true },
  ) {}

  private rows<T>(query: string, params: QueryParams): Promise<T[]> {
    return queryRows<T>(this.client, query, params);
  }

  /** Services that have profiles, by name. */
  async services(tenant: string): Promise<string[]> {
    const rows = await this.rows<{ service: string }>(
      `SELECT service FROM ${this.db}.profiles WHERE tenant = {tenant:String} GROUP BY service ORDER BY service`,
      { tenant },
    );
    return rows.map((r) => r.service);
  }

  /**
   * Profile types of a service with their units, by name, and each type's kind (store/kind.ts): a gauge by its
   * name or because its pushers declared it averaged, so that every reader words and scales it as a level.
   */
  async profileTypes(tenant: string, service: string): Promise<(ValueType & { kind: ProfileKind })[]> {
    const rows = await this.rows<ValueType & { averaged: number }>(
      `SELECT type, unit, max(aggregation = 'average') AS averaged FROM ${this.db}.profiles WHERE tenant = {tenant:String} AND service = {service:String} GROUP BY type, unit ORDER BY type, unit`,
      { tenant, service },
    );
    return rows.map(({ type, unit, averaged }) => ({
      type,
      unit,
      kind: Number(averaged) > 0 || profileKind(type) === 'gauge' ? 'gauge' : 'cost',
    }));
  }

  /** Label names used by a service's profiles in a time range. */
  async labelNames(tenant: string, service: string, from: number, until: number): Promise<string[]> {
    const rows = await this.rows<{ name: string }>(
      `SELECT arrayJoin(mapKeys(labels)) AS name FROM ${this.db}.profiles
       WHERE tenant = {tenant:String} AND service = {service:String}
         AND ${overlapClause('from', 'until')}
       GROUP BY name ORDER BY name`,
      { tenant, service, from, until },
    );
    return rows.map((r) => r.name);
  }

  /** Values of one label in a service's profiles in a time range. */
  async labelValues(
    tenant: string,
    service: string,
    label: string,
    from: number,
    until: number,
    /** `name`: by value; `recent`: the value seen last first (a deploy's new version, then the one before). */
    order: 'name' | 'recent' = 'name',
  ): Promise<string[]> {
    const rows = await this.rows<{ value: string }>(
      `SELECT labels[{label:String}] AS value FROM ${this.db}.profiles
       WHERE tenant = {tenant:String} AND service = {service:String} AND mapContains(labels, {label:String})
         AND ${overlapClause('from', 'until')}
       GROUP BY value ORDER BY ${order === 'recent' ? 'max(time) DESC, value' : 'value'}`,
      { tenant, service, label, from, until },
    );
    return rows.map((r) => r.value);
  }

  /**
   * The selection's samples summed per stack, with each stack's frames (root first); whole hours from the
   * rollup where it is up to date. A gauge (in-use memory: what is held, snapshot after snapshot) is averaged
   * over each series' snapshots instead, as Pyroscope's `aggregationType=average`: an hour of 360 snapshots
   * of a 50 MB heap is 50 MB held, not 18 GB.
   */
  async stacks(sel: Selection, { source = false } = {}): Promise<StackValue[]> {
    const params: QueryParams = {};
    const rolled = await this.rolledHours(sel);
    const query = stackSumsQuery(this.db, sel, params, rolled?.hours, rolled?.serviceRollup);
    const [sums, per] = await Promise.all([
      this.rows<{ id: string; value: string }>(query, params),
      this.snapshotsPerSeries(sel),
    ]);
    const ids = sums.map((s) => s.id);
    if (source) {
      const sources = await this.sourcesOf(sel.tenant, ids);
      return sums.map((s) => {
        const f = sources.get(s.id);
        return f
          ? { ...f, value: Number(s.value) / per }
          : { stack: ['[unknown stack]'], value: Number(s.value) / per };
      });
    }
    const frames = await this.framesOf(sel.tenant, ids);
    return sums.map((s) => {
      const stack = frames.get(s.id) ?? ['[unknown stack]'];
      const files = this.filesOf.get(stack);
      return files ? { stack, files, value: Number(s.value) / per } : { stack, value: Number(s.value) / per };
    });
  }

  /**
   * The samples recorded under some spans (their ids as the span labels hold them: `span_id`, Datadog's
   * `span id` or `local root span id`; hex or decimal, compared as written, case aside), summed per stack.
   */
  async spanStacks(sel: Selection, spanIds: readonly string[]): Promise<StackValue[]> {
    if (spanIds.length === 0) return [];
    const params: QueryParams = { spans: spanIds.map((s) => s.toLowerCase()) };
    const where = selectionWhere(sel, params);
    const sums = await this.rows<{ id: string; value: string }>(
      `SELECT toString(sid) AS id, sum(v) AS value FROM (
         SELECT z.1 AS sid, z.2 AS l, z.3 AS v
         FROM ${this.db}.profiles ARRAY JOIN arrayZip(span_stack_ids, span_labels, span_values) AS z
         WHERE ${where} AND notEmpty(span_stack_ids))
       WHERE lower(l['span_id']) IN {spans:Array(String)} OR lower(l['span id']) IN {spans:Array(String)}
          OR lower(l['local root span id']) IN {spans:Array(String)}
       GROUP BY sid`,
      params,
    );
    const frames = await this.framesOf(
      sel.tenant,
      sums.map((r) => r.id),
    );
    return sums.map((r) => {
      const stack = frames.get(r.id) ?? ['[unknown stack]'];
      const files = this.filesOf.get(stack);
      return files ? { stack, files, value: Number(r.value) } : { stack, value: Number(r.value) };
    });
  }

  /**
   * Frames of stack ids with their files and lines (StackValue), for exports and line views: not cached, as
   * the flame graph's frames are, since few queries need them. Files are interned (a file repeats across
   * stacks); a stack stored with names only has neither.
   */
  private async sourcesOf(
    tenant: string,
    ids: string[],
  ): Promise<Map<string, Pick<StackValue, 'stack' | 'files' | 'lines'>>> {
    const out = new Map<string, Pick<StackValue, 'stack' | 'files' | 'lines'>>();
    for (let i = 0; i < ids.length; i += 50_000) {
      for (const r of await this.readStacks(tenant, ids.slice(i, i + 50_000), true)) {
        out.set(
          r.id,
          r.files
            ? { stack: r.frames, files: r.files, lines: r.lines ?? r.files.map(() => 0) }
            : { stack: r.frames },
        );
      }
    }
    return out;
  }

  /**
   * Stacks by id: frames, and files (and lines) where stored with them. Names and files come as indices into
   * dictionaries read first for the same ids (a stack stored twice before a merge is read once: `LIMIT 1 BY`,
   * 3× faster than `GROUP BY` with `any`): a file path repeats in every frame of its functions, and as JSON
   * per frame it was 51 MB for the 16.6k stacks of a day of the fleet benchmark (the cold query's largest
   * cost; BENCHMARKS.md), 6.3 MB this way. Dictionary strings are interned across loads, so every cached
   * stack shares them. Files are returned when the stack has one per frame (`''` unknown), lines when asked.
   * A stack is stored before any profile naming it (store/writer.ts), so every id asked for is in the
   * dictionaries' read; one that is not (index 0) is read again as it is stored.
   */
  private async readStacks(
    tenant: string,
    ids: string[],
    withLines: boolean,
  ): Promise<{ id: string; frames: string[]; files?: string[]; lines?: number[] }[]> {
    if (this.interned.size > INTERNED_LIMIT) this.interned.clear();
    const intern = (s: string) => this.interned.get(s) ?? (this.interned.set(s, s), s);
    // A subquery makes the ids a set the primary key (tenant, stack_id) can use;
    // `IN arrayMap(...)` over the same parameter took 38 s for 50k ids on chDB, this under 1 s.
    const where = `tenant = {tenant:String} AND stack_id IN (SELECT toUInt64(arrayJoin({ids:Array(String)})))`;
    const [dict] = await this.rows<{ names: string[]; files: string[] }>(
      `SELECT groupUniqArrayArray(frames) AS names, groupUniqArrayArray(files) AS files FROM ${this.db}.stacks WHERE ${where}`,
      { tenant, ids },
    );
    if (!dict || dict.names.length === 0) return [];
    const names = dict.names.map(intern);
    const files = dict.files.map(intern);
    const rows = await this.rows<{ id: string; n: number[]; f: number[]; lines?: number[] }>(
      `SELECT toString(stack_id) AS id,
         arrayMap(x -> transform(x, {names:Array(String)}, range(1, {namesEnd:UInt32}), 0), frames) AS n,
         arrayMap(x -> transform(x, {files:Array(String)}, range(1, {filesEnd:UInt32}), 0), files) AS f
         ${withLines ? ', lines' : ''}
       FROM ${this.db}.stacks WHERE ${where} LIMIT 1 BY stack_id`,
      { tenant, ids, names, namesEnd: names.length + 1, files, filesEnd: files.length + 1 },
    );
    const out: { id: string; frames: string[]; files?: string[]; lines?: number[] }[] = [];
    // Files when the stack has one per frame (`''` unknown), as stored.
    const add = (id: string, frames: string[], files: string[], lines: number[] | undefined) =>
      out.push(
        files.length === frames.length ? { id, frames, files, lines: lines?.map(Number) } : { id, frames },
      );
    const unread: string[] = [];
    for (const r of rows) {
      if (r.n.includes(0) || r.f.includes(0)) {
        unread.push(r.id);
        continue;
      }
      add(
        r.id,
        r.n.map((i) => names[i - 1]),
        r.f.map((i) => files[i - 1]),
        r.lines,
      );
    }
    if (unread.length) {
      const late = await this.rows<{ id: string; frames: string[]; files: string[]; lines?: number[] }>(
        `SELECT toString(stack_id) AS id, frames, files ${withLines ? ', lines' : ''}
         FROM ${this.db}.stacks WHERE ${where} LIMIT 1 BY stack_id`,
        { tenant, ids: unread },
      );
      for (const r of late) add(r.id, r.frames.map(intern), r.files.map(intern), r.lines);
    }
    return out;
  }

  /** Whether the selection holds a gauge (by its type's name, or as its pushers declared it; store/kind.ts). */
  kindOf(sel: Selection): Promise<ProfileKind> {
    return selectionKind(this.client, this.db, sel);
  }

  /** For a gauge, how many snapshots each series (a process, or a label set) holds on average in the selection; 1 for a cost. */
  private async snapshotsPerSeries(sel: Selection): Promise<number> {
    if ((await this.kindOf(sel)) !== 'gauge') return 1;
    const params: QueryParams = {};
    const [r] = await this.rows<{ profiles: string; series: string }>(
      `SELECT uniqExact(profile_id) AS profiles, uniqExact(${GAUGE_SERIES}) AS series FROM ${this.db}.profiles WHERE ${selectionWhere(sel, params)}`,
      params,
    );
    const profiles = Number(r?.profiles ?? 0);
    const series = Number(r?.series ?? 0);
    // Never below 1: a profile split by sample labels into several label sets is one snapshot, not a fraction of one.
    return profiles > 0 && series > 0 ? Math.max(1, profiles / series) : 1;
  }

  /** The whole hours of the selection's range that the rollup answers exactly (store/rollups.ts). */
  private async rolledHours(
    sel: Selection,
  ): Promise<{ hours: Set<number>; serviceRollup: boolean } | undefined> {
    const hours = this.options.rollups ? wholeHours(sel.range) : undefined;
    if (!hours) return undefined;
    const params: QueryParams = {};
    const rows = await this.rows<{ side: string; h: string; n: string; levels: number }>(
      rolledHoursQuery(this.db, sel, hours, params),
      params,
    );
    const rolled = rolledHours(rows, hours);
    return { hours: rolled, serviceRollup: serviceRollupCovers(rows, rolled) };
  }

  /**
   * Frames of stack ids, from the cache or the stacks table. The answer is a
   * map of its own, so another query clearing the cache meanwhile loses
   * nothing; ids another query is already loading are awaited, not loaded
   * twice (a diff's two sides share most stacks).
   */
  private async framesOf(tenant: string, ids: string[]): Promise<Map<string, readonly string[]>> {
    const found = new Map<string, readonly string[]>();
    const missing: string[] = [];
    const waits = new Set<Promise<Map<string, readonly string[]>>>();
    const waitingFor: string[] = [];
    const cache = this.frames.get(tenant);
    for (const id of ids) {
      const f = cache?.get(id);
      if (f) found.set(id, f);
      else {
        const p = this.loading.size ? this.loading.get(`${tenant}\u0000${id}`) : undefined;
        if (p) {
          waits.add(p);
          waitingFor.push(id);
        } else missing.push(id);
      }
    }
    if (this.cachedFrames + missing.length > FRAME_CACHE_LIMIT) {
      this.frames.clear();
      this.cachedFrames = 0;
    }
    for (let i = 0; i < missing.length; i += 50_000) {
      const chunk = missing.slice(i, i + 50_000);
      const load = this.loadChunk(tenant, chunk);
      for (const id of chunk) this.loading.set(`${tenant}\u0000${id}`, load);
      try {
        for (const [id, f] of await load) found.set(id, f);
      } finally {
        for (const id of chunk) this.loading.delete(`${tenant}\u0000${id}`);
      }
    }
    if (waits.size) {
      const loaded = await Promise.all(waits);
      for (const id of waitingFor) {
        for (const m of loaded) {
          const f = m.get(id);
          if (f) {
            found.set(id, f);
            break;
          }
        }
      }
    }
    return found;
  }

  private async loadChunk(tenant: string, ids: string[]): Promise<Map<string, readonly string[]>> {
    // Files come along (not lines): a frame is its name and file, so two `emit`s of two files can be told apart.
    const rows = await this.readStacks(tenant, ids, false);
    const out = new Map<string, readonly string[]>();
    let cache = this.frames.get(tenant);
    if (!cache) this.frames.set(tenant, (cache = new Map()));
    for (const r of rows) {
      out.set(r.id, r.frames);
      cache.set(r.id, r.frames);
      if (r.files?.some((f) => f !== '')) this.filesOf.set(r.frames, r.files);
    }
    this.cachedFrames += rows.length;
    return out;
  }

  async timeline(sel: Selection, stepSeconds: number): Promise<{ time: number; value: number }[]> {
    const [one] = await this.timelines(sel, stepSeconds, []);
    return one?.points ?? [];
  }

  /**
   * The selection's totals per step (as `timeline`), one series per value of the `groupBy` labels (a label a
   * profile lacks groups as ''), the groups with the largest sums first.
   */
  async timelines(
    sel: Selection,
    stepSeconds: number,
    groupBy: readonly string[],
  ): Promise<{ group: string[]; points: { time: number; value: number }[] }[]> {
    const params: QueryParams = { stepMs: stepSeconds * 1000, groupBy: [...groupBy] };
    const where = selectionWhere(sel, params);
    const value =
      (await this.kindOf(sel)) === 'gauge'
        ? // As in snapshotsPerSeries: never more than the sum (a push split by sample labels is one snapshot).
          `sum(total) / greatest(1, uniqExact(profile_id) / uniqExact(${GAUGE_SERIES}))`
        : 'sum(total)';
    const rows = await this.rows<{ g: string[]; t: string; value: string }>(
      // A profile that started before the range and ran into it (selectionWhere) is drawn at the range's start.
      `SELECT arrayMap(k -> labels[k], {groupBy:Array(String)}) AS g,
         toString(intDiv(greatest(toUnixTimestamp64Milli(time), {from:Int64}), {stepMs:Int64}) * {stepMs:Int64}) AS t, ${value} AS value
       FROM ${this.db}.profiles WHERE ${where} GROUP BY g, t ORDER BY g, t`,
      params,
    );
    const groups = new Map<
      string,
      { group: string[]; points: { time: number; value: number }[]; sum: number }
    >();
    for (const r of rows) {
      const key = JSON.stringify(r.g);
      let g = groups.get(key);
      if (!g) groups.set(key, (g = { group: r.g, points: [], sum: 0 }));
      const v = Number(r.value);
      g.points.push({ time: Number(r.t), value: v });
      g.sum += v;
    }
    return [...groups.values()].sort((a, b) => b.sum - a.sum).map(({ group, points }) => ({ group, points }));
  }

  /**
   * The values a label matcher accepts, judged by ClickHouse (RE2 for `=~`/`!~`, anchored as the selectors'
   * are): user patterns never run in this process's regex engine, where one can take exponential time.
   */
  async matching(values: readonly string[], m: Matcher): Promise<string[]> {
    if (m.op === '=') return values.filter((v) => v === m.value);
    if (m.op === '!=') return values.filter((v) => v !== m.value);
    if (values.length === 0) return [];
    const [r] = await this.rows<{ kept: string[] }>(
      `SELECT arrayFilter(v -> ${m.op === '=~' ? '' : 'NOT '}match(v, {re:String}), {values:Array(String)}) AS kept`,
      { values: [...values], re: `^(?:${m.value})$` },
    );
    return r?.kept ?? [];
  }

  /** The distinct label sets of a service's profiles in a range, with their type and unit (at most `limit`). */
  async labelSets(
    tenant: string,
    service: string,
    from: number,
    until: number,
    limit = 10_000,
  ): Promise<{ type: string; unit: string; labels: Record<string, string> }[]> {
    return this.rows<{ type: string; unit: string; labels: Record<string, string> }>(
      `SELECT DISTINCT type, unit, labels FROM ${this.db}.profiles
       WHERE tenant = {tenant:String} AND service = {service:String} AND ${overlapClause('from', 'until')}
       LIMIT {limit:UInt32}`,
      { tenant, service, from, until, limit },
    );
  }

  /** The span the selection's data covers, ms: from its first profile's start to its last one's end; 0 without data. */
  async dataSpanMs(sel: Selection): Promise<number> {
    const params: QueryParams = {};
    const [r] = await this.rows<{ first: string | null; last: string | null; n: string }>(
      `SELECT count() AS n, toString(min(toUnixTimestamp64Milli(time))) AS first, toString(max(toUnixTimestamp64Milli(time) + duration_ms)) AS last
       FROM ${this.db}.profiles WHERE ${selectionWhere(sel, params)}`,
      params,
    );
    if (!r || Number(r.n) === 0) return 0;
    return Math.max(0, Number(r.last) - Number(r.first));
  }

  /** The units a selection's profiles were stored in, most profiles first. */
  async unitsOf(sel: Selection): Promise<string[]> {
    const params: QueryParams = {};
    const where = selectionWhere(sel, params);
    const rows = await this.rows<{ unit: string }>(
      `SELECT unit FROM ${this.db}.profiles WHERE ${where} GROUP BY unit ORDER BY count() DESC, unit`,
      params,
    );
    return rows.map((r) => r.unit);
  }
}
