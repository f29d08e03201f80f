import { Router, type Request } from 'express';
import { InputError } from '../../profile/errors';
import { parseFolded } from '../../profile/folded';
import type { Profile } from '../../profile/model';
import { decodePprof, isGzip } from '../../profile/pprof';
import { splitProfile } from '../../profile/series';
import type { ProfileWriter } from '../../store/writer';
import { reasonOf } from '../errors';
import type { Metrics } from '../metrics';
import { gunzipLimited, type IngestLimits, readBody } from './limits';
import { parseMultipart } from './multipart';
import { type BodyFormat, checkLabels, readIngestParams, serviceAndType } from './params';
import { applySampleTypeConfig } from './sample-type-config';

export interface IngestDeps {
  writer: ProfileWriter;
  metrics: Metrics;
  limits: IngestLimits;
  tenantOf: (req: Request) => string;
}

// Folded text has no control bytes but tabs, newlines and NUL-free UTF-8; a pprof message is binary from its first field.
function looksLikeText(bytes: Buffer): boolean {
  const n = Math.min(bytes.length, 512);
  for (let i = 0; i < n; i++) {
    const b = bytes[i];
    if ((b < 0x09 && b !== 0x00) || (b > 0x0d && b < 0x20)) return false;
  }
  return true;
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
    try {
      const tenant = deps.tenantOf(req);
      const params = readIngestParams(req.query as Record<string, unknown>, started);
      const body = await readBody(req, deps.limits);
      const contentType = req.headers['content-type'] ?? '';
      let bytes = body;
      let format: BodyFormat | undefined = params.format;
      let sampleTypeConfig: Buffer | undefined;
      if (contentType.startsWith('multipart/form-data')) {
        const parts = await parseMultipart(body, contentType);
        bytes = parts.profile;
        sampleTypeConfig = parts.sampleTypeConfig;
        format ??= 'pprof';
      }
      if (bytes.length === 0) throw new InputError('empty_profile', 'the request has no profile in its body');
      if (isGzip(bytes)) bytes = await gunzipLimited(bytes, deps.limits);
      // With no format and no multipart, Pyroscope reads folded text.
      if (format === undefined && !looksLikeText(bytes)) {
        throw new InputError('invalid_profile', 'body is binary, not folded text: for pprof add format=pprof to the query string');
      }
      format ??= 'folded';

      const { service, type } = serviceAndType(params.appName, format, params.units);
      let profile: Profile =
        format === 'pprof' ? decodePprof(bytes) : parseFolded(new TextDecoder().decode(bytes), type!, format === 'lines');
      if (sampleTypeConfig) profile = applySampleTypeConfig(profile, sampleTypeConfig);

      const split = splitProfile(profile, params.labels);
      for (const s of split.series) checkLabels(s.labels);
      // As Pyroscope reads them: missing from/until mean now (the file's own
      // timestamp is not trusted: agents' clocks and replays would misplace it).
      const until = params.until ?? started;
      const fileDurationMs = profile.durationNanos !== undefined ? Math.round(profile.durationNanos / 1e6) : 0;
      const time = params.from ?? until - Math.min(fileDurationMs, until);
      const durationMs = until - time;

      await deps.writer.write([{ tenant, service, time, durationMs: Math.min(durationMs, 0xffffffff), profile: split }]);
      deps.metrics.ingestedProfiles.inc({ format });
      deps.metrics.ingestedSamples.inc(split.samples);
      deps.metrics.ingestedBytes.inc(body.length);
      res.json({
        service,
        types: profile.sampleTypes.map((t) => `${t.type}:${t.unit}`),
        series: split.series.length,
        samples: split.samples,
        time,
      });
    } catch (err) {
      req.resume();
      deps.metrics.discardedProfiles.inc({ reason: reasonOf(err) });
      next(err);
    }
  });
  return router;
}
