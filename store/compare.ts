/**
 * One comparison of two selections with the regression detector, as the
 * on-demand API (`GET /api/v1/compare`), the scheduled `detect` job, the
 * pull-request job and the deploy gate all make it: both sides' per-process
 * statistics from ClickHouse, `profile/regression.ts`'s verdict, and callers'
 * growth that a slower function below them explains attributed to that
 * function.
 */
import { InputError } from '../profile/errors';
import {
  attributeToCallees,
  detect,
  profileKind,
  type Detection,
  type DetectOptions,
  type ProcessStats,
  type SideStats,
} from '../profile/regression';
import { collisionDepths, shownName } from '../profile/qualify';
import type { ProfileQueries } from './queries';
import { splitFunctionKey, type DetectorStatsStore } from './detector-stats';
import type { Selection } from './selection';

export interface Comparison {
  detection: Detection;
  /** The unit both sides were read in. */
  unit: string;
}

export { profileKind };

/**
 * The unit to compare in: the one asked for, else the only one both sides
 * hold. Several units (cpu pushed in samples by one SDK and in nanoseconds
 * by another) are never summed: that is a 400 naming them.
 */
async function unitFor(queries: ProfileQueries, baseline: Selection, candidate: Selection): Promise<string> {
  if (candidate.unit !== undefined) return candidate.unit;
  const units = new Set([...(await queries.unitsOf(baseline)), ...(await queries.unitsOf(candidate))]);
  if (units.size > 1) {
    const list = [...units].sort();
    throw new InputError(
      'invalid_parameter',
      `${candidate.type} is stored in several units (${list.join(', ')}); ask for one, e.g. type=${candidate.type}:${list[0]}`,
    );
  }
  return [...units][0] ?? '';
}

/** Compares `candidate` with `baseline`; both must be of one tenant, service and type. */
export async function compareSelections(
  store: { queries: ProfileQueries; stats: DetectorStatsStore },
  baseline: Selection,
  candidate: Selection,
  options: Partial<DetectOptions> = {},
  /** Leave out each named process's first this many ms (see DetectorStatsStore.sideStats). */
  warmupMs = 0,
): Promise<Comparison> {
  const unit = await unitFor(store.queries, baseline, candidate);
  const [bSel, cSel] = unit
    ? [
        { ...baseline, unit },
        { ...candidate, unit },
      ]
    : [baseline, candidate];
  // Both sides are read as one kind (a gauge if either is), asked once a side.
  const kinds = await Promise.all([store.queries.kindOf(bSel), store.queries.kindOf(cSel)]);
  const kind = kinds.includes('gauge') ? 'gauge' : 'cost';
  const [b, c] = await Promise.all([
    store.stats.sideStats(bSel, { warmupMs, kind }),
    store.stats.sideStats(cSel, { warmupMs, kind }),
  ]);
  const depths = labelFunctions([b, c]);
  let detection = detect(b, c, { kind, ...definedOnly(options) });
  if (depths.size) detection = { ...detection, qualifiedNames: [...depths.keys()].sort() };
  if (detection.regressions.length + detection.improvements.length + detection.inconclusive.length > 0) {
    const stacks = (await store.queries.stacks(cSel)).map((sv) =>
      sv.files && sv.stack.some((n) => depths.has(n))
        ? { ...sv, stack: sv.stack.map((n, i) => shownName(n, sv.files![i], depths)) }
        : sv,
    );
    detection = attributeToCallees(detection, stacks);
  }
  return { detection, unit };
}

/**
 * Names the sides' functions as the views do (profile/qualify.ts): a name one side holds in several files is
 * shown with its file on both, `emit (events.js)`; every other function by its name, whatever its file on each
 * side. Rewrites the sides' function maps in place; returns the collisions' depths, to name stacks alike.
 */
export function labelFunctions(sides: SideStats[]): Map<string, number> {
  const perSide = sides.map((side) => {
    const files = new Map<string, Set<string>>();
    for (const p of side.processes)
      for (const key of p.functions.keys()) {
        const { name, file } = splitFunctionKey(key);
        let set = files.get(name);
        if (!set) files.set(name, (set = new Set()));
        set.add(file);
      }
    return files;
  });
  const depths = collisionDepths(perSide);
  // A name a side holds in several files is named by file even when only one of its files passed the detector's
  // threshold there, as the views name it.
  for (const side of sides)
    for (const name of side.collisions ?? []) if (!depths.has(name)) depths.set(name, 1);
  for (const side of sides)
    for (const p of side.processes) {
      const renamed: ProcessStats['functions'] = new Map();
      for (const [key, v] of p.functions) {
        const { name, file } = splitFunctionKey(key);
        renamed.set(shownName(name, file, depths), v);
      }
      p.functions = renamed;
    }
  return depths;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
