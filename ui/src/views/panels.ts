/** Pieces shared by the explore and compare pages: tooltips, breadcrumb, search box, export links, states. */
import { api, apiUrl, ApiError, storedToken, storeToken, type Params } from '../api';
import { el, notice } from '../dom';
import {
  diffChange,
  flameColors,
  DIFF_PALETTE,
  diffDark,
  diffPaletteIndex,
  diffLegendStops,
} from '../flame/colors';
import { pathOf, type FlameModel } from '../flame/model';
import type { FlameOptions } from '../flame/render';
import { formatPercent, formatSigned, formatValue } from '../format';

export function flameColorsOf(m: FlameModel): ReturnType<FlameOptions['colors']> {
  const { palette, index } = flameColors(m.names);
  const nodeColor = new Uint16Array(m.count);
  for (let n = 0; n < m.count; n++) nodeColor[n] = index[m.name[n]];
  return { palette, nodeColor };
}

export function diffColorsOf(m: FlameModel): ReturnType<FlameOptions['colors']> {
  const nodeColor = new Uint16Array(m.count);
  for (let n = 0; n < m.count; n++) nodeColor[n] = diffPaletteIndex(diffChange(m, n));
  return { palette: DIFF_PALETTE, nodeColor, darkText: diffDark };
}

function row(label: string, value: string): HTMLElement {
  return el('div', { class: 'tip-row' }, el('span', { class: 'tip-label' }, label), el('span', {}, value));
}

const TIME_UNITS = new Set(['nanoseconds', 'microseconds', 'milliseconds', 'seconds']);

/**
 * What a frame the runtime or the profiler made means, where its name does not say (measured: agent/README.md,
 * "What the frames mean").
 */
export function frameNote(name: string, unit: string): string | undefined {
  if (name === '(idle)' && TIME_UNITS.has(unit))
    return 'CPU the process used since the previous sample, credited here because its JavaScript thread was idle when this sample was taken: mostly short work (requests) that ran between two samples. Real CPU, whose code the profile cannot name; the wall type shows busy time by function without it.';
  if (name === '(idle)') return 'Samples that found the JavaScript thread waiting for work.';
  if (name === 'Non JS threads activity')
    return "CPU of the process's other threads (libuv's pool, the compiler, the garbage collector's helpers).";
  return undefined;
}

/** Where the node's function is defined, when the profiles said. */
function fileRow(m: FlameModel, n: number): Node | null {
  const file = m.files?.[m.name[n]];
  return file ? row('File', file) : null;
}

export function flameTooltip(m: FlameModel, n: number): Node {
  const root = m.total[0] || 1;
  const note = frameNote(m.names[m.name[n]], m.unit);
  return el(
    'div',
    {},
    el('div', { class: 'tip-name' }, m.names[m.name[n]]),
    fileRow(m, n),
    row('Total', `${formatValue(m.total[n], m.unit)} · ${formatPercent(m.total[n] / root)}`),
    row('Self', `${formatValue(m.self[n], m.unit)} · ${formatPercent(m.self[n] / root)}`),
    note ? el('div', { class: 'tip-note' }, note) : null,
    el('div', { class: 'tip-hint' }, 'click: zoom · shift+click or s: sandwich'),
  );
}

export function diffTooltip(m: FlameModel, n: number): Node {
  const d = m.diff!;
  const ls = d.L > 0 ? d.leftTotal[n] / d.L : 0;
  const rs = d.R > 0 ? d.rightTotal[n] / d.R : 0;
  const change = diffChange(m, n);
  return el(
    'div',
    {},
    el('div', { class: 'tip-name' }, m.names[m.name[n]]),
    fileRow(m, n),
    row('Baseline total', `${formatValue(d.leftTotal[n], m.unit)} · ${formatPercent(ls)}`),
    row('Comparison total', `${formatValue(d.rightTotal[n], m.unit)} · ${formatPercent(rs)}`),
    row(
      'Baseline self',
      `${formatValue(d.leftSelf[n], m.unit)} · ${formatPercent(d.L > 0 ? d.leftSelf[n] / d.L : 0)}`,
    ),
    row(
      'Comparison self',
      `${formatValue(d.rightSelf[n], m.unit)} · ${formatPercent(d.R > 0 ? d.rightSelf[n] / d.R : 0)}`,
    ),
    row(
      'Change',
      d.mode === 'relative'
        ? `${formatSigned((rs - ls) * 100, 'pp of total')} (${formatSigned(change * 100, '%', 1)})`
        : `${formatSigned(change * 100, '%', 1)} (${formatValue(d.rightTotal[n] - d.leftTotal[n], m.unit)})`,
    ),
    // A function whose own cost went to nothing was removed, renamed, or (in Node) inlined into its caller.
    d.leftSelf[n] > 0 && d.rightSelf[n] === 0
      ? el(
          'div',
          { class: 'tip-note' },
          'Its own cost is gone from the comparison: removed or renamed, or inlined into its caller (V8 inlines small functions once they are hot; their cost then shows in the caller).',
        )
      : null,
    frameNote(m.names[m.name[n]], m.unit)
      ? el('div', { class: 'tip-note' }, frameNote(m.names[m.name[n]], m.unit)!)
      : null,
    el('div', { class: 'tip-hint' }, 'click: zoom'),
  );
}

