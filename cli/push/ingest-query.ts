/**
 * The query string of Pyroscope's `POST /ingest`: the application name with
 * its labels (`checkout.cpu{env=prod,region="eu,west"}`), the time range,
 * the format parameters and the work and process of the profile.
 */
import { formatSelector } from '../../profile/selector';

/** Labels in the order the user gave them: name, value. */
export type LabelList = ReadonlyArray<readonly [string, string]>;

/** The wire formats `flamewatch push` sends; perf script travels as folded. */
export type WireFormat = 'pprof' | 'folded';

/** Everything in an ingest request's query string. */
export interface IngestQuery {
  /** Application name with the labels, from appName. */
  name: string;
  format: WireFormat;
  /** Unix time as the user gave it; absent lets the server decide (now, or the profile's own time). */
  from?: string;
  until?: string;
  /** For folded bodies: what one count is (samples, nanoseconds, bytes). */
  units?: string;
  sampleRate?: number;
  /** Work units (requests, iterations) done during the profile's interval. */
  work?: number;
  /** An id of the process that wrote the profile. */
  process?: string;
}

// Prometheus label names plus dots, which Pyroscope SDKs send (`process.runtime.version`).
const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_.]*$/;

/**
 * Parses `--labels` values: each `k=v,k2=v2`, where a value containing a comma
 * is written in double quotes (`msg="a,b"`, with `\"` and `\\` inside).
 * Throws with the offending text on a missing `=`, an unclosed quote, a bad or
 * reserved name, or a label given twice.
 */
export function parseLabels(specs: readonly string[]): LabelList {
  const labels: Array<readonly [string, string]> = [];
  for (const spec of specs) {
    let pos = 0;
    while (pos < spec.length) {
      const eq = spec.indexOf('=', pos);
      const comma = spec.indexOf(',', pos);
      if (eq < 0 || (comma >= 0 && comma < eq)) {
        const item = spec.slice(pos, comma < 0 ? undefined : comma);
        throw new Error(`label "${item}" in --labels "${spec}" has no value: write name=value`);
      }
      const name = spec.slice(pos, eq).trim();
      const value = readValue(spec, eq + 1);
      addLabel(labels, name, value.text, spec);
      pos = value.next;
      if (pos < spec.length && spec[pos] !== ',') {
        throw new Error(
          `--labels "${spec}": expected "," after the value of "${name}" at character ${pos + 1}`,
        );
      }
      pos++;
    }
  }
  return labels;
}

/** A label value starting at `pos`, quoted or not, and the position just after it. */
function readValue(spec: string, pos: number): { text: string; next: number } {
  if (spec[pos] !== '"') {
    const comma = spec.indexOf(',', pos);
    const end = comma < 0 ? spec.length : comma;
    return { text: spec.slice(pos, end), next: end };
  }
  let text = '';
  for (let i = pos + 1; i < spec.length; i++) {
    const c = spec[i];
    if (c === '"') return { text, next: i + 1 };
    if (c === '\\' && i + 1 < spec.length) text += spec[++i];
    else text += c;
  }
  throw new Error(`--labels "${spec}": the quote opened at character ${pos + 1} is never closed`);
}

function addLabel(labels: Array<readonly [string, string]>, name: string, value: string, spec: string): void {
  if (!LABEL_NAME.test(name)) {
    throw new Error(
      `label name "${name}" in --labels "${spec}" is not valid: use letters, digits, "_" and "."`,
    );
  }
  if (name.startsWith('__')) {
    throw new Error(`label name "${name}" is reserved (names starting with "__" belong to the server)`);
  }
  if (labels.some(([n]) => n === name)) throw new Error(`label "${name}" is given twice in --labels`);
  labels.push([name, value]);
}

/**
 * Throws unless `service` can stand as the application name of a selector:
 * not empty, no whitespace, braces, commas, `=` or quotes.
 */
export function checkServiceName(service: string): void {
  if (!/^[^\s{},="]+$/.test(service)) {
    throw new Error(
      `service name "${service}" is not valid: it must be non-empty, without spaces, braces, commas, "=" or quotes`,
    );
  }
}

/**
 * The `name` parameter: `service[.profileType]{k=v,...}`, labels in the
 * order given, quoted as profile/selector's formatSelector does.
 */
export function appName(service: string, labels: LabelList, profileType?: string): string {
  const app = profileType === undefined ? service : `${service}.${profileType}`;
  return formatSelector(app, Object.fromEntries(labels));
}

/**
 * The ingest URL for a server base URL (`http://host:4040`, or with a path
 * prefix such as `https://host/pyroscope`). Parameters absent from `query`
 * are left out so that the server applies its defaults.
 */
export function ingestUrl(server: string, query: IngestQuery): URL {
  const base = new URL(server);
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  const url = new URL('ingest', base);
  const params: Array<[string, string | number | undefined]> = [
    ['name', query.name],
    ['from', query.from],
    ['until', query.until],
    ['format', query.format],
    ['sampleRate', query.sampleRate],
    ['units', query.units],
    ['work', query.work],
    ['process', query.process],
  ];
  for (const [key, value] of params) if (value !== undefined) url.searchParams.set(key, String(value));
  return url;
}
