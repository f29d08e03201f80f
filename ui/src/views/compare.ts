/**
 * Compare: a baseline and a comparison selection (two label sets and/or two
 * time brushes), shown as one differential flame graph coloured by change,
 * with the table of functions that changed most, or side by side.
 */
import { api, parseMs, type CompareFinding, type ComparePayload, type DiffPayload } from '../api';
import { dataChanged, type App } from '../app';
import { el, notice } from '../dom';
import {
  fromDiffPayload,
  fromFlamePayload,
  matchNames,
  matchedValue,
  nodeAt,
  type FlameModel,
} from '../flame/model';
import { FlameGraph } from '../flame/render';
import { formatPercent, formatSigned, formatValue } from '../format';
import { selectorOf, zoomPath, type CompareTab, type State } from '../state';
import { describeRange, resolveRange, resolveTime } from '../time';
import {
  breadcrumb,
  diffColorsOf,
  diffLegend,
  diffTooltip,
  emptyNotice,
  errorNotice,
  exportLinks,
  flameColorsOf,
  flameTooltip,
  searchBox,
} from './panels';
import { QueryBar } from './querybar';
import { table, type Column } from './table';
import { Timeline } from './timeline';

type FnRow = DiffPayload['functions'][number] & { rank: number };

/** What the detector says of one function: the first of its findings by this order, with its q. */
interface Verdict {
  kind: 'slower' | 'faster' | 'undecided' | 'explained';
  q: number;
  relative: number | null;
  explainedBy?: string;
}
const VERDICT_ORDER: Record<Verdict['kind'] | 'none', number> = {
  slower: 0,
  faster: 1,
  undecided: 2,
  explained: 3,
  none: 4,
};

/** The detector's findings by function name (a function found as both self and total keeps its strongest). */
export function verdictsOf(c: ComparePayload): Map<string, Verdict> {
  const out = new Map<string, Verdict>();
  const add = (list: CompareFinding[], kind: Verdict['kind']) => {
    for (const f of list) {
      if (f.measure === 'rate' || !f.function) continue;
      const had = out.get(f.function);
      if (had && (VERDICT_ORDER[had.kind] < VERDICT_ORDER[kind] || (had.kind === kind && had.q <= f.q)))
        continue;
      out.set(f.function, {
        kind,
        q: f.q,
        relative: f.relative,
        ...(f.explainedBy ? { explainedBy: f.explainedBy } : {}),
      });
    }
  };
  add(c.regressions, 'slower');
  add(c.improvements, 'faster');
  add(c.inconclusive, 'undecided');
  add(c.explained, 'explained');
  return out;
}

const BASE_COLOR = '#3b6fb6';
const TOOLBAR_KEYS = [
  'ctab',
  'diffMode',
  'orient',
  'service',
  'type',
  'left',
  'right',
  'from',
  'until',
  'lfrom',
  'luntil',
  'rfrom',
  'runtil',
] as const;
const COMP_COLOR = '#c8553d';

/**
 * The two sides' time ranges: a side's brush when set, else the page's whole range. Never halves of it: after a
 * deploy one half holds only the old version and the other only the new, and the brushes the user did not draw
 * would be in the way of the ones they draw.
 */
export function sideRanges(s: State): { left: [string, string]; right: [string, string] } {
  return {
    left: [s.lfrom || s.from, s.luntil || s.until],
    right: [s.rfrom || s.from, s.runtil || s.until],
  };
}

/** Whether both sides are the same data: one label set and no brush that tells them apart. */
export function sameSides(s: State): boolean {
  const { left, right } = sideRanges(s);
  return s.left.trim() === s.right.trim() && left[0] === right[0] && left[1] === right[1];
}

