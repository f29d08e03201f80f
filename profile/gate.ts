/**
 * The deploy gate's verdict (`GET /api/v1/gate`), decided from what the
 * route measured: the budgets' results and, against a baseline version, the
 * detector's comparisons. Pure: the route gathers, this decides.
 *
 * Fail beats undecided beats pass: a failing blocking budget or any
 * regression fails; a blocking budget that cannot tell, or a comparison that
 * is inconclusive or short of data, is `inconclusive` (undecided is never a
 * pass); else pass.
 */
import { formatBudgetValue, matcherText, overallVerdict, type BudgetResult, type Verdict } from './budgets';
import type { Detection } from './regression';

export interface GateInput {
  service: string;
  /** How many budgets the service has. */
  budgets: number;
  /** Whether the detector compared the version with a baseline version. */
  comparing: boolean;
  results: readonly BudgetResult[];
  detections: readonly { type: string; detection: Pick<Detection, 'verdict' | 'reason' | 'regressions'> }[];
}

/** A regression the gate failed on, as its answer lists it. */
export interface GateRegression {
  type: string;
  function: string;
  measure: string;
  baseline: number;
  candidate: number;
  /** null: from nothing (JSON has no Infinity). */
  relative: number | null;
  q: number;
}

export function gateVerdict(input: GateInput): { verdict: Verdict; reason: string; found: GateRegression[] } {
  const { results, detections } = input;
  const found = detections.flatMap((d) =>
    d.detection.regressions.map((f) => ({
      type: d.type,
      function: f.function,
      measure: f.measure,
      baseline: f.baseline,
      candidate: f.candidate,
      relative: Number.isFinite(f.relative) ? f.relative : null,
      q: f.q,
    })),
  );
  const undecided = (v: string) => v === 'insufficient_data' || v === 'inconclusive';
  const budgetVerdict = overallVerdict(results);
  const verdict: Verdict =
    budgetVerdict === 'fail' || found.length > 0
      ? 'fail'
      : budgetVerdict === 'inconclusive' || detections.some((d) => undecided(d.detection.verdict))
        ? 'inconclusive'
        : 'pass';
  const blocking = results.filter((r) => r.budget.severity === 'block');
  let reason: string;
  if (verdict === 'pass') {
    reason =
      input.budgets === 0 && !input.comparing
        ? `service ${input.service} has no budgets and no baseline was given: nothing to hold it to`
        : 'within every blocking budget, no regression';
  } else if (verdict === 'fail') {
    reason = [
      ...blocking
        .filter((r) => r.verdict === 'fail')
        .map((r) => `budget ${r.budget.name}: ${describeBreach(r)}`),
      ...found
        .slice(0, 5)
        .map((r) => `regression in ${r.type}: ${r.function || 'the whole program'} ${r.measure}`),
    ].join('; ');
  } else {
    reason = [
      ...blocking
        .filter((r) => r.verdict === 'inconclusive')
        .map((r) => `budget ${r.budget.name}: ${r.reason}`),
      ...detections
        .filter((d) => undecided(d.detection.verdict))
        .map((d) => `${d.type}: ${d.detection.reason}`),
    ].join('; ');
  }
  return { verdict, reason, found };
}

/** A failed budget in words: `matchOrders total 41.20 % over 35 % (99.9 % sure)`. */
export function describeBreach(r: BudgetResult): string {
  const what = r.budget.function ? `${matcherText(r.budget.function)} ${r.budget.function.measure} ` : '';
  return `${what}${formatBudgetValue(r.budget, r.value, r.typeKind)} over ${r.budget.maxText} (${(r.confidence * 100).toFixed(1)} % sure)`;
}
