/**
 * The pull-request report: `GET /api/v1/compare`'s answer as GitHub-flavoured
 * markdown — a one-line verdict, the top regressions and improvements as a
 * table, the total per-second change, profile counts and links to the
 * differential flame graph in the UI. Pure: the same answer gives the same text.
 */
import { compareView } from '../profile/detect-job';
import type { Detection, Finding } from '../profile/regression';

/** A detection as `GET /api/v1/compare` answers it: JSON has no Infinity, so a relative change from zero becomes null. */
export function compareAnswer(type: string, unit: string, detection: Detection): CompareAnswer {
  const wire = JSON.parse(JSON.stringify(detection, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v))) as object;
  return { type, unit, ...wire } as CompareAnswer;
}

/** A finding as it crosses JSON: non-finite numbers (a relative change from 0) arrive as null. */
export type WireFinding = Omit<Finding, 'relative'> & { relative: number | null };

/** `GET /api/v1/compare`'s answer. */
export interface CompareAnswer extends Omit<Detection, 'regressions' | 'improvements' | 'inconclusive' | 'explained' | 'rate'> {
  type: string;
  unit: string;
  regressions: WireFinding[];
  improvements: WireFinding[];
  inconclusive: WireFinding[];
  explained: (WireFinding & { explainedBy: string })[];
  rate: WireFinding | undefined;
}

/** One side of the comparison as it was asked: a selector and a range in ms. */
export interface ComparedSide {
  query: string;
  from: number;
  until: number;
}

export interface ReportContext {
  service: string;
  type: string;
  baseline: ComparedSide;
  candidate: ComparedSide;
  /** The Flamewatch UI's address; links are left out without it. */
  uiUrl?: string;
  /** Rows shown before the rest fold into `<details>`. Default 10. */
  top?: number;
}

/** The report's markdown for one comparison. */
export function renderReport(answer: CompareAnswer, ctx: ReportContext): string {
  const top = ctx.top ?? 10;
  const link = (fn: string) => (ctx.uiUrl ? compareLink(ctx.uiUrl, ctx, answer.unit, fn) : undefined);
  const lines: string[] = [verdictLine(answer), ''];
  lines.push(`Baseline \`${code(ctx.baseline.query)}\` (${answer.baseline.n} profiles, ${answer.baseline.samples} ${escapeCell(answer.unit || 'samples')}) ` +
    `against PR \`${code(ctx.candidate.query)}\` (${answer.candidate.n} profiles, ${answer.candidate.samples} ${escapeCell(answer.unit || 'samples')}), type ${escapeCell(ctx.type)}.`);
  if (answer.rate) lines.push('', rateLine(answer.rate, answer.unit));
  const full = link('');
  if (full) lines.push('', `[Differential flame graph and full comparison](${full})`);

  const regressions = answer.regressions.filter((f) => f.measure !== 'rate');
  const { real, shifted } = splitImprovements(answer);
  const sections: Array<[string, WireFinding[]]> = [['Regressions', regressions], ['Improvements', real]];
  for (const [title, findings] of sections) {
    if (findings.length === 0) continue;
    lines.push('', `### ${title} (${findings.length})`, '');
    lines.push(...table(findings.slice(0, top), link));
    if (findings.length > top) {
      // Folded rows go without links, and at most MAX_FOLDED of them: a GitHub comment holds 65,536 characters.
      const folded = findings.slice(top, top + MAX_FOLDED);
      const rest = findings.length - top - folded.length;
      lines.push('', `<details><summary>${findings.length - top} more</summary>`, '', ...table(folded, () => undefined));
      if (rest > 0) lines.push('', `and ${rest} more${full ? ` in the [full comparison](${full})` : ''}.`);
      lines.push('', '</details>');
    }
  }
  if (shifted.length > 0) {
    // Shares sum to one: when one function costs more, every other one's share shrinks though its own cost did not fall.
    lines.push('', `<details><summary>${shifted.length} smaller in share only: their cost per second did not fall</summary>`, '');
    lines.push('| function | measure | baseline % | PR % | change | cost per second |', '| --- | --- | --- | --- | --- | --- |');
    for (const { f, absolute } of shifted.slice(0, MAX_FOLDED)) {
      lines.push(`| ${escapeCell(f.function)} | ${f.measure} | ${percent(f.baseline)} | ${percent(f.candidate)} | ${points(f.effect)} | ${relativeText(absolute)} |`);
    }
    lines.push('', '</details>');
  }
  if (answer.explained.length > 0) {
    lines.push('', `<details><summary>${answer.explained.length} callers slower only because of a function below them</summary>`, '');
    lines.push('| function | measure | change | explained by |', '| --- | --- | --- | --- |');
    for (const f of answer.explained.slice(0, MAX_FOLDED)) lines.push(`| ${escapeCell(f.function)} | ${f.measure} | ${points(f.effect)} | ${escapeCell(f.explainedBy)} |`);
    lines.push('', '</details>');
  }
  if (answer.inconclusive.length > 0) {
    lines.push('', `<details><summary>${answer.inconclusive.length} changes too uncertain to call</summary>`, '');
    lines.push('| function | measure | baseline % | PR % | change | profiles needed a side |', '| --- | --- | --- | --- | --- | --- |');
    for (const f of answer.inconclusive.slice(0, MAX_FOLDED)) {
      lines.push(`| ${escapeCell(f.function)} | ${f.measure} | ${percent(f.baseline)} | ${percent(f.candidate)} | ${points(f.effect)} | ${f.neededObservations ?? '?'} |`);
    }
    lines.push('', '</details>');
  }
  lines.push('', `<sub>${answer.tested} tests, false discovery rate ${answer.options.fdr}; a change counts from ` +
    `${(answer.options.minAbsolute * 100).toFixed(1)} pp or ${(answer.options.minRelative * 100).toFixed(0)} %. Flamewatch.</sub>`);
  return lines.join('\n') + '\n';
}

