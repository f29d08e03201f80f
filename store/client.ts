import { createClient, type ClickHouseClient } from '@clickhouse/client';
import { checkClusterName } from './cluster';

/** Where profiles live: a ClickHouse URL, or chDB in this process with data under dataDir. */
export interface StoreConfig {
  /** http(s)://user:pass@host:8123 of a ClickHouse server or cluster; unset means embedded chDB. */
  url?: string;
  /** chDB's data directory (embedded mode). */
  dataDir: string;
  /** Database holding Flamewatch's tables. */
  database: string;
  /** Days a profile is kept (ClickHouse TTL). */
  retentionDays: number;
  /** A ClickHouse cluster (its name in the servers' remote_servers): replicated, sharded tables. */
  cluster?: string;
}

/**
 * Rows for JSON formats are objects, stringified by the client; a string row
 * is already serialised JSON (lines made by an ingest worker, store/rows.ts)
 * and goes as it is. A bare string is never a valid JSONEachRow row, so
 * nothing else is affected.
 */
export function stringifyRow(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

type ChdbClientConnection = NonNullable<NonNullable<Parameters<typeof createClient>[0]>['connection']>;

export type StoreEngine = 'chdb' | 'clickhouse';

/**
 * The one ClickHouse client: the official `@clickhouse/client`, over HTTP or
 * over chDB's in-process connection. Every query goes through it with the same
 * SQL and the same `{name:Type}` parameters whichever engine answers.
 */
export function createStoreClient(config: StoreConfig): { client: ClickHouseClient; engine: StoreEngine } {
  // UInt64 stack ids must arrive as strings: JSON numbers lose their low bits.
  const clickhouse_settings = { output_format_json_quote_64bit_integers: 1 } as const;
  const json = { parse: JSON.parse, stringify: stringifyRow };
  if (config.url) {
    // On a cluster: an insert returns once the shards have it (a write is acknowledged
    // when committed), and IN subqueries over Distributed tables run once, not per shard.
    const cluster = config.cluster
      ? ({ insert_distributed_sync: 1, distributed_product_mode: 'global' } as const)
      : {};
    return {
      client: createClient({
        url: config.url,
        clickhouse_settings: { ...clickhouse_settings, ...cluster },
        json,
        request_timeout: 60_000,
      }),
      engine: 'clickhouse',
    };
  }
  // Loaded only in embedded mode: chDB ships a large native library.
  const { createChdbConnection } = require('chdb/connection') as typeof import('chdb/connection');
  // chDB implements the client's Connection contract; the two packages declare
  // it in separate copies of the same types, hence the cast.
  const connection = createChdbConnection({ path: config.dataDir }) as unknown as ChdbClientConnection;
  return {
    client: createClient({ connection, clickhouse_settings, json }),
    engine: 'chdb',
  };
}

/** Checks a store configuration (cli/config.ts builds it from the environment and the command line). Throws naming what is wrong. */
export function checkStoreConfig(config: StoreConfig): StoreConfig {
  config = { ...config, cluster: config.cluster || undefined };
  if (!/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(config.database)) {
    throw new Error(`database name ${JSON.stringify(config.database)} must be letters, digits and _`);
  }
  if (config.cluster !== undefined) {
    checkClusterName(config.cluster);
    if (!config.url) throw new Error('a cluster needs CLICKHOUSE_URL: embedded chDB is one node');
  }
  if (!Number.isInteger(config.retentionDays) || config.retentionDays < 1 || config.retentionDays > 3650) {
    throw new Error(`retention must be a whole number of days from 1 to 3650, not ${config.retentionDays}`);
  }
  return config;
}
