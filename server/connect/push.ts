/**
 * Pyroscope's ingest over Connect, `push.v1.PusherService/Push` (its newer SDKs
 * and Grafana Alloy push through it): each series is a label set
 * (`service_name`, `__name__` and the rest) with pprof profiles. Every profile
 * goes through what `POST /ingest` does (the tenant's rate and series limits,
 * decoding on the worker pool, the same rows), and the push is all or
 * nothing: the answer is sent once every profile of it is committed, and a
 * refused one stores none of them.
 */
import { Router, type Request, type Response } from 'express';
import { InputError } from '../../profile/errors';
import { formatSelector } from '../../profile/selector';
import { commitPrepared, type PreparedProfile } from '../ingest/commit';
import type { IngestDeps } from '../ingest/route';
import { labelLimits, readBody } from '../ingest/limits';
import { readIngestParams } from '../ingest/params';
import { reasonOf } from '../errors';
import { ConnectError, decodeMessage, encodeMessage, encodingOf, protoRoot } from './codec';
import { sendError } from './querier';

/** Labels Pyroscope's clients send that are not series labels: the profile's name and its push protocol's own. */
const INTERNAL = /^__.*__$/;

/**
 * Profiles one push may carry: each is decoded and held until the whole push is written, so the body limit alone
 * (16 MiB of gzip, each profile up to 64 MiB decoded) would let one request hold gigabytes. SDKs send one or
 * two a push.
 */
export const MAX_PROFILES_PER_PUSH = 64;

export function pushRouter(deps: IngestDeps, log?: (msg: string) => void): Router {
  const router = Router();
  router.post('/push.v1.PusherService/Push', (req: Request, res: Response) => void push(req, res));

  async function push(req: Request, res: Response): Promise<void> {
    const started = Date.now();
    const release = deps.writer.announce();
    let finished: (() => void) | undefined;
    try {
      const encoding = encodingOf(req.headers['content-type']);
      if (!encoding)
        throw Object.assign(
          new ConnectError('invalid_argument', 'send application/proto or application/json'),
          {
            status: 415,
          },
        );
      const tenant = deps.tenantOf(req);
      const limits = deps.limits.of(tenant);
      finished = deps.admission.admit();
      const body = await readBody(req, limits);
      const root = protoRoot();
      const request = decodeMessage(root.lookupType('push.v1.PushRequest'), body, encoding) as {
        series: { labels: { name: string; value: string }[]; samples: { rawProfile: Uint8Array }[] }[];
      };
      const count = request.series.reduce((a, s) => a + s.samples.length, 0);
      if (count > MAX_PROFILES_PER_PUSH)
        throw new InputError(
          'profile_size_limit',
          `a push carries ${count} profiles; the limit is ${MAX_PROFILES_PER_PUSH} (send several pushes)`,
        );
      const prepared: PreparedProfile[] = [];
      for (const [i, series] of request.series.entries()) {
        const all = Object.fromEntries(series.labels.map((l) => [l.name, l.value]));
        const service = all.service_name;
        if (!service) throw new InputError('invalid_parameter', `series ${i} has no service_name label`);
        const labels = Object.fromEntries(
          Object.entries(all).filter(([k]) => k !== 'service_name' && !INTERNAL.test(k)),
        );
        const params = readIngestParams(
          { name: formatSelector(service, labels), format: 'pprof' },
          started,
          labelLimits(limits),
        );
        for (const sample of series.samples) {
          await deps.limits.admitPush(tenant, limits, started);
          const raw = Buffer.from(sample.rawProfile ?? []);
          const ingest = await deps.pool.run({
            tenant,
            params,
            body: raw,
            contentType: 'application/octet-stream',
            received: started,
            limits,
          });
          prepared.push({ ingest, labels: params.labels });
        }
      }
      await commitPrepared(deps, tenant, limits, prepared, 'connect');
      deps.metrics.ingestedBytes.inc(body.length);
      res
        .status(200)
        .type(encoding === 'proto' ? 'application/proto' : 'application/json')
        .send(encodeMessage(root.lookupType('push.v1.PushResponse'), {}, encoding));
      for (const p of prepared)
        deps.onStored?.({ tenant, service: p.ingest.summary.service, labels: p.labels });
    } catch (err) {
      req.resume();
      deps.metrics.discardedProfiles.inc({ reason: reasonOf(err) });
      sendError(res, err, log);
    } finally {
      finished?.();
      release();
    }
  }
  return router;
}