export class CompareView {
  readonly element: HTMLElement;
  readonly graph: FlameGraph;
  readonly sides: [FlameGraph, FlameGraph];
  private readonly bar: QueryBar;
  private readonly timeline: Timeline;
  private readonly toolbar = el('div', { class: 'toolbar' });
  private readonly status = el('div', { class: 'status-line', 'aria-live': 'polite' });
  private readonly crumbs = el('div', { class: 'crumbs-wrap' });
  private readonly body = el('div', { class: 'view-body' });
  private diff: DiffPayload | undefined;
  /** The detector's finding per function name, when its answer has come. */
  private verdicts: Map<string, Verdict> | undefined;
  private model: FlameModel | undefined;
  private sideModels: [FlameModel | undefined, FlameModel | undefined] = [undefined, undefined];
  private last: State | undefined;
  private abort: AbortController | undefined;

  constructor(
    private app: App,
    services: string[],
  ) {
    this.bar = new QueryBar(app, services, 'compare');
    this.timeline = new Timeline(
      [
        { key: 'left', color: BASE_COLOR, label: 'baseline' },
        { key: 'right', color: COMP_COLOR, label: 'comparison' },
      ],
      (key, [from, until]) =>
        this.app.update(
          key === 'left'
            ? { lfrom: String(from), luntil: String(until), zoom: '' }
            : { rfrom: String(from), runtil: String(until), zoom: '' },
          { push: true },
        ),
    );
    this.graph = new FlameGraph({
      orientation: app.state.orient,
      label: 'differential flame graph',
      colors: diffColorsOf,
      tooltip: diffTooltip,
      onZoom: (_n, path) =>
        this.app.update({ zoom: path.length ? JSON.stringify(path) : '' }, { push: true }),
    });
    this.sides = [
      new FlameGraph({
        orientation: app.state.orient,
        label: 'baseline flame graph',
        colors: flameColorsOf,
        tooltip: flameTooltip,
      }),
      new FlameGraph({
        orientation: app.state.orient,
        label: 'comparison flame graph',
        colors: flameColorsOf,
        tooltip: flameTooltip,
      }),
    ];
    this.element = el(
      'main',
      { class: 'view compare' },
      this.bar.element,
      this.timeline.element,
      this.toolbar,
      this.status,
      this.crumbs,
      this.body,
    );
  }

  render(s: State): void {
    const prev = this.last;
    this.last = s;
    void this.bar.render(s);
    // The toolbar holds the search box: rebuilding it on every keystroke would take the focus away.
    if (!prev || TOOLBAR_KEYS.some((k) => prev[k] !== s[k])) this.renderToolbar(s);
    if (dataChanged(prev, s) || !this.diff) {
      void this.load(s);
      return;
    }
    if (s.ctab !== prev!.ctab) this.renderBody(s);
    if (s.diffMode !== prev!.diffMode && this.diff) {
      this.model = fromDiffPayload(this.diff, s.diffMode);
      this.graph.setModel(this.model, zoomPath(s));
      this.renderBody(s);
    }
    if (s.orient !== prev!.orient) for (const g of [this.graph, ...this.sides]) g.setOrientation(s.orient);
    if (s.search !== prev!.search) this.applySearch(s);
    if (s.zoom !== prev!.zoom && this.model) {
      const node = nodeAt(this.model, zoomPath(s));
      if (node !== this.graph.zoomNode) this.graph.zoomTo(node, false);
    }
    if (s.dsort !== prev!.dsort) this.renderBody(s);
    this.renderCrumbs();
  }

