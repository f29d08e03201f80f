/**
 * Cluster mode's DDL: every migration statement gets an ON CLUSTER form
 * (replicated local tables, Distributed tables under the names queries use,
 * views between local tables) that ClickHouse parses; the single-server
 * statements are unchanged. No cluster runs here (chDB is one node): the
 * statements are checked by reading them and by ClickHouse's parser.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { checkStoreConfig, createStoreClient } from './client';
import { clusterStatements, tablesCreated } from './cluster';
import { buildRollups } from './rollups';
import { MIGRATIONS, migrate, migrationStatements } from './schema';
import type { ClickHouseClient } from '@clickhouse/client';

const DB = 'flamewatch';
const all = (cluster?: string) => MIGRATIONS.flatMap((m) => migrationStatements(m, DB, 30, cluster));

describe('cluster DDL', () => {
  it('leaves the single-server statements as the migrations write them', () => {
    for (const m of MIGRATIONS) expect(migrationStatements(m, DB, 30)).toEqual(m.statements(DB, 30));
    expect(all().join('\n')).not.toMatch(/ON CLUSTER|Replicated|Distributed|_local\b/);
  });

  it('runs every statement on the whole cluster', () => {
    const statements = all('prod');
    expect(statements.length).toBeGreaterThan(all().length);
    for (const s of statements) expect(s).toMatch(/ ON CLUSTER prod\b/);
  });

  it('makes each table a replicated local table and a Distributed table of the same name, sharded by its sorting key', () => {
    const tables = tablesCreated(all(), DB);
    expect([...tables]).toEqual(
      expect.arrayContaining(['profiles', 'stacks', 'profiles_1h', 'rollup_hours', 'series', 'regressions']),
    );
    const statements = all('prod');
    for (const t of tables) {
      const local = statements.find((s) =>
        s.startsWith(`CREATE TABLE IF NOT EXISTS ${DB}.${t}_local ON CLUSTER prod (`),
      );
      expect(local).toMatch(
        new RegExp(
          `ENGINE = Replicated\\w*MergeTree\\('/clickhouse/tables/\\{shard\\}/${DB}/${t}_local', '\\{replica\\}'`,
        ),
      );
      const dist = statements.find((s) =>
        s.startsWith(`CREATE TABLE IF NOT EXISTS ${DB}.${t} ON CLUSTER prod AS ${DB}.${t}_local `),
      );
      expect(dist).toMatch(new RegExp(`ENGINE = Distributed\\('prod', '${DB}', '${t}_local', cityHash64\\(`));
    }
    const profiles = statements.find((s) => s.includes(`${DB}.profiles_local ON CLUSTER`))!;
    expect(profiles).toMatch(
      /ENGINE = ReplicatedMergeTree\('[^']+', '\{replica\}'\)\s+PARTITION BY toYYYYMMDD\(time\)/,
    );
    expect(profiles).toMatch(/TTL toDateTime\(time\) \+ toIntervalDay\(30\)/);
    expect(statements.find((s) => s.includes(`${DB}.stacks_local ON CLUSTER`))).toMatch(
      /ReplicatedReplacingMergeTree\('[^']+', '\{replica\}', last_seen\)/,
    );
    expect(statements.find((s) => s.includes(`${DB}.profiles_1h_local ON CLUSTER`))).toMatch(
      /ReplicatedAggregatingMergeTree\(/,
    );
    expect(statements).toContain(
      `CREATE TABLE IF NOT EXISTS ${DB}.profiles ON CLUSTER prod AS ${DB}.profiles_local ENGINE = Distributed('prod', '${DB}', 'profiles_local', cityHash64(tenant, service, type, time))`,
    );
  });

  it('has no views: the old ones, the minute tier and what they wrote go on every node', () => {
    const statements = all('prod');
    expect(statements.filter((s) => s.startsWith('CREATE MATERIALIZED VIEW'))).toEqual([]);
    expect(statements.filter((s) => s.startsWith('DROP TABLE'))).toEqual([
      `DROP TABLE IF EXISTS ${DB}.profiles_1m ON CLUSTER prod`,
      `DROP TABLE IF EXISTS ${DB}.profiles_1m_local ON CLUSTER prod`,
    ]);
    expect(statements.filter((s) => s.startsWith('TRUNCATE'))).toEqual([
      `TRUNCATE TABLE IF EXISTS ${DB}.profiles_1h_local ON CLUSTER prod`,
    ]);
  });

  it("builds rollups through the Distributed tables and deletes on every shard's local table", async () => {
    const statements: { query: string; params?: Record<string, unknown> }[] = [];
    const inserted: string[] = [];
    const hour = Date.UTC(2030, 0, 1, 5);
    const run = {
      command: async (query: string, params?: Record<string, unknown>) =>
        void statements.push({ query, params }),
      rows: async <T>(query: string, params?: Record<string, unknown>): Promise<T[]> => {
        statements.push({ query, params });
        if (query.startsWith('SELECT toString(h) AS h, toString(count()) AS keys'))
          return [{ h: String(hour / 3_600_000), keys: '1' }] as T[];
        if (query.includes('LEFT JOIN') && query.includes('argMax'))
          return [{ tenant: 't', service: 's', type: 'cpu', n: '7' }] as T[];
        if (query.startsWith('SELECT toString(count())')) return [{ n: '12' }] as T[];
        return [{ tenant: 't', service: 's', type: 'cpu', n: '7' }] as T[];
      },
      insert: async (table: string) => void inserted.push(table),
    };
    const r = await buildRollups(DB, run as never, { now: hour + 2 * 3_600_000, cluster: 'prod' });
    expect(r).toMatchObject({ pending: 1, hoursBuilt: 1, built: 1, unverified: 0 });
    const deletes = statements.filter((s) => s.query.startsWith('DELETE'));
    expect(deletes).toHaveLength(2);
    expect(deletes[0].query).toMatch(
      new RegExp(`^DELETE FROM ${DB}\\.profiles_1h_local ON CLUSTER prod WHERE `),
    );
    expect(deletes[1].query).toMatch(
      new RegExp(`^DELETE FROM ${DB}\\.profiles_1h_all_local ON CLUSTER prod WHERE `),
    );
    expect(
      statements
        .filter((s) => s.query.startsWith('INSERT'))
        .map((s) => /^INSERT INTO (\S+)/.exec(s.query)![1]),
    ).toEqual([`${DB}.profiles_1h`, `${DB}.profiles_1h_all`, `${DB}.series`]);
    expect(inserted).toEqual([`${DB}.rollup_hours`]);
    const { client } = createStoreClient({
      dataDir: path.join(os.tmpdir(), `flamewatch-jest-${process.pid}`),
      database: DB,
      retentionDays: 30,
    });
    try {
      for (const { query } of statements) {
        const rs = await client.query({
          query: 'SELECT formatQuery({q:String}) AS f',
          query_params: { q: query },
          format: 'JSONEachRow',
        });
        expect((await rs.json<{ f: string }>())[0].f.length).toBeGreaterThan(0);
      }
    } finally {
      await client.close();
    }
  });

  it("alters a table's columns on the local and the Distributed table, its TTL and codecs on the local one only", () => {
    const tables = new Set(['regressions', 'profiles']);
    expect(
      clusterStatements(
        `ALTER TABLE ${DB}.regressions ADD COLUMN IF NOT EXISTS budget String DEFAULT ''`,
        DB,
        'c',
        tables,
      ),
    ).toEqual([
      `ALTER TABLE ${DB}.regressions_local ON CLUSTER c ADD COLUMN IF NOT EXISTS budget String DEFAULT ''`,
      `ALTER TABLE ${DB}.regressions ON CLUSTER c ADD COLUMN IF NOT EXISTS budget String DEFAULT ''`,
    ]);
    const work = MIGRATIONS.find((m) => m.version === 8)!;
    expect(migrationStatements(work, DB, 30, 'c')).toEqual([
      `ALTER TABLE ${DB}.profiles_local ON CLUSTER c ADD COLUMN IF NOT EXISTS work Float64 DEFAULT 0`,
      `ALTER TABLE ${DB}.profiles ON CLUSTER c ADD COLUMN IF NOT EXISTS work Float64 DEFAULT 0`,
      `ALTER TABLE ${DB}.profiles_local ON CLUSTER c ADD COLUMN IF NOT EXISTS process String DEFAULT ''`,
      `ALTER TABLE ${DB}.profiles ON CLUSTER c ADD COLUMN IF NOT EXISTS process String DEFAULT ''`,
    ]);
    expect(
      clusterStatements(
        `ALTER TABLE ${DB}.profiles MODIFY TTL toDateTime(time) + toIntervalDay(7)`,
        DB,
        'c',
        tables,
      ),
    ).toEqual([
      `ALTER TABLE ${DB}.profiles_local ON CLUSTER c MODIFY TTL toDateTime(time) + toIntervalDay(7)`,
    ]);
    const codecs = MIGRATIONS.find((m) => m.version === 12)!;
    expect(migrationStatements(codecs, DB, 30, 'c')).toEqual([
      `ALTER TABLE ${DB}.profiles_local ON CLUSTER c MODIFY COLUMN stack_ids Array(UInt64) CODEC(ZSTD(1))`,
      `ALTER TABLE ${DB}.profiles_local ON CLUSTER c MODIFY COLUMN values Array(Int64) CODEC(ZSTD(1))`,
      `ALTER TABLE ${DB}.profiles_1h_local ON CLUSTER c MODIFY COLUMN value SimpleAggregateFunction(sum, Int64) CODEC(ZSTD(1))`,
    ]);
  });

  it('refuses a statement it has no cluster form for, and a cluster name that is not an identifier', () => {
    expect(() =>
      clusterStatements(`INSERT INTO ${DB}.profiles SELECT 1`, DB, 'c', new Set(['profiles'])),
    ).toThrow(/no cluster form/);
    expect(() => clusterStatements(`CREATE DATABASE IF NOT EXISTS ${DB}`, DB, 'c; DROP', new Set())).toThrow(
      /cluster name/,
    );
    const base = { dataDir: './data', database: 'flamewatch', retentionDays: 30 };
    expect(() => checkStoreConfig({ ...base, cluster: 'prod' })).toThrow(/needs CLICKHOUSE_URL/);
    expect(checkStoreConfig({ ...base, cluster: 'prod', url: 'http://ch:8123' }).cluster).toBe('prod');
    expect(checkStoreConfig({ ...base, cluster: '', url: 'http://ch:8123' }).cluster).toBeUndefined();
  });

  it('migrates in cluster mode through ON CLUSTER statements only, rows through the Distributed tables', async () => {
    const commands: string[] = [];
    const inserts: string[] = [];
    const fake = {
      command: async ({ query }: { query: string }) => void commands.push(query),
      query: async () => ({ json: async () => [] }),
      insert: async ({ table }: { table: string }) => void inserts.push(table),
    } as unknown as ClickHouseClient;
    const applied = await migrate(fake, DB, 30, { cluster: 'prod' });
    expect(applied).toEqual(MIGRATIONS.map((m) => m.version));
    expect(commands[0]).toBe(`CREATE DATABASE IF NOT EXISTS ${DB} ON CLUSTER prod`);
    expect(commands[1]).toMatch(
      new RegExp(
        `^CREATE TABLE IF NOT EXISTS ${DB}.schema_migrations_local ON CLUSTER prod .*ReplicatedMergeTree`,
      ),
    );
    expect(commands[2]).toMatch(
      new RegExp(
        `^CREATE TABLE IF NOT EXISTS ${DB}.schema_migrations ON CLUSTER prod AS ${DB}.schema_migrations_local ENGINE = Distributed`,
      ),
    );
    const ddl = commands.filter((c) => !c.startsWith('INSERT'));
    for (const c of ddl) expect(c).toMatch(/ON CLUSTER prod/);
    expect(commands.filter((c) => c.startsWith('INSERT'))).toEqual([]);
    expect(inserts.every((t) => t === `${DB}.schema_migrations`)).toBe(true);
  });

  it('writes statements ClickHouse parses', async () => {
    const { client } = createStoreClient({
      dataDir: path.join(os.tmpdir(), `flamewatch-jest-${process.pid}`),
      database: DB,
      retentionDays: 30,
    });
    try {
      for (const statement of all('prod')) {
        const rs = await client.query({
          query: 'SELECT formatQuery({q:String}) AS f',
          query_params: { q: statement },
          format: 'JSONEachRow',
        });
        const [{ f }] = await rs.json<{ f: string }>();
        expect(f).toMatch(/ON CLUSTER prod/);
      }
    } finally {
      await client.close();
    }
  });
});
