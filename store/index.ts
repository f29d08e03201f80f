import type { ClickHouseClient } from '@clickhouse/client';
import { createStoreClient, type StoreConfig, type StoreEngine } from './client';
import { BudgetStore } from './budgets';
import { ProfileQueries } from './queries';
import { BaselineStore } from './baselines';
import { DetectorStatsStore } from './detector-stats';
import { RegressionStore } from './regressions';
import { buildRollups, type BuildOptions, type BuildResult } from './rollups';
import { migrate, statementRunner } from './schema';
import { TokenStore } from './tokens';
import { ProfileWriter } from './writer';

export type { StoreConfig } from './client';
export { checkStoreConfig } from './client';
export type { BudgetScope, StoredBudgets } from './budgets';
export { BudgetStore, budgetSelection, evaluateBudgets } from './budgets';
export type { Comparison } from './compare';
export { compareSelections, profileKind } from './compare';
export { StoreUnavailableError } from './errors';
export type { Selection } from './selection';
export type { BuildOptions, BuildResult } from './rollups';
export type { PreparedWrite, ProfileWrite } from './rows';
export { prepareWrite } from './rows';
export type { BaselineConfig, PullRequestSettings } from './baselines';
export type { BreachedBudget, Regression, RegressionStatus } from './regressions';
export type { CreatedToken, Scope, TokenInfo } from './tokens';
export { isScope, SCOPES, sameToken, tokenHash, TokenStore } from './tokens';
export { BaselineStore, DEFAULT_BASELINES } from './baselines';
export { DetectorStatsStore, MAX_OBSERVATIONS } from './detector-stats';
export { RegressionStore, regressionId } from './regressions';

/** An open store: the writer for ingest, the queries for the API and jobs. */
export interface Store {
  engine: StoreEngine;
  database: string;
  client: ClickHouseClient;
  writer: ProfileWriter;
  queries: ProfileQueries;
  /** The detector's reads: each side's sufficient statistics, active series, label history, runs. */
  stats: DetectorStatsStore;
  /** Regressions found and their life cycle. */
  regressions: RegressionStore;
  /** What the detector compares each service against (per service and type). */
  baselines: BaselineStore;
  /** API tokens (hashed), by tenant. */
  tokens: TokenStore;
  /** Performance budgets per service, their observations and evaluation. */
  budgets: BudgetStore;
  /** Builds the hours whose rollup is missing or out of date (the `rollup` job; store/rollups.ts). */
  buildRollups(options: Omit<BuildOptions, 'cluster'>): Promise<BuildResult>;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** Connects (or opens chDB's data directory) and migrates the schema. */
export async function openStore(config: StoreConfig): Promise<Store> {
  const { client, engine } = createStoreClient(config);
  try {
    await migrate(client, config.database, config.retentionDays, { cluster: config.cluster });
  } catch (err) {
    await client.close().catch(() => undefined);
    const where =
      engine === 'chdb'
        ? `chDB at ${config.dataDir}`
        : `ClickHouse at ${redact(config.url ?? '')}${config.cluster ? ` (cluster ${config.cluster})` : ''}`;
    throw new Error(`cannot open the store (${where}): ${(err as Error).message}`);
  }
  const writer = new ProfileWriter(client, config.database);
  return {
    engine,
    database: config.database,
    client,
    writer,
    queries: new ProfileQueries(client, config.database),
    stats: new DetectorStatsStore(client, config.database),
    regressions: new RegressionStore(client, config.database),
    baselines: new BaselineStore(client, config.database),
    tokens: new TokenStore(client, config.database),
    budgets: new BudgetStore(client, config.database),
    buildRollups: (options) =>
      buildRollups(config.database, statementRunner(client), { ...options, cluster: config.cluster }),
    async ping() {
      return (await client.ping()).success;
    },
    async close() {
      await writer.drain();
      await client.close();
    },
  };
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
