/**
 * The query API's wire types (`/api/v1`): what the routes answer and the UI
 * reads, in one type-only module. The UI imports it with `import type` (erased
 * when bundled, so the browser bundle stays free of the server's code); the
 * routes check their answers against it with `satisfies`. Self-contained on
 * purpose: no imports, so the UI's compiler (no Node types) can read it.
 * Numbers that were not finite travel as null.
 */

export interface ProfileType {
  type: string;
  unit: string;
  /** A cost (CPU, allocations: summed, per second) or a gauge (in-use memory, or pushed as averaged: a level per process). */
  kind: 'cost' | 'gauge';
}
/** Every query answers in one unit: the most common one in the range; the others it held are listed. */
interface OneUnit {
  type: string;
  unit: string;
  otherUnits?: string[];
}
/** `GET /function-lines`: a function's cost per source line, one entry per file that defines a function of that name. */
export interface FunctionLinesPayload extends OneUnit {
  function: string;
  total: number;
  files: {
    file: string;
    self: number;
    total: number;
    /** Ascending; line 0: the profile said no line. */
    lines: { line: number; self: number; total: number }[];
    /** The code of those lines and a few around each, where the server's source roots hold the file. */
    source?: { line: number; text: string }[];
    /** Why there is no source: no roots configured, not found under them, a runtime's built-in module... */
    sourceMissing?: string;
  }[];
}
/**
 * A function as a view shows it: its name, qualified with its file where the view holds that name in several
 * files (`emit (events.js)`; profile/qualify.ts), its file when known, and its own name when qualified.
 */
export interface ShownFunction {
  name: string;
  file?: string;
  function?: string;
}
export interface TopPayload extends OneUnit {
  total: number;
  functions: (ShownFunction & { self: number; total: number })[];
}
export interface FlamePayload extends OneUnit {
  names: string[];
  /** Each name's file, parallel to `names` ('' unknown); absent when the profiles said no file. */
  files?: string[];
  levels: number[][];
  total: number;
  maxSelf: number;
  nodes: { total: number; shown: number };
}
export interface DiffPayload extends OneUnit {
  /** Each side's total and the span its data covers (first profile's start to last one's end, ms; 0 without data). */
  left: { total: number; spanMs: number };
  right: { total: number; spanMs: number };
  names: string[];
  /** As FlamePayload.files. */
  files?: string[];
  tree: {
    name: number[];
    depth: number[];
    leftTotal: number[];
    leftSelf: number[];
    rightTotal: number[];
    rightSelf: number[];
  };
  nodes: { total: number; shown: number };
  functions: (ShownFunction & {
    leftSelf: number;
    leftTotal: number;
    rightSelf: number;
    rightTotal: number;
  })[];
}
/** One finding of `GET /compare` as the UI reads it (the whole answer: notify/pr-report.ts CompareAnswer). */
export interface CompareFinding {
  function: string;
  measure: 'self' | 'total' | 'rate';
  /** Relative change of its cost; null from zero. */
  relative: number | null;
  q: number;
  effect: number;
  explainedBy?: string;
}
/** `GET /compare`, the detector's verdict: the parts the compare page shows per function. */
export interface ComparePayload {
  verdict: 'regression' | 'no_regression' | 'inconclusive' | 'insufficient_data';
  reason?: string;
  kind: 'cost' | 'gauge';
  regressions: CompareFinding[];
  improvements: CompareFinding[];
  inconclusive: CompareFinding[];
  explained: CompareFinding[];
}
export interface Regression {
  id: string;
  service: string;
  type: string;
  unit: string;
  function: string;
  measure: 'self' | 'total' | 'rate';
  kind: string;
  baseline: { query: string; from: number; until: number; profiles: number; value: number };
  candidate: { query: string; from: number; until: number; profiles: number; value: number };
  effect: number;
  relative: number | null;
  ci: [number, number];
  p: number;
  q: number;
  firstSeen: number;
  lastSeen: number;
  runs: number;
  status: 'suspected' | 'open' | 'acknowledged' | 'resolved';
  /** The compare page's state for exactly this comparison. */
  view: Record<string, string>;
}
export interface TimelinePayload extends OneUnit {
  step: number;
  points: [number, number][];
}

/** A stored budget (`GET /budgets`): its limit `max` in the type's base unit (a fraction for share and growth). */
export interface Budget {
  name: string;
  service: string;
  type: string;
  selector: string;
  owner: string;
  severity: 'warn' | 'block';
  description?: string;
  kind: 'share' | 'rate' | 'perRequest' | 'growth';
  function?: { name: string; regex: boolean; measure: 'self' | 'total'; file?: string };
  max: number;
  maxText: string;
  counter?: string;
}
export interface BudgetsPayload {
  service: string;
  updated: number | null;
  budgets: Budget[];
  /** The file as it was sent (YAML text or JSON value). */
  source?: unknown;
}
export type Verdict = 'pass' | 'fail' | 'inconclusive';
/** One budget's verdict (`POST /budgets/evaluate`); numbers that were not finite are null. */
export interface BudgetVerdict {
  name: string;
  service: string;
  type: string;
  selector: string;
  kind: Budget['kind'];
  verdict: Verdict;
  value: number | null;
  /** The budget's limit `max`. */
  limit: number;
  valueText: string;
  limitText: string;
  ci: (number | null)[];
  confidence: number | null;
  observations: number;
  baselineObservations?: number;
  needed?: number;
  reason: string;
  severity: Budget['severity'];
  owner: string;
  /** The function as written: a name, or `/regex/`. */
  function?: string;
  measure?: 'self' | 'total';
  /** Said beside a verdict that stands (e.g. a unit that could not be checked). */
  warning?: string;
  /** The profile type's kind in the data judged: a gauge's value is a level per instance, not per second. */
  typeKind: 'cost' | 'gauge';
}
export interface BudgetEvaluation {
  verdict: Verdict;
  budgets: BudgetVerdict[];
}
export interface BudgetSide {
  query: string;
  from?: string | number;
  until?: string | number;
}
export interface BudgetSeries {
  /** The budget, its function as written (a name or `/regex/`). */
  budget: Omit<Budget, 'function'> & { function?: string; measure?: 'self' | 'total' };
  /** As BudgetVerdict.typeKind. */
  typeKind: 'cost' | 'gauge';
  stepMs: number;
  from: number;
  until: number;
  points: { t: number; value: number }[];
}