  private async load(s: State): Promise<void> {
    this.abort?.abort();
    const abort = (this.abort = new AbortController());
    delete window.__flamewatch.timings.compare; // present again when this load has drawn
    if (!s.service || !s.type) {
      this.body.replaceChildren(notice('empty', 'Pick a service and a profile type above.'));
      return;
    }
    this.body.replaceChildren(notice('loading', 'Loading comparison…'));
    const { left, right } = sideRanges(s);
    const leftQuery = selectorOf(s.service, s.left);
    const rightQuery = selectorOf(s.service, s.right);
    const range = resolveRange(s.from, s.until);
    const t0 = performance.now();
    // The timeline comes on its own, so the brushes work even when the diff fails.
    void Promise.all([
      api.timeline({ query: leftQuery, type: s.type, from: s.from, until: s.until }, abort.signal),
      s.left.trim() === s.right.trim()
        ? Promise.resolve(undefined)
        : api.timeline({ query: rightQuery, type: s.type, from: s.from, until: s.until }, abort.signal),
    ]).then(
      ([lt, rt]) => {
        if (abort.signal.aborted) return;
        const series = [{ points: lt.points, color: BASE_COLOR, label: 'baseline' }];
        if (rt) series.push({ points: rt.points, color: COMP_COLOR, label: 'comparison' });
        this.timeline.setData(series, range, lt.unit);
        // Only brushes the user drew are drawn: an empty band draws a new one where it is dragged.
        this.timeline.setSelection('left', s.lfrom ? [resolveTime(left[0]), resolveTime(left[1])] : null);
        this.timeline.setSelection('right', s.rfrom ? [resolveTime(right[0]), resolveTime(right[1])] : null);
      },
      () => undefined,
    );
    if (sameSides(s)) {
      this.diff = undefined;
      this.model = undefined;
      this.status.replaceChildren();
      this.body.replaceChildren(
        notice(
          'empty',
          'Both sides are the same data.',
          el(
            'p',
            {},
            'Pick two values of a label above (Compare by label: version, 1.4 and 1.5), give the sides different label matchers, or drag on the timeline’s baseline and comparison bands to choose two windows.',
          ),
        ),
      );
      return;
    }
    // The two sides as /diff and /compare both take them.
    const sides = {
      type: s.type,
      leftQuery,
      rightQuery,
      leftFrom: left[0],
      leftUntil: left[1],
      rightFrom: right[0],
      rightUntil: right[1],
    };
    // The detector's verdict per function comes on its own: the graph does not wait for it.
    this.verdicts = undefined;
    const verdicts = api.compare(sides, abort.signal).then(
      (c) => verdictsOf(c),
      () => undefined,
    );
    try {
      const diff = await api.diff({ ...sides, maxNodes: s.maxNodes, limit: 500 }, abort.signal);
      if (abort.signal.aborted) return;
      const fetched = performance.now();
      this.diff = diff;
      this.sideModels = [undefined, undefined];
      if (diff.left.total === 0 && diff.right.total === 0) {
        this.model = undefined;
        this.status.replaceChildren();
        this.body.replaceChildren(emptyNotice(`either side of ${s.service} (${s.type})`));
        return;
      }
      const tb = performance.now();
      this.model = fromDiffPayload(diff, s.diffMode);
      const buildMs = performance.now() - tb;
      this.renderBody(s);
      this.graph.setModel(this.model, zoomPath(s));
      this.applySearch(s);
      this.renderCrumbs();
      void verdicts.then((v) => {
        if (abort.signal.aborted || !v) return;
        this.verdicts = v;
        this.renderBody(this.app.state);
      });
      window.__flamewatch.timings.compare = {
        fetchMs: fetched - t0,
        parseMs: parseMs.get('diff') ?? 0,
        buildMs,
        drawMs: this.graph.lastDrawMs,
        totalMs: performance.now() - t0,
        at: performance.now(),
        nodes: this.model.count,
      };
    } catch (err) {
      if ((err as Error).name === 'AbortError') return;
      this.diff = undefined;
      this.body.replaceChildren(errorNotice(err, () => void this.load(this.app.state)));
    }
  }

