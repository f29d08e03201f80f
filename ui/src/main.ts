/**
 * The shell: reads the view state from the URL, loads the service list,
 * shows the view's page (explore, compare, regressions, budgets), and writes every state change back to
 * the URL (pushState for navigation, replaceState for typing and sorting).
 */
import './style.css';
import { api } from './api';
import { dataChanged, type App } from './app';
import { el, notice } from './dom';
import { formatState, parseState, type State } from './state';
import { BudgetsView } from './views/budgets';
import { CompareView } from './views/compare';
import { ExploreView } from './views/explore';
import { RegressionsView } from './views/regressions';
import { errorNotice } from './views/panels';
import { defaultType, profileTypes, quote, typeKey } from './views/querybar';

/** One load of a page: request + parse, model build, first draw (ms). */
export interface Timing {
  fetchMs: number;
  parseMs: number;
  buildMs: number;
  drawMs: number;
  totalMs: number;
  nodes: number;
  at?: number;
}

declare global {
  interface Window {
    /** Hooks for tests and the render benchmark: the live views and their last timings. */
    __flamewatch: {
      app?: App;
      explore?: ExploreView;
      compare?: CompareView;
      regressions?: RegressionsView;
      budgets?: BudgetsView;
      timings: Record<string, Timing>;
    };
  }
}
window.__flamewatch = { timings: {} };

const root = document.getElementById('app')!;
let state: State = parseState(location.search);
let services: string[] = [];
let explore: ExploreView | undefined;
let compare: CompareView | undefined;
let regressions: RegressionsView | undefined;
let budgets: BudgetsView | undefined;
const content = el('div', { class: 'content' });
const headerSlot = el('div', { class: 'header-slot' });

const app: App = {
  get state() {
    return state;
  },
  update(patch, opts = {}) {
    const prev = state;
    state = { ...state, ...patch };
    // Timings reappear when the new data has drawn: tests and the bench wait on them.
    if (dataChanged(prev, state) || prev.view !== state.view) delete window.__flamewatch.timings[state.view];
    const url = formatState(state);
    if (opts.push) history.pushState(null, '', url);
    else history.replaceState(null, '', url);
    void show();
  },
};
window.__flamewatch.app = app;

function header(): HTMLElement {
  const link = (view: State['view'], label: string) =>
    el(
      'a',
      {
        href: formatState({ ...state, view }),
        class: state.view === view ? 'nav active' : 'nav',
        'aria-current': state.view === view ? 'page' : undefined,
        onclick: (e) => {
          e.preventDefault();
          app.update({ view, zoom: '', rid: '' }, { push: true });
        },
      },
      label,
    );
  return el(
    'header',
    { class: 'top' },
    el('a', { href: '/', class: 'brand' }, 'Flamewatch'),
    el(
      'nav',
      { 'aria-label': 'pages' },
      link('explore', 'Explore'),
      link('compare', 'Compare'),
      link('regressions', 'Regressions'),
      link('budgets', 'Budgets'),
    ),
    el('span', { class: 'spacer' }),
    el('a', { href: '/api/v1/services', class: 'muted' }, 'API'),
  );
}

/** Fills in a service and type when the URL has none, so the first visit shows a graph. */
async function withDefaults(): Promise<void> {
  if (state.view === 'regressions') return;
  // A service's budgets may be stored before its first profile: keep the one asked for.
  if (state.view === 'budgets' && state.service) return;
  // A service the URL names but the server does not know stays asked for: the page says so (unknownService).
  if (!state.service) {
    // The server's own self-profile is the fallback, not the first choice.
    const pick = services.find((s) => s !== 'flamewatch-server') ?? services[0];
    if (pick) state = { ...state, service: pick, type: '' };
  }
  if (state.service && services.includes(state.service) && !state.type && state.view !== 'budgets') {
    const types = await profileTypes(state.service);
    state = { ...state, type: defaultType(types) };
  }
  // Compare with nothing chosen: the service's two most recent versions (after a deploy, the new one against the
  // one before), when its profiles carry a version label; else the page asks for two windows or two values.
  const s = state;
  if (s.view === 'compare' && s.service && !s.left && !s.right && !s.lfrom && !s.rfrom) {
    const versions = await api
      .labelValues(s.service, 'version', s.from, s.until, undefined, 'recent')
      .catch(() => [] as string[]);
    if (versions.length >= 2 && state === s)
      state = { ...s, left: `version=${quote(versions[1])}`, right: `version=${quote(versions[0])}` };
  }
  history.replaceState(null, '', formatState(state));
}

