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
 * The WHERE clause of a selection over the profiles table. The SQL text is
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
    `time >= fromUnixTimestamp64Milli({${p('from')}:Int64})`,
    `time < fromUnixTimestamp64Milli({${p('until')}:Int64})`,
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
