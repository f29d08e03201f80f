/**
 * The budget model: what a budget limits and how a verdict reads, the units
 * its limits are written in and how they scale to the stored unit. Pure.
 */
import { profileKind, type ProfileKind } from '../regression';

export type Severity = 'warn' | 'block';
export type BudgetKind = 'share' | 'rate' | 'perRequest' | 'growth';

/** What a share or growth budget measures: a function by exact name, or every function a regex matches (a sample counts once). */
export interface FunctionMatcher {
  name: string;
  regex: boolean;
  measure: 'self' | 'total';
  /**
   * Only frames of this file: its whole path or its last segments (`events.js`, `lib/events.js`), for a name
   * several files define (Node's `emit`s). Frames stored without a file never match one.
   */
  file?: string;
}

/** A matcher as people read it: `emit`, `emit (events.js)`, `/re/`. */
export function matcherText(m: FunctionMatcher): string {
  const name = m.regex ? `/${m.name}/` : m.name;
  return m.file ? `${name} (${m.file})` : name;
}

export interface Budget {
  name: string;
  service: string;
  /** Profile type, e.g. `cpu`, `wall`, `alloc_space`, `inuse_space`. */
  type: string;
  /** Label matchers the budget applies to, `{env="prod"}`; '' for all of the service's profiles. */
  selector: string;
  owner: string;
  severity: Severity;
  description?: string;
  kind: BudgetKind;
  /** share and growth: what is measured (growth without a function measures the rate). */
  function?: FunctionMatcher;
  /** The limit: a fraction (share, growth) or a value in the type's base unit (ns, bytes, count) per second or per request. */
  max: number;
  /** As the budget wrote it, for messages: `35%`, `0.5 cores`, `40 us`. */
  maxText: string;
  /** perRequest: the profile type whose totals count requests. */
  counter?: string;
}

export type Verdict = 'pass' | 'fail' | 'inconclusive';

export interface BudgetResult {
  budget: Budget;
  verdict: Verdict;
  /** The estimate: mean share, rate, cost per request, or relative growth. NaN with no data. */
  value: number;
  /** A 95 % two-sided interval of the value. */
  ci: [number, number];
  /** How sure the verdict is: the one-sided probability that the value is on the side of the limit the verdict says. */
  confidence: number;
  /** Observations (instance × time bucket) behind the value: candidate, and baseline for growth. */
  observations: number;
  baselineObservations?: number;
  /** For inconclusive: about how many observations a side would decide it at the present spread. */
  needed?: number;
  reason: string;
  /** Something the owner should know that does not change the verdict: a function that appears nowhere (a typo?). */
  warning?: string;
  /**
   * The kind of the data judged (store/kind.ts): a gauge (in-use memory, or a type its pushers declared averaged)
   * is judged as a level per instance, a cost per instance-second. Unset: by the type's name.
   */
  typeKind?: ProfileKind;
}

export const MIN_OBSERVATIONS = 5;
/** Pass below the limit, fail above it, each at this one-sided confidence; in between is inconclusive. */
export const CONFIDENCE = 0.95;

const TIME: Record<string, number> = { ns: 1, us: 1e3, µs: 1e3, ms: 1e6, s: 1e9 };
const BYTES: Record<string, number> = {
  b: 1,
  kb: 1e3,
  mb: 1e6,
  gb: 1e9,
  kib: 1024,
  mib: 1024 ** 2,
  gib: 1024 ** 3,
};

