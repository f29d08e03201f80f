import type { ClickHouseClient } from '@clickhouse/client';
import { clusterStatements, tablesCreated } from './cluster';
import type { StatementRunner } from './rollups';
import type { QueryParams } from './selection';

/**
 * Versioned schema. Each migration runs once, in order, and is recorded in
 * schema_migrations; every statement is idempotent so a crash between a
 * statement and its record is repaired by running again. Only the database
 * name (checked at config time) and the retention (an integer) are spliced
 * in: DDL takes no query parameters. The statements are a single server's;
 * cluster mode rewrites them (store/cluster.ts).
 */
export interface Migration {
  version: number;
  description: string;
  statements: (db: string, retentionDays: number) => string[];
}

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    description: 'stacks stored once by content id; one row per pushed series with parallel arrays',
    statements: (db, days) => [
      `CREATE TABLE IF NOT EXISTS ${db}.stacks (
        tenant LowCardinality(String),
        stack_id UInt64,
        frames Array(String),
        last_seen DateTime DEFAULT now()
      ) ENGINE = ReplacingMergeTree(last_seen)
      ORDER BY (tenant, stack_id)
      TTL last_seen + toIntervalDay(${days + 1})`,
      `CREATE TABLE IF NOT EXISTS ${db}.profiles (
        tenant LowCardinality(String),
        service LowCardinality(String),
        type LowCardinality(String),
        unit LowCardinality(String),
        time DateTime64(3),
        duration_ms UInt32,
        profile_id UUID,
        labels Map(LowCardinality(String), String),
        stack_ids Array(UInt64),
        values Array(Int64),
        total Int64
      ) ENGINE = MergeTree
      PARTITION BY toYYYYMMDD(time)
      ORDER BY (tenant, service, type, time)
      TTL toDateTime(time) + toIntervalDay(${days})
      SETTINGS ttl_only_drop_parts = 1`,
    ],
  },
  {
    version: 2,
    description:
      'regressions found by the detector (one row per version of a regression) and per-service baseline settings',
    statements: (db) => [
      // A regression's id is derived from what it is about, so the same
      // function flagged by consecutive runs updates one regression; every
      // update is a new row and FINAL keeps the newest.
      `CREATE TABLE IF NOT EXISTS ${db}.regressions (
        tenant LowCardinality(String),
        id String,
        service LowCardinality(String),
        type LowCardinality(String),
        unit LowCardinality(String),
        function String,
        measure LowCardinality(String),
        kind LowCardinality(String),
        baseline_query String,
        baseline_from DateTime64(3),
        baseline_until DateTime64(3),
        candidate_query String,
        candidate_from DateTime64(3),
        candidate_until DateTime64(3),
        baseline_value Float64,
        candidate_value Float64,
        effect Float64,
        relative Float64,
        ci_low Float64,
        ci_high Float64,
        p Float64,
        q Float64,
        baseline_profiles UInt32,
        candidate_profiles UInt32,
        first_seen DateTime64(3),
        last_seen DateTime64(3),
        runs UInt32,
        status LowCardinality(String),
        updated DateTime64(3)
      ) ENGINE = ReplacingMergeTree(updated)
      ORDER BY (tenant, id)`,
      `CREATE TABLE IF NOT EXISTS ${db}.baselines (
        tenant LowCardinality(String),
        service String,
        type String,
        config String,
        updated DateTime64(3)
      ) ENGINE = ReplacingMergeTree(updated)
      ORDER BY (tenant, service, type)`,
    ],
  },
  {
    version: 4,
    description:
      'API tokens: the SHA-256 of each token, its tenant and scopes (the token itself is never stored)',
    statements: (db) => [
      // One row per version of a token; revoking writes a revoked version and FINAL keeps the newest.
      `CREATE TABLE IF NOT EXISTS ${db}.api_tokens (
        hash String,
        id String,
        tenant String,
        scopes Array(LowCardinality(String)),
        name String,
        created DateTime64(3),
        revoked UInt8,
        updated DateTime64(3)
      ) ENGINE = ReplacingMergeTree(updated)
      ORDER BY hash`,
    ],
  },
  {
    version: 5,
    description:
      'performance budgets per service (their definitions as JSON; breaches are stored as regressions of kind budget)',
    statements: (db) => [
      `CREATE TABLE IF NOT EXISTS ${db}.budgets (
        tenant LowCardinality(String),
        service String,
        config String,
        updated DateTime64(3)
      ) ENGINE = ReplacingMergeTree(updated)
      ORDER BY (tenant, service)`,
    ],
  },
  {
    version: 6,
    description: 'a budget breach keeps the budget it broke (JSON) beside the regression fields',
    statements: (db) => [`ALTER TABLE ${db}.regressions ADD COLUMN IF NOT EXISTS budget String DEFAULT ''`],
  },
  {
    version: 3,
    description:
      'per-hour rollups of profiles by series and stack, series by label set (built by the rollup job; migration 7)',
    // Until migration 7 this also made per-minute rollups and views filling
    // them on every insert; a store that ran that version drops them there.
    statements: (db, days) => [
      `CREATE TABLE IF NOT EXISTS ${db}.series (
        tenant LowCardinality(String),
        service LowCardinality(String),
        series UInt64,
        labels Map(LowCardinality(String), String),
        last_seen DateTime64(3)
      ) ENGINE = ReplacingMergeTree(last_seen)
      ORDER BY (tenant, service, series)
      TTL toDateTime(last_seen) + toIntervalDay(${days + 1})`,
      // Sums, not SummingMergeTree: that drops rows summing to 0, which raw queries return.
      `CREATE TABLE IF NOT EXISTS ${db}.profiles_1h (
        tenant LowCardinality(String),
        service LowCardinality(String),
        type LowCardinality(String),
        unit LowCardinality(String),
        series UInt64,
        hour DateTime64(0, 'UTC'),
        stack_id UInt64,
        value SimpleAggregateFunction(sum, Int64)
      ) ENGINE = AggregatingMergeTree
      PARTITION BY toYYYYMMDD(hour)
      ORDER BY (tenant, service, type, unit, series, hour, stack_id)
      TTL toDateTime(hour) + toIntervalDay(${days})
      SETTINGS ttl_only_drop_parts = 1`,
    ],
  },
  {
    version: 7,
    description:
      'rollups built per hour by the rollup job, off the ingest path: the views and the minute tier go; rollup_hours records what each hour summed',
    statements: (db, days) => [
      `DROP VIEW IF EXISTS ${db}.series_mv`,
      `DROP VIEW IF EXISTS ${db}.profiles_1m_mv`,
      `DROP VIEW IF EXISTS ${db}.profiles_1h_mv`,
      `DROP TABLE IF EXISTS ${db}.profiles_1m`,
      // What the views wrote has no record in rollup_hours: the job builds every hour again.
      `TRUNCATE TABLE IF EXISTS ${db}.profiles_1h`,
      // One row per build of an hour; the newest (argMax by built) counts.
      `CREATE TABLE IF NOT EXISTS ${db}.rollup_hours (
        tenant LowCardinality(String),
        service LowCardinality(String),
        type LowCardinality(String),
        hour DateTime64(0, 'UTC'),
        profiles UInt64,
        built DateTime64(3)
      ) ENGINE = ReplacingMergeTree(built)
      ORDER BY (tenant, service, type, hour)
      TTL toDateTime(hour) + toIntervalDay(${days})`,
    ],
  },
  {
    version: 8,
    description:
      'per profile, the work done in its interval (requests, iterations; 0 unknown) and the process that wrote it ("" unknown), for cost per unit of work',
    statements: (db) => [
      `ALTER TABLE ${db}.profiles ADD COLUMN IF NOT EXISTS work Float64 DEFAULT 0`,
      `ALTER TABLE ${db}.profiles ADD COLUMN IF NOT EXISTS process String DEFAULT ''`,
    ],
  },
  {
    version: 9,
    description:
      "per profile, `average` when its pusher declared the type a gauge (Pyroscope's aggregationType=average, or sample_type_config); '' for a type judged by its name",
    statements: (db) => [
      `ALTER TABLE ${db}.profiles ADD COLUMN IF NOT EXISTS aggregation LowCardinality(String) DEFAULT ''`,
    ],
  },
  {
    version: 10,
    description:
      "per stack, each frame's file ('' unknown) and line (0 unknown), parallel to frames; both empty for a stack stored with names only",
    statements: (db) => [
      `ALTER TABLE ${db}.stacks ADD COLUMN IF NOT EXISTS files Array(LowCardinality(String)) DEFAULT []`,
      `ALTER TABLE ${db}.stacks ADD COLUMN IF NOT EXISTS lines Array(UInt32) DEFAULT []`,
    ],
  },
  {
    version: 11,
    description:
      'per series row, the samples that carried span labels (a profile, span or trace id: profile/series.ts SPAN_LABELS), unaggregated: stack, those labels, value; they are not series labels',
    statements: (db) => [
      `ALTER TABLE ${db}.profiles ADD COLUMN IF NOT EXISTS span_stack_ids Array(UInt64) DEFAULT []`,
      `ALTER TABLE ${db}.profiles ADD COLUMN IF NOT EXISTS span_labels Array(Map(LowCardinality(String), String)) DEFAULT []`,
      `ALTER TABLE ${db}.profiles ADD COLUMN IF NOT EXISTS span_values Array(Int64) DEFAULT []`,
    ],
  },
  {
    version: 12,
    description:
      "ZSTD for the raw profiles' stack ids and values and the rollups' values: 3.5× smaller raw rows than LZ4 on a day of the fleet benchmark, queries as fast",
    // Measured on bench/query-fleet's 24 h × 50 (BENCHMARKS.md, bytes on disk): profiles 61.8 → 17.6 MB,
    // profiles_1h.value 17.9 → 10.3 MB. The rollups' stack_id stays LZ4: hashes, ZSTD saved 1.4 %.
    // Sorting ids within a row saved 3 % more under ZSTD: not done. Parts written before are recompressed
    // as merges rewrite them.
    statements: (db) => [
      `ALTER TABLE ${db}.profiles MODIFY COLUMN stack_ids Array(UInt64) CODEC(ZSTD(1))`,
      `ALTER TABLE ${db}.profiles MODIFY COLUMN values Array(Int64) CODEC(ZSTD(1))`,
      `ALTER TABLE ${db}.profiles_1h MODIFY COLUMN value SimpleAggregateFunction(sum, Int64) CODEC(ZSTD(1))`,
    ],
  },
  {
    version: 13,
    description:
      "per-hour rollups of a service's profiles by stack, whatever their labels (profiles_1h_all), for queries without label matchers; rollup_hours.levels says an hour's build wrote them",
    // A day of 50 instances is 5.7 M rows in profiles_1h and ~60 k here (BENCHMARKS.md, the fleet benchmark).
    // A record written before this migration, or by a builder that predates it, has levels 1: its hour is
    // read from profiles_1h, whatever profiles_1h_all holds.
    statements: (db, days) => [
      `CREATE TABLE IF NOT EXISTS ${db}.profiles_1h_all (
        tenant LowCardinality(String),
        service LowCardinality(String),
        type LowCardinality(String),
        unit LowCardinality(String),
        hour DateTime64(0, 'UTC'),
        stack_id UInt64,
        value SimpleAggregateFunction(sum, Int64) CODEC(ZSTD(1))
      ) ENGINE = AggregatingMergeTree
      PARTITION BY toYYYYMMDD(hour)
      ORDER BY (tenant, service, type, unit, hour, stack_id)
      TTL toDateTime(hour) + toIntervalDay(${days})
      SETTINGS ttl_only_drop_parts = 1`,
      `ALTER TABLE ${db}.rollup_hours ADD COLUMN IF NOT EXISTS levels UInt8 DEFAULT 1`,
    ],
  },
];

