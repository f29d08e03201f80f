/**
 * Budgets in ClickHouse: each service's budget definitions (what
 * `PUT /api/v1/budgets` stored), the per-observation values a budget is judged
 * on, its value over time for the UI, and `evaluateBudgets`, the one
 * evaluator CI (`ci check`), production (the budgets job) and deploys
 * (`/api/v1/gate`) share.
 *
 * An observation is one instance (its label set) over one time bucket, the
 * buckets sized so instances × buckets stay near MAX_OBSERVATIONS: the
 * spread between them is what the verdict's confidence rests on, and an
 * instance's CPU and request-counter profiles fall in the same observation.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import {
  judgeAbsolute,
  judgeGrowth,
  judgeGrowthDetected,
  limitDimension,
  matcherText,
  observedValue,
  unitScale,
  type Budget,
  type BudgetObservation,
  type BudgetResult,
  type FunctionMatcher,
} from '../profile/budgets';
import type { Detection, ProfileKind } from '../profile/regression';
import { parseSelector, type Matcher } from '../profile/selector';
import { compareSelections } from './compare';
import { classifyStoreError } from './errors';
import type { ProfileQueries } from './queries';
import type { DetectorStatsStore } from './detector-stats';
import { MAX_OBSERVATIONS } from './detector-stats';
import { queryRows } from './rows-query';
import { type QueryParams, type Selection, selectionWhere } from './selection';

const ms = (col: string) => `toUnixTimestamp64Milli(${col})`;

/** Rows of any of the sides' selections. */
const anyOf = (wheres: string[]) =>
  wheres.length === 1 ? wheres[0] : wheres.map((w) => `(${w})`).join(' OR ');

/** The side (0-based) a row belongs to; a row in several sides is repeated once for each (arrayJoin). */
const sideOf = (wheres: string[]) =>
  wheres.length === 1
    ? 'toUInt8(0)'
    : `arrayJoin(arrayFilter(s -> s >= 0, [${wheres.map((w, s) => `if(${w}, ${s}, -1)`).join(', ')}]))`;

/** Where and when a budget is judged: extra label matchers (a version, a PR) over a time range. */
export interface BudgetScope {
  matchers: Matcher[];
  from: number;
  until: number;
}

export interface StoredBudgets {
  service: string;
  budgets: Budget[];
  /** The definitions as they were written (the file's value), for GET. */
  source: unknown;
  updated: number;
}

/**
 * A matcher as a condition over a stack's `frames` and `files` (files may be empty: a stack stored with names
 * only, which a matcher with a file never matches). Values travel as parameters `${key}` and `${key}f`.
 */
function matcherSql(m: FunctionMatcher, params: QueryParams, key: string): string {
  params[key] = m.name;
  const name = `{${key}:String}`;
  if (!m.file) {
    const leaf = 'frames[length(frames)]';
    return m.regex
      ? m.measure === 'self'
        ? `match(${leaf}, ${name})`
        : `arrayExists(x -> match(x, ${name}), frames)`
      : m.measure === 'self'
        ? `${leaf} = ${name}`
        : `has(frames, ${name})`;
  }
  params[`${key}f`] = m.file;
  const file = `{${key}f:String}`;
  const at = (i: string) =>
    `${m.regex ? `match(frames[${i}], ${name})` : `frames[${i}] = ${name}`} AND (files[${i}] = ${file} OR endsWith(files[${i}], concat('/', ${file})) OR endsWith(files[${i}], concat('\\\\', ${file})))`;
  return m.measure === 'self'
    ? `(${at('length(frames)')})`
    : `arrayExists(i -> ${at('i')}, arrayEnumerate(frames))`;
}

export class BudgetStore {
  constructor(
    private readonly client: ClickHouseClient,
    private readonly db: string,
  ) {}

  private rows<T>(query: string, params: QueryParams): Promise<T[]> {
    return queryRows<T>(this.client, query, params);
  }

  /** The budgets stored for a service (none: an empty list). */
  async get(tenant: string, service: string): Promise<StoredBudgets> {
    const [row] = await this.rows<{ config: string; updated: string }>(
      `SELECT config, toString(${ms('updated')}) AS updated FROM ${this.db}.budgets FINAL WHERE tenant = {tenant:String} AND service = {service:String}`,
      { tenant, service },
    );
    if (!row) return { service, budgets: [], source: { budgets: [] }, updated: 0 };
    const parsed = JSON.parse(row.config) as { budgets: Budget[]; source: unknown };
    return { service, budgets: parsed.budgets, source: parsed.source, updated: Number(row.updated) };
  }

