import { Command, InvalidArgumentError } from 'commander';
import { startJobs } from './jobs';

function positive(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('a whole number of at least 1');
  return n;
}

/**
 * `flamewatch worker`: runs the job processors from BullMQ's queues in Redis
 * until SIGTERM or SIGINT, then finishes the jobs it is running. Run any
 * number of them; each job runs in one.
 */
export function workerCommand(): Command {
  return new Command('worker')
    .description(
      'run background jobs from the Redis queues at REDIS_URL (any number of workers; without Redis the jobs run inside flamewatch serve)',
    )
    .option(
      '-c, --concurrency <n>',
      'jobs of one name running at once in this worker (default: FLAMEWATCH_JOB_CONCURRENCY, else 1)',
      positive,
    )
    .option(
      '--cluster <name>',
      'ClickHouse cluster the server uses (its tables are made ON CLUSTER; default: $FLAMEWATCH_CLICKHOUSE_CLUSTER)',
    )
    .action(async (opts: { concurrency?: number; cluster?: string }) => {
      const { loadConfig, storeWith } = require('./config') as typeof import('./config');
      const env = loadConfig(process.env);
      const concurrency = opts.concurrency ?? env.jobConcurrency;
      const redisUrl = env.redisUrl;
      if (!redisUrl)
        throw new Error(
          'flamewatch worker needs REDIS_URL; without Redis the jobs run inside flamewatch serve',
        );
      // An embedded chDB directory belongs to the one process that opened it (the server), so workers read ClickHouse over HTTP.
      if (!env.store.url) {
        throw new Error(
          'flamewatch worker needs CLICKHOUSE_URL: the server and its workers must share a ClickHouse server (an embedded chDB directory belongs to one process)',
        );
      }
      const { openStore } = require('../store') as typeof import('../store');
      const log = (msg: string) => console.error(msg);
      const store = await openStore(storeWith(env, { cluster: opts.cluster }));
      const { runner, names } = await startJobs({
        store,
        // Links in what a worker sends point at FLAMEWATCH_PUBLIC_URL; a worker has no address of its own to offer.
        detection: { ...env.detection, publicUrl: env.detection.publicUrl ?? 'http://127.0.0.1:4040' },
        redisUrl,
        role: 'worker',
        concurrency,
        log,
      });
      let closing = false;
      const shutdown = (signal: string) => {
        if (closing) {
          console.log(`flamewatch worker: ${signal} again, stopping now`);
          process.exit(1);
        }
        closing = true;
        console.log(`flamewatch worker: ${signal}, finishing running jobs (send it again to stop now)`);
        runner
          .close()
          .then(() => store.close())
          .then(
            () => process.exit(0),
            (err: unknown) => {
              console.error(`flamewatch worker: ${err instanceof Error ? err.message : String(err)}`);
              process.exit(1);
            },
          );
      };
      // Listening for signals before saying it runs: whoever waits for that line may stop it at once.
      process.on('SIGINT', () => shutdown('SIGINT'));
      process.on('SIGTERM', () => shutdown('SIGTERM'));
      console.log(
        `flamewatch worker running ${names.length ? names.join(', ') : 'no job names yet'} from ${runner.transport} (concurrency ${concurrency}, pid ${process.pid})`,
      );
    });
}