export interface MigrateOptions {
  /** A ClickHouse cluster's name: tables as replicated local tables plus Distributed ones (store/cluster.ts). */
  cluster?: string;
  /** Applies migrations up to this version only (tests and benchmarks of an upgrade). */
  upTo?: number;
}

/** The DDL a migration runs: its own statements, or their cluster form. */
export function migrationStatements(
  m: Migration,
  db: string,
  retentionDays: number,
  cluster?: string,
): string[] {
  const statements = m.statements(db, retentionDays);
  return cluster
    ? statements.flatMap((s) => clusterStatements(s, db, cluster, migratedTables(db)))
    : statements;
}

function migratedTables(db: string): Set<string> {
  const tables = tablesCreated(
    MIGRATIONS.flatMap((m) => m.statements(db, 1)),
    db,
  );
  tables.add('schema_migrations');
  return tables;
}

/** Parameterised statements through a client, for the rollup builder. */
export function statementRunner(client: ClickHouseClient): StatementRunner {
  return {
    command: async (query: string, params?: QueryParams) => {
      await client.command({ query, query_params: params });
    },
    rows: async <T>(query: string, params?: QueryParams) => {
      const r = await client.query({ query, query_params: params, format: 'JSONEachRow' });
      return r.json<T>();
    },
    insert: async (table: string, values: Record<string, unknown>[]) => {
      await client.insert({ table, values, format: 'JSONEachRow' });
    },
  };
}

