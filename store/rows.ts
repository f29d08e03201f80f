import { randomUUID } from 'node:crypto';
import type { SplitProfile } from '../profile/series';
import type { KnownStacks } from './known-stacks';

/** One pushed profile, ready to store. */
export interface ProfileWrite {
  tenant: string;
  service: string;
  /** Start, ms since the epoch. */
  time: number;
  durationMs: number;
  /** Work units (requests served, iterations) done in the profile's interval; 0: unknown. */
  work: number;
  /** The process (instance) that wrote the profile; '': unknown. */
  process: string;
  /** Types the pusher declared averaged (gauges, whatever their name): stored with aggregation `average`. */
  averaged?: ReadonlySet<string>;
  profile: SplitProfile;
}

/**
 * A profile serialised to the rows the tables take (JSONEachRow lines). Made
 * off the request thread (ingest workers); plain strings so it crosses a
 * worker boundary cheaply.
 */
export interface PreparedWrite {
  tenant: string;
  /** `stacks` rows of the stacks not known to be stored already, newline-terminated. */
  stacks: string;
  /** Their ids, which the writer marks as known once committed. */
  stackIds: string[];
  /** The `profiles` rows, newline-terminated. */
  profiles: string;
}

/**
 * Serialises a profile to its rows, leaving out stacks that `known` says are
 * stored; every series' row carries the profile's work and process. Column
 * names are the schema's (store/schema.ts).
 */
export function prepareWrite(w: ProfileWrite, known?: KnownStacks): PreparedWrite {
  const tenant = JSON.stringify(w.tenant);
  let stacks = '';
  const stackIds: string[] = [];
  for (const [id, sample] of w.profile.stacks) {
    if (known?.has(w.tenant, id)) continue;
    stackIds.push(id);
    // Files repeat in every frame of their functions: a deep profile's first push serialises ~1.8× the bytes of
    // names alone (BENCHMARKS.md, "Where code lives"); stacks already stored (known) are not serialised again.
    const files = sample.files;
    const lines = files && sample.lines;
    const source = files
      ? `,"files":${JSON.stringify(files)},"lines":${JSON.stringify(lines?.length === files.length ? lines : files.map(() => 0))}`
      : '';
    stacks += `{"tenant":${tenant},"stack_id":"${id}","frames":${JSON.stringify(sample.stack)}${source}}\n`;
  }
  const profileId = randomUUID();
  const common = `"tenant":${tenant},"service":${JSON.stringify(w.service)},"time":${Math.round(w.time)},"duration_ms":${Math.min(Math.max(0, Math.round(w.durationMs)), 0xffffffff)},"profile_id":"${profileId}","work":${w.work},"process":${JSON.stringify(w.process)}`;
  let profiles = '';
  for (const s of w.profile.series) {
    const aggregation = w.averaged?.has(s.type.type) ? ',"aggregation":"average"' : '';
    const spans = s.spans
      ? `,"span_stack_ids":${idList(s.spans.stackIds)},"span_labels":${JSON.stringify(s.spans.labels)},"span_values":${JSON.stringify(s.spans.values)}`
      : '';
    profiles += `{${common},"type":${JSON.stringify(s.type.type)},"unit":${JSON.stringify(s.type.unit)},"labels":${JSON.stringify(s.labels)},"stack_ids":${idList(s.stackIds)},"values":${JSON.stringify(s.values)},"total":${s.total}${aggregation}${spans}}\n`;
  }
  return { tenant: w.tenant, stacks, stackIds, profiles };
}

// Stack ids are decimal digits only (profile/stack-id), so they need no escaping.
function idList(ids: string[]): string {
  return ids.length === 0 ? '[]' : `["${ids.join('","')}"]`;
}
