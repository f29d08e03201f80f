import { availableParallelism } from 'node:os';
import compression from 'compression';
import express from 'express';
import type { JobQueue } from '../profile/jobs';
import type { Store } from '../store';
import { budgetsRouter } from './api/budgets';
import { regressionsRouter } from './api/regressions';
import { apiRouter } from './api/routes';
import { tokensRouter } from './api/tokens';
import { apiScope, Auth, type AuthOptions } from './auth';
import { errorHandler } from './errors';
import { homeRouter } from './home';
import { DEFAULT_MAX_IN_FLIGHT, IngestAdmission } from './ingest/admission';
import type { IngestLimits } from './ingest/limits';
import { IngestPool } from './ingest/pool';
import { ingestRouter } from './ingest/route';
import { type LimitOverrides, TenantLimits } from './ingest/tenant-limits';
import type { LimitState } from './ingest/shared-limits';
import { Metrics } from './metrics';
import { securityHeaders } from './security';
import { pullRequestTrigger } from './pull-requests';
import type { SourceRoots } from './source';
import { pushRouter } from './connect/push';
import { otlpExporter, otlpRouter } from './otlp/route';
import type { OtlpExport } from './otlp/grpc';
import { querierRouter, sendError } from './connect/querier';

export interface AppOptions {
  store: Store;
  /** Ingest limits of every tenant (defaults: DEFAULT_LIMITS). */
  limits?: Partial<IngestLimits>;
  /** Limits by tenant (`*` for all), over `limits` (FLAMEWATCH_LIMITS). */
  tenantLimits?: LimitOverrides;
  /** Where tenants' rates and series are counted: this process (default), or shared by the replicas through Redis. Closed with the app. */
  limitState?: LimitState;
  /** Who may do what (server/auth.ts). Default: open, the tenant from X-Scope-OrgID. */
  auth?: AuthOptions;
  /** Threads decoding ingest bodies; 0 decodes on the request thread. Default: one per core. */
  ingestWorkers?: number;
  /** Pushes worked on at once, every tenant together; past it 429 `ingest_saturated` before the body is read (FLAMEWATCH_INGEST_MAX_IN_FLIGHT; default 512). */
  ingestMaxInFlight?: number;
  log?: (msg: string) => void;
  /** The job queue the server enqueues into and reads (BullMQ or in-process); optional, as in tests without jobs. */
  jobs?: JobQueue;
  /** How long a pull request's run is gathered before it is compared (ms; see server/pull-requests.ts). */
  pullRequestDelayMs?: number;
  /** Where the source beside a function's lines is read (FLAMEWATCH_SOURCE_ROOTS; server/source.ts). Default none. */
  sourceRoots?: SourceRoots;
}

/** The HTTP app and what must be stopped with it. */
export interface ServerApp {
  app: express.Express;
  /** OTLP's Export for the gRPC port (server/otlp/grpc.ts), with the app's auth, limits and pool. */
  otlpExport: OtlpExport;
  close(): Promise<void>;
}

export { DEFAULT_TENANT } from './auth';

