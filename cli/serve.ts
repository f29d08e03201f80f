import type { Server } from 'node:http';
import { Command, InvalidArgumentError } from 'commander';

function port(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535)
    throw new InvalidArgumentError('a port is a whole number from 0 to 65535');
  return n;
}

function wholeNumber(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('a whole number');
  return Number(value);
}

/** `flamewatch serve`: the API and ingest on one port, embedded chDB unless CLICKHOUSE_URL is set. */
export function serveCommand(): Command {
  return new Command('serve')
    .description('run the server: ingest, query API and UI (embedded chDB unless CLICKHOUSE_URL is set)')
    .option('-p, --port <port>', 'port to listen on (default: $PORT, else 4040)', port)
    .option('--host <host>', 'address to listen on (default: $FLAMEWATCH_HOST, else 127.0.0.1)')
    .option('-d, --data <dir>', 'chDB data directory, embedded mode (default: $FLAMEWATCH_DATA, else ./data)')
    .option(
      '--retention-days <days>',
      'days to keep profiles (default: $FLAMEWATCH_RETENTION_DAYS, else 30)',
      wholeNumber,
    )
    .option(
      '--cluster <name>',
      'ClickHouse cluster (with CLICKHOUSE_URL): replicated, sharded tables made ON CLUSTER (default: $FLAMEWATCH_CLICKHOUSE_CLUSTER)',
    )
    .option(
      '--no-self-profile',
      'do not profile the server itself (by default it does, as service flamewatch-server)',
    )
    .action(
      async (opts: {
        port?: number;
        host?: string;
        data?: string;
        retentionDays?: number;
        cluster?: string;
        selfProfile: boolean;
      }) => {
        // Loaded here, not at the top: other commands (collapse, push) start in
        // milliseconds without express, the ClickHouse client and chDB.
        const { loadConfig, storeWith } = require('./config') as typeof import('./config');
        const { createApp } = require('../server/app') as typeof import('../server/app');
        const { openStore } = require('../store') as typeof import('../store');
        const { authSettings } = require('../server/auth') as typeof import('../server/auth');
        // Every setting is checked before anything opens; flags win over the environment.
        const env = loadConfig(process.env);
        const host = opts.host ?? env.host;
        const listenPort = opts.port ?? env.port;
        // A server others can reach never starts without authentication by accident.
        const auth = authSettings(env.auth, host);
        const config = storeWith(env, {
          dataDir: opts.data,
          retentionDays: opts.retentionDays,
          cluster: opts.cluster,
        });
        const store = await openStore(config);
        // Jobs: on BullMQ when REDIS_URL is set (this process only enqueues; `flamewatch worker` runs them), else in this process.
        const { scheduleSweep, scheduleRollups } =
          require('../jobs/processors') as typeof import('../jobs/processors');
        const { startJobs } = require('./jobs') as typeof import('./jobs');
        const log = (msg: string) => console.error(msg);
        const redisUrl = env.redisUrl;
        const { runner: jobs, detection } = await startJobs({
          store,
          detection: {
            ...env.detection,
            publicUrl:
              env.detection.publicUrl ?? `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${listenPort}`,
          },
          redisUrl,
          role: redisUrl ? 'enqueue-only' : 'all',
          concurrency: env.jobConcurrency,
          log,
        });
        // Regressions are found on a schedule, with no button to press. The id makes this idempotent across replicas.
        await scheduleSweep(jobs, detection.sweepEveryMs).catch((err: Error) =>
          log(`flamewatch: could not schedule regression detection: ${err.message}`),
        );
        // Hours are rolled up once they are over; until then (or if this is off) queries read raw profiles.
        await scheduleRollups(jobs, env.rollupEveryMs).catch((err: Error) =>
          log(`flamewatch: could not schedule rollups: ${err.message}`),
        );
        console.log(
          `flamewatch jobs: ${redisUrl ? `${jobs.transport}, run by flamewatch worker` : 'in-process (no REDIS_URL)'}`,
        );
        if (redisUrl && store.engine === 'chdb') {
          console.error(
            'flamewatch: REDIS_URL is set but the store is embedded chDB, which workers cannot read: set CLICKHOUSE_URL for both',
          );
        }
        // The self-profiling agent pushes with a token that lives only in this process.
        const { newToken } = require('../store/tokens') as typeof import('../store/tokens');
        const selfToken = auth.options.mode === 'token' && opts.selfProfile ? newToken() : undefined;
        if (selfToken)
          auth.options.internalTokens = [
            { token: selfToken, tenant: auth.options.adminTenant ?? 'default', scopes: ['ingest'] },
          ];
        // With Redis, every replica counts tenants' rates and series in one place.
        let limitState: import('../server/ingest/shared-limits').LimitState | undefined;
        if (redisUrl) {
          const { RedisLimitState } =
            require('../server/ingest/shared-limits') as typeof import('../server/ingest/shared-limits');
          const { LocalLimitState } =
            require('../server/ingest/tenant-limits') as typeof import('../server/ingest/tenant-limits');
          const shared = new RedisLimitState({ redisUrl, fallback: new LocalLimitState(), log });
          // Until Redis answers, each server counts on its own (never refusing to start over it).
          if (!(await shared.ready(3000)))
            log('flamewatch: Redis not reachable yet: tenant limits are counted per server until it is');
          limitState = shared;
        }
        const { app, close, otlpExport } = createApp({
          store,
          limitState,
          ingestWorkers: env.ingestWorkers,
          ingestMaxInFlight: env.ingestMaxInFlight,
          jobs,
          // A pull request's run is compared this long after its profiles start arriving, and again each such slot while they keep coming.
          pullRequestDelayMs: env.pullRequestDelayMs,
          auth: auth.options,
          tenantLimits: env.limits,
          ...(env.sourceRoots
            ? {
                sourceRoots: await (
                  require('../server/source') as typeof import('../server/source')
                ).parseSourceRoots(env.sourceRoots),
              }
            : {}),
        });
        const server: Server = await new Promise((resolve, reject) => {
          const s = app.listen(listenPort, host, () => resolve(s));
          s.once('error', reject);
        });
        const address = server.address();
        const actualPort = typeof address === 'object' && address ? address.port : listenPort;
        const where =
          store.engine === 'chdb' ? `embedded chDB in ${config.dataDir}` : 'ClickHouse at CLICKHOUSE_URL';
        console.log(`flamewatch listening on http://${host}:${actualPort} (${where})`);
        console.log(`flamewatch: ${auth.notice}`);
        // OTLP over gRPC, on a port of its own, only when asked for.
        let otlpGrpc: import('../server/otlp/grpc').OtlpGrpcServer | undefined;
        if (env.otlpGrpc) {
          const grpc = require('../server/otlp/grpc') as typeof import('../server/otlp/grpc');
          const { DEFAULT_LIMITS } =
            require('../server/ingest/limits') as typeof import('../server/ingest/limits');
          const grpcAt = grpc.grpcAddress(env.otlpGrpc, host);
          otlpGrpc = await grpc.startOtlpGrpc({
            address: grpcAt,
            exporter: otlpExport,
            // The largest any tenant may send; each call is then held to its tenant's own limit.
            maxMessageBytes: Math.max(
              DEFAULT_LIMITS.maxDecompressedBytes,
              ...Object.values(env.limits ?? {}).map((l) => l.maxDecompressedBytes ?? 0),
            ),
            log,
          });
          console.log(
            `flamewatch: OTLP profiles over gRPC on ${grpcAt.replace(/:\d+$/, '')}:${otlpGrpc.port} (ProfilesService/Export)`,
          );
        }
        // Data to look at within seconds of the first start, as Pyroscope does:
        // the server profiles itself with the same agent services use.
        const selfProfile = opts.selfProfile
          ? (require('@flamewatch/agent') as typeof import('@flamewatch/agent')).start({
              server: `http://127.0.0.1:${actualPort}`,
              service: 'flamewatch-server',
              labels: { engine: store.engine },
              authToken: selfToken,
            })
          : undefined;

        let closing = false;
        const shutdown = (signal: string) => {
          if (closing) return;
          closing = true;
          console.log(`flamewatch: ${signal}, finishing in-flight requests`);
          const grpcClosed = otlpGrpc?.close();
          server.close(() => {
            // Running jobs and OTLP calls under way finish before the store they use closes.
            Promise.all([
              Promise.all([grpcClosed?.then(close) ?? close(), jobs.close()]).then(() => store.close()),
              selfProfile?.stop(),
            ]).then(
              () => process.exit(0),
              () => process.exit(1),
            );
          });
          server.closeIdleConnections();
          setTimeout(() => process.exit(1), 10_000).unref();
        };
        process.on('SIGINT', () => shutdown('SIGINT'));
        process.on('SIGTERM', () => shutdown('SIGTERM'));
      },
    );
}
