import { Router, type Request } from 'express';
import type { ProfileWriter } from '../../store/writer';
import { reasonOf } from '../errors';
import type { Metrics } from '../metrics';
import type { IngestAdmission } from './admission';
import { labelLimits, readBody } from './limits';
import { readIngestParams } from './params';
import type { IngestPool } from './pool';
import type { TenantLimits } from './tenant-limits';

export interface IngestDeps {
  writer: ProfileWriter;
  pool: IngestPool;
  /** The server's back-pressure: pushes worked on at once. */
  admission: IngestAdmission;
  metrics: Metrics;
  /** Each tenant's limits, and its rate and series so far. */
  limits: TenantLimits;
  tenantOf: (req: Request) => string;
  /** Told of each stored profile once it is acknowledged (e.g. to start a pull request's comparison); must not throw. */
  onStored?: (stored: { tenant: string; service: string; labels: Readonly<Record<string, string>> }) => void;
}

/**
 * POST /ingest, Pyroscope's protocol: pprof (raw, gzip or multipart as the
 * SDKs send it) or folded text. Answers 200 only once the profile is
 * committed; any refusal is a 4xx with nothing stored.
 */
export function ingestRouter(deps: IngestDeps): Router {
  const router = Router();
  router.post('/ingest', async (req, res, next) => {
    const started = Date.now();
    const release = deps.writer.announce();
    let finished: (() => void) | undefined;
    try {
      const tenant = deps.tenantOf(req);
      const limits = deps.limits.of(tenant);
      // Cheap refusals first, before the body is read.
      await deps.limits.admitPush(tenant, limits, started);
      const params = readIngestParams(req.query as Record<string, unknown>, started, labelLimits(limits));
      finished = deps.admission.admit();
      const body = await readBody(req, limits);
      const prepared = await deps.pool.run({
        tenant,
        params,
        body,
        contentType: req.headers['content-type'] ?? '',
        received: started,
        limits,
      });
      await deps.limits.admitSeries(tenant, prepared.summary.service, prepared.seriesKeys, limits);
      await deps.writer.write([prepared.write]);
      deps.metrics.ingestedProfiles.inc({ format: prepared.format });
      deps.metrics.ingestedSamples.inc(prepared.summary.samples);
      deps.metrics.ingestedBytes.inc(body.length);
      res.json(prepared.summary);
      deps.onStored?.({ tenant, service: prepared.summary.service, labels: params.labels });
    } catch (err) {
      req.resume();
      deps.metrics.discardedProfiles.inc({ reason: reasonOf(err) });
      next(err);
    } finally {
      finished?.();
      release();
    }
  });
  return router;
}
