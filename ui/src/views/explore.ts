/**
 * Explore: one selection's merged flame graph (flame or icicle), its top
 * functions table and the sandwich view of one function, over a time range
 * picked with presets or the timeline brush.
 */
import {
  api,
  ApiError,
  parseMs,
  type FlamePayload,
  type FunctionLinesPayload,
  type TopPayload,
} from '../api';
import { dataChanged, type App } from '../app';
import { el, notice } from '../dom';
import { fromFlamePayload, matchNames, matchedValue, nodeAt, type FlameModel } from '../flame/model';
import { FlameGraph } from '../flame/render';
import { sandwich } from '../flame/sandwich';
import { formatPercent, formatValue } from '../format';
import { labelsError, selectorOf, zoomPath, type State, type Tab } from '../state';
import { resolveRange } from '../time';
import {
  breadcrumb,
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

type TopRow = TopPayload['functions'][number];

export class ExploreView {
  readonly element: HTMLElement;
  readonly graph: FlameGraph;
  private readonly bar: QueryBar;
  private readonly timeline: Timeline;
  private readonly toolbar = el('div', { class: 'toolbar' });
  private readonly crumbs = el('div', { class: 'crumbs-wrap' });
  private readonly status = el('div', { class: 'status-line', 'aria-live': 'polite' });
  private readonly body = el('div', { class: 'view-body' });
  private readonly graphBox = el('section', { class: 'graph-box', 'aria-label': 'flame graph' });
  private readonly tableBox = el('section', { class: 'table-box', 'aria-label': 'top functions' });
  private readonly sandwichBox = el('section', { class: 'sandwich-box', 'aria-label': 'sandwich view' });
  private readonly linesBox = el('section', { class: 'lines-box', 'aria-label': 'source lines' });
  private linesAbort: AbortController | undefined;
  private model: FlameModel | undefined;
  private top: TopPayload | undefined;
  private last: State | undefined;
  private abort: AbortController | undefined;
  private sandwichGraphs: [FlameGraph, FlameGraph] | undefined;
  private sandwichFn = '';
  private buildMs = 0;

  constructor(
    private app: App,
    services: string[],
  ) {
    this.bar = new QueryBar(app, services, 'explore');
    this.timeline = new Timeline(
      [{ key: 'main', color: '#3b6fb6', label: 'range' }],
      (_key, [from, until]) => {
        this.app.update({ from: String(from), until: String(until), zoom: '' }, { push: true });
      },
    );
    this.graph = new FlameGraph({
      orientation: app.state.orient,
      label: 'flame graph',
      colors: flameColorsOf,
      tooltip: flameTooltip,
      onZoom: (_node, path) =>
        this.app.update({ zoom: path.length ? JSON.stringify(path) : '' }, { push: true }),
      onSandwich: (fn) => this.app.update({ fn, tab: 'sandwich' }, { push: true }),
    });
    this.graphBox.append(this.graph.element);
    this.element = el(
      'main',
      { class: 'view explore' },
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
    if (dataChanged(prev, s) || s.maxNodes !== prev?.maxNodes || !this.model) {
      void this.load(s);
      return;
    }
    this.applyView(s, prev);
  }

  private async load(s: State): Promise<void> {
    this.abort?.abort();
    const abort = (this.abort = new AbortController());
    delete window.__flamewatch.timings.explore; // present again when this load has drawn
    this.renderToolbar(s);
    if (!s.service || !s.type) {
      this.body.replaceChildren(notice('empty', 'Pick a service and a profile type above.'));
      return;
    }
    this.body.replaceChildren(notice('loading', 'Loading flame graph…'));
    const query = selectorOf(s.service, s.labels);
    const params = { query, type: s.type, from: s.from, until: s.until };
    const range = resolveRange(s.from, s.until);
    try {
      const t0 = performance.now();
      const [flame, top, timeline] = await Promise.all([
        api.flamegraph({ ...params, maxNodes: s.maxNodes }, abort.signal),
        api.top({ ...params, limit: 2000 }, abort.signal),
        api.timeline(params, abort.signal),
      ]);
      if (abort.signal.aborted) return;
      const fetched = performance.now();
      this.timeline.setData(
        [{ points: timeline.points, color: '#3b6fb6', label: 'value' }],
        range,
        timeline.unit,
      );
      this.timeline.setSelection('main', /^\d+$/.test(s.from) ? range : null);
      this.top = top;
      this.setFlame(flame, s);
      window.__flamewatch.timings.explore = {
        fetchMs: fetched - t0,
        parseMs: parseMs.get('flamegraph') ?? 0,
        buildMs: this.buildMs,
        drawMs: this.graph.lastDrawMs,
        totalMs: performance.now() - t0,
        at: performance.now(),
        nodes: this.model?.count ?? 0,
      };
    } catch (err) {
      if ((err as Error).name === 'AbortError') return;
      this.model = undefined;
      this.top = undefined;
      // Nothing of the previous query stays on the page: its timeline and total would read as this one's.
      this.timeline.setData([], range, '');
      this.status.replaceChildren();
      this.crumbs.replaceChildren();
      const bad =
        err instanceof ApiError && err.status === 400
          ? labelsError(err.message, s.service, s.labels)
          : undefined;
      this.body.replaceChildren(
        bad
          ? notice(
              'error',
              'The label matchers are not valid.',
              el('p', {}, bad),
              el(
                'p',
                { class: 'muted' },
                'Write them as name="value", name!="value", name=~"regex" or name!~"regex", separated by commas.',
              ),
            )
          : errorNotice(err, () => void this.load(this.app.state)),
      );
    }
  }

  private setFlame(flame: FlamePayload, s: State): void {
    if (flame.total === 0) {
      this.model = undefined;
      this.graph.setModel(undefined);
      this.status.replaceChildren();
      this.crumbs.replaceChildren();
      this.body.replaceChildren(emptyNotice(`${s.service} (${s.type})`));
      return;
    }
    const t0 = performance.now();
    this.model = fromFlamePayload(flame);
    this.buildMs = performance.now() - t0;
    this.sandwichFn = '';
    this.layout(s);
    this.graph.setModel(this.model, zoomPath(s));
    this.graph.setSearch(s.search ? matchNames(this.model.names, s.search).match : undefined);
    this.renderStatus(s);
    this.renderCrumbs();
    this.renderTable(s);
    this.renderSandwich(s);
  }

  /** State changes that need no new data. */
  private applyView(s: State, prev: State): void {
    const m = this.model;
    if (!m) return;
    if (s.tab !== prev.tab) {
      this.renderToolbar(s);
      this.layout(s);
    }
    if (s.orient !== prev.orient) {
      this.graph.setOrientation(s.orient);
      this.renderToolbar(s);
    }
    if (s.search !== prev.search) {
      this.graph.setSearch(s.search ? matchNames(m.names, s.search).match : undefined);
      this.renderStatus(s);
      this.renderTable(s);
    }
    if (s.zoom !== prev.zoom) {
      const node = nodeAt(m, zoomPath(s));
      if (node !== this.graph.zoomNode) this.graph.zoomTo(node, false);
    }
    this.renderCrumbs();
    if (s.sort !== prev.sort || s.fn !== prev.fn) this.renderTable(s);
    if (s.fn !== prev.fn || s.tab !== prev.tab) this.renderSandwich(s);
  }

  private layout(s: State): void {
    const parts: Record<Tab, HTMLElement[]> = {
      both: [this.graphBox, this.tableBox],
      flame: [this.graphBox],
      table: [this.tableBox],
      sandwich: [this.sandwichBox],
    };
    this.body.replaceChildren(...parts[s.tab]);
    this.graph.scheduleDraw();
  }

  private renderToolbar(s: State): void {
    const tabs: [Tab, string][] = [
      ['both', 'Flame graph + table'],
      ['flame', 'Flame graph'],
      ['table', 'Top functions'],
      ['sandwich', 'Sandwich'],
    ];
    const tabBar = el(
      'div',
      { class: 'tabs', role: 'tablist', 'aria-label': 'view' },
      ...tabs.map(([t, label]) =>
        el(
          'button',
          {
            type: 'button',
            role: 'tab',
            'aria-selected': String(s.tab === t),
            class: s.tab === t ? 'tab active' : 'tab',
            'data-tab': t,
            onclick: () => this.app.update({ tab: t }, { push: true }),
          },
          label,
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
    const search = searchBox(s.search, (v) => this.app.update({ search: v }));
    const params = { query: selectorOf(s.service, s.labels), type: s.type, from: s.from, until: s.until };
    const compare = el(
      'button',
      {
        type: 'button',
        title: 'Compare this selection with another',
        onclick: () =>
          this.app.update(
            {
              view: 'compare',
              left: s.labels,
              right: s.labels,
              lfrom: '',
              luntil: '',
              rfrom: '',
              runtil: '',
              zoom: '',
              fn: '',
            },
            { push: true },
          ),
      },
      'Compare…',
    );
    this.toolbar.replaceChildren(
      tabBar,
      orient,
      search,
      s.service && s.type ? exportLinks('Export', params) : '',
      compare,
    );
  }

  private renderStatus(s: State): void {
    const m = this.model;
    if (!m) return this.status.replaceChildren();
    const parts: (string | Node)[] = [`Total ${formatValue(m.total[0], m.unit)}`];
    if (m.nodes.shown < m.nodes.total) {
      parts.push(
        ` · showing the ${m.nodes.shown.toLocaleString()} largest of ${m.nodes.total.toLocaleString()} nodes `,
      );
      parts.push(
        el(
          'button',
          {
            type: 'button',
            class: 'small',
            onclick: () => this.app.update({ maxNodes: Math.min(1_000_000, s.maxNodes * 4) }),
          },
          'show more',
        ),
      );
    }
    if (s.search) {
      const { match, error } = matchNames(m.names, s.search);
      if (error) parts.push(el('span', { class: 'error-text' }, ` · ${error}`));
      else {
        const v = matchedValue(m, match, m.total);
        parts.push(
          el(
            'span',
            { class: 'match', 'data-match': String(v / (m.total[0] || 1)) },
            ` · “${s.search}” matches ${formatPercent(v / (m.total[0] || 1))} of total (${formatValue(v, m.unit)})`,
          ),
        );
      }
    }
    this.status.replaceChildren(...parts);
  }

  private renderCrumbs(): void {
    this.crumbs.replaceChildren(breadcrumb(this.model, this.graph.zoomNode, (n) => this.graph.zoomTo(n)));
  }

  private renderTable(s: State): void {
    const top = this.top;
    if (!top) return;
    const total = top.total || 1;
    const unit = top.unit;
    const withFiles = top.functions.some((f) => f.file);
    const columns: Column<TopRow>[] = [
      { key: 'name', label: 'Function', value: (r) => r.name },
      // Where each function is defined: the file's last two path segments (the whole path in the data).
      ...(withFiles
        ? [
            {
              key: 'file',
              label: 'File',
              value: (r: TopRow) => r.file ?? '',
              format: (r: TopRow) => (r.file ? r.file.split(/[\\/]/).slice(-2).join('/') : ''),
            },
          ]
        : []),
      {
        key: 'self',
        label: 'Self',
        numeric: true,
        value: (r) => r.self,
        format: (r) => formatValue(r.self, unit),
      },
      {
        key: 'selfp',
        label: 'Self %',
        numeric: true,
        value: (r) => r.self,
        format: (r) => formatPercent(r.self / total),
      },
      {
        key: 'total',
        label: 'Total',
        numeric: true,
        value: (r) => r.total,
        format: (r) => formatValue(r.total, unit),
      },
      {
        key: 'totalp',
        label: 'Total %',
        numeric: true,
        value: (r) => r.total,
        format: (r) => formatPercent(r.total / total),
      },
    ];
    let rows = top.functions;
    if (s.search && this.model) {
      const { match } = matchNames(
        rows.map((r) => r.name),
        s.search,
      );
      rows = rows.filter((_, i) => match[i]);
    }
    this.tableBox.replaceChildren(
      table(rows, {
        columns,
        sort: s.sort,
        limit: 500,
        rowTitle: 'click: highlight in the flame graph and show its sandwich',
        caption: `Top functions${s.search ? ` matching “${s.search}”` : ''}`,
        onSort: (sort) => this.app.update({ sort }),
        onRow: (r) => this.app.update({ fn: r.name, search: s.search === r.name ? '' : r.name }),
        selected: (r) => r.name === s.fn,
      }),
    );
  }

  private renderSandwich(s: State): void {
    if (s.tab !== 'sandwich' || !this.model) return;
    if (!s.fn) {
      this.sandwichBox.replaceChildren(
        notice(
          'empty',
          'Pick a function for the sandwich view.',
          el(
            'p',
            {},
            'Shift+click a frame in the flame graph, press s on a focused frame, or click a row of the top functions table.',
          ),
        ),
      );
      return;
    }
    if (this.sandwichFn === s.fn && this.sandwichBox.childElementCount > 1) return;
    const result = sandwich(this.model, s.fn);
    if (!result) {
      this.sandwichBox.replaceChildren(
        notice(
          'empty',
          'This function is not in the loaded flame graph.',
          el('p', {}, 'It may be among the smallest nodes left out: use “show more”.'),
        ),
      );
      return;
    }
    this.sandwichFn = s.fn;
    const [callers, callees] = (this.sandwichGraphs ??= [
      new FlameGraph({
        orientation: 'flame',
        label: 'callers',
        colors: flameColorsOf,
        tooltip: flameTooltip,
      }),
      new FlameGraph({
        orientation: 'icicle',
        label: 'callees',
        colors: flameColorsOf,
        tooltip: flameTooltip,
      }),
    ]);
    const m = this.model;
    this.sandwichBox.replaceChildren(
      el('h2', { class: 'sandwich-title' }, s.fn),
      el(
        'p',
        { class: 'muted' },
        `Total ${formatValue(result.total, m.unit)} (${formatPercent(result.total / (m.total[0] || 1))}) · self ${formatValue(result.self, m.unit)} (${formatPercent(result.self / (m.total[0] || 1))})`,
      ),
      el('h3', {}, 'Callers'),
      callers.element,
      el('h3', {}, 'Callees'),
      callees.element,
      this.linesBox,
    );
    callers.setModel(result.callers);
    callees.setModel(result.callees);
    void this.loadLines(s);
  }

  /**
   * A shown name as a function: `emit (events.js)` is emit in that file. From the top table when it lists the
   * name, else from the flame graph's files (its label is the end of the file's path).
   */
  private ownFunction(shown: string): { function: string; file?: string } {
    const row = this.top?.functions.find((f) => f.name === shown);
    if (row) return row.function ? { function: row.function, file: row.file } : { function: shown };
    const m = this.model;
    const file = m?.files?.[m.names.indexOf(shown)];
    const q = / \(([^()]*)\)$/.exec(shown);
    if (file && q && file.endsWith(q[1])) return { function: shown.slice(0, q.index), file };
    return { function: shown };
  }

  /**
   * The function's cost per source line (`GET /function-lines`): what `pprof -list` prints beside the source,
   * one table per file that defines a function of that name.
   */
  private async loadLines(s: State): Promise<void> {
    const box = this.linesBox;
    box.replaceChildren(el('h3', {}, 'Source lines'), notice('loading', 'Loading its lines…'));
    const fn = s.fn;
    // A newer request (another function, range or label set) makes this one's answer moot.
    this.linesAbort?.abort();
    const abort = (this.linesAbort = new AbortController());
    try {
      const answer = await api.functionLines(
        {
          query: selectorOf(s.service, s.labels),
          type: s.type,
          from: s.from,
          until: s.until,
          ...this.ownFunction(fn),
        },
        abort.signal,
      );
      if (abort.signal.aborted) return;
      const total = answer.total || 1;
      const known = answer.files.filter((f) => f.file !== '' || f.lines.some((l) => l.line !== 0));
      if (known.length === 0) {
        box.replaceChildren(
          el('h3', {}, 'Source lines'),
          el(
            'p',
            { class: 'muted' },
            'The profiles do not say where this function’s code is (folded stacks and perf have names only; pprof from most profilers has files and lines).',
          ),
        );
        return;
      }
      box.replaceChildren(
        el('h3', {}, 'Source lines'),
        ...known.map((f) =>
          el(
            'section',
            { class: 'source-file', 'data-file': f.file },
            el(
              'p',
              { class: 'source-file-name' },
              el('code', {}, f.file || '(no file)'),
              el(
                'span',
                { class: 'muted' },
                ` · self ${formatValue(f.self, answer.unit)}, total ${formatValue(f.total, answer.unit)}`,
              ),
            ),
            linesTable(withSource(f.lines, f.source), answer.unit, total),
            ...(f.source || !f.sourceMissing
              ? []
              : [
                  el(
                    'p',
                    { class: 'muted source-missing' },
                    `No source beside the lines: ${f.sourceMissing}.`,
                  ),
                ]),
          ),
        ),
      );
    } catch (err) {
      if (abort.signal.aborted || (err as Error).name === 'AbortError') return;
      box.replaceChildren(
        el('h3', {}, 'Source lines'),
        errorNotice(err, () => void this.loadLines(this.app.state)),
      );
    }
  }
}

type LineRow = FunctionLinesPayload['files'][number]['lines'][number] & {
  /** The line's code, where the server had the file. */
  text?: string;
  /** A line shown for context only: no cost of its own in these profiles. */
  context?: boolean;
};

/** The lines with their code, and the lines around them the server sent, in one list. */
function withSource(
  lines: FunctionLinesPayload['files'][number]['lines'],
  source: FunctionLinesPayload['files'][number]['source'],
): LineRow[] {
  if (!source) return lines;
  const text = new Map(source.map((s) => [s.line, s.text]));
  const costed = new Set(lines.map((l) => l.line));
  return [
    ...lines.map((l) => ({ ...l, text: text.get(l.line) })),
    ...source
      .filter((s) => !costed.has(s.line))
      .map((s) => ({ line: s.line, self: 0, total: 0, text: s.text, context: true })),
  ];
}

/** One file's lines as a table, sorted by line until a header is clicked (it re-sorts in place). */
function linesTable(lines: LineRow[], unit: string, total: number, sort = 'line'): HTMLElement {
  const holder = el('div', { class: 'lines-table' });
  const columns: Column<LineRow>[] = [
    {
      key: 'line',
      label: 'Line',
      numeric: true,
      value: (l) => l.line,
      format: (l) => (l.line ? String(l.line) : '?'),
    },
    {
      key: 'self',
      label: 'Self',
      numeric: true,
      value: (l) => l.self,
      format: (l) => formatValue(l.self, unit),
    },
    {
      key: 'selfp',
      label: 'Self %',
      numeric: true,
      value: (l) => l.self,
      format: (l) => formatPercent(l.self / total),
    },
    {
      key: 'total',
      label: 'Total',
      numeric: true,
      value: (l) => l.total,
      format: (l) => formatValue(l.total, unit),
    },
    {
      key: 'totalp',
      label: 'Total %',
      numeric: true,
      value: (l) => l.total,
      format: (l) => formatPercent(l.total / total),
    },
  ];
  if (lines.some((l) => l.text !== undefined))
    columns.push({
      key: 'code',
      label: 'Code',
      value: (l) => l.line,
      format: (l) => l.text ?? '',
      className: () => 'source-code',
    });
  // Context lines have no cost: blank rather than a column of zeros.
  for (const c of columns.slice(1, 5)) {
    const format = c.format!;
    c.format = (l) => (l.context ? '' : format(l));
  }
  holder.append(
    table(lines, {
      columns,
      sort,
      onSort: (next) => holder.replaceWith(linesTable(lines, unit, total, next)),
    }),
  );
  return holder;
}
