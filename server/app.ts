import express, { type Request } from 'express';
import { InputError } from '../profile/errors';
import type { Store } from '../store';
import { apiRouter } from './api/routes';
import { errorHandler } from './errors';
import { homeRouter } from './home';
import { DEFAULT_LIMITS, type IngestLimits } from './ingest/limits';
import { ingestRouter } from './ingest/route';
import { Metrics } from './metrics';

export interface AppOptions {
  store: Store;
  limits?: Partial<IngestLimits>;
  log?: (msg: string) => void;
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
export function createApp({ store, limits, log = (m) => console.error(m) }: AppOptions): express.Express {
  const metrics = new Metrics();
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');

  app.use((req, res, next) => {
    const end = metrics.requestDuration.startTimer();
    res.on('finish', () => end({ route: req.route?.path ?? req.baseUrl + (req.route ? '' : '*'), status: String(res.statusCode) }));
    next();
  });

  app.use(ingestRouter({ writer: store.writer, metrics, limits: { ...DEFAULT_LIMITS, ...limits }, tenantOf }));
  app.use('/api/v1', apiRouter({ queries: store.queries, tenantOf }));

  app.get('/healthz', async (_req, res) => {
    const ok = await store.ping().catch(() => false);
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'store unavailable', engine: store.engine });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  app.use(homeRouter());
  app.use(errorHandler(log));
  return app;
}