  /** Every tenant's services with budgets: what the production job evaluates. */
  async all(): Promise<{ tenant: string; service: string; budgets: Budget[] }[]> {
    const rows = await this.rows<{ tenant: string; service: string; config: string }>(
      `SELECT tenant, service, config FROM ${this.db}.budgets FINAL ORDER BY tenant, service`,
      {},
    );
    return rows
      .map((r) => ({
        tenant: r.tenant,
        service: r.service,
        budgets: (JSON.parse(r.config) as { budgets: Budget[] }).budgets,
      }))
      .filter((r) => r.budgets.length > 0);
  }

  /** Replaces a service's budgets. */
  async set(tenant: string, service: string, budgets: Budget[], source: unknown): Promise<void> {
    try {
      await this.client.insert({
        table: `${this.db}.budgets`,
        format: 'JSONEachRow',
        values: [{ tenant, service, config: JSON.stringify({ budgets, source }), updated: Date.now() }],
      });
    } catch (err) {
      throw classifyStoreError(err);
    }
  }

  /**
   * The observations of one or more selections of one tenant, service and
   * type (a candidate and its baseline), read together so that one scan of
   * the profiles serves every side: per side, per instance and time bucket,
   * the total, duration and profile count, each matcher's matched value (a
   * sample counts once per matcher however many of its frames match), and
   * the counter type's total when asked. Sides may overlap (a profile in
   * both counts in both). Each side's observations come sorted by key, so a
   * verdict does not depend on the order ClickHouse grouped them in.
   */
  async observations(
    sides: Selection[],
    matchers: FunctionMatcher[],
    counterType?: string,
    maxObservations = MAX_OBSERVATIONS,
  ): Promise<BudgetObservation[][]> {
    const params: QueryParams = {};
    const wheres = sides.map((sel, s) => selectionWhere(sel, params, `s${s}_`));
    const [shape] = await this.rows<Record<string, string>>(
      `SELECT ${wheres
        .map(
          (w, s) => `uniqExactIf(labels, ${w}) AS i${s}, uniqExactIf(profile_id, ${w}) AS p${s},
         toString(${ms(`minIf(time, ${w})`)}) AS f${s}, toString(${ms(`maxIf(time, ${w})`)}) AS l${s}`,
        )
        .join(', ')}
       FROM ${this.db}.profiles WHERE ${anyOf(wheres)}`,
      params,
    );
    const num = (k: string) => Number(shape?.[k] ?? 0);
    // Few profiles on a side: each is an observation, as the detector counts them. Many, or a counter to pair
    // with: time buckets over the span the side's data covers (not the range asked for, which may be mostly
    // empty), sized so instances × buckets stay near maxObservations.
    params.perProfile = sides.map((_, s) =>
      counterType === undefined && num(`p${s}`) <= maxObservations ? 1 : 0,
    );
    params.bucketMs = sides.map((_, s) =>
      Math.max(
        1000,
        Math.ceil(
          Math.max(1, num(`l${s}`) - num(`f${s}`) + 1) /
            Math.max(1, Math.floor(maxObservations / Math.max(1, num(`i${s}`)))),
        ),
      ),
    );
    // One UInt64 per (side, instance, bucket or profile), computed per profile before any
    // ARRAY JOIN: grouping samples by it is about twice as fast as by the
    // (instance, bucket) pair computed per sample.
    const rows = (where: string[], columns: string) => `SELECT ${sideOf(where)} AS side,
         cityHash64(side, labels, if({perProfile:Array(UInt8)}[side + 1] = 1, cityHash64(profile_id), toUInt64(intDiv(${ms('time')}, {bucketMs:Array(Int64)}[side + 1])))) AS obs, ${columns}
         FROM ${this.db}.profiles WHERE ${anyOf(where)}`;
    const totals = this.rows<{ side: number; obs: string; tot: string; dur: string; profiles: string }>(
      `SELECT side, obs, sum(total) AS tot, sum(duration_ms) AS dur, uniqExact(profile_id) AS profiles
       FROM (${rows(wheres, 'total, duration_ms, profile_id')}) GROUP BY side, obs`,
      params,
    );
    const flags = matchers.map((m, i) => `toInt64(${matcherSql(m, params, `m${i}`)})`);
    const matched =
      matchers.length === 0
        ? Promise.resolve([])
        : this.rows<{ obs: string; matched: string[] }>(
            `WITH per_stack AS (
         SELECT obs, stack_id, sum(value) AS v
         FROM (${rows(wheres, 'stack_ids, values')}) ARRAY JOIN stack_ids AS stack_id, values AS value
         GROUP BY obs, stack_id
       ),
       flags AS (
         SELECT stack_id, [${flags.join(', ')}] AS f
         FROM (SELECT stack_id, any(frames) AS frames, any(files) AS files FROM ${this.db}.stacks
               WHERE tenant = {s0_tenant:String} AND stack_id IN (SELECT arrayJoin(stack_ids) FROM ${this.db}.profiles WHERE ${anyOf(wheres)})
               GROUP BY stack_id)
       )
       SELECT p.obs AS obs, sumForEach(arrayMap(x -> x * p.v, f.f)) AS matched
       FROM per_stack AS p INNER JOIN flags AS f ON p.stack_id = f.stack_id GROUP BY obs`,
            params,
          );
    let counter: Promise<{ obs: string; tot: string }[]> = Promise.resolve([]);
    if (counterType !== undefined) {
      const cParams: QueryParams = { bucketMs: params.bucketMs, perProfile: params.perProfile };
      const cWheres = sides.map((sel, s) =>
        selectionWhere({ ...sel, type: counterType, unit: undefined }, cParams, `s${s}_`),
      );
      counter = this.rows(
        `SELECT obs, sum(total) AS tot FROM (${rows(cWheres, 'total')}) GROUP BY obs`,
        cParams,
      );
    }
    const [t, m, c] = await Promise.all([totals, matched, counter]);
    const byKey = new Map<string, BudgetObservation>();
    const keys: string[][] = sides.map(() => []);
    for (const r of t) {
      byKey.set(r.obs, {
        total: Number(r.tot),
        durationMs: Number(r.dur),
        profiles: Number(r.profiles),
        matched: matchers.map(() => 0),
        ...(counterType !== undefined ? { requests: 0 } : {}),
      });
      keys[Number(r.side)].push(r.obs);
    }
    for (const r of m) {
      const o = byKey.get(r.obs);
      if (o) o.matched = r.matched.map(Number);
    }
    for (const r of c) {
      const o = byKey.get(r.obs);
      if (o) o.requests = Number(r.tot);
    }
    return keys.map((k) => k.sort().map((key) => byKey.get(key)!));
  }

