/**
 * One comparison of two selections with the regression detector, as the
 * on-demand API (`GET /api/v1/compare`), the scheduled `detect` job and the
 * pull-request job all make it: both sides' per-profile statistics from
 * ClickHouse, `profile/regression.ts`'s verdict, and callers' growth that a
 * slower function below them explains attributed to that function.
 */
import { attributeToCallees, detect, type Detection, type DetectOptions } from '../profile/regression';
import type { ProfileQueries } from './queries';
import type { RegressionStore } from './regressions';
import type { Selection } from './selection';

export interface Comparison {
  detection: Detection;
  /** The candidate's unit (the baseline's when the candidate has none). */
  unit: string;
}

/** Compares `candidate` with `baseline`; both must be of one tenant, service and type. */
export async function compareSelections(
  store: { queries: ProfileQueries; regressions: RegressionStore },
  baseline: Selection,
  candidate: Selection,
  options: Partial<DetectOptions> = {},
): Promise<Comparison> {
  const [b, c] = await Promise.all([store.regressions.sideStats(baseline), store.regressions.sideStats(candidate)]);
  let detection = detect(b, c, definedOnly(options));
  if (detection.regressions.length > 1) detection = attributeToCallees(detection, await store.queries.stacks(candidate));
  const unit = candidate.unit ?? (await store.queries.unitOf(candidate)) ?? (await store.queries.unitOf(baseline)) ?? '';
  return { detection, unit };
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
