import { availableParallelism } from 'node:os';
import compression from 'compression';
import express, { type Request } from 'express';
import { InputError } from '../profile/errors';
import type { JobQueue } from '../profile/jobs';
import type { Store } from '../store';
import { regressionsRouter } from './api/regressions';
import { apiRouter } from './api/routes';
import { errorHandler } from './errors';
import { homeRouter } from './home';
import { DEFAULT_LIMITS, type IngestLimits } from './ingest/limits';
import { IngestPool } from './ingest/pool';
import { ingestRouter } from './ingest/route';
import { Metrics } from './metrics';

export interface AppOptions {
  store: Store;
  limits?: Partial<IngestLimits>;
  /** Threads decoding ingest bodies; 0 decodes on the request thread. Default: one per core. */
  ingestWorkers?: number;
  log?: (msg: string) => void;
  /** The job queue the server enqueues into and reads (BullMQ or in-process); optional, as in tests without jobs. */
  jobs?: JobQueue;
}

/** The HTTP app and what must be stopped with it. */
export interface ServerApp {
  app: express.Express;
  close(): Promise<void>;
}

const TENANT = /^[A-Za-z0-9_.\-]{1,64}$/;
export const DEFAULT_TENANT = 'default';

/** The tenant of a request: Pyroscope's X-Scope-OrgID header, or the default tenant. */
export function tenantOf(req: Request): string {
  const header = req.headers['x-scope-orgid'];
  if (header === undefined || header === '') return DEFAULT_TENANT;
  if (typeof header !== 'string' || !TENANT.test(header)) {
    throw new InputError('invalid_parameter', 'X-Scope-OrgID must be 1-64 letters, digits, _ . or -');
  }
  return header;
}

/** Builds the HTTP app (listening is the caller's business, so tests run it in process). */
export function createApp({ store, limits, ingestWorkers = availableParallelism(), log = (m) => console.error(m), jobs }: AppOptions): ServerApp {
  const metrics = new Metrics();
  const pool = new IngestPool(ingestWorkers, store.writer.knownStacks, 1024, log);
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');

  app.use((req, res, next) => {
    const end = metrics.requestDuration.startTimer();
    res.on('finish', () => end({ route: req.route?.path ?? req.baseUrl + (req.route ? '' : '*'), status: String(res.statusCode) }));
    next();
  });

  app.use(ingestRouter({ writer: store.writer, pool, metrics, limits: { ...DEFAULT_LIMITS, ...limits }, tenantOf }));
  // Query answers and the UI compress well (a 100k-node flame graph is ~10x smaller gzipped); ingest bodies are already compressed.
  app.use(compression());
  app.use('/api/v1', regressionsRouter({ store, tenantOf, jobs }));
  app.use('/api/v1', apiRouter({ queries: store.queries, tenantOf }));

  app.get('/healthz', async (_req, res) => {
    const ok = await store.ping().catch(() => false);
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'store unavailable', engine: store.engine });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  app.use(homeRouter());
  app.use((req, res) => {
    res.status(404).json({ error: `no route ${req.method} ${req.path}; the API is under /api/v1, ingest at POST /ingest`, reason: 'not_found' });
  });
  app.use(errorHandler(log));
  return { app, close: () => pool.close() };
}
