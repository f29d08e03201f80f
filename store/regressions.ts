/**
 * The regressions the detector found and their life cycle (suspected, open,
 * acknowledged, resolved): one row per regression id, replaced as it is seen
 * again. Tenant scoping as everywhere in store/: every statement filters on it.
 */
import { createHash } from 'node:crypto';
import type { ClickHouseClient } from '@clickhouse/client';
import { classifyStoreError } from './errors';
import { queryRows } from './rows-query';
import type { QueryParams } from './selection';

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