/** `all › a › b`: each crumb zooms to that ancestor. */
export function breadcrumb(
  m: FlameModel | undefined,
  zoom: number,
  onPick: (node: number) => void,
): HTMLElement {
  const nav = el('nav', { class: 'crumbs', 'aria-label': 'zoom path' });
  if (!m || m.count === 0) return nav;
  const chain: number[] = [];
  for (let n = zoom; n >= 0; n = m.parent[n]) chain.unshift(n);
  chain.forEach((n, i) => {
    if (i > 0) nav.append(el('span', { class: 'sep', 'aria-hidden': 'true' }, '›'));
    const label = n === 0 ? 'all' : m.names[m.name[n]];
    nav.append(
      el(
        'button',
        {
          type: 'button',
          class: i === chain.length - 1 ? 'crumb current' : 'crumb',
          title: label,
          onclick: () => onPick(n),
        },
        label,
      ),
    );
  });
  if (zoom > 0)
    nav.append(
      el(
        'span',
        { class: 'muted crumb-path', title: pathOf(m, zoom).join(' › ') },
        ` (depth ${m.depth[zoom]})`,
      ),
    );
  return nav;
}

export function searchBox(value: string, onChange: (v: string) => void): HTMLInputElement {
  const input = el('input', {
    type: 'search',
    name: 'search',
    value,
    class: 'search',
    placeholder: 'Search functions (text or /regex/)',
    'aria-label': 'search functions',
    spellcheck: 'false',
  });
  let timer = 0;
  input.addEventListener('input', () => {
    clearTimeout(timer);
    timer = window.setTimeout(() => onChange(input.value), 120);
  });
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') {
      clearTimeout(timer);
      onChange(input.value);
    }
    if (e.key === 'Escape') {
      input.value = '';
      onChange('');
    }
  });
  return input;
}

export function exportLinks(label: string, params: Params): HTMLElement {
  // With a token the file is fetched by script (a link cannot send the header); without, the link downloads it.
  const link = (format: string, text: string) =>
    el(
      'a',
      {
        href: apiUrl('export', { ...params, format }),
        download: '',
        class: 'export',
        onclick: (e) => {
          if (!storedToken()) return;
          e.preventDefault();
          api
            .download({ ...params, format })
            .catch((err: Error) => window.alert(`Export failed: ${err.message}`));
        },
      },
      text,
    );
  return el(
    'span',
    { class: 'exports' },
    el('span', { class: 'muted' }, `${label} `),
    link('pprof', 'pprof'),
    ' ',
    link('folded', 'folded'),
    ' ',
    link('speedscope', 'speedscope'),
  );
}

/** Asks for an API token (the server has authentication on), keeps it, and retries. */
function tokenForm(retry: () => void): HTMLElement {
  const input = el('input', {
    type: 'password',
    name: 'token',
    class: 'token-input',
    placeholder: 'fw_…',
    'aria-label': 'API token',
    autocomplete: 'off',
    spellcheck: 'false',
  });
  return el(
    'form',
    {
      class: 'token-form',
      onsubmit: (e) => {
        e.preventDefault();
        storeToken(input.value);
        retry();
      },
    },
    input,
    ' ',
    el('button', { type: 'submit' }, 'Use token'),
  );
}

export function errorNotice(err: unknown, retry: () => void): HTMLElement {
  const e = err as Error;
  const status = e instanceof ApiError ? e.status : 0;
  if (status === 401 || status === 403) {
    const title = status === 401 ? 'This server needs an API token.' : 'This token may not see this.';
    return notice(
      'error',
      title,
      el('p', {}, e.message),
      el(
        'p',
        { class: 'muted' },
        'Paste a token with the read scope (from `flamewatch token create --scope read` or POST /api/v1/tokens). It is kept in this browser (localStorage) and sent as a Bearer header.',
      ),
      tokenForm(retry),
    );
  }
  const hint =
    status === 400
      ? 'Check the label matchers and time range above.'
      : status === 503
        ? 'The store is unavailable; the server retries on its own.'
        : status === 0
          ? 'Start it with `npx flamewatch serve`, then retry.'
          : '';
  return notice(
    'error',
    'Could not load this view.',
    el('p', {}, e.message),
    hint ? el('p', { class: 'muted' }, hint) : null,
    el('button', { type: 'button', onclick: retry }, 'Retry'),
  );
}

export function emptyNotice(what: string): HTMLElement {
  return notice(
    'empty',
    `No profiles for ${what} in this time range.`,
    el(
      'p',
      {},
      'Widen the time range, loosen the label matchers, or check that the agent is pushing to this server (it shows in `/api/v1/services` within a few seconds of starting).',
    ),
  );
}

/** The diff colour legend: what blue and red mean, and the current normalisation. */
export function diffLegend(mode: 'relative' | 'absolute'): HTMLElement {
  const stops = diffLegendStops(11);
  const bar = el(
    'div',
    {
      class: 'legend-bar',
      role: 'img',
      'aria-label': 'colour scale from −100 % (blue, shrank) to +100 % (red, grew), square-root steps',
    },
    ...stops.map((s) => {
      const cell = el('span', { class: 'legend-cell', title: formatSigned(s.change * 100, '%', 0) });
      cell.dataset.change = String(s.change);
      cell.style.background = Math.abs(s.change) < 0.01 ? DIFF_PALETTE[0] : s.color;
      return cell;
    }),
  );
  return el(
    'div',
    { class: 'legend' },
    el('span', {}, 'shrank −100 %'),
    bar,
    el('span', {}, '+100 % grew'),
    el(
      'span',
      { class: 'muted' },
      mode === 'relative'
        ? ' · change of each node’s share of its side’s total'
        : ' · change of absolute values',
    ),
  );
}
