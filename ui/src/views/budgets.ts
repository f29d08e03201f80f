/**
 * Budgets of one service: each budget with its current verdict (pass, fail,
 * inconclusive; severity and owner) over the page's time range, and its
 * value over time against its limit. A point of a chart, or a stretch over
 * the limit, opens the flame graph of the budget's selection for that time
 * with its function searched.
 */
import {
  api,
  type Budget,
  type BudgetEvaluation,
  type BudgetSeries,
  type BudgetVerdict,
  type ProfileType,
} from '../api';
import type { App } from '../app';
import { el, notice, select } from '../dom';
import { formatState, selectorOf, type State } from '../state';
import { describeRange, formatTime, PRESETS, resolveRange } from '../time';
import { BudgetChart } from './budget-chart';
import { errorNotice } from './panels';
import { profileTypes, typeKey } from './querybar';

const DAY_MS = 864e5;
/** Series fetched at once: a file may hold hundreds of budgets. */
const PARALLEL = 4;

/** Types whose values are time (the server's reading of `cores`, `us`). */
const isTimeType = (type: string) =>
  /^(cpu|wall|process_cpu|itimer|block|mutex|contentions|delay)/.test(type);
/** A gauge by name when the data's kind is not known (the server's profileKind). */
const gaugeByName = (type: string) => /^inuse(_|$)/.test(type);
const TIME_UNITS = new Set(['nanoseconds', 'microseconds', 'milliseconds', 'seconds']);

const p3 = (x: number) => {
  const s = x.toPrecision(3);
  return s.includes('e') ? s : String(Number(s));
};

/**
 * A value in the budget's terms, as the server words it: share `37.50 %`,
 * growth `+6.1 %`, CPU rate `0.52 cores`, per request `41.2 us`, bytes `40 MB/s`.
 * `measured` formats what a growth budget's chart shows (the share or rate, not the growth).
 * `unit` is the profile type's unit when known: sample counts are counts, whatever the type's name.
 * `kind` is the type's kind in the data (a gauge's rate is a level, not per second); by name when unknown.
 * `axis` drops trailing zeros of percentages (`40 %`, not `40.00 %`).
 */
export function budgetFormat(
  b: Budget,
  { unit, kind }: { unit?: string; kind?: ProfileType['kind'] } = {},
  measured = false,
  axis = false,
): (x: number) => string {
  const what = measured && b.kind === 'growth' ? (b.function ? 'share' : 'rate') : b.kind;
  const family = unit
    ? TIME_UNITS.has(unit)
      ? 'time'
      : unit === 'bytes'
        ? 'bytes'
        : 'count'
    : isTimeType(b.type)
      ? 'time'
      : /space|bytes/.test(b.type)
        ? 'bytes'
        : 'count';
  const perSecond = what === 'rate' && (kind ? kind !== 'gauge' : !gaugeByName(b.type));
  return (x) => {
    if (!Number.isFinite(x)) return '–';
    if (what === 'share') {
      const text = (x * 100).toFixed(x !== 0 && Math.abs(x) < 0.001 ? 3 : 2);
      return `${axis ? String(Number(text)) : text} %`;
    }
    if (what === 'growth') return `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(1)} %`;
    if (family === 'time') {
      if (perSecond) return `${p3(x / 1e9)} cores`;
      const a = Math.abs(x);
      const [u, d] = a >= 1e9 ? ['s', 1e9] : a >= 1e6 ? ['ms', 1e6] : a >= 1e3 ? ['us', 1e3] : ['ns', 1];
      return `${p3(x / d)} ${u}`;
    }
    if (family === 'bytes') {
      const a = Math.abs(x);
      const [u, d] = a >= 1e9 ? ['GB', 1e9] : a >= 1e6 ? ['MB', 1e6] : a >= 1e3 ? ['KB', 1e3] : ['B', 1];
      return `${p3(x / d)} ${u}${perSecond ? '/s' : ''}`;
    }
    return `${p3(x)}${perSecond ? '/s' : ''}`;
  };
}

