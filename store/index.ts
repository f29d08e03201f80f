import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { createStoreClient, type StoreConfig, type StoreEngine } from './client';
import { BudgetStore } from './budgets';
import { ProfileQueries } from './queries';
import { RegressionStore } from './regressions';
import { repairRollups } from './rollups';
import { migrate, statementRunner } from './schema';
import { TokenStore } from './tokens';
import { ProfileWriter } from './writer';

export type { StoreConfig } from './client';
export { storeConfigFromEnv } from './client';
export type { BudgetScope, StoredBudgets } from './budgets';
export { BudgetStore, budgetSelection, evaluateBudgets } from './budgets';
export type { Comparison } from './compare';
export { compareSelections } from './compare';
export { StoreUnavailableError } from './errors';
export type { Selection } from './selection';
export type { PreparedWrite, ProfileWrite } from './rows';
export { prepareWrite } from './rows';
export type { BaselineConfig, BreachedBudget, PullRequestSettings, Regression, RegressionStatus } from './regressions';
export type { CreatedToken, Scope, TokenInfo } from './tokens';
export { isScope, SCOPES, sameToken, tokenHash, TokenStore } from './tokens';
export { DEFAULT_BASELINES, MAX_OBSERVATIONS, RegressionStore, regressionId } from './regressions';

/** An open store: the writer for ingest, the queries for the API and jobs. */
export interface Store {
  engine: StoreEngine;
  database: string;
  client: ClickHouseClient;
  writer: ProfileWriter;
  queries: ProfileQueries;
  regressions: RegressionStore;
  /** API tokens (hashed), by tenant. */
  tokens: TokenStore;
  /** Performance budgets per service, their observations and evaluation. */
  budgets: BudgetStore;
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/** Connects (or opens chDB's data directory) and migrates the schema. */
export async function openStore(config: StoreConfig): Promise<Store> {
  const { client, engine } = createStoreClient(config);
  let marker: string | undefined;
  try {
    await migrate(client, config.database, config.retentionDays, { cluster: config.cluster });
    if (engine === 'chdb') {
      // This process owns the directory; a marker another left means it died, maybe mid-insert.
      marker = path.join(config.dataDir, `.flamewatch-${config.database}.open`);
      if (fs.existsSync(marker)) {
        const hours = await repairRollups(config.database, statementRunner(client));
        console.error(`flamewatch: the store was not closed cleanly; rollups checked against raw profiles, ${hours.length} hour(s) rebuilt`);
      }
      fs.writeFileSync(marker, `${process.pid}\n`);
    }
  } catch (err) {
    await client.close().catch(() => undefined);
    const where = engine === 'chdb' ? `chDB at ${config.dataDir}` : `ClickHouse at ${redact(config.url ?? '')}${config.cluster ? ` (cluster ${config.cluster})` : ''}`;
    throw new Error(`cannot open the store (${where}): ${(err as Error).message}`);
  }
  const writer = new ProfileWriter(client, config.database);
  return {
    engine,
    database: config.database,
    client,
    writer,
    queries: new ProfileQueries(client, config.database),
    regressions: new RegressionStore(client, config.database),
    tokens: new TokenStore(client, config.database),
    budgets: new BudgetStore(client, config.database),
    async ping() {
      return (await client.ping()).success;
    },
    async close() {
      await writer.drain();
      await client.close();
      if (marker) fs.rmSync(marker, { force: true });
    },
  };
}

function redact(url: string): string {
  return url.replace(/\/\/[^@/]*@/, '//***@');
}