/** One profile type's part of a pull request's report. */
export interface ReportSection {
  answer: CompareAnswer;
  ctx: ReportContext;
}

/**
 * The server's report on a pull request: a title naming the service, the PR
 * and its commit, then one report per profile type (under a heading when
 * there are several), the regressed types first.
 */
export function renderPullRequestReport(title: { service: string; pr: string; commit?: string }, sections: ReportSection[]): string {
  const order = { regression: 0, no_regression: 1, insufficient_data: 2 } as const;
  const sorted = [...sections].sort((a, b) => order[a.answer.verdict] - order[b.answer.verdict] || a.ctx.type.localeCompare(b.ctx.type));
  const commit = title.commit ? ` at ${escapeCell(title.commit.slice(0, 12))}` : '';
  const head = `**Flamewatch** · ${escapeCell(title.service)} · PR #${escapeCell(title.pr)}${commit}`;
  if (sorted.length === 1) return `${head}\n\n${renderReport(sorted[0].answer, sorted[0].ctx)}`;
  return `${head}\n\n${sorted.map((s) => `#### ${escapeCell(s.ctx.type)}\n\n${renderReport(s.answer, s.ctx)}`).join('\n')}`;
}

/**
 * Improvements whose cost per second really fell, and those that only lost
 * share because the total grew: a function's cost per second is estimated as
 * its share times the side's total per second. Without a rate every
 * improvement counts as real.
 */
export function splitImprovements(answer: CompareAnswer): { real: WireFinding[]; shifted: { f: WireFinding; absolute: number }[] } {
  const rate = answer.rate;
  if (!rate || !(rate.baseline > 0) || !(rate.candidate > 0)) return { real: answer.improvements, shifted: [] };
  const real: WireFinding[] = [];
  const shifted: { f: WireFinding; absolute: number }[] = [];
  for (const f of answer.improvements) {
    const absolute = f.baseline > 0 ? (f.candidate * rate.candidate) / (f.baseline * rate.baseline) - 1 : -1;
    // Under half the practical floor's fall in cost per second: the share moved, the function did not get faster.
    if (absolute > -answer.options.minRelative / 2) shifted.push({ f, absolute });
    else real.push(f);
  }
  return { real, shifted };
}