/** The function as the budget names it: `db.query`, `/JSON\.parse.*\/`, `emit (events.js)` with a file. */
export function functionText(b: Budget): string {
  if (!b.function) return '';
  const name = b.function.regex ? `/${b.function.name}/` : b.function.name;
  return b.function.file ? `${name} (${b.function.file})` : name;
}

/** The explore page's search for a budget's function: its regex, or the exact name anchored (a plain search matches substrings). */
export function searchOf(b: Budget): string {
  if (!b.function) return '';
  // A name defined in several files shows as `emit (events.js)`: the file in parentheses may follow.
  return b.function.regex
    ? `/${b.function.name}/`
    : `/^${b.function.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}( \\(.*\\))?$/`;
}

/** What a budget limits, in words; `kind` as budgetFormat's. */
export function describeBudget(b: Budget, kind?: ProfileType['kind']): string {
  const gauge = kind ? kind === 'gauge' : gaugeByName(b.type);
  const fn = b.function
    ? `${functionText(b)} (${b.function.measure}${b.function.regex ? ', every match' : ''})`
    : '';
  switch (b.kind) {
    case 'share':
      return `share of ${b.type} in ${fn}`;
    case 'rate':
      return gauge ? `${b.type} held per instance` : `${b.type} per instance-second`;
    case 'perRequest':
      return `${b.type} per ${b.counter ?? 'requests'} counted`;
    case 'growth':
      return b.function
        ? `growth of the share of ${b.type} in ${fn}`
        : `growth of ${b.type} ${gauge ? 'held per instance' : 'per instance-second'}`;
  }
}

interface Card {
  budget: Budget;
  element: HTMLElement;
  badges: HTMLElement;
  verdict: HTMLElement;
  chartBox: HTMLElement;
}

/** The page's range in a sentence: `the last hour`, or `2026-… – 2026-…`. */
function rangeWords(s: State): string {
  const preset = PRESETS.find((p) => p.from === s.from);
  return preset && s.until === 'now' ? `the ${preset.label.toLowerCase()}` : describeRange(s.from, s.until);
}

export class BudgetsView {
  readonly element = el('main', { class: 'view budgets' });
  /** The drawn charts by budget name (for the tests). */
  readonly charts = new Map<string, BudgetChart>();
  private abort: AbortController | undefined;
  private types: ProfileType[] = [];

  constructor(
    private app: App,
    private services: string[],
  ) {}

  render(s: State): void {
    this.abort?.abort();
    const abort = (this.abort = new AbortController());
    void this.load(s, abort.signal);
  }

  private bar(s: State): HTMLElement {
    const services =
      this.services.includes(s.service) || !s.service ? this.services : [s.service, ...this.services];
    const presetValue = s.until === 'now' && PRESETS.some((p) => p.from === s.from) ? s.from : 'custom';
    const ranges = [
      ...PRESETS.map((p) => ({ value: p.from, label: p.label })),
      ...(presetValue === 'custom' ? [{ value: 'custom', label: describeRange(s.from, s.until) }] : []),
    ];
    return el(
      'form',
      { class: 'querybar', role: 'search', onsubmit: (e) => e.preventDefault() },
      field(
        'Service',
        select(
          services.map((v) => ({ value: v })),
          s.service,
          {
            'aria-label': 'service',
            name: 'service',
            onchange: (e) =>
              this.app.update(
                { service: (e.target as HTMLSelectElement).value, type: '', labels: '' },
                { push: true },
              ),
          },
        ),
      ),
      field(
        'Time range',
        select(ranges, presetValue, {
          'aria-label': 'time range',
          name: 'range',
          onchange: (e) => {
            const v = (e.target as HTMLSelectElement).value;
            if (v !== 'custom') this.app.update({ from: v, until: 'now' }, { push: true });
          },
        }),
      ),
      el(
        'button',
        {
          type: 'button',
          title: 'Judge again (relative ranges move to now)',
          onclick: () => this.app.update({}),
        },
        'Refresh',
      ),
    );
  }

