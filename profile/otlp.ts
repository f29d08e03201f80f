/**
 * OTLP profiles (the OpenTelemetry signal, `v1development`) as Flamewatch's
 * profiles: what `POST /v1development/profiles` stores. Pure: it reads the
 * decoded request (plain objects, camelCase fields, 64-bit integers as
 * numbers) and answers one profile per OTLP profile, or why one is refused.
 *
 * The model as the signal defines it: one dictionary for the whole request
 * (each table's index 0 is its zero value, an index 0 "not set"); a sample
 * names a stack (leaf first) of locations, a location's lines are its inlined
 * frames (the last the caller); each profile has one sample type, and a count
 * of samples with a `cpu/nanoseconds` period becomes CPU time. The service is
 * the resource's `service.name`, else `unknown_service:<process.executable.name>`
 * or `unknown_service`, as OpenTelemetry's conventions say. A frame with no
 * function (the eBPF profiler's native frames, before symbolisation) is shown
 * as `<file>+0x<address>` and counted.
 */
import { InputError } from './errors';
import type { Profile } from './model';
import { LABEL_LIMITS, type LabelLimits } from './selector';
import { SPAN_LABELS } from './series';
import type { StackValue } from './tree';

type Obj = Record<string, unknown>;

export interface OtlpProfile {
  service: string;
  /** Resource and scope attributes as labels (dots and other punctuation as `_`). */
  labels: Record<string, string>;
  type: { type: string; unit: string };
  stacks: OtlpStack[];
  /** Milliseconds; undefined when the profile does not say. */
  from?: number;
  until?: number;
  /** Frames shown as `<file>+0x<address>` for want of a function name. */
  unsymbolised: number;
  /**
   * Attributes left out (as label names): too long for the label limits, past their count, or a sample
   * attribute with more than MAX_SAMPLE_ATTRIBUTE_VALUES values in the profile.
   */
  droppedAttributes: string[];
}

/** A stack and its value, with the labels its samples carried (sample attributes, a link's trace and span ids). */
export type OtlpStack = StackValue & { labels?: Record<string, string> };

/**
 * Values one sample attribute may take in one profile before it is left out: an attribute with a value per
 * request (a thread id, a URL with ids in it) would make a series per value.
 */
export const MAX_SAMPLE_ATTRIBUTE_VALUES = 32;

export interface OtlpConversion {
  profiles: OtlpProfile[];
  /** Profiles refused, each with its reason (the request's partial success). */
  rejected: string[];
}

const arr = <T = Obj>(v: unknown): T[] => (Array.isArray(v) ? (v as T[]) : []);
const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0)) || 0;
/** Bytes (a decoded `bytes` field) in hex; '' when absent. */
const hex = (v: unknown): string =>
  v instanceof Uint8Array ? Array.from(v, (b) => b.toString(16).padStart(2, '0')).join('') : '';

/** A profile (or a resource's profiles) the request describes wrongly: refused alone, counted in partial success. */
class Refused extends InputError {
  constructor(message: string) {
    super('invalid_profile', message);
  }
}

/** A label name from an attribute key: letters, digits and `_` (the store's label syntax). */
export function labelName(key: string): string {
  const name = key.replace(/[^A-Za-z0-9_]/g, '_');
  return /^[A-Za-z_]/.test(name) ? name : `_${name}`;
}

/**
 * Converts a decoded ExportProfilesServiceRequest. Attributes become labels within `limits`: one whose name or
 * value is too long is left out, and past the count the profile's own (resource, scope, profile) come first.
 */
