import type { TupleParam } from '@clickhouse/client';
import type { Matcher } from '../profile/selector';
import type { TimeRange } from '../profile/time-range';

/** What a query reads: one tenant's profiles of one service and type, in a time range, matching labels. */
export interface Selection {
  tenant: string;
  service: string;
  type: string;
  /** Restricts to one unit when a type was pushed with several (e.g. cpu in samples and in nanoseconds). */
  unit?: string;
  range: TimeRange;
  matchers: Matcher[];
}

export type QueryParams = Record<string, string | number | string[] | number[] | TupleParam[]>;

/**
 * How far before a range's start a profile that overlaps it is looked for: a pushed file is placed at most a day
 * back (server/ingest/prepare.ts); a longer span pushed with explicit from/until is found by its start alone.
 */
export const MAX_PROFILE_SPAN_MS = 24 * 3_600_000;

/**
 * A profile is in a range when its span overlaps it: it started before the range's end and ended after its
 * start (an hour-long profile pushed a moment ago is in "the last hour"). A condition over the profiles table's
 * `time` and `duration_ms`, the range as `{from:Int64}` / `{until:Int64}` parameters (ms); without `until`, open
 * ended. A profile that started before the range belongs to no whole hour inside it, so the rollup
 * (store/rollups.ts), which files profiles by their start hour, never counts one twice.
 */
export function overlapClause(fromParam: string, untilParam?: string): string {
  const from = `fromUnixTimestamp64Milli({${fromParam}:Int64})`;
  const start = `(time >= ${from} OR (time >= fromUnixTimestamp64Milli({${fromParam}:Int64} - ${MAX_PROFILE_SPAN_MS}) AND addMilliseconds(time, duration_ms) > ${from}))`;
  return untilParam ? `${start} AND time < fromUnixTimestamp64Milli({${untilParam}:Int64})` : start;
}

/** The profiles that started before `{from}` and ran into it: what overlapClause adds to a range's start-time match. */
export function carriedInClause(fromParam: string): string {
  const from = `fromUnixTimestamp64Milli({${fromParam}:Int64})`;
  return `(time < ${from} AND time >= fromUnixTimestamp64Milli({${fromParam}:Int64} - ${MAX_PROFILE_SPAN_MS}) AND addMilliseconds(time, duration_ms) > ${from})`;
}

/**
 * The WHERE clause of a selection over the profiles table (profiles overlapping its range: overlapClause). The SQL text is
 * made only of constant fragments; every user value travels as a `{name:Type}`
 * parameter. Regex matchers are anchored, as Prometheus' are.
 */
export function selectionWhere(sel: Selection, params: QueryParams, prefix = ''): string {
  const p = (name: string) => `${prefix}${name}`;
  params[p('tenant')] = sel.tenant;
  params[p('service')] = sel.service;
  params[p('type')] = sel.type;
  params[p('from')] = sel.range.from;
  params[p('until')] = sel.range.until;
  const clauses = [
    `tenant = {${p('tenant')}:String}`,
    `service = {${p('service')}:String}`,
    `type = {${p('type')}:String}`,
    overlapClause(p('from'), p('until')),
  ];
  if (sel.unit !== undefined) {
    params[p('unit')] = sel.unit;
    clauses.push(`unit = {${p('unit')}:String}`);
  }
  clauses.push(...labelClauses(sel, params, prefix));
  return clauses.join(' AND ');
}

/**
 * The label matchers of a selection as clauses over a `labels` map column
 * (of `profiles` or of `series`, which hold the same maps).
 */
export function labelClauses(sel: Selection, params: QueryParams, prefix = ''): string[] {
  return sel.matchers.map((m, i) => {
    const name = `${prefix}l${i}`;
    const value = `${prefix}v${i}`;
    params[name] = m.name;
    params[value] = m.op === '=~' || m.op === '!~' ? `^(?:${m.value})$` : m.value;
    const label = `labels[{${name}:String}]`;
    return m.op === '='
      ? `${label} = {${value}:String}`
      : m.op === '!='
        ? `${label} != {${value}:String}`
        : m.op === '=~'
          ? `match(${label}, {${value}:String})`
          : `NOT match(${label}, {${value}:String})`;
  });
}