  private async load(s: State, signal: AbortSignal): Promise<void> {
    delete window.__flamewatch.timings.budgets;
    this.charts.clear();
    const t0 = performance.now();
    const title = el('h1', {}, 'Budgets');
    const bar = this.bar(s);
    const done = (n: number) => {
      window.__flamewatch.timings.budgets = {
        fetchMs: performance.now() - t0,
        parseMs: 0,
        buildMs: 0,
        drawMs: 0,
        totalMs: performance.now() - t0,
        at: performance.now(),
        nodes: n,
      };
    };
    if (!s.service) {
      this.element.replaceChildren(title, bar, notice('empty', 'Pick a service.'));
      done(0);
      return;
    }
    this.element.replaceChildren(title, bar, notice('loading', 'Loading budgets…'));
    let budgets: Budget[];
    try {
      const [payload, types] = await Promise.all([
        api.budgets(s.service, signal),
        profileTypes(s.service).catch(() => [] as ProfileType[]),
      ]);
      budgets = payload.budgets;
      this.types = types;
    } catch (err) {
      if ((err as Error).name === 'AbortError' || signal.aborted) return;
      this.element.replaceChildren(
        title,
        bar,
        errorNotice(err, () => this.render(this.app.state)),
      );
      return;
    }
    if (signal.aborted) return;
    if (budgets.length === 0) {
      this.element.replaceChildren(title, bar, noBudgets(s.service));
      done(0);
      return;
    }

    const summary = el(
      'div',
      { class: 'budget-summary', 'aria-live': 'polite' },
      notice('loading', 'Judging the budgets…'),
    );
    const cards = budgets.map((b) => this.card(b, s));
    this.element.replaceChildren(
      title,
      bar,
      el(
        'p',
        { class: 'muted' },
        `${budgets.length} budget${budgets.length === 1 ? '' : 's'} of `,
        el('strong', {}, s.service),
        `, judged on ${rangeWords(s)} at 95 % confidence. Click a point of a chart, or a shaded stretch over the limit, to open its flame graph.`,
      ),
      summary,
      el('div', { class: 'budget-grid' }, ...cards.map((c) => c.element)),
    );

    const judged = this.judge(s, budgets, signal).then(
      (evaluation) => {
        if (signal.aborted) return;
        summary.replaceChildren(summaryOf(evaluation));
        const byName = new Map(evaluation.budgets.map((r) => [r.name, r]));
        for (const c of cards) this.fillVerdict(c, byName.get(c.budget.name));
      },
      (err: Error) => {
        if (err.name === 'AbortError' || signal.aborted) return;
        summary.replaceChildren(errorNotice(err, () => this.render(this.app.state)));
        for (const c of cards) this.fillVerdict(c, undefined);
      },
    );
    const queue = [...cards];
    const drawn = Promise.all(
      Array.from({ length: Math.min(PARALLEL, queue.length) }, async () => {
        for (let c = queue.shift(); c && !signal.aborted; c = queue.shift()) await this.chart(c, s, signal);
      }),
    );
    await Promise.all([judged, drawn]);
    if (!signal.aborted) done(budgets.length);
  }

  /** The stored budgets judged on the range; growth ones against the same range a day earlier. */
  private judge(s: State, budgets: Budget[], signal: AbortSignal): Promise<BudgetEvaluation> {
    const query = selectorOf(s.service, '');
    const [from, until] = resolveRange(s.from, s.until);
    const baseline =
      budgets.some((b) => b.kind === 'growth') && Number.isFinite(from) && Number.isFinite(until)
        ? { query, from: Math.round(from - DAY_MS), until: Math.round(until - DAY_MS) }
        : undefined;
    return api.evaluateBudgets({ query, from: s.from, until: s.until }, baseline, signal);
  }

  private typeOf(b: Budget): ProfileType | undefined {
    return this.types.find((t) => t.type === b.type);
  }

  /** The explore page of a budget's selection over a window (default the page's range), its function searched. */
  exploreState(b: Budget, window?: [number, number]): State {
    const s = this.app.state;
    const t = this.typeOf(b);
    return {
      ...s,
      view: 'explore',
      service: b.service,
      type: t ? typeKey(t) : b.type,
      labels: b.selector
        .trim()
        .replace(/^\{|\}$/g, '')
        .trim(),
      from: window ? String(Math.floor(window[0])) : s.from,
      until: window ? String(Math.ceil(window[1])) : s.until,
      search: searchOf(b),
      fn: b.function && !b.function.regex ? b.function.name : '',
      zoom: '',
      rid: '',
    };
  }