let showing = 0;
async function show(): Promise<void> {
  const ticket = ++showing;
  await withDefaults();
  if (ticket !== showing) return;
  // Only the header is rebuilt: moving `content` would take the keyboard focus out of the page.
  headerSlot.replaceChildren(header());
  if (root.firstChild !== headerSlot || headerSlot.nextSibling !== content)
    root.replaceChildren(headerSlot, content);
  if ((state.view === 'explore' || state.view === 'compare') && state.service) {
    const wrong = await unknownSelection();
    if (ticket !== showing) return;
    if (wrong) {
      content.replaceChildren(wrong);
      return;
    }
  }
  if (state.view === 'budgets') {
    budgets ??= window.__flamewatch.budgets = new BudgetsView(app, services);
    if (content.firstChild !== budgets.element) content.replaceChildren(budgets.element);
    budgets.render(state);
  } else if (state.view === 'regressions') {
    regressions ??= window.__flamewatch.regressions = new RegressionsView(app, services);
    if (content.firstChild !== regressions.element) content.replaceChildren(regressions.element);
    regressions.render(state);
  } else if (state.view === 'compare') {
    compare ??= window.__flamewatch.compare = new CompareView(app, services);
    if (content.firstChild !== compare.element) content.replaceChildren(compare.element);
    compare.render(state);
  } else {
    explore ??= window.__flamewatch.explore = new ExploreView(app, services);
    if (content.firstChild !== explore.element) content.replaceChildren(explore.element);
    explore.render(state);
  }
}

/**
 * What is wrong with the URL's service or type, as a notice with what there is instead; undefined when both
 * exist. The page never shows another service than the one asked for, nor blames the agent for a typo.
 */
async function unknownSelection(): Promise<HTMLElement | undefined> {
  const pick = (patch: Partial<State>, label: string) =>
    el('button', { type: 'button', onclick: () => app.update(patch, { push: true }) }, label);
  if (!services.includes(state.service)) {
    return notice(
      'error',
      `There is no service named “${state.service}” here.`,
      el(
        'p',
        {},
        services.length ? 'Services with profiles: ' : 'No service has pushed profiles yet.',
        ...services.map((name) => pick({ service: name, type: '' }, name)),
      ),
    );
  }
  if (!state.type) return undefined;
  const types = await profileTypes(state.service).catch(() => undefined);
  if (!types || types.some((t) => typeKey(t) === state.type || t.type === state.type)) return undefined;
  return notice(
    'error',
    `${state.service} has no profiles of type “${state.type}”.`,
    el('p', {}, 'Its types: ', ...types.map((t) => pick({ type: typeKey(t) }, typeKey(t)))),
  );
}

function noData(): HTMLElement {
  const base = location.origin;
  return notice(
    'empty',
    'No profiles yet.',
    el('p', {}, 'Flamewatch shows data as soon as something pushes profiles. Any of these works:'),
    el(
      'pre',
      {},
      `# a Node.js service: the agent is not on npm yet; install it from a Flamewatch checkout
npm install /path/to/flamewatch/agent
FLAMEWATCH_SERVER=${base} FLAMEWATCH_SERVICE=myapp node -r @flamewatch/agent/register app.js

# any pprof file (in the Flamewatch checkout)
npx flamewatch push --server ${base} --service myapp profile.pb.gz

# Linux perf (in the Flamewatch checkout)
npx flamewatch perf --server ${base} --service myapp -- ./my-program`,
    ),
    el(
      'p',
      {},
      '`flamewatch serve` also profiles itself unless started with --no-self-profile: its data arrives within about 15 seconds. ',
    ),
    el('button', { type: 'button', onclick: () => void start() }, 'Check again'),
  );
}

async function start(): Promise<void> {
  root.replaceChildren(header(), notice('loading', 'Loading services…'));
  try {
    services = await api.services();
  } catch (err) {
    root.replaceChildren(
      header(),
      errorNotice(err, () => void start()),
    );
    return;
  }
  if (services.length === 0) {
    root.replaceChildren(header(), el('main', { class: 'view' }, noData()));
    return;
  }
  await show();
}

window.addEventListener('popstate', () => {
  state = parseState(location.search);
  void show();
});
document.addEventListener('keydown', (e) => {
  // "/" jumps to the search box, as in most code tools.
  if (
    e.key === '/' &&
    !(
      e.target instanceof HTMLInputElement ||
      e.target instanceof HTMLSelectElement ||
      e.target instanceof HTMLTextAreaElement
    )
  ) {
    const box = document.querySelector<HTMLInputElement>('input.search');
    if (box) {
      e.preventDefault();
      box.focus();
    }
  }
});
void start();