  private renderToolbar(s: State): void {
    const tabs: [CompareTab, string][] = [
      ['diff', 'Differential'],
      ['side', 'Side by side'],
    ];
    const tabBar = el(
      'div',
      { class: 'tabs', role: 'tablist', 'aria-label': 'comparison view' },
      ...tabs.map(([t, label]) =>
        el(
          'button',
          {
            type: 'button',
            role: 'tab',
            'aria-selected': String(s.ctab === t),
            class: s.ctab === t ? 'tab active' : 'tab',
            'data-tab': t,
            onclick: () => this.app.update({ ctab: t }, { push: true }),
          },
          label,
        ),
      ),
    );
    const mode = el(
      'div',
      { class: 'segmented', role: 'group', 'aria-label': 'normalisation' },
      ...(['relative', 'absolute'] as const).map((m) =>
        el(
          'button',
          {
            type: 'button',
            'aria-pressed': String(s.diffMode === m),
            class: s.diffMode === m ? 'active' : '',
            'data-mode': m,
            title: m === 'relative' ? 'compare shares of each side’s total' : 'compare raw values',
            onclick: () => this.app.update({ diffMode: m }),
          },
          m === 'relative' ? 'Normalised' : 'Absolute',
        ),
      ),
    );
    const orient = el(
      'div',
      { class: 'segmented', role: 'group', 'aria-label': 'orientation' },
      ...(['flame', 'icicle'] as const).map((o) =>
        el(
          'button',
          {
            type: 'button',
            'aria-pressed': String(s.orient === o),
            class: s.orient === o ? 'active' : '',
            'data-orient': o,
            onclick: () => this.app.update({ orient: o }),
          },
          o === 'flame' ? 'Flame' : 'Icicle',
        ),
      ),
    );
    const { left, right } = sideRanges(s);
    this.toolbar.replaceChildren(
      tabBar,
      mode,
      orient,
      searchBox(s.search, (v) => this.app.update({ search: v })),
      s.service && s.type
        ? exportLinks('Baseline', {
            query: selectorOf(s.service, s.left),
            type: s.type,
            from: left[0],
            until: left[1],
          })
        : '',
      s.service && s.type
        ? exportLinks('Comparison', {
            query: selectorOf(s.service, s.right),
            type: s.type,
            from: right[0],
            until: right[1],
          })
        : '',
    );
  }

  private renderBody(s: State): void {
    const d = this.diff;
    if (!d || !this.model) return;
    const { left, right } = sideRanges(s);
    // Per second of the time each side's data covers, not of its window (a window half before a deploy holds no new version).
    // A side whose pushes said no duration (spanMs 0) falls back to its window.
    const seconds = (spanMs: number, r: [string, string]) =>
      Math.max(1e-3, (spanMs > 0 ? spanMs : resolveTime(r[1]) - resolveTime(r[0])) / 1000);
    const lRate = d.left.total / seconds(d.left.spanMs, left);
    const rRate = d.right.total / seconds(d.right.spanMs, right);
    const summary = el(
      'div',
      { class: 'diff-summary' },
      el(
        'span',
        { class: 'side base' },
        `Baseline {${s.left}} ${describeRange(left[0], left[1])}: ${formatValue(d.left.total, d.unit)}`,
      ),
      el(
        'span',
        { class: 'side comp' },
        `Comparison {${s.right}} ${describeRange(right[0], right[1])}: ${formatValue(d.right.total, d.unit)}`,
      ),
      el(
        'span',
        { class: 'rate', title: 'total per second of the time each side’s data covers' },
        `Total per second: ${lRate > 0 ? formatSigned(((rRate - lRate) / lRate) * 100, '%', 1) : 'no baseline'}`,
      ),
    );
    if (s.ctab === 'side') {
      const [a, b] = this.sides;
      this.body.replaceChildren(
        summary,
        el(
          'div',
          { class: 'side-by-side' },
          el('section', { 'aria-label': 'baseline' }, el('h3', { class: 'base' }, 'Baseline'), a.element),
          el('section', { 'aria-label': 'comparison' }, el('h3', { class: 'comp' }, 'Comparison'), b.element),
        ),
      );
      void this.loadSides(s);
      return;
    }
    this.body.replaceChildren(
      summary,
      diffLegend(s.diffMode),
      el('section', { class: 'graph-box', 'aria-label': 'differential flame graph' }, this.graph.element),
      this.diffTable(s),
    );
    this.graph.scheduleDraw();
  }

