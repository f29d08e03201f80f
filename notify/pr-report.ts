/**
 * The pull-request report: `GET /api/v1/compare`'s answer as GitHub-flavoured
 * markdown — a one-line verdict (an undecided comparison leads with what it
 * would take), the top regressions and improvements as a table, the whole
 * program's change, profile and process counts and links to the
 * differential flame graph in the UI. Pure: the same answer gives the same text.
 */
import { compareView } from '../profile/detect-job';
import type { Detection, Finding } from '../profile/regression';

/** A detection as `GET /api/v1/compare` answers it: JSON has no Infinity, so a relative change from zero becomes null. */
export function compareAnswer(type: string, unit: string, detection: Detection): CompareAnswer {
  const wire = JSON.parse(
    JSON.stringify(detection, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)),
  ) as object;
  return { type, unit, ...wire } as CompareAnswer;
}

/** A finding as it crosses JSON: non-finite numbers (a relative change from 0) arrive as null. */
export type WireFinding = Omit<Finding, 'relative'> & { relative: number | null };

/** `GET /api/v1/compare`'s answer. */
export interface CompareAnswer extends Omit<
  Detection,
  'regressions' | 'improvements' | 'inconclusive' | 'explained' | 'rate'
> {
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
  const side = (s: CompareAnswer['baseline']) =>
    `${s.n} profiles from ${s.processes} process${s.processes === 1 ? '' : 'es'}`;
  lines.push(
    `Baseline \`${code(ctx.baseline.query)}\` (${side(answer.baseline)}) against PR \`${code(ctx.candidate.query)}\` (${side(answer.candidate)}), ` +
      `type ${escapeCell(ctx.type)}, ${NORMALISATION[answer.normalisation] ?? 'costs'}. Percentages are of the baseline's whole cost.`,
  );
  if (answer.rate) lines.push('', rateLine(answer));
  const full = link('');
  if (full) lines.push('', `[Differential flame graph and full comparison](${full})`);

  const regressions = answer.regressions.filter((f) => f.measure !== 'rate');
  const gauge = answer.kind === 'gauge';
  const sections: Array<[string, WireFinding[]]> = [
    [gauge ? 'More memory held' : 'Regressions', regressions],
    [gauge ? 'Less memory held' : 'Improvements', answer.improvements],
  ];
  for (const [title, findings] of sections) {
    if (findings.length === 0) continue;
    lines.push('', `### ${title} (${findings.length})`, '');
    lines.push(...table(findings.slice(0, top), link));
    if (findings.length > top) {
      // Folded rows go without links, and at most MAX_FOLDED of them: a GitHub comment holds 65,536 characters.
      const folded = findings.slice(top, top + MAX_FOLDED);
      const rest = findings.length - top - folded.length;
      lines.push(
        '',
        `<details><summary>${findings.length - top} more</summary>`,
        '',
        ...table(folded, () => undefined),
      );
      if (rest > 0) lines.push('', `and ${rest} more${full ? ` in the [full comparison](${full})` : ''}.`);
      lines.push('', '</details>');
    }
  }
  if (answer.explained.length > 0) {
    lines.push(
      '',
      `<details><summary>${answer.explained.length} explained: by a slower function below them, by the whole program, or by less work per second</summary>`,
      '',
    );
    lines.push('| function | measure | change | explained by |', '| --- | --- | --- | --- |');
    for (const f of answer.explained.slice(0, MAX_FOLDED))
      lines.push(
        `| ${escapeCell(f.function)} | ${f.measure} | ${points(f.effect)} | ${f.explainedBy ? escapeCell(f.explainedBy) : 'the whole program'} |`,
      );
    lines.push('', '</details>');
  }
  if (answer.inconclusive.length > 0) {
    lines.push(
      '',
      `<details><summary>${answer.inconclusive.length} changes too uncertain to call</summary>`,
      '',
    );
    lines.push(
      '| function | measure | baseline % | PR % | change | needed a side |',
      '| --- | --- | --- | --- | --- | --- |',
    );
    for (const f of answer.inconclusive.slice(0, MAX_FOLDED)) {
      const needed = f.neededObservations
        ? `${f.neededObservations} profiles from ${f.neededProcesses} processes`
        : '?';
      lines.push(
        `| ${escapeCell(f.function || 'whole program')} | ${f.measure} | ${percent(f.baseline)} | ${percent(f.candidate)} | ${points(f.effect)} (${relativeText(f.relative)}) | ${needed} |`,
      );
    }
    lines.push('', '</details>');
  }
  const resolution = Number.isFinite(answer.resolution ?? NaN)
    ? `; it can see rises of ${relativeText(answer.resolution)} on functions of 5 % or more of the cost`
    : '';
  lines.push(
    '',
    `<sub>${answer.tested} tests, false discovery rate ${answer.options.fdr}; a change counts from ` +
      `${(answer.options.minAbsolute * 100).toFixed(1)} pp or ${(answer.options.minRelative * 100).toFixed(0)} %${resolution}. Flamewatch.</sub>`,
  );
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
export function renderPullRequestReport(
  title: { service: string; pr: string; commit?: string },
  sections: ReportSection[],
): string {
  const order = { regression: 0, inconclusive: 1, no_regression: 2, insufficient_data: 3 } as const;
  const sorted = [...sections].sort(
    (a, b) => order[a.answer.verdict] - order[b.answer.verdict] || a.ctx.type.localeCompare(b.ctx.type),
  );
  const commit = title.commit ? ` at ${escapeCell(title.commit.slice(0, 12))}` : '';
  const head = `**Flamewatch** · ${escapeCell(title.service)} · PR #${escapeCell(title.pr)}${commit}`;
  if (sorted.length === 1) return `${head}\n\n${renderReport(sorted[0].answer, sorted[0].ctx)}`;
  return `${head}\n\n${sorted.map((s) => `#### ${escapeCell(s.ctx.type)}\n\n${renderReport(s.answer, s.ctx)}`).join('\n')}`;
}

/** What a comparison's percentages are of, by how the detector made the sides comparable. */
const NORMALISATION: Record<string, string> = {
  work: 'costs per unit of work (the work count the profiles carry)',
  size: "costs scaled by a robust per-process size factor (no work count: traffic and the whole program's speed cancel out)",
  level: 'mean levels per process',
};

/** The verdict in one line, with the reason when the data does not decide. */
export function verdictLine(answer: CompareAnswer): string {
  if (answer.verdict === 'insufficient_data')
    return `⚪ **Insufficient data**: ${escapeCell(answer.reason ?? 'too few profiles')}.`;
  if (answer.verdict === 'inconclusive')
    return `🟡 **Inconclusive**: ${escapeCell(answer.reason ?? 'the data cannot decide yet')}.`;
  const gauge = answer.kind === 'gauge';
  if (answer.verdict === 'no_regression') {
    const improved = answer.improvements.length;
    const better = improved > 0 ? `, ${improved} ${gauge ? 'holding less' : 'improved'}` : '';
    return `🟢 **No regression**${better} (${answer.candidate.n} PR profiles against ${answer.baseline.n} baseline profiles).`;
  }
  const fns = answer.regressions.filter((f) => f.measure !== 'rate');
  const count = new Set(fns.map((f) => f.function)).size;
  const worst = fns[0];
  const what = worst
    ? `, worst ${escapeCell(worst.function)} ${points(worst.effect)} (${relativeText(worst.relative)})`
    : '';
  const whole =
    answer.rate?.verdict === 'regression'
      ? `the whole program ${gauge ? 'holds' : 'costs'} ${relativeText(answer.rate.relative)}${count ? '; ' : ''}`
      : '';
  const fnText = count
    ? `${count} function${count === 1 ? '' : 's'} ${gauge ? 'holding more memory' : 'slower'}${what}`
    : '';
  return `🔴 **Regression**: ${whole}${fnText}.`;
}

/** The verdict as plain text for a commit status (at most 140 characters there). */
export function verdictText(answer: CompareAnswer): string {
  if (answer.verdict === 'insufficient_data')
    return `insufficient data: ${answer.reason ?? 'too few profiles'}`;
  if (answer.verdict === 'inconclusive')
    return `inconclusive: ${(answer.reason ?? 'the data cannot decide yet').slice(0, 120)}`;
  if (answer.verdict === 'no_regression')
    return `no regression (${answer.candidate.n} PR profiles, ${answer.baseline.n} baseline)`;
  const fns = answer.regressions.filter((f) => f.measure !== 'rate');
  const count = new Set(fns.map((f) => f.function)).size;
  const worst = fns[0] ? `, worst ${fns[0].function.slice(0, 60)} ${relativeText(fns[0].relative)}` : '';
  const whole =
    answer.rate?.verdict === 'regression' ? `whole program ${relativeText(answer.rate.relative)}; ` : '';
  return `regression: ${whole}${count} function${count === 1 ? '' : 's'} slower${worst}`;
}

function rateLine(answer: CompareAnswer): string {
  const rate = answer.rate!;
  const u = escapeCell(answer.unit || 'samples');
  const ps = answer.perSecond;
  const perSecond = ps ? `${num(ps.baseline)} → ${num(ps.candidate)} ${u}/s per instance` : '';
  if (answer.normalisation === 'work' && rate.perWork) {
    const q =
      rate.verdict === 'regression' || rate.verdict === 'improvement'
        ? ` (${rate.verdict}, q ${num(rate.q)})`
        : ` (q ${num(rate.q)})`;
    return (
      `Whole program per unit of work: ${num(rate.perWork.baseline)} → ${num(rate.perWork.candidate)} ${u} (${relativeText(rate.relative)}, ` +
      `95 % CI ${relativeText(rate.ci[0])} to ${relativeText(rate.ci[1])})${q}; ${perSecond}.`
    );
  }
  if (answer.normalisation === 'level')
    return `Whole level: ${relativeText(rate.relative)} (${rate.verdict}).`;
  return `Whole cost ${perSecond} (${relativeText(ps && ps.baseline > 0 ? ps.candidate / ps.baseline - 1 : null)}): traffic moves it, so without a work count it is not judged.`;
}

function table(findings: WireFinding[], link: (fn: string) => string | undefined): string[] {
  const rows = [
    '| function | measure | baseline % | PR % | change | 95 % CI | q |',
    '| --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const f of findings) {
    const url = link(f.function);
    const name = url ? `[${escapeCell(f.function)}](${url})` : escapeCell(f.function);
    rows.push(
      `| ${name} | ${f.measure} | ${percent(f.baseline)} | ${percent(f.candidate)} | ${points(f.effect)} (${relativeText(f.relative)}) | ` +
        `${points(f.ci[0])} to ${points(f.ci[1])} | ${num(f.q)} |`,
    );
  }
  return rows;
}

/** The UI's compare page of exactly these two selections, with `fn` searched when given. */
export function compareLink(
  uiUrl: string,
  ctx: Pick<ReportContext, 'service' | 'type' | 'baseline' | 'candidate'>,
  unit: string,
  fn: string,
): string {
  const view = compareView({
    service: ctx.service,
    type: ctx.type,
    unit,
    function: fn,
    baseline: ctx.baseline,
    candidate: ctx.candidate,
  });
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
  // `:` and `/` too, and the dot of `www.`: GitHub links bare URLs, and a function name must not become one.
  return cut
    .replace(/[&<>"|`\\*_[\]~@#!():/]/g, (c) => `&#${c.charCodeAt(0)};`)
    .replace(/(www)\./gi, '$1&#46;');
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
export function renderBudgetSection(
  overall: 'pass' | 'fail' | 'inconclusive',
  budgets: BudgetAnswer[],
  heading = '### Performance budgets',
): string {
  const blockingFails = budgets.filter((b) => b.severity === 'block' && b.verdict === 'fail');
  const warns = budgets.filter((b) => b.severity === 'warn' && b.verdict === 'fail');
  const line =
    overall === 'fail'
      ? `🔴 **${blockingFails.length} blocking budget${blockingFails.length === 1 ? '' : 's'} broken**: ${blockingFails
          .slice(0, 3)
          .map((b) => escapeCell(b.name))
          .join(', ')}${blockingFails.length > 3 ? ', …' : ''}.`
      : overall === 'inconclusive'
        ? '⚪ **Budgets: not enough data to tell** for some blocking budget; see "needed".'
        : `🟢 **Within every blocking budget**${warns.length ? ` (${warns.length} warning${warns.length === 1 ? '' : 's'})` : ''}.`;
  const order = { fail: 0, inconclusive: 1, pass: 2 } as const;
  const rows = [...budgets].sort(
    (a, b) =>
      order[a.verdict] - order[b.verdict] || Number(a.severity === 'warn') - Number(b.severity === 'warn'),
  );
  const out = [
    heading,
    '',
    line,
    '',
    '| budget | limits | value | limit | verdict | sure | observations | owner |',
    '| --- | --- | --- | --- | --- | --- | --- | --- |',
  ];
  for (const b of rows.slice(0, MAX_FOLDED)) {
    const what = b.function
      ? `${escapeCell(b.function)} ${b.measure ?? ''} ${b.kind === 'growth' ? 'growth' : 'share'}`
      : `${b.kind === 'perRequest' ? 'per request' : b.kind} of ${escapeCell(b.service)} ${escapeCell(b.type)}`;
    const sure =
      b.confidence === null || b.verdict === 'inconclusive' ? '–' : `${(b.confidence * 100).toFixed(1)} %`;
    const obs =
      b.verdict === 'inconclusive' && b.needed !== undefined
        ? `${b.observations} (needs ~${b.needed})`
        : String(b.observations);
    out.push(
      `| ${escapeCell(b.name)}${b.severity === 'warn' ? ' (warn)' : ''} | ${what} | ${escapeCell(b.valueText)} | ${escapeCell(b.limitText)} | ${BUDGET_ICON[b.verdict]} ${b.verdict} | ${sure} | ${obs} | ${escapeCell(b.owner || '–')} |`,
    );
  }
  if (rows.length > MAX_FOLDED) out.push('', `and ${rows.length - MAX_FOLDED} more.`);
  const warnings = budgets.filter((b) => b.warning);
  if (warnings.length)
    out.push(
      '',
      ...warnings.slice(0, MAX_FOLDED).map((b) => `⚠️ ${escapeCell(b.name)}: ${escapeCell(b.warning!)}`),
    );
  return out.join('\n') + '\n';
}
