/**
 * Regressions the detector found on its own: a list (by status and service)
 * and a detail page with the statistics and a button that opens the
 * differential flame graph of exactly the compared selections.
 */
import { api, type Regression } from '../api';
import type { App } from '../app';
import { el, notice } from '../dom';
import { formatPercent, formatSigned } from '../format';
import { DEFAULTS, formatState, type State } from '../state';
import { formatTime } from '../time';
import { errorNotice } from './panels';
import { table, type Column } from './table';

const what = (r: Regression) => (r.measure === 'rate' ? 'the whole program' : r.function);
const change = (r: Regression) =>
  r.measure === 'rate'
    ? formatSigned((r.relative ?? Infinity) * 100, '%', 1)
    : `${formatPercent(r.baseline.value)} → ${formatPercent(r.candidate.value)} (${formatSigned((r.relative ?? Infinity) * 100, '%', 1)})`;

/** The compare page's state of a regression (URL parameters the server computed, over the defaults). */
export function compareStateOf(r: Regression): State {
  const s: State = { ...DEFAULTS };
  for (const [k, v] of Object.entries(r.view)) if (k in s) (s as unknown as Record<string, string>)[k] = v;
  return s;
}

export class RegressionsView {
  readonly element = el('main', { class: 'view regressions' });
  private abort: AbortController | undefined;

  constructor(
    private app: App,
    private services: string[],
  ) {}

  render(s: State): void {
    this.abort?.abort();
    const abort = (this.abort = new AbortController());
    void (s.rid ? this.detail(s, abort.signal) : this.list(s, abort.signal));
  }

  private async list(s: State, signal: AbortSignal): Promise<void> {
    delete window.__flamewatch.timings.regressions;
    const filters = el(
      'form',
      { class: 'querybar', onsubmit: (e) => e.preventDefault() },
      el(
        'label',
        { class: 'field' },
        el('span', { class: 'field-label' }, 'Status'),
        selectOf(['open', 'suspected', 'acknowledged', 'resolved', 'all'], s.rstatus, 'status', (v) =>
          this.app.update({ rstatus: v }, { push: true }),
        ),
      ),
      el(
        'label',
        { class: 'field' },
        el('span', { class: 'field-label' }, 'Service'),
        selectOf(
          ['', ...this.services],
          s.service,
          'service',
          (v) => this.app.update({ service: v }, { push: true }),
          'all services',
        ),
      ),
    );
    this.element.replaceChildren(
      el('h1', {}, 'Regressions'),
      filters,
      notice('loading', 'Loading regressions…'),
    );
    try {
      const rows = await api.regressions(
        { status: s.rstatus === 'all' ? undefined : s.rstatus, service: s.service || undefined },
        signal,
      );
      if (signal.aborted) return;
      const columns: Column<Regression>[] = [
        { key: 'service', label: 'Service', value: (r) => r.service },
        { key: 'function', label: 'Function', value: what },
        // Which profile type: a CPU regression and more memory held read differently.
        { key: 'type', label: 'Type', value: (r) => r.type },
        { key: 'measure', label: 'Measure', value: (r) => r.measure },
        {
          key: 'change',
          label: 'Change',
          numeric: true,
          value: (r) => r.effect,
          format: change,
          className: () => 'worse',
        },
        {
          key: 'q',
          label: 'q',
          numeric: true,
          title: 'false discovery rate at which this is significant',
          value: (r) => r.q,
          format: (r) => r.q.toPrecision(2),
        },
        { key: 'kind', label: 'Baseline', value: (r) => r.kind },
        {
          key: 'first',
          label: 'First seen',
          numeric: true,
          value: (r) => r.firstSeen,
          format: (r) => formatTime(r.firstSeen),
        },
        { key: 'runs', label: 'Runs', numeric: true, value: (r) => r.runs },
        { key: 'status', label: 'Status', value: (r) => r.status },
      ];
      const body =
        rows.length === 0
          ? notice(
              'empty',
              s.rstatus === 'open' ? 'No open regressions.' : 'No regressions with this filter.',
              el(
                'p',
                {},
                'The detector compares each service with the same hour a day earlier, and each new version with the previous one, every few minutes. Baselines are set per service with PUT /api/v1/baselines.',
              ),
            )
          : table(rows, {
              columns,
              sort: '-first',
              onSort: () => undefined,
              onRow: (r) => this.app.update({ rid: r.id }, { push: true }),
              rowTitle: 'open the regression',
            });
      this.element.replaceChildren(el('h1', {}, 'Regressions'), filters, body);
      window.__flamewatch.timings.regressions = {
        fetchMs: 0,
        parseMs: 0,
        buildMs: 0,
        drawMs: 0,
        totalMs: 0,
        nodes: rows.length,
      };
    } catch (err) {
      if ((err as Error).name === 'AbortError') return;
      this.element.replaceChildren(
        el('h1', {}, 'Regressions'),
        filters,
        errorNotice(err, () => this.render(this.app.state)),
      );
    }
  }

