import type { IngestLimits } from './limits';
import type { PreparedIngest } from './prepare';
import type { IngestDeps } from './route';

/** A prepared profile of a request that carries several (Connect push, OTLP), with the labels it was pushed with. */
export interface PreparedProfile {
  ingest: PreparedIngest;
  labels: Record<string, string>;
}

/**
 * Commits the profiles of one multi-profile request together: each service's new series admitted once
 * (whichever profile brings them), one write for all, counted under `format`. Throws (nothing written) when the
 * series limit refuses.
 */
export async function commitPrepared(
  deps: IngestDeps,
  tenant: string,
  limits: IngestLimits,
  prepared: readonly PreparedProfile[],
  format: string,
): Promise<void> {
  const byService = new Map<string, Set<number>>();
  for (const { ingest } of prepared) {
    const keys = byService.get(ingest.summary.service) ?? new Set<number>();
    for (const k of ingest.seriesKeys) keys.add(k);
    byService.set(ingest.summary.service, keys);
  }
  for (const [service, keys] of byService) await deps.limits.admitSeries(tenant, service, [...keys], limits);
  if (prepared.length) await deps.writer.write(prepared.map((p) => p.ingest.write));
  for (const { ingest } of prepared) {
    deps.metrics.ingestedProfiles.inc({ format });
    deps.metrics.ingestedSamples.inc(ingest.summary.samples);
  }
}
