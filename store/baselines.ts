/**
 * Per service and type, what the scheduled detector compares against and
 * how (windows, the version label, named selections, pull requests, warm-up,
 * thresholds): set through /api/v1/baselines, read by every detection job.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { classifyStoreError } from './errors';
import { queryRows } from './rows-query';
import type { QueryParams } from './selection';

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

export class BaselineStore {
  constructor(
    private readonly client: ClickHouseClient,
    private readonly db: string,
  ) {}

  private rows<T>(query: string, params: QueryParams): Promise<T[]> {
    return queryRows<T>(this.client, query, params);
  }

  /** The settings of a service and type: its own, else its service's `*`, over the defaults. */
  async get(tenant: string, service: string, type: string): Promise<BaselineConfig> {
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
  async set(tenant: string, service: string, type: string, config: BaselineConfig): Promise<void> {
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