/** Creates the database and applies pending migrations; then applies the configured retention. */
export async function migrate(
  client: ClickHouseClient,
  db: string,
  retentionDays: number,
  options: MigrateOptions = {},
): Promise<number[]> {
  const { cluster } = options;
  const tables = migratedTables(db);
  const ddl = async (statement: string, settings?: { materialize_ttl_after_modify: 0 }) => {
    for (const query of cluster ? clusterStatements(statement, db, cluster, tables) : [statement]) {
      await client.command({ query, clickhouse_settings: settings });
    }
  };
  await ddl(`CREATE DATABASE IF NOT EXISTS ${db}`);
  await ddl(
    `CREATE TABLE IF NOT EXISTS ${db}.schema_migrations (version UInt32, description String, applied_at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY version`,
  );
  const rs = await client.query({
    query: `SELECT version FROM ${db}.schema_migrations`,
    format: 'JSONEachRow',
  });
  const done = new Set((await rs.json<{ version: number }>()).map((r) => Number(r.version)));
  const applied: number[] = [];
  for (const m of MIGRATIONS) {
    if (done.has(m.version) || (options.upTo !== undefined && m.version > options.upTo)) continue;
    for (const statement of m.statements(db, retentionDays)) await ddl(statement);
    await client.insert({
      table: `${db}.schema_migrations`,
      values: [{ version: m.version, description: m.description }],
      format: 'JSONEachRow',
    });
    applied.push(m.version);
  }
  await applyRetention(client, db, retentionDays, ddl, cluster !== undefined);
  return applied;
}