  private async loadSides(s: State): Promise<void> {
    if (this.sideModels[0] && this.sideModels[1]) {
      this.sides[0].setModel(this.sideModels[0]);
      this.sides[1].setModel(this.sideModels[1]);
      this.applySearch(s);
      return;
    }
    const { left, right } = sideRanges(s);
    try {
      const [a, b] = await Promise.all([
        api.flamegraph({
          query: selectorOf(s.service, s.left),
          type: s.type,
          from: left[0],
          until: left[1],
          maxNodes: s.maxNodes,
        }),
        api.flamegraph({
          query: selectorOf(s.service, s.right),
          type: s.type,
          from: right[0],
          until: right[1],
          maxNodes: s.maxNodes,
        }),
      ]);
      this.sideModels = [fromFlamePayload(a), fromFlamePayload(b)];
      this.sides[0].setModel(this.sideModels[0]);
      this.sides[1].setModel(this.sideModels[1]);
      this.applySearch(s);
    } catch (err) {
      this.body.appendChild(errorNotice(err, () => void this.loadSides(s)));
    }
  }

  private diffTable(s: State): HTMLElement {
    const d = this.diff!;
    const L = d.left.total || 1;
    const R = d.right.total || 1;
    const rel = (l: number, r: number) => (l === 0 ? (r === 0 ? 0 : Infinity) : (r / R - l / L) / (l / L));
    const verdicts = this.verdicts;
    // The detector names functions as this table does (`emit (events.js)`); where it judged a name whole (its other
    // files under the detector's threshold), each file's row shows that verdict.
    const verdictOf = (r: FnRow) => verdicts?.get(r.name) ?? verdicts?.get(r.function ?? r.name);
    // Red and blue are the detector's: a share that moved without a verdict (noise, or another function's change) is not painted.
    const changeClass = (r: FnRow, v: number) => {
      const k = verdictOf(r)?.kind;
      if (k === 'slower' && v > 0) return 'worse';
      if (k === 'faster' && v < 0) return 'better';
      return undefined;
    };
    const verdictText = (r: FnRow) => {
      if (!verdicts) return '…';
      const v = verdictOf(r);
      if (!v) return '–';
      const q = `q ${v.q < 0.001 ? v.q.toExponential(0) : v.q.toPrecision(2)}`;
      if (v.kind === 'explained') return v.explainedBy ? `explained by ${v.explainedBy}` : 'explained';
      return `${v.kind} (${q})`;
    };
    const columns: Column<FnRow>[] = [
      {
        key: 'rank',
        label: '#',
        numeric: true,
        title: 'rank by change of total share',
        value: (r) => r.rank,
      },
      { key: 'name', label: 'Function', value: (r) => r.name },
      {
        key: 'verdict',
        label: 'Detector',
        title:
          'the regression detector’s verdict on the function (per unit of work or size factor, processes as replicates) and its q, the false discovery rate at which it holds',
        value: (r) => {
          const v = verdictOf(r);
          return VERDICT_ORDER[v?.kind ?? 'none'] + (v ? Math.min(0.999, v.q) : 0);
        },
        format: verdictText,
        className: (r) => {
          const k = verdictOf(r)?.kind;
          return k === 'slower' ? 'worse' : k === 'faster' ? 'better' : undefined;
        },
      },
      {
        key: 'lself',
        label: 'Self base',
        numeric: true,
        value: (r) => r.leftSelf / L,
        format: (r) => formatPercent(r.leftSelf / L),
      },
      {
        key: 'rself',
        label: 'Self comp',
        numeric: true,
        value: (r) => r.rightSelf / R,
        format: (r) => formatPercent(r.rightSelf / R),
      },
      {
        key: 'dself',
        label: 'Self change',
        numeric: true,
        title: 'relative change of the self share',
        value: (r) => rel(r.leftSelf, r.rightSelf),
        format: (r) => formatSigned(rel(r.leftSelf, r.rightSelf) * 100, '%', 1),
        className: (r) => changeClass(r, rel(r.leftSelf, r.rightSelf)),
      },
      {
        key: 'ltotal',
        label: 'Total base',
        numeric: true,
        value: (r) => r.leftTotal / L,
        format: (r) => formatPercent(r.leftTotal / L),
      },
      {
        key: 'rtotal',
        label: 'Total comp',
        numeric: true,
        value: (r) => r.rightTotal / R,
        format: (r) => formatPercent(r.rightTotal / R),
      },
      {
        key: 'dtotal',
        label: 'Total change',
        numeric: true,
        title: 'relative change of the total share',
        value: (r) => rel(r.leftTotal, r.rightTotal),
        format: (r) => formatSigned(rel(r.leftTotal, r.rightTotal) * 100, '%', 1),
        className: (r) => changeClass(r, rel(r.leftTotal, r.rightTotal)),
      },
      {
        key: 'dpp',
        label: 'Δ total',
        numeric: true,
        title: 'change of the total share in percentage points',
        value: (r) => r.rightTotal / R - r.leftTotal / L,
        format: (r) => formatSigned((r.rightTotal / R - r.leftTotal / L) * 100, 'pp'),
      },
    ];
    let rows: FnRow[] = d.functions.map((f, i) => ({ ...f, rank: i + 1 }));
    // What the detector found first, then by change of total share.
    if (verdicts)
      rows.sort(
        (a, b) =>
          VERDICT_ORDER[verdictOf(a)?.kind ?? 'none'] - VERDICT_ORDER[verdictOf(b)?.kind ?? 'none'] ||
          (verdictOf(a)?.q ?? 0) - (verdictOf(b)?.q ?? 0) ||
          a.rank - b.rank,
      );
    if (s.search) {
      const { match } = matchNames(
        rows.map((r) => r.name),
        s.search,
      );
      rows = rows.filter((_, i) => match[i]);
    }
    return el(
      'section',
      { class: 'table-box', 'aria-label': 'functions that changed most' },
      table(rows, {
        columns,
        sort: s.dsort,
        limit: 300,
        caption: 'Functions that changed most (shares of each side’s total)',
        rowTitle: 'click: highlight in the graph',
        onSort: (dsort) => this.app.update({ dsort }),
        onRow: (r) => this.app.update({ search: s.search === r.name ? '' : r.name }),
        selected: (r) => r.name === s.search,
      }),
    );
  }