/** Builds the HTTP app (listening is the caller's business, so tests run it in process). */
export function createApp({
  store,
  limits,
  tenantLimits,
  limitState,
  auth: authOptions = { mode: 'open' },
  ingestWorkers = availableParallelism(),
  ingestMaxInFlight = DEFAULT_MAX_IN_FLIGHT,
  log = (m) => console.error(m),
  jobs,
  pullRequestDelayMs,
  sourceRoots,
}: AppOptions): ServerApp {
  const admission = new IngestAdmission(ingestMaxInFlight);
  const metrics = new Metrics(() => admission.current);
  const pool = new IngestPool(ingestWorkers, store.writer.knownStacks, 1024, log);
  const auth = new Auth(authOptions, store.tokens);
  const tenantOf = auth.tenantOf;
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  app.use(securityHeaders());

  app.use((req, res, next) => {
    const end = metrics.requestDuration.startTimer();
    res.on('finish', () =>
      end({ route: req.route?.path ?? req.baseUrl + (req.route ? '' : '*'), status: String(res.statusCode) }),
    );
    next();
  });

  const onStored = jobs ? pullRequestTrigger(jobs, { delayMs: pullRequestDelayMs, log }) : undefined;
  // Auth runs on the same paths the routers match (express' matching, case-insensitive), so no spelling of a path skips it.
  app.post(
    '/ingest',
    auth.require('ingest', (reason) => metrics.discardedProfiles.inc({ reason })),
  );
  app.use(
    '/api/v1',
    auth.require((req) => apiScope(req.method, req.path)),
  );
  const ingestDeps = {
    writer: store.writer,
    pool,
    admission,
    metrics,
    limits: new TenantLimits(limits, tenantLimits, limitState),
    tenantOf,
    onStored,
  };
  app.use(ingestRouter(ingestDeps));
  // Pyroscope's ingest over Connect: the ingest scope, as /ingest; refusals in Connect's shape.
  app.use(
    '/push.v1.PusherService',
    auth.require('ingest', (reason) => metrics.discardedProfiles.inc({ reason })),
  );
  app.use(pushRouter(ingestDeps, log));
  // OpenTelemetry's profiles (OTLP/HTTP): the ingest scope, as /ingest.
  app.use(
    '/v1development/profiles',
    auth.require('ingest', (reason) => metrics.discardedProfiles.inc({ reason })),
  );
  app.use(otlpRouter(ingestDeps, log));
  app.use('/push.v1.PusherService', ((err, _req, res, _next) =>
    sendError(res, err, log)) as express.ErrorRequestHandler);
  // Query answers and the UI compress well (a 100k-node flame graph is ~10x smaller gzipped); ingest bodies are already compressed.
  app.use(compression());
  app.use('/api/v1', tokensRouter({ tokens: store.tokens, auth }));
  // A tenant's token sees its own jobs only; the operator and open mode see the whole queue.
  const jobTenant = (req: express.Request) =>
    auth.mode === 'open' || auth.principalOf(req)?.operator ? undefined : tenantOf(req);
  app.use('/api/v1', regressionsRouter({ store, tenantOf, jobs, jobTenant }));
  app.use('/api/v1', budgetsRouter({ store, tenantOf }));
  app.use('/api/v1', apiRouter({ queries: store.queries, tenantOf, sourceRoots }));
  // Pyroscope's query API over Connect (Grafana's data source): read scope, errors in Connect's shape.
  app.use('/querier.v1.QuerierService', auth.require('read'));
  app.use(querierRouter({ queries: store.queries, tenantOf, log }));
  app.use('/querier.v1.QuerierService', ((err, _req, res, _next) =>
    sendError(res, err, log)) as express.ErrorRequestHandler);

  app.get('/healthz', async (_req, res) => {
    const ok = await store.ping().catch(() => false);
    res.status(ok ? 200 : 503).json({ status: ok ? 'ok' : 'store unavailable', engine: store.engine });
  });
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  app.use(homeRouter());
  app.use((req, res) => {
    const error = `no route ${req.method} ${req.path}; the API is under /api/v1, ingest at POST /ingest`;
    // A person who typed a wrong address gets a page with the way home; programs get JSON.
    if (req.method === 'GET' && !req.path.startsWith('/api/') && req.accepts(['json', 'html']) === 'html') {
      res
        .status(404)
        .type('html')
        .send(
          `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Not found · Flamewatch</title></head><body><h1>No page here</h1><p>${escapeHtml(error)}.</p><p><a href="/">Flamewatch</a></p></body></html>`,
        );
      return;
    }
    res.status(404).json({ error, reason: 'not_found' });
  });
  app.use(errorHandler(log));
  return {
    app,
    otlpExport: otlpExporter(ingestDeps, (headers) => auth.tenantOfHeaders(headers, 'ingest')),
    close: async () => void (await Promise.all([pool.close(), limitState?.close()])),
  };
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