  /**
   * A budget's value over time for a chart: per step, every instance pooled
   * (matched over total for shares, total over instance-seconds for rates,
   * total over requests per request). Growth budgets chart the measured share or rate.
   */
  async series(
    sel: Selection,
    budget: Budget,
    stepMs: number,
    kind: ProfileKind,
  ): Promise<{ t: number; value: number }[]> {
    const params: QueryParams = { stepMs };
    const where = selectionWhere(sel, params);
    const slot = `intDiv(${ms('time')}, {stepMs:Int64}) * {stepMs:Int64}`;
    const totals = await this.rows<{ t: string; tot: string; dur: string; profiles: string; inst: string }>(
      `SELECT ${slot} AS t, sum(total) AS tot, sum(duration_ms) AS dur, uniqExact(profile_id) AS profiles, uniqExact(labels) AS inst
       FROM ${this.db}.profiles WHERE ${where} GROUP BY t ORDER BY t`,
      params,
    );
    const matched = new Map<string, number>();
    if (budget.function) {
      const test = matcherSql(budget.function, params, 'm0');
      const rows = await this.rows<{ t: string; v: string }>(
        `SELECT p.t AS t, sum(p.v) AS v FROM (
           SELECT ${slot} AS t, stack_id, sum(value) AS v FROM ${this.db}.profiles ARRAY JOIN stack_ids AS stack_id, values AS value
           WHERE ${where} GROUP BY t, stack_id) AS p
         INNER JOIN (SELECT stack_id FROM (SELECT stack_id, any(frames) AS frames, any(files) AS files FROM ${this.db}.stacks
           WHERE tenant = {tenant:String} AND stack_id IN (SELECT arrayJoin(stack_ids) FROM ${this.db}.profiles WHERE ${where})
           GROUP BY stack_id) WHERE ${test}) AS s
         ON p.stack_id = s.stack_id GROUP BY t`,
        params,
      );
      for (const r of rows) matched.set(r.t, Number(r.v));
    }
    const requests = new Map<string, number>();
    if (budget.kind === 'perRequest' && budget.counter) {
      const cParams: QueryParams = { stepMs };
      const cWhere = selectionWhere({ ...sel, type: budget.counter, unit: undefined }, cParams);
      for (const r of await this.rows<{ t: string; tot: string }>(
        `SELECT ${slot} AS t, sum(total) AS tot FROM ${this.db}.profiles WHERE ${cWhere} GROUP BY t`,
        cParams,
      )) {
        requests.set(r.t, Number(r.tot));
      }
    }
    return totals
      .map((r) => {
        const tot = Number(r.tot);
        // The chart pools instances: a rate is per instance, so the pooled total is divided by the instances' summed seconds.
        const o: BudgetObservation = {
          total: tot,
          durationMs: Number(r.dur),
          profiles: Number(r.profiles),
          matched: [matched.get(r.t) ?? 0],
          requests: requests.get(r.t),
        };
        const value =
          budget.kind === 'growth' && !budget.function
            ? kind === 'gauge'
              ? tot / Math.max(1, Number(r.profiles))
              : (tot * 1000) / Math.max(1, Number(r.dur))
            : observedValue(
                { ...budget, kind: budget.kind === 'growth' ? 'share' : budget.kind },
                o,
                0,
                kind,
              );
        return { t: Number(r.t), value: value ?? NaN };
      })
      .filter((p) => Number.isFinite(p.value));
  }
}

