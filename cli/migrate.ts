import { Command } from 'commander';

/**
 * `flamewatch migrate`: applies the schema's pending migrations and exits.
 * serve and worker migrate at start too; run this once before starting
 * several of them at the same time (compose does), so replicas never run a
 * migration side by side.
 */
export function migrateCommand(): Command {
  return new Command('migrate')
    .description('create or upgrade the schema in ClickHouse (or chDB) and exit')
    .option(
      '-d, --data <dir>',
      'chDB data directory (embedded mode)',
      process.env.FLAMEWATCH_DATA ?? './data',
    )
    .option('--retention-days <days>', 'days to keep profiles', process.env.FLAMEWATCH_RETENTION_DAYS ?? '30')
    .option(
      '--cluster <name>',
      'ClickHouse cluster (with CLICKHOUSE_URL): replicated, sharded tables made ON CLUSTER',
      process.env.FLAMEWATCH_CLICKHOUSE_CLUSTER,
    )
    .action(async (opts: { data: string; retentionDays: string; cluster?: string }) => {
      const { openStore, storeConfigFromEnv } = require('../store') as typeof import('../store');
      const store = await openStore(
        storeConfigFromEnv(process.env, {
          dataDir: opts.data,
          retentionDays: Number(opts.retentionDays),
          cluster: opts.cluster,
        }),
      );
      await store.close();
      console.log(`flamewatch: schema of ${store.database} is up to date`);
    });
}
