import { Command, InvalidArgumentError } from 'commander';

/**
 * `flamewatch migrate`: applies the schema's pending migrations and exits.
 * serve and worker migrate at start too; run this once before starting
 * several of them at the same time (compose does), so replicas never run a
 * migration side by side.
 */
export function migrateCommand(): Command {
  return new Command('migrate')
    .description('create or upgrade the schema in ClickHouse (or chDB) and exit')
    .option('-d, --data <dir>', 'chDB data directory, embedded mode (default: $FLAMEWATCH_DATA, else ./data)')
    .option(
      '--retention-days <days>',
      'days to keep profiles (default: $FLAMEWATCH_RETENTION_DAYS, else 30)',
      (v: string) => {
        if (!/^\d+$/.test(v)) throw new InvalidArgumentError('a whole number');
        return Number(v);
      },
    )
    .option(
      '--cluster <name>',
      'ClickHouse cluster (with CLICKHOUSE_URL): replicated, sharded tables made ON CLUSTER (default: $FLAMEWATCH_CLICKHOUSE_CLUSTER)',
    )
    .action(async (opts: { data?: string; retentionDays?: number; cluster?: string }) => {
      const { loadConfig, storeWith } = require('./config') as typeof import('./config');
      const { openStore } = require('../store') as typeof import('../store');
      const store = await openStore(
        storeWith(loadConfig(process.env), {
          dataDir: opts.data,
          retentionDays: opts.retentionDays,
          cluster: opts.cluster,
        }),
      );
      await store.close();
      console.log(`flamewatch: schema of ${store.database} is up to date`);
    });
}