/** The verdict in one line, with the reason when the data does not decide. */
export function verdictLine(answer: CompareAnswer): string {
  if (answer.verdict === 'insufficient_data') return `⚪ **Insufficient data**: ${escapeCell(answer.reason ?? 'too few profiles')}.`;
  if (answer.verdict === 'no_regression') {
    const improved = splitImprovements(answer).real.length;
    const better = improved > 0 ? `, ${improved} improved` : '';
    return `🟢 **No regression**${better} (${answer.candidate.n} PR profiles against ${answer.baseline.n} baseline profiles).`;
  }
  const fns = answer.regressions.filter((f) => f.measure !== 'rate');
  const count = new Set(fns.map((f) => f.function)).size;
  const worst = fns[0];
  const what = worst ? `, worst ${escapeCell(worst.function)} ${worst.measure} ${points(worst.effect)}` : '';
  const rate = answer.rate?.verdict === 'regression' ? `; total per second ${relativeText(answer.rate.relative)}` : '';
  return `🔴 **Regression**: ${count} function${count === 1 ? '' : 's'} slower${what}${rate}.`;
}

/** The verdict as plain text for a commit status (at most 140 characters there). */
export function verdictText(answer: CompareAnswer): string {
  if (answer.verdict === 'insufficient_data') return `insufficient data: ${answer.reason ?? 'too few profiles'}`;
  if (answer.verdict === 'no_regression') return `no regression (${answer.candidate.n} PR profiles, ${answer.baseline.n} baseline)`;
  const fns = answer.regressions.filter((f) => f.measure !== 'rate');
  const count = new Set(fns.map((f) => f.function)).size;
  const worst = fns[0] ? `, worst ${fns[0].function.slice(0, 60)} ${points(fns[0].effect)}` : '';
  return `regression: ${count} function${count === 1 ? '' : 's'} slower${worst}`;
}

function rateLine(rate: WireFinding, unit: string): string {
  const u = escapeCell(unit || 'samples');
  const q = rate.verdict === 'regression' || rate.verdict === 'improvement' ? ` (${rate.verdict}, q ${num(rate.q)})` : ` (q ${num(rate.q)})`;
  const signed = (x: number) => `${x >= 0 ? '+' : ''}${num(x)}`;
  return `Total per second: ${num(rate.baseline)} → ${num(rate.candidate)} ${u}/s, ${signed(rate.effect)} ${u}/s (${relativeText(rate.relative)}, ` +
    `95 % CI ${signed(rate.ci[0])} to ${signed(rate.ci[1])})${q}.`;
}

function table(findings: WireFinding[], link: (fn: string) => string | undefined): string[] {
  const rows = ['| function | measure | baseline % | PR % | change | 95 % CI | q |', '| --- | --- | --- | --- | --- | --- | --- |'];
  for (const f of findings) {
    const url = link(f.function);
    const name = url ? `[${escapeCell(f.function)}](${url})` : escapeCell(f.function);
    rows.push(`| ${name} | ${f.measure} | ${percent(f.baseline)} | ${percent(f.candidate)} | ${points(f.effect)} (${relativeText(f.relative)}) | ` +
      `${points(f.ci[0])} to ${points(f.ci[1])} | ${num(f.q)} |`);
  }
  return rows;
}

/** The UI's compare page of exactly these two selections, with `fn` searched when given. */
export function compareLink(uiUrl: string, ctx: Pick<ReportContext, 'service' | 'type' | 'baseline' | 'candidate'>, unit: string, fn: string): string {
  const view = compareView({ service: ctx.service, type: ctx.type, unit, function: fn, baseline: ctx.baseline, candidate: ctx.candidate });
  return `${uiUrl.replace(/\/$/, '')}/?${new URLSearchParams(view)}`;
}

const MAX_NAME = 160;
/** Rows of a folded list; beyond them the report points to the UI. */
const MAX_FOLDED = 50;

/**
 * Makes untrusted text (a function name, a selector) safe in a markdown table
 * cell: no line breaks, no cell separators, no HTML, no code spans, links,
 * emphasis or @mentions; long names are cut.
 */
