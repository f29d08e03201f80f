import { Router, type Request } from 'express';
import type { ProfileWriter } from '../../store/writer';
import { reasonOf } from '../errors';
import type { Metrics } from '../metrics';
import { type IngestLimits, readBody } from './limits';
import { readIngestParams } from './params';
import type { IngestPool } from './pool';

export interface IngestDeps {
  writer: ProfileWriter;
  pool: IngestPool;
  metrics: Metrics;
  limits: IngestLimits;
  tenantOf: (req: Request) => string;
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
    try {
      const tenant = deps.tenantOf(req);
      const params = readIngestParams(req.query as Record<string, unknown>, started);
      const body = await readBody(req, deps.limits);
      const prepared = await deps.pool.run({
        tenant,
        params,
        body,
        contentType: req.headers['content-type'] ?? '',
        received: started,
        limits: deps.limits,
      });
      await deps.writer.write([prepared.write]);
      deps.metrics.ingestedProfiles.inc({ format: prepared.format });
      deps.metrics.ingestedSamples.inc(prepared.summary.samples);
      deps.metrics.ingestedBytes.inc(body.length);
      res.json(prepared.summary);
    } catch (err) {
      req.resume();
      deps.metrics.discardedProfiles.inc({ reason: reasonOf(err) });
      next(err);
    } finally {
      release();
    }
  });
  return router;
}
