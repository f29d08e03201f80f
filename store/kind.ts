/**
 * What kind of profile type a selection holds. A gauge (a level, snapshot
 * after snapshot: in-use memory) is averaged over each series' snapshots and
 * compared as levels; a cost is summed. A type is a gauge by its name
 * (`inuse_*`, profile/regression.ts `profileKind`), or when its pushers said
 * so (Pyroscope's `aggregationType=average`, or `aggregation: average` in a
 * pprof's sample_type_config), which ingest stores per profile.
 */
import type { ClickHouseClient } from '@clickhouse/client';
import { profileKind, type ProfileKind } from '../profile/regression';
import { queryRows } from './rows-query';
import { type QueryParams, type Selection, selectionWhere } from './selection';

export async function selectionKind(
  client: ClickHouseClient,
  db: string,
  sel: Selection,
): Promise<ProfileKind> {
  if (profileKind(sel.type) === 'gauge') return 'gauge';
  const params: QueryParams = {};
  // The kind is the type's, not a label subset's: without the label matchers this reads the sort key and one
  // LowCardinality column, never the labels map, on every flame graph and timeline of a cost type.
  const [r] = await queryRows<{ n: string }>(
    client,
    `SELECT count() AS n FROM (SELECT 1 FROM ${db}.profiles WHERE ${selectionWhere({ ...sel, matchers: [] }, params)} AND aggregation = 'average' LIMIT 1)`,
    params,
  );
  return Number(r?.n ?? 0) > 0 ? 'gauge' : 'cost';
}