  private card(b: Budget, s: State): Card {
    const badges = el(
      'div',
      { class: 'badges' },
      el('span', { class: 'badge verdict verdict-pending' }, 'judging…'),
      el(
        'span',
        {
          class: `badge severity severity-${b.severity}`,
          title: b.severity === 'block' ? 'fails CI and the deploy gate' : 'reported only',
        },
        b.severity,
      ),
      b.owner ? el('span', { class: 'badge owner', title: 'owner' }, b.owner) : null,
    );
    const verdict = el('div', { class: 'budget-verdict' });
    const chartBox = el('div', { class: 'budget-chart-box' }, notice('loading', 'Loading the series…'));
    const explore = this.exploreState(b);
    const element = el(
      'article',
      { class: 'budget-card', 'data-budget': b.name, 'aria-label': `budget ${b.name}` },
      el('header', { class: 'budget-head' }, el('h2', { class: 'budget-name' }, b.name), badges),
      el(
        'p',
        { class: 'budget-what' },
        describeBudget(b, this.typeOf(b)?.kind),
        el('span', { class: 'muted' }, ` · limit `),
        el('strong', { class: 'budget-limit' }, b.kind === 'growth' ? `${b.maxText} growth` : b.maxText),
        b.selector ? el('span', { class: 'muted' }, ' · ') : null,
        b.selector ? el('code', { class: 'budget-selector' }, b.selector) : null,
      ),
      b.description ? el('p', { class: 'budget-description' }, b.description) : null,
      verdict,
      chartBox,
      el(
        'p',
        { class: 'budget-links' },
        el(
          'a',
          {
            href: formatState(explore),
            class: 'open-explore',
            onclick: (e) => {
              e.preventDefault();
              this.app.update(this.exploreState(b), { push: true });
            },
          },
          `Flame graph of ${rangeWords(s)}`,
        ),
      ),
    );
    return { budget: b, element, badges, verdict, chartBox };
  }

  private fillVerdict(c: Card, r: BudgetVerdict | undefined): void {
    const badge = c.badges.querySelector('.verdict')!;
    const b = c.budget;
    if (!r) {
      badge.className = 'badge verdict verdict-unknown';
      badge.textContent = 'unknown';
      c.verdict.replaceChildren(
        el('p', { class: 'muted' }, 'No verdict: the evaluation failed (see above).'),
      );
      return;
    }
    c.element.dataset.verdict = r.verdict;
    badge.className = `badge verdict verdict-${r.verdict}`;
    badge.textContent = r.verdict;
    const fmt = budgetFormat(b, { unit: this.typeOf(b)?.unit, kind: r.typeKind });
    const ci =
      r.ci[0] !== null && r.ci[1] !== null && r.ci[0] !== undefined && r.ci[1] !== undefined
        ? `95 % CI ${fmt(r.ci[0])} to ${fmt(r.ci[1])}`
        : '';
    const obs = `${r.observations} observation${r.observations === 1 ? '' : 's'}${r.baselineObservations !== undefined ? ` (baseline ${r.baselineObservations})` : ''}`;
    const sure =
      r.verdict !== 'inconclusive' && r.confidence !== null && r.observations > 0
        ? ` (${(r.confidence * 100).toFixed(1)} % sure)`
        : '';
    const needed =
      r.verdict === 'inconclusive' && r.needed !== undefined && !r.reason.startsWith('needs')
        ? `; about ${r.needed} observations${b.kind === 'growth' ? ' a side' : ''} would decide`
        : '';
    c.verdict.replaceChildren(
      el(
        'p',
        { class: 'budget-value' },
        el(
          'span',
          { class: 'muted' },
          b.kind === 'growth' ? 'Growth against the same range a day earlier ' : 'Value ',
        ),
        el('strong', { class: `value verdict-${r.verdict}` }, r.value === null ? '–' : fmt(r.value)),
        el('span', { class: 'muted' }, ` against ${r.limitText}`),
        ci ? el('span', { class: 'muted' }, ` · ${ci}`) : null,
        el('span', { class: 'muted' }, ` · ${obs}`),
      ),
      el('p', { class: 'budget-reason' }, `${r.reason}${sure}${needed}.`),
    );
  }

