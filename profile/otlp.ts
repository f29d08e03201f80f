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
import type { StackValue } from './tree';

type Obj = Record<string, unknown>;

export interface OtlpProfile {
  service: string;
  /** Resource and scope attributes as labels (dots and other punctuation as `_`). */
  labels: Record<string, string>;
  type: { type: string; unit: string };
  stacks: StackValue[];
  /** Milliseconds; undefined when the profile does not say. */
  from?: number;
  until?: number;
  /** Frames shown as `<file>+0x<address>` for want of a function name. */
  unsymbolised: number;
}

export interface OtlpConversion {
  profiles: OtlpProfile[];
  /** Profiles refused, each with its reason (the request's partial success). */
  rejected: string[];
}

const arr = <T = Obj>(v: unknown): T[] => (Array.isArray(v) ? (v as T[]) : []);
const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0)) || 0;

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

/** Converts a decoded ExportProfilesServiceRequest. */
export function convertOtlp(request: Obj): OtlpConversion {
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
    const labels: Record<string, string> = {};
    for (const [k, v] of Object.entries(resource)) if (k !== 'service.name') labels[labelName(k)] = v;
    for (const sp of arr(rp.scopeProfiles)) {
      for (const p of arr(sp.profiles)) {
        try {
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
          const byStack = new Map<number, number>();
          for (const s of arr(p.samples)) {
            const values = arr<number>(s.values).map(num);
            const count = values.length
              ? values.reduce((a, b) => a + b, 0)
              : arr(s.timestampsUnixNano).length;
            if (count === 0) continue;
            const k = num(s.stackIndex);
            byStack.set(k, (byStack.get(k) ?? 0) + count * (asCpuTime ? period : 1));
          }
          const stacks: StackValue[] = [];
          let unsymbolised = 0;
          for (const [k, value] of byStack) {
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
            stacks.push({ stack: names.length ? names : ['[no frames]'], files, lines, value });
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