export function escapeCell(text: string): string {
  const flat = text.replace(/[\r\n\t\u2028\u2029]+/g, ' ');
  const cut = flat.length > MAX_NAME ? `${flat.slice(0, MAX_NAME - 1)}…` : flat;
  return cut.replace(/[&<>"|`\\*_[\]~@#!()]/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** Text inside a code span (outside tables): a backtick or a line break would end it. */
function code(text: string): string {
  return text.replace(/[\r\n]+/g, ' ').replace(/`/g, "'");
}

function percent(share: number): string {
  return `${(share * 100).toFixed(2)}`;
}

function points(effect: number): string {
  const pp = effect * 100;
  return `${pp >= 0 ? '+' : ''}${pp.toFixed(2)} pp`;
}

function relativeText(relative: number | null): string {
  if (relative === null) return 'new';
  const pct = relative * 100;
  return `${pct >= 0 ? '+' : ''}${pct.toFixed(1)} %`;
}

function num(x: number): string {
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1000) return x.toFixed(0);
  if (a >= 0.01) return x.toPrecision(3);
  return x.toExponential(1);
}

/** A budget's verdict as `POST /api/v1/budgets/evaluate` answers it. */
export interface BudgetAnswer {
  name: string;
  service: string;
  type: string;
  kind: string;
  severity: 'warn' | 'block';
  owner: string;
  function?: string;
  measure?: string;
  verdict: 'pass' | 'fail' | 'inconclusive';
  valueText: string;
  limitText: string;
  confidence: number | null;
  observations: number;
  needed?: number;
  reason: string;
  warning?: string;
}

const BUDGET_ICON = { pass: '🟢', fail: '🔴', inconclusive: '⚪' } as const;

/**
 * The budgets section of a report: a verdict line (failing blocking budgets
 * first) and one row per budget: what it limits, the measured value against
 * the limit, how sure, the owner. Failing and inconclusive rows come first.
 */
export function renderBudgetSection(overall: 'pass' | 'fail' | 'inconclusive', budgets: BudgetAnswer[], heading = '### Performance budgets'): string {
  const blockingFails = budgets.filter((b) => b.severity === 'block' && b.verdict === 'fail');
  const warns = budgets.filter((b) => b.severity === 'warn' && b.verdict === 'fail');
  const line = overall === 'fail' ? `🔴 **${blockingFails.length} blocking budget${blockingFails.length === 1 ? '' : 's'} broken**: ${blockingFails.slice(0, 3).map((b) => escapeCell(b.name)).join(', ')}${blockingFails.length > 3 ? ', …' : ''}.`
    : overall === 'inconclusive' ? '⚪ **Budgets: not enough data to tell** for some blocking budget; see "needed".'
      : `🟢 **Within every blocking budget**${warns.length ? ` (${warns.length} warning${warns.length === 1 ? '' : 's'})` : ''}.`;
  const order = { fail: 0, inconclusive: 1, pass: 2 } as const;
  const rows = [...budgets].sort((a, b) => order[a.verdict] - order[b.verdict] || Number(a.severity === 'warn') - Number(b.severity === 'warn'));
  const out = [heading, '', line, '', '| budget | limits | value | limit | verdict | sure | observations | owner |', '| --- | --- | --- | --- | --- | --- | --- | --- |'];
  for (const b of rows.slice(0, MAX_FOLDED)) {
    const what = b.function ? `${escapeCell(b.function)} ${b.measure ?? ''} ${b.kind === 'growth' ? 'growth' : 'share'}` : `${b.kind === 'perRequest' ? 'per request' : b.kind} of ${escapeCell(b.service)} ${escapeCell(b.type)}`;
    const sure = b.confidence === null || b.verdict === 'inconclusive' ? '–' : `${(b.confidence * 100).toFixed(1)} %`;
    const obs = b.verdict === 'inconclusive' && b.needed !== undefined ? `${b.observations} (needs ~${b.needed})` : String(b.observations);
    out.push(`| ${escapeCell(b.name)}${b.severity === 'warn' ? ' (warn)' : ''} | ${what} | ${escapeCell(b.valueText)} | ${escapeCell(b.limitText)} | ${BUDGET_ICON[b.verdict]} ${b.verdict} | ${sure} | ${obs} | ${escapeCell(b.owner || '–')} |`);
  }
  if (rows.length > MAX_FOLDED) out.push('', `and ${rows.length - MAX_FOLDED} more.`);
  const warnings = budgets.filter((b) => b.warning);
  if (warnings.length) out.push('', ...warnings.slice(0, MAX_FOLDED).map((b) => `⚠️ ${escapeCell(b.name)}: ${escapeCell(b.warning!)}`));
  return out.join('\n') + '\n';
}
