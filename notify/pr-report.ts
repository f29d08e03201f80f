/**
 * The pull-request report: `GET /api/v1/compare`'s answer as GitHub-flavoured
 * markdown — a one-line verdict (an undecided comparison leads with what it
 * would take), the top regressions and improvements as a table, the whole
 * program's change, profile and process counts and links to the
 * differential flame graph in the UI. Pure: the same answer gives the same text.
 */
import { compareView } from '../profile/detect-job';
import type { Detection, Finding } from '../profile/regression';
import { escapeCell, markdown, type Medium } from './medium';

export { escapeCell, markdown, text, type Medium } from './medium';

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
  /** What the candidate is called: `PR` (the default) for a pull request's run, `candidate` for any other comparison. */
  candidateLabel?: string;
}

/** The report on one comparison: GitHub markdown, or plain text for a terminal (`m`). */
export function renderReport(answer: CompareAnswer, ctx: ReportContext, m: Medium = markdown): string {
  const top = ctx.top ?? 10;
  const link = (fn: string) => (ctx.uiUrl ? compareLink(ctx.uiUrl, ctx, answer.unit, fn) : undefined);
  const label = ctx.candidateLabel ?? 'PR';
  const lines: string[] = [verdictLine(answer, m, label), ''];
  const side = (s: CompareAnswer['baseline']) =>
    `${Number(s.n)} profiles from ${Number(s.processes)} process${s.processes === 1 ? '' : 'es'}`;
  lines.push(
    `Baseline ${m.code(ctx.baseline.query)} (${side(answer.baseline)}) against ${label} ${m.code(ctx.candidate.query)} (${side(answer.candidate)}), ` +
      `type ${m.cell(ctx.type)}, ${NORMALISATION[answer.normalisation] ?? 'costs'}. Percentages are of the baseline's whole cost.`,
  );
  if (answer.rate) lines.push('', rateLine(answer, m));
  const full = link('');
  if (full)
    lines.push(
      '',
      m.name === 'text'
        ? `Differential flame graph: ${full}`
        : m.link('Differential flame graph and full comparison', full),
    );

  const regressions = answer.regressions.filter((f) => f.measure !== 'rate');
  const gauge = answer.kind === 'gauge';
  const sections: Array<[string, WireFinding[]]> = [
    [gauge ? 'More memory held' : 'Regressions', regressions],
    [gauge ? 'Less memory held' : 'Improvements', answer.improvements],
  ];
  for (const [title, findings] of sections) {
    if (findings.length === 0) continue;
    lines.push('', m.heading(`${title} (${findings.length})`), '');
    lines.push(...table(findings.slice(0, top), link, m, label));
    if (findings.length > top) {
      // Folded rows go without links, and at most MAX_FOLDED of them: a GitHub comment holds 65,536 characters.
      const folded = findings.slice(top, top + MAX_FOLDED);
      const rest = findings.length - top - folded.length;
      const body = table(folded, () => undefined, m, label);
      if (rest > 0)
        body.push('', `and ${rest} more${full ? ` in the ${m.link('full comparison', full)}` : ''}.`);
      lines.push('', ...m.details(`${findings.length - top} more`, body));
    }
  }
  if (answer.explained.length > 0) {
    lines.push(
      '',
      ...m.details(
        `${answer.explained.length} explained: by a slower function below them, by the whole program, or by less work per second`,
        m.table(
          ['function', 'measure', 'change', 'explained by'],
          answer.explained
            .slice(0, MAX_FOLDED)
            .map((f) => [
              m.cell(f.function),
              m.cell(f.measure),
              points(f.effect),
              f.explainedBy ? m.cell(f.explainedBy) : 'the whole program',
            ]),
        ),
      ),
    );
  }
  if (answer.inconclusive.length > 0) {
    lines.push(
      '',
      ...m.details(
        `${answer.inconclusive.length} changes too uncertain to call`,
        m.table(
          ['function', 'measure', 'baseline %', `${label} %`, 'change', 'needed a side'],
          answer.inconclusive
            .slice(0, MAX_FOLDED)
            .map((f) => [
              m.cell(f.function || 'whole program'),
              m.cell(f.measure),
              percent(f.baseline),
              percent(f.candidate),
              `${points(f.effect)} (${relativeText(f.relative)})`,
              f.neededObservations
                ? `${f.neededObservations} profiles from ${f.neededProcesses} processes`
                : '?',
            ]),
        ),
      ),
    );
  }
  const resolution = Number.isFinite(answer.resolution ?? NaN)
    ? `; it can see rises of ${relativeText(answer.resolution)} on functions of 5 % or more of the cost`
    : '';
  lines.push(
    '',
    m.small(
      `${answer.tested} tests, false discovery rate ${answer.options.fdr}; a change counts from ` +
        `${(answer.options.minAbsolute * 100).toFixed(1)} pp or ${(answer.options.minRelative * 100).toFixed(0)} %${resolution}. Flamewatch.`,
    ),
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
export function verdictLine(answer: CompareAnswer, m: Medium = markdown, label = 'PR'): string {
  if (answer.verdict === 'insufficient_data')
    return `⚪ ${m.strong('Insufficient data')}: ${m.cell(answer.reason ?? 'too few profiles')}.`;
  if (answer.verdict === 'inconclusive')
    return `🟡 ${m.strong('Inconclusive')}: ${m.cell(answer.reason ?? 'the data cannot decide yet')}.`;
  const gauge = answer.kind === 'gauge';
  if (answer.verdict === 'no_regression') {
    const improved = answer.improvements.length;
    const better = improved > 0 ? `, ${improved} ${gauge ? 'holding less' : 'improved'}` : '';
    return `🟢 ${m.strong('No regression')}${better} (${answer.candidate.n} ${label} profiles against ${answer.baseline.n} baseline profiles).`;
  }
  const fns = answer.regressions.filter((f) => f.measure !== 'rate');
  const count = new Set(fns.map((f) => f.function)).size;
  const worst = fns[0];
  const what = worst
    ? `, worst ${m.cell(worst.function)} ${points(worst.effect)} (${relativeText(worst.relative)})`
    : '';
  const whole =
    answer.rate?.verdict === 'regression'
      ? `the whole program ${gauge ? 'holds' : 'costs'} ${relativeText(answer.rate.relative)}${count ? '; ' : ''}`
      : '';
  const fnText = count
    ? `${count} function${count === 1 ? '' : 's'} ${gauge ? 'holding more memory' : 'slower'}${what}`
    : '';
  return `🔴 ${m.strong('Regression')}: ${whole}${fnText}.`;
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

function rateLine(answer: CompareAnswer, m: Medium): string {
  const rate = answer.rate!;
  const unit = answer.unit || 'samples';
  const ps = answer.perSecond;
  const perSecond = ps ? `${fromTo(ps.baseline, ps.candidate, unit, m, true)} per instance` : '';
  if (answer.normalisation === 'work' && rate.perWork) {
    const q =
      rate.verdict === 'regression' || rate.verdict === 'improvement'
        ? ` (${rate.verdict}, q ${num(rate.q)})`
        : ` (q ${num(rate.q)})`;
    return (
      `Whole program per unit of work: ${fromTo(rate.perWork.baseline, rate.perWork.candidate, unit, m)} (${relativeText(rate.relative)}, ` +
      `95 % CI ${relativeText(rate.ci[0])} to ${relativeText(rate.ci[1])})${q}; ${perSecond}.`
    );
  }
  if (answer.normalisation === 'level')
    return `Whole level: ${relativeText(rate.relative)} (${rate.verdict}).`;
  return `Whole cost ${perSecond} (${relativeText(ps && ps.baseline > 0 ? ps.candidate / ps.baseline - 1 : null)}): traffic moves it, so without a work count it is not judged.`;
}

const TIME_UNITS: Record<string, number> = {
  nanoseconds: 1,
  microseconds: 1e3,
  milliseconds: 1e6,
  seconds: 1e9,
};

/** How to show amounts of `unit` of about `size`: the divisor and the words after the number. */
function scaleFor(
  unit: string,
  size: number,
  m: Medium,
  perSecond: boolean,
): { div: number; suffix: string } {
  const ns = TIME_UNITS[unit];
  if (ns !== undefined) {
    if (perSecond) return { div: 1e9 / ns, suffix: 'cores' };
    const a = size * ns;
    const [u, d] = a >= 1e9 ? ['s', 1e9] : a >= 1e6 ? ['ms', 1e6] : a >= 1e3 ? ['µs', 1e3] : ['ns', 1];
    return { div: d / ns, suffix: u };
  }
  const per = perSecond ? '/s' : '';
  if (unit === 'bytes') {
    const [u, d] =
      size >= 1e9 ? ['GB', 1e9] : size >= 1e6 ? ['MB', 1e6] : size >= 1e3 ? ['kB', 1e3] : ['B', 1];
    return { div: d, suffix: u + per };
  }
  return { div: 1, suffix: m.cell(unit) + per };
}

/**
 * An amount in its unit as people read it: time per second as cores (`1.89 cores`, not `1892673240
 * nanoseconds/s`), time as `41.2 µs`, bytes as `3.10 MB` (`/s` per second); other units as the number and the unit.
 */
export function quantity(x: number, unit: string, m: Medium = markdown, perSecond = false): string {
  const { div, suffix } = scaleFor(unit, Math.abs(x), m, perSecond);
  return `${num(x / div)} ${suffix}`;
}

/** Two amounts of one unit, in one scale: `0.189 → 0.194 cores`. */
function fromTo(a: number, b: number, unit: string, m: Medium, perSecond = false): string {
  const { div, suffix } = scaleFor(unit, Math.max(Math.abs(a), Math.abs(b)), m, perSecond);
  return `${num(a / div)} → ${num(b / div)} ${suffix}`;
}

function table(
  findings: WireFinding[],
  link: (fn: string) => string | undefined,
  m: Medium,
  label: string,
): string[] {
  return m.table(
    ['function', 'measure', 'baseline %', `${label} %`, 'change', '95 % CI', 'q'],
    findings.map((f) => [
      m.link(m.cell(f.function), link(f.function)),
      m.cell(f.measure),
      percent(f.baseline),
      percent(f.candidate),
      `${points(f.effect)} (${relativeText(f.relative)})`,
      `${points(f.ci[0])} to ${points(f.ci[1])}`,
      num(f.q),
    ]),
  );
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

/** Rows of a folded list; beyond them the report points to the UI. */
const MAX_FOLDED = 50;

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
  heading = 'Performance budgets',
  m: Medium = markdown,
): string {
  const blockingFails = budgets.filter((b) => b.severity === 'block' && b.verdict === 'fail');
  const warns = budgets.filter((b) => b.severity === 'warn' && b.verdict === 'fail');
  const line =
    overall === 'fail'
      ? `🔴 ${m.strong(`${blockingFails.length} blocking budget${blockingFails.length === 1 ? '' : 's'} broken`)}: ${blockingFails
          .slice(0, 3)
          .map((b) => m.cell(b.name))
          .join(', ')}${blockingFails.length > 3 ? ', …' : ''}.`
      : overall === 'inconclusive'
        ? `⚪ ${m.strong('Budgets: not enough data to tell')} for some blocking budget; see "needed".`
        : `🟢 ${m.strong('Within every blocking budget')}${warns.length ? ` (${warns.length} warning${warns.length === 1 ? '' : 's'})` : ''}.`;
  const order = { fail: 0, inconclusive: 1, pass: 2 } as const;
  const rows = [...budgets].sort(
    (a, b) =>
      order[a.verdict] - order[b.verdict] || Number(a.severity === 'warn') - Number(b.severity === 'warn'),
  );
  const out = [
    m.heading(heading),
    '',
    line,
    '',
    ...m.table(
      ['budget', 'limits', 'value', 'limit', 'verdict', 'sure', 'observations', 'owner'],
      rows.slice(0, MAX_FOLDED).map((b) => {
        const what = b.function
          ? `${m.cell(b.function)} ${m.cell(b.measure ?? '')} ${b.kind === 'growth' ? 'growth' : 'share'}`
          : `${b.kind === 'perRequest' ? 'per request' : m.cell(b.kind)} of ${m.cell(b.service)} ${m.cell(b.type)}`;
        const sure =
          b.confidence === null || b.verdict === 'inconclusive'
            ? '–'
            : `${(b.confidence * 100).toFixed(1)} %`;
        const obs =
          b.verdict === 'inconclusive' && b.needed !== undefined
            ? `${Number(b.observations)} (needs ~${Number(b.needed)})`
            : String(Number(b.observations));
        return [
          `${m.cell(b.name)}${b.severity === 'warn' ? ' (warn)' : ''}`,
          what,
          m.cell(b.valueText),
          m.cell(b.limitText),
          `${BUDGET_ICON[b.verdict] ?? ''} ${m.cell(String(b.verdict))}`,
          sure,
          obs,
          m.cell(b.owner || '–'),
        ];
      }),
    ),
  ];
  if (rows.length > MAX_FOLDED) out.push('', `and ${rows.length - MAX_FOLDED} more.`);
  const warnings = budgets.filter((b) => b.warning);
  if (warnings.length)
    out.push('', ...warnings.slice(0, MAX_FOLDED).map((b) => `⚠️ ${m.cell(b.name)}: ${m.cell(b.warning!)}`));
  return out.join('\n') + '\n';
}