export function convertOtlp(request: Obj, limits: LabelLimits = LABEL_LIMITS): OtlpConversion {
  const fits = (k: string, v: string) =>
    k.length <= limits.maxNameLength && v.length <= limits.maxValueLength;
  const dict = (request.dictionary ?? {}) as Obj;
  const strings = arr<string>(dict.stringTable);
  const str = (i: unknown): string => {
    const k = num(i);
    if (k < 0 || k >= Math.max(1, strings.length))
      throw new Refused(`string index ${k} is outside the string table`);
    return strings[k] ?? '';
  };
  const functions = arr(dict.functionTable);
  const locations = arr(dict.locationTable);
  const mappings = arr(dict.mappingTable);
  const stacksTable = arr(dict.stackTable);
  const at = <T>(table: T[], i: unknown, what: string): T | undefined => {
    const k = num(i);
    if (k === 0) return undefined;
    if (k < 0 || k >= table.length) throw new Refused(`${what} index ${k} is outside the ${what} table`);
    return table[k];
  };
  const valueOf = (v: unknown): string | undefined => {
    const a = (v ?? {}) as Obj;
    if (typeof a.stringValue === 'string') return a.stringValue;
    if (a.stringValueStrindex !== undefined && a.stringValueStrindex !== null)
      return str(a.stringValueStrindex);
    if (a.intValue !== undefined && a.intValue !== null) return String(a.intValue);
    if (typeof a.boolValue === 'boolean') return String(a.boolValue);
    if (typeof a.doubleValue === 'number') return String(a.doubleValue);
    return undefined;
  };
  const attributes = (kvs: unknown): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const kv of arr(kvs)) {
      const key = typeof kv.key === 'string' && kv.key ? kv.key : str(kv.keyStrindex);
      const value = valueOf(kv.value);
      if (key && value !== undefined) out[key] = value;
    }
    return out;
  };

  // One frame per location line, root first; memoised by location index (stacks share most locations).
  const framesOf = new Map<
    number,
    { names: string[]; files: string[]; lines: number[]; unsymbolised: number }
  >();
  const locationFrames = (index: number) => {
    let f = framesOf.get(index);
    if (f) return f;
    const loc = at(locations, index, 'location') ?? {};
    f = { names: [], files: [], lines: [], unsymbolised: 0 };
    const lines = arr(loc.lines);
    if (lines.length === 0) {
      const mapping = at(mappings, loc.mappingIndex, 'mapping');
      const file = mapping ? str(mapping.filenameStrindex) : '';
      const base = file.split('/').pop() || 'unknown';
      f.names.push(`${base}+0x${num(loc.address).toString(16)}`);
      f.files.push(file);
      f.lines.push(0);
      f.unsymbolised++;
    } else {
      // The last line is the caller: root first means from the last to the first.
      for (let i = lines.length - 1; i >= 0; i--) {
        const fn = at(functions, lines[i].functionIndex, 'function');
        const name = fn ? str(fn.nameStrindex) : '';
        f.names.push(name || `${'unknown'}+0x${num(loc.address).toString(16)}`);
        f.files.push(fn ? str(fn.filenameStrindex) : '');
        f.lines.push(num(lines[i].line));
        if (!name) f.unsymbolised++;
      }
    }
    framesOf.set(index, f);
    return f;
  };

  const attributeTable = arr(dict.attributeTable);
  const linkTable = arr(dict.linkTable);
  /** An attribute of the dictionary's table as [key, value]; undefined for index 0 or an empty one. */
  const attributeAt = (i: unknown): [string, string] | undefined => {
    const a = at(attributeTable, i, 'attribute');
    if (!a) return undefined;
    const key = str(a.keyStrindex);
    const value = valueOf(a.value);
    return key && value !== undefined ? [key, value] : undefined;
  };
  /** A link's trace and span ids in hex, as the span labels hold them; all-zero ids are "not set". */
  const linkLabels = (i: unknown): [string, string][] => {
    const link = at(linkTable, i, 'link');
    if (!link) return [];
    const out: [string, string][] = [];
    for (const [field, label] of [
      ['traceId', 'trace_id'],
      ['spanId', 'span_id'],
    ] as const) {
      const id = hex(link[field]);
      if (id && /[^0]/.test(id)) out.push([label, id]);
    }
    return out;
  };

  const profiles: OtlpProfile[] = [];
  const rejected: string[] = [];
  for (const rp of arr(request.resourceProfiles)) {
    let resource: Record<string, string>;
    try {
      resource = attributes(((rp.resource ?? {}) as Obj).attributes);
    } catch (err) {
      if (!(err instanceof Refused)) throw err;
      // The resource is unreadable: each of its profiles is refused with it.
      for (const sp of arr(rp.scopeProfiles)) for (const _p of arr(sp.profiles)) rejected.push(err.message);
      continue;
    }
    const service =
      resource['service.name'] ||
      (resource['process.executable.name']
        ? `unknown_service:${resource['process.executable.name']}`
        : 'unknown_service');
    const resourceLabels: Record<string, string> = {};
    for (const [k, v] of Object.entries(resource)) if (k !== 'service.name') resourceLabels[labelName(k)] = v;
    for (const sp of arr(rp.scopeProfiles)) {
      for (const p of arr(sp.profiles)) {
        try {
          // Labels of the profile: the resource's, its scope's, then its own attributes (the narrower wins).
          const all = { ...resourceLabels };
          for (const [k, v] of Object.entries(attributes(((sp.scope ?? {}) as Obj).attributes)))
            all[labelName(k)] = v;
          for (const i of arr<number>(p.attributeIndices)) {
            const kv = attributeAt(i);
            if (kv) all[labelName(kv[0])] = kv[1];
          }
          const dropped = new Set<string>();
          const labels: Record<string, string> = {};
          for (const [k, v] of Object.entries(all)) {
            if (fits(k, v) && Object.keys(labels).length < limits.maxLabels) labels[k] = v;
            else dropped.add(k);
          }
          const st = (p.sampleType ?? {}) as Obj;
          let type = { type: str(st.typeStrindex), unit: str(st.unitStrindex) };
          if (!type.type) throw new Refused('a profile has no sample type');
          const pt = (p.periodType ?? {}) as Obj;
          const period = num(p.period);
          // A count of samples taken every `period` ns of CPU is CPU time: stored as such, as pprof CPU profiles are.
          const asCpuTime =
            type.unit === 'count' &&
            str(pt.typeStrindex) === 'cpu' &&
            str(pt.unitStrindex) === 'nanoseconds' &&
            period > 0;
          if (asCpuTime) type = { type: 'cpu', unit: 'nanoseconds' };

          // Samples with their own labels (sample attributes, a link's ids); an attribute with too many values
          // in one profile is dropped, as it would make a series per value (span ids are kept per sample).
          const read: { stack: number; value: number; labels: [string, string][] }[] = [];
          const valuesOf = new Map<string, Set<string>>();
          for (const s of arr(p.samples)) {
            const values = arr<number>(s.values).map(num);
            const count = values.length
              ? values.reduce((a, b) => a + b, 0)
              : arr(s.timestampsUnixNano).length;
            if (count === 0) continue;
            const own: [string, string][] = [];
            for (const i of arr<number>(s.attributeIndices)) {
              const kv = attributeAt(i);
              if (!kv) continue;
              const name = labelName(kv[0]);
              if (!fits(name, kv[1])) {
                dropped.add(name);
                continue;
              }
              own.push([name, kv[1]]);
              if (SPAN_LABELS.has(name)) continue;
              let seen = valuesOf.get(name);
              if (!seen) valuesOf.set(name, (seen = new Set()));
              if (seen.size <= MAX_SAMPLE_ATTRIBUTE_VALUES) seen.add(kv[1]);
            }
            own.push(...linkLabels(s.linkIndex));
            read.push({ stack: num(s.stackIndex), value: count * (asCpuTime ? period : 1), labels: own });
          }
          // Series labels are the profile's and its samples' together: the samples' get what the count leaves.
          let room = limits.maxLabels - Object.keys(labels).length;
          for (const [k, v] of valuesOf) {
            if (k in labels) continue;
            if (v.size > MAX_SAMPLE_ATTRIBUTE_VALUES || room <= 0) dropped.add(k);
            else room--;
          }
          const byKey = new Map<string, { stack: number; value: number; labels?: Record<string, string> }>();
          for (const r of read) {
            const kept = r.labels.filter(([k]) => !dropped.has(k) && !(k in labels));
            kept.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
            const key = `${r.stack}\u0000${kept.map(([k, v]) => `${k}\u0000${v}`).join('\u0000')}`;
            const entry = byKey.get(key);
            if (entry) entry.value += r.value;
            else
              byKey.set(key, {
                stack: r.stack,
                value: r.value,
                ...(kept.length ? { labels: Object.fromEntries(kept) } : {}),
              });
          }
          const stacks: OtlpStack[] = [];
          let unsymbolised = 0;
          for (const { stack: k, value, labels: own } of byKey.values()) {
            const stack = at(stacksTable, k, 'stack');
            const names: string[] = [];
            const files: string[] = [];
            const lines: number[] = [];
            const locs = arr<number>(stack?.locationIndices);
            for (let i = locs.length - 1; i >= 0; i--) {
              const f = locationFrames(num(locs[i]));
              names.push(...f.names);
              files.push(...f.files);
              lines.push(...f.lines);
              unsymbolised += f.unsymbolised;
            }
            stacks.push({
              stack: names.length ? names : ['[no frames]'],
              files,
              lines,
              value,
              ...(own ? { labels: own } : {}),
            });
          }
          const time = num(p.timeUnixNano);
          const duration = num(p.durationNano);
          profiles.push({
            service,
            labels,
            type,
            stacks,
            ...(time > 0 ? { from: Math.floor(time / 1e6), until: Math.ceil((time + duration) / 1e6) } : {}),
            unsymbolised,
            droppedAttributes: [...dropped],
          });
        } catch (err) {
          if (!(err instanceof Refused)) throw err;
          rejected.push(err.message);
        }
      }
    }
  }
  return { profiles, rejected };
}

/** An OTLP profile as the internal model ingest stores (one sample type; a stack's labels as its sample's). */
export function otlpAsProfile(p: OtlpProfile): Profile {
  return {
    sampleTypes: [p.type],
    samples: p.stacks.map((s) => ({
      stack: s.stack,
      ...(s.files ? { files: s.files } : {}),
      ...(s.lines ? { lines: s.lines } : {}),
      values: [s.value],
      ...(s.labels ? { labels: s.labels } : {}),
    })),
    ...(p.from !== undefined && p.until !== undefined
      ? { timeNanos: p.from * 1e6, durationNanos: (p.until - p.from) * 1e6 }
      : {}),
  };
}