/** A limit as a number in the type's base unit: fractions for share and growth; ns, bytes or counts otherwise. */
export function parseLimit(kind: BudgetKind, text: string | number, type = 'cpu'): number {
  if (typeof text === 'number') {
    if (!(text >= 0) || !Number.isFinite(text))
      throw new Error(`limit must be a non-negative number, not ${text}`);
    if (kind === 'share' && text > 1)
      throw new Error(`a share of ${text} is over the whole profile; write 35% or 0.35`);
    return text;
  }
  const m = /^\s*([0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?)\s*([A-Za-zµ%/]*)\s*$/.exec(text);
  if (!m) throw new Error(`cannot read the limit "${text}"`);
  const n = Number(m[1]);
  const unit = m[2];
  if (kind === 'share' || kind === 'growth') {
    if (unit !== '%' && unit !== '')
      throw new Error(`a ${kind} limit is a percentage (35%) or a fraction (0.35), not "${text}"`);
    const f = unit === '%' ? n / 100 : n;
    if (kind === 'share' && f > 1) throw new Error(`a share of ${text} is over the whole profile`);
    return f;
  }
  if (unit === '' || unit === '/s') return n;
  if (kind === 'rate' && (unit === 'cores' || unit === 'core')) {
    if (!isTimeType(type)) throw new Error(`"cores" is CPU time per second; type ${type} is not a time`);
    return n * 1e9;
  }
  const [base, per] = unit.split('/');
  if (per !== undefined && (kind !== 'rate' || per !== 's'))
    throw new Error(
      `cannot read the unit "${unit}" of "${text}"${kind === 'perRequest' ? ' (a perRequest limit is per request: 40 us, 2 KB)' : ''}`,
    );
  if (TIME[base] !== undefined) return n * TIME[base];
  if (BYTES[base.toLowerCase()] !== undefined) return n * BYTES[base.toLowerCase()];
  throw new Error(
    `unknown unit "${base}" in "${text}": use ns, us, ms, s, cores, B, KB, MB, GB, KiB, MiB, GiB`,
  );
}

/** What a budget's limit is measured in: time (ns), bytes, or a plain number (a share, a growth, a count). */
export function limitDimension(b: Pick<Budget, 'kind' | 'maxText' | 'type'>): 'time' | 'bytes' | 'none' {
  if (b.kind === 'share' || b.kind === 'growth') return 'none';
  const m = /^\s*[0-9.eE+-]+\s*([A-Za-zµ]*)/.exec(b.maxText);
  const base = (m?.[1] ?? '').toLowerCase();
  if (base === 'cores' || base === 'core' || TIME[base] !== undefined || base === 'µs') return 'time';
  if (BYTES[base] !== undefined) return 'bytes';
  return 'none';
}

const STORED_TIME: Record<string, number> = {
  nanoseconds: 1,
  microseconds: 1e3,
  milliseconds: 1e6,
  seconds: 1e9,
};

/**
 * The factor from the unit the data is stored in to the limit's base unit (ns or bytes); undefined when the
 * limit's unit cannot be derived from the data (CPU pushed in samples with no sample rate cannot be cores).
 */
export function unitScale(dimension: 'time' | 'bytes' | 'none', storedUnit: string): number | undefined {
  if (dimension === 'none') return 1;
  if (dimension === 'time') return STORED_TIME[storedUnit];
  return storedUnit === 'bytes' ? 1 : undefined;
}

/** Types whose values are time (CPU, wall) rather than bytes or counts. */
export function isTimeType(type: string): boolean {
  return /^(cpu|wall|process_cpu|itimer|block|mutex|contentions|delay)/.test(type);
}

/**
 * A limit or value in words, in the budget's terms: `35.0 %`, `0.52 cores`, `41.2 us`, `+6.1 %`. A gauge's
 * rate is a level (`200 MB`), not per second: its kind is the data's (BudgetResult.typeKind), by name when unknown.
 */
export function formatBudgetValue(b: Budget, x: number, kind: ProfileKind = profileKind(b.type)): string {
  if (!Number.isFinite(x)) return '–';
  if (b.kind === 'share') return `${(x * 100).toFixed(2)} %`;
  if (b.kind === 'growth') return `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %`;
  const perSecond = b.kind === 'rate' && kind !== 'gauge';
  if (isTimeType(b.type)) {
    if (perSecond) return `${(x / 1e9).toPrecision(3)} cores`;
    const [u, d] = x >= 1e9 ? ['s', 1e9] : x >= 1e6 ? ['ms', 1e6] : x >= 1e3 ? ['us', 1e3] : ['ns', 1];
    return `${(x / d).toPrecision(3)} ${u}`;
  }
  if (/space|bytes/.test(b.type)) {
    const [u, d] = x >= 1e9 ? ['GB', 1e9] : x >= 1e6 ? ['MB', 1e6] : x >= 1e3 ? ['KB', 1e3] : ['B', 1];
    return `${(x / d).toPrecision(3)} ${u}${perSecond ? '/s' : ''}`;
  }
  return `${x.toPrecision(3)}${perSecond ? '/s' : ''}`;
}