  private async chart(c: Card, s: State, signal: AbortSignal): Promise<void> {
    const b = c.budget;
    let series: BudgetSeries;
    try {
      series = await api.budgetSeries(
        { service: b.service, name: b.name, from: s.from, until: s.until, points: 96 },
        signal,
      );
    } catch (err) {
      if ((err as Error).name === 'AbortError' || signal.aborted) return;
      c.chartBox.replaceChildren(errorNotice(err, () => void this.chart(c, this.app.state, signal)));
      return;
    }
    if (signal.aborted) return;
    const growth = b.kind === 'growth';
    const t = { unit: this.typeOf(b)?.unit, kind: series.typeKind };
    const fmt = budgetFormat(b, t, true);
    const note = growth
      ? el(
          'p',
          { class: 'chart-note muted' },
          `The chart shows the measured ${b.function ? `share of ${functionText(b)}` : 'rate'}, without a limit line: the limit, ${b.maxText}, is on its growth against a baseline.`,
        )
      : null;
    if (series.points.length === 0) {
      c.chartBox.replaceChildren(
        notice(
          'empty',
          'No data for this budget in this time range.',
          el(
            'p',
            {},
            `Nothing of ${b.service} (${b.type}${b.selector ? ` ${b.selector}` : ''}) between ${formatTime(series.from)} and ${formatTime(series.until)}.`,
          ),
        ),
      );
      return;
    }
    const chart = new BudgetChart({
      points: series.points,
      stepMs: series.stepMs,
      range: [series.from, series.until],
      limit: growth ? undefined : b.max,
      limitText: b.maxText,
      format: fmt,
      axisFormat: budgetFormat(b, t, true, true),
      label: `${b.name}: ${describeBudget(b, series.typeKind)} over time${growth ? '' : `, limit ${b.maxText}`}`,
      onPick: (win) => this.app.update(this.exploreState(b, win), { push: true }),
    });
    this.charts.set(b.name, chart);
    c.chartBox.replaceChildren(chart.element, ...(note ? [note] : []));
  }
}

function summaryOf(e: BudgetEvaluation): HTMLElement {
  const count = (v: string) => e.budgets.filter((r) => r.verdict === v).length;
  const parts = (['fail', 'inconclusive', 'pass'] as const)
    .filter((v) => count(v) > 0)
    .map((v) => `${count(v)} ${v}`);
  return el(
    'p',
    { class: 'budget-overall' },
    'Overall ',
    el('span', { class: `badge verdict verdict-${e.verdict}`, 'data-verdict': e.verdict }, e.verdict),
    el(
      'span',
      { class: 'muted' },
      ` · ${parts.join(' · ')} · the overall verdict counts blocking budgets only`,
    ),
  );
}

function noBudgets(service: string): HTMLElement {
  const base = location.origin;
  return notice(
    'empty',
    `${service} has no budgets.`,
    el(
      'p',
      {},
      'Budgets are limits a service must stay within: a function’s share of the profile, CPU per instance-second, cost per request, or growth against a baseline. Write them in a flamewatch.budgets.yaml:',
    ),
    el(
      'pre',
      {},
      `budgets:
  - name: db-share
    function: db.query
    share: 30%
    owner: "@team"
  - name: cpu
    rate: 0.5 cores
    severity: warn`,
    ),
    el('p', {}, 'then store them for this service:'),
    el(
      'pre',
      {},
      `curl -X PUT -H 'content-type: application/yaml' --data-binary @flamewatch.budgets.yaml \\
  '${base}/api/v1/budgets?service=${encodeURIComponent(service)}'`,
    ),
    el(
      'p',
      {},
      'or check them on every pull request with `flamewatch ci check`. The file’s schema is at ',
      el('a', { href: '/api/v1/budgets/schema' }, '/api/v1/budgets/schema'),
      '.',
    ),
  );
}

function field(label: string, control: HTMLElement): HTMLElement {
  return el('label', { class: 'field' }, el('span', { class: 'field-label' }, label), control);
}