/**
 * Retention is configuration, not schema: when it changed since the tables
 * were made, alter their TTL (without rewriting old parts now; merges apply it).
 */
async function applyRetention(
  client: ClickHouseClient,
  db: string,
  days: number,
  ddl: (statement: string, settings: { materialize_ttl_after_modify: 0 }) => Promise<void>,
  cluster: boolean,
): Promise<void> {
  const wanted: Record<string, string> = {
    profiles: `toDateTime(time) + toIntervalDay(${days})`,
    stacks: `last_seen + toIntervalDay(${days + 1})`,
    profiles_1h: `toDateTime(hour) + toIntervalDay(${days})`,
    profiles_1h_all: `toDateTime(hour) + toIntervalDay(${days})`,
    series: `toDateTime(last_seen) + toIntervalDay(${days + 1})`,
    rollup_hours: `toDateTime(hour) + toIntervalDay(${days})`,
  };
  // In cluster mode the TTL is the local tables' (the Distributed ones have none).
  const suffix = cluster ? '_local' : '';
  const rs = await client.query({
    query:
      'SELECT name, create_table_query FROM system.tables WHERE database = {db:String} AND name IN {names:Array(String)}',
    query_params: { db, names: Object.keys(wanted).map((n) => n + suffix) },
    format: 'JSONEachRow',
  });
  for (const { name, create_table_query } of await rs.json<{ name: string; create_table_query: string }>()) {
    const table = name.slice(0, name.length - suffix.length);
    const ttl = wanted[table];
    if (ttl && !create_table_query.includes(`TTL ${ttl}`)) {
      await ddl(`ALTER TABLE ${db}.${table} MODIFY TTL ${ttl}`, { materialize_ttl_after_modify: 0 });
    }
  }
}