  private async detail(s: State, signal: AbortSignal): Promise<void> {
    this.element.replaceChildren(notice('loading', 'Loading regression…'));
    try {
      const r = await api.regression(s.rid, signal);
      if (signal.aborted) return;
      const compare = compareStateOf(r);
      const open = el(
        'a',
        {
          class: 'button primary',
          href: formatState(compare),
          onclick: (e) => {
            e.preventDefault();
            this.app.update(compare, { push: true });
          },
        },
        'Open the differential flame graph',
      );
      const statusButtons = (['open', 'acknowledged', 'resolved'] as const)
        .filter((st) => st !== r.status)
        .map((st) =>
          el(
            'button',
            {
              type: 'button',
              'data-status': st,
              onclick: async () => {
                await api.setStatus(r.id, st);
                this.render(this.app.state);
              },
            },
            st === 'open' ? 'Reopen' : st === 'acknowledged' ? 'Acknowledge' : 'Resolve',
          ),
        );
      const side = (label: string, x: Regression['baseline']) =>
        el(
          'tr',
          {},
          el('th', { scope: 'row' }, label),
          el('td', { class: 'name' }, x.query),
          el('td', {}, `${formatTime(x.from)} – ${formatTime(x.until)}`),
          el('td', { class: 'num' }, String(x.profiles)),
          el('td', { class: 'num' }, r.measure === 'rate' ? x.value.toPrecision(4) : formatPercent(x.value)),
        );
      this.element.replaceChildren(
        el(
          'p',
          {},
          el(
            'a',
            {
              href: formatState({ ...s, rid: '' }),
              onclick: (e) => {
                e.preventDefault();
                this.app.update({ rid: '' }, { push: true });
              },
            },
            '← all regressions',
          ),
        ),
        el('h1', { class: 'regression-title' }, what(r)),
        el(
          'p',
          { class: 'regression-summary' },
          `${r.service} · ${r.type} · ${r.measure} · ${change(r)} · status ${r.status}`,
        ),
        el('div', { class: 'toolbar' }, open, ...statusButtons),
        el(
          'table',
          { class: 'data stats' },
          el(
            'thead',
            {},
            el(
              'tr',
              {},
              el('th', {}, ''),
              el('th', {}, 'Selection'),
              el('th', {}, 'Time range'),
              el('th', { class: 'num' }, 'Profiles'),
              el('th', { class: 'num' }, r.measure === 'rate' ? 'Per second' : 'Share'),
            ),
          ),
          el('tbody', {}, side('Baseline', r.baseline), side('Candidate', r.candidate)),
        ),
        el(
          'dl',
          { class: 'facts' },
          el('dt', {}, 'Effect'),
          el(
            'dd',
            {},
            r.measure === 'rate'
              ? formatSigned((r.relative ?? Infinity) * 100, '%', 1)
              : `${formatSigned(r.effect * 100, 'pp')} (95 % CI ${formatSigned(r.ci[0] * 100, 'pp')} to ${formatSigned(r.ci[1] * 100, 'pp')})`,
          ),
          el('dt', {}, 'p / q'),
          el(
            'dd',
            {},
            `${r.p.toPrecision(2)} / ${r.q.toPrecision(2)} (a moderated t between processes; Benjamini–Hochberg over every function tested)`,
          ),
          el('dt', {}, 'Baseline kind'),
          el('dd', {}, r.kind),
          el('dt', {}, 'Seen'),
          el(
            'dd',
            {},
            `first ${formatTime(r.firstSeen)}, last ${formatTime(r.lastSeen)}, in ${r.runs} run${r.runs === 1 ? '' : 's'}`,
          ),
        ),
      );
      window.__flamewatch.timings.regressions = {
        fetchMs: 0,
        parseMs: 0,
        buildMs: 0,
        drawMs: 0,
        totalMs: 0,
        nodes: 1,
      };
    } catch (err) {
      if ((err as Error).name === 'AbortError') return;
      this.element.replaceChildren(errorNotice(err, () => this.render(this.app.state)));
    }
  }
}

function selectOf(
  values: string[],
  value: string,
  label: string,
  onChange: (v: string) => void,
  emptyLabel = '',
): HTMLSelectElement {
  const s = el('select', {
    'aria-label': label,
    name: label,
    onchange: (e) => onChange((e.target as HTMLSelectElement).value),
  });
  for (const v of values) {
    const o = el('option', { value: v }, v === '' ? emptyLabel : v);
    if (v === value) o.selected = true;
    s.appendChild(o);
  }
  return s;
}
