import type { ClickHouseClient } from '@clickhouse/client';

/**
 * Versioned schema. Each migration runs once, in order, and is recorded in
 * schema_migrations; every statement is idempotent so a crash between a
 * statement and its record is repaired by running again. Only the database
 * name (checked at config time) and the retention (an integer) are spliced
 * in: DDL takes no query parameters.
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
    description: 'regressions found by the detector (one row per version of a regression) and per-service baseline settings',
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
    description: 'API tokens: the SHA-256 of each token, its tenant and scopes (the token itself is never stored)',
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
    description: 'performance budgets per service (their definitions as JSON; breaches are stored as regressions of kind budget)',
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
];

/** Creates the database and applies pending migrations; then applies the configured retention. */
export async function migrate(client: ClickHouseClient, db: string, retentionDays: number): Promise<number[]> {
  await client.command({ query: `CREATE DATABASE IF NOT EXISTS ${db}` });
  await client.command({
    query: `CREATE TABLE IF NOT EXISTS ${db}.schema_migrations (version UInt32, description String, applied_at DateTime DEFAULT now()) ENGINE = MergeTree ORDER BY version`,
  });
  const rs = await client.query({ query: `SELECT version FROM ${db}.schema_migrations`, format: 'JSONEachRow' });
  const done = new Set((await rs.json<{ version: number }>()).map((r) => Number(r.version)));
  const applied: number[] = [];
  for (const m of MIGRATIONS) {
    if (done.has(m.version)) continue;
    for (const statement of m.statements(db, retentionDays)) await client.command({ query: statement });
    await client.insert({
      table: `${db}.schema_migrations`,
      values: [{ version: m.version, description: m.description }],
      format: 'JSONEachRow',
    });
    applied.push(m.version);
  }
  await applyRetention(client, db, retentionDays);
  return applied;
}

/**
 * Retention is configuration, not schema: when it changed since the tables
 * were made, alter their TTL (without rewriting old parts now; merges apply it).
 */
async function applyRetention(client: ClickHouseClient, db: string, days: number): Promise<void> {
  const wanted: Record<string, string> = {
    profiles: `toDateTime(time) + toIntervalDay(${days})`,
    stacks: `last_seen + toIntervalDay(${days + 1})`,
  };
  const rs = await client.query({
    query: 'SELECT name, create_table_query FROM system.tables WHERE database = {db:String} AND name IN (\'profiles\', \'stacks\')',
    query_params: { db },
    format: 'JSONEachRow',
  });
  for (const { name, create_table_query } of await rs.json<{ name: string; create_table_query: string }>()) {
    const ttl = wanted[name];
    if (ttl && !create_table_query.includes(`TTL ${ttl}`)) {
      await client.command({
        query: `ALTER TABLE ${db}.${name} MODIFY TTL ${ttl}`,
        clickhouse_settings: { materialize_ttl_after_modify: 0 },
      });
    }
  }
}