  private applySearch(s: State): void {
    const graphs: [FlameGraph, FlameModel | undefined][] = [
      [this.graph, this.model],
      [this.sides[0], this.sideModels[0]],
      [this.sides[1], this.sideModels[1]],
    ];
    for (const [g, m] of graphs)
      if (m) g.setSearch(s.search ? matchNames(m.names, s.search).match : undefined);
    const m = this.model;
    if (!m || !m.diff) return;
    if (!s.search)
      return this.status.replaceChildren(
        `${m.nodes.shown.toLocaleString()} of ${m.nodes.total.toLocaleString()} nodes shown`,
      );
    const { match, error } = matchNames(m.names, s.search);
    if (error) return this.status.replaceChildren(el('span', { class: 'error-text' }, error));
    const l = matchedValue(m, match, m.diff.leftTotal) / (m.diff.L || 1);
    const r = matchedValue(m, match, m.diff.rightTotal) / (m.diff.R || 1);
    this.status.replaceChildren(
      el(
        'span',
        { class: 'match', 'data-left': String(l), 'data-right': String(r) },
        `“${s.search}” matches ${formatPercent(l)} of the baseline and ${formatPercent(r)} of the comparison (${formatSigned((r - l) * 100, 'pp')})`,
      ),
    );
  }

  private renderCrumbs(): void {
    this.crumbs.replaceChildren(breadcrumb(this.model, this.graph.zoomNode, (n) => this.graph.zoomTo(n)));
  }
}