/** A budget's selection in a scope: its service, type and selector, the scope's matchers and range. */
export function budgetSelection(tenant: string, b: Budget, scope: BudgetScope): Selection {
  const own = b.selector
    ? parseSelector(`{service_name=${JSON.stringify(b.service)},${b.selector.replace(/^\{|\}$/g, '')}}`)
        .matchers
    : [];
  return {
    tenant,
    service: b.service,
    type: b.type,
    range: { from: scope.from, until: scope.until },
    matchers: [...own, ...scope.matchers],
  };
}

/**
 * Judges budgets on a candidate scope (and, for growth budgets, a baseline
 * scope). Budgets sharing a service and type (and counter) share one read of
 * the observations: each selector among them a side (its candidate, and its
 * baseline when it has growth budgets), every function they name matched in
 * one pass.
 */
export async function evaluateBudgets(
  store: { budgets: BudgetStore; stats: DetectorStatsStore; queries: ProfileQueries },
  tenant: string,
  budgets: Budget[],
  candidate: BudgetScope,
  baseline?: BudgetScope,
): Promise<BudgetResult[]> {
  const groups = new Map<string, Budget[]>();
  for (const b of budgets) {
    const k = JSON.stringify([b.service, b.type, b.kind === 'perRequest' ? b.counter : '']);
    groups.set(k, [...(groups.get(k) ?? []), b]);
  }
  const results = new Map<Budget, BudgetResult>();
  await Promise.all(
    [...groups.values()].map(async (group) => {
      const matchers: FunctionMatcher[] = [];
      const index = new Map<Budget, number>();
      for (const b of group) {
        if (!b.function) continue;
        let i = matchers.findIndex(
          (m) =>
            m.name === b.function!.name &&
            m.regex === b.function!.regex &&
            m.measure === b.function!.measure &&
            m.file === b.function!.file,
        );
        if (i < 0) i = matchers.push(b.function) - 1;
        index.set(b, i);
      }
      const first = group[0];
      // One unit: the one most of the candidate's profiles are in (values of different units are never summed). A
      // limit in cores or bytes needs data it can be derived from (CPU pushed in samples with no rate cannot).
      const [[unit], typeKind] = await Promise.all([
        store.queries.unitsOf(budgetSelection(tenant, first, candidate)),
        store.queries.kindOf(budgetSelection(tenant, first, candidate)),
      ]);
      const inUnit = (sel: Selection): Selection => (unit === undefined ? sel : { ...sel, unit });
      // Per selector: the index of its candidate side, and of its baseline side when a growth budget needs one.
      const sides: Selection[] = [];
      const sideOf = new Map<string, { cand: number; base?: number }>();
      for (const b of group) {
        if (sideOf.has(b.selector)) continue;
        const cand = sides.push(inUnit(budgetSelection(tenant, b, candidate))) - 1;
        const needsBaseline = baseline && group.some((g) => g.selector === b.selector && g.kind === 'growth');
        sideOf.set(b.selector, {
          cand,
          ...(needsBaseline ? { base: sides.push(inUnit(budgetSelection(tenant, b, baseline))) - 1 } : {}),
        });
      }
      // Growth limits are the regression detector's comparisons, one per selector, its functions in focus; a regex
      // (several functions counted once a sample) has no per-function statistics there and is judged per observation.
      const detected = new Map<string, Detection>();
      // So has a matcher with a file: the detector names a function by its file's shortest distinct tail, not the
      // budget's words.
      const byDetector = (b: Budget) =>
        b.kind === 'growth' && baseline !== undefined && !b.function?.regex && !b.function?.file;
      await Promise.all(
        [...new Set(group.filter(byDetector).map((b) => b.selector))].map(async (selector) => {
          const focus = [
            ...new Set(
              group
                .filter((b) => byDetector(b) && b.selector === selector && b.function)
                .map((b) => b.function!.name),
            ),
          ];
          const some = group.find((b) => b.selector === selector)!;
          const { detection } = await compareSelections(
            store,
            inUnit(budgetSelection(tenant, some, baseline!)),
            inUnit(budgetSelection(tenant, some, candidate)),
            { focus },
          );
          detected.set(selector, detection);
        }),
      );
      const observations = await store.budgets.observations(
        sides,
        matchers,
        first.kind === 'perRequest' ? first.counter : undefined,
      );
      for (const b of group) {
        const i = index.get(b) ?? 0;
        const side = sideOf.get(b.selector)!;
        const cand = observations[side.cand];
        const dimension = limitDimension(b);
        const scale = unit === undefined ? 1 : unitScale(dimension, unit);
        if (scale === undefined) {
          results.set(b, {
            budget: b,
            typeKind,
            verdict: 'inconclusive',
            value: NaN,
            ci: [NaN, NaN],
            confidence: 0,
            observations: cand.length,
            reason:
              `${b.type} is stored in ${unit} here, which a limit in ${dimension === 'time' ? 'time or cores' : 'bytes'} (${b.maxText}) cannot be derived from` +
              (dimension === 'time'
                ? '; push CPU with its sample rate (sampleRate=, or as pprof), or write the limit as a share'
                : ''),
          });
          continue;
        }
        const values = (obs: BudgetObservation[]) =>
          obs
            .map((o) => observedValue(b, o, i, typeKind))
            .filter((v): v is number => v !== undefined)
            .map((v) => v * scale);
        let r: BudgetResult;
        if (b.kind !== 'growth') r = judgeAbsolute(b, values(cand));
        else if (side.base === undefined)
          r = {
            budget: b,
            verdict: 'inconclusive',
            value: NaN,
            ci: [NaN, NaN],
            confidence: 0,
            observations: cand.length,
            reason: 'a growth budget needs a baseline',
          };
        else {
          const d = byDetector(b) ? detected.get(b.selector) : undefined;
          r =
            (d && judgeGrowthDetected(b, d)) ?? judgeGrowth(b, values(observations[side.base]), values(cand));
        }
        // An unknown function is a warning, not an error: a typo, or code that was renamed or removed.
        if (b.function && cand.length > 0 && cand.every((o) => o.matched[i] === 0)) {
          const shown = matcherText(b.function);
          r = {
            ...r,
            warning: `${shown} is in none of the ${cand.length} observations' stacks${b.function.measure === 'self' ? ' as a leaf' : ''}: check the name`,
          };
        }
        results.set(b, { ...r, typeKind });
      }
    }),
  );
  return budgets.map((b) => results.get(b)!);
}
