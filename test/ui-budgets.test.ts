/**
 * The budgets page in real headless Chromium against a real server with
 * pushed folded profiles and budgets PUT as YAML: each budget with its
 * verdict badge, severity and owner, its value over time as a line against
 * its limit, the click-through to the flame graph of a point or of the
 * stretch over the limit with the function searched, untrusted names as
 * text, and the empty, loading and error states. Screenshots land in
 * test/out/screenshots.
 */
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, newPage, screenshot } from './helpers/browser';
import { ingest, startServer, type TestServer } from './helpers/server';

let server: TestServer;
let browser: Browser;
let page: Page;
let errors: string[];

// Budget names are restricted by the schema (letters, digits, _.:/-); functions, owners and descriptions are free text.
const XSS_FN = '<img src=x onerror="window.__xss=1">';
const XSS_OWNER = '<img src=x onerror="window.__xss=2">';
const XSS_DESC = '<img src=x onerror="window.__xss=3">';

const now = Math.floor(Date.now() / 1000);
/** Twelve 10-second profiles per instance over the last hour, 270 s apart; db.query takes 25 % in the first six, 50 % after. */
const SLOTS = 12;
const slotTime = (i: number) => now - 3300 + i * 270;
const dbShare = (i: number) => (i < 6 ? 250 : 500);

function folded(db: number): string {
  return [
    `main;api;db.query ${db}`,
    'main;api;JSON.parse 30',
    'main;api;JSON.parseInner 5',
    `main;api;${XSS_FN} 10`,
    `main;api;render ${1000 - db - 45}`,
  ].join('\n');
}

const BUDGETS = `defaults:
  owner: "@shop"
budgets:
  - name: db-share
    function: db.query
    share: 30%
    selector: '{instance=~"a|b"}'
    description: The database must stay under a third of the CPU.
  - name: json
    function: /JSON\\.parse.*/
    measure: self
    share: 5%
    severity: warn
    owner: "@web"
  - name: cpu-rate
    rate: 150/s
  - name: per-order
    perRequest: 20
    counter: orders
  - name: db-growth
    function: db.query
    growth: 10%
  - name: untrusted
    function: '${XSS_FN}'
    share: 50%
    owner: '${XSS_OWNER}'
    description: '${XSS_DESC}'
`;

beforeAll(async () => {
  server = await startServer();
  for (let i = 0; i < SLOTS; i++) {
    for (const inst of ['a', 'b']) {
      const t = slotTime(i);
      expect(
        (
          await ingest(
            server.url,
            { name: `shop.cpu{instance=${inst}}`, from: String(t), until: String(t + 10), units: 'samples' },
            folded(dbShare(i)),
          )
        ).status,
      ).toBe(200);
      // Four request counts in all: too few observations for the per-order budget to say anything.
      if (i < 2)
        expect(
          (
            await ingest(
              server.url,
              {
                name: `shop.orders{instance=${inst}}`,
                from: String(t),
                until: String(t + 10),
                units: 'count',
              },
              'orders 10',
            )
          ).status,
        ).toBe(200);
    }
  }
  expect(
    (
      await ingest(
        server.url,
        { name: 'bare.cpu', from: String(now - 600), until: String(now - 590), units: 'samples' },
        'main;work 100',
      )
    ).status,
  ).toBe(200);
  await server.store.writer.drain();
  const put = await fetch(`${server.url}/api/v1/budgets?service=shop`, {
    method: 'PUT',
    headers: { 'content-type': 'application/yaml' },
    body: BUDGETS,
  });
  expect(put.status).toBe(200);
  browser = await launchBrowser();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await server?.close();
});

beforeEach(async () => {
  errors = [];
  page = await newPage(browser, errors);
});

afterEach(async () => {
  await page.close();
  expect(errors).toEqual([]);
});

const js = <T>(code: string): Promise<T> => page.evaluate(code) as Promise<T>;
const param = (name: string) => new URL(page.url()).searchParams.get(name);
const card = (name: string) => page.locator(`.budget-card[data-budget="${name}"]`);
const chartOf = (name: string) => `window.__flamewatch.budgets.charts.get(${JSON.stringify(name)})`;

async function loaded(view: 'budgets' | 'explore'): Promise<void> {
  await page.waitForFunction(
    `window.__flamewatch && window.__flamewatch.timings.${view} !== undefined`,
    undefined,
    { timeout: 30_000 },
  );
  await page.waitForLoadState('networkidle');
}

test('each budget with its verdict, severity and owner, and its value over time against the limit', async () => {
  await page.goto(`${server.url}/?view=budgets&service=shop`);
  await loaded('budgets');
  expect(await page.locator('.budget-card .budget-name').allTextContents()).toEqual([
    'db-share',
    'json',
    'cpu-rate',
    'per-order',
    'db-growth',
    'untrusted',
  ]);
  const verdicts = await js<Record<string, string>>(
    `Object.fromEntries([...document.querySelectorAll('.budget-card')].map((c) => [c.dataset.budget, c.querySelector('.badge.verdict').textContent]))`,
  );
  expect(verdicts).toEqual({
    'db-share': 'fail',
    json: 'pass',
    'cpu-rate': 'pass',
    'per-order': 'inconclusive',
    'db-growth': 'inconclusive',
    untrusted: 'pass',
  });
  // A blocking budget failed.
  expect(await page.locator('.budget-overall .badge').getAttribute('data-verdict')).toBe('fail');
  expect(await page.locator('.budget-overall').textContent()).toContain('1 fail · 2 inconclusive · 3 pass');

  // Badges: severity and owner; values in the budget's terms.
  expect(await card('json').locator('.badge.severity').textContent()).toBe('warn');
  expect(await card('json').locator('.badge.owner').textContent()).toBe('@web');
  expect(await card('db-share').locator('.badge.severity').textContent()).toBe('block');
  expect(await card('db-share').locator('.badge.owner').textContent()).toBe('@shop');
  expect(await card('db-share').locator('.budget-value .value').textContent()).toBe('37.50 %'); // (6 × 25 % + 6 × 50 %) / 12
  expect(await card('db-share').locator('.budget-what').textContent()).toContain('{instance=~"a|b"}');
  expect(await card('json').locator('.budget-value .value').textContent()).toBe('3.50 %');
  expect(await card('cpu-rate').locator('.budget-value .value').textContent()).toBe('100/s'); // 1000 samples per 10 s
  expect(await card('per-order').locator('.budget-value .value').textContent()).toBe('100'); // 1000 samples per 10 orders
  expect(await card('per-order').locator('.budget-reason').textContent()).toContain(
    'needs at least 5 observations; has 4',
  );
  expect(await card('db-growth').locator('.budget-reason').textContent()).toContain('the baseline has 0');

  // The chart: twelve points, the limit, and the stretch over it (the last six points).
  const chart = await js<{
    points: { t: number; value: number }[];
    limit: number;
    windows: [number, number][];
  }>(
    `(() => { const c = ${chartOf('db-share')}; return { points: c.points, limit: c.limit, windows: c.windows }; })()`,
  );
  expect(chart.points).toHaveLength(SLOTS);
  expect(chart.points.map((p) => p.value)).toEqual([...Array(SLOTS)].map((_, i) => dbShare(i) / 1000));
  expect(chart.limit).toBe(0.3);
  expect(chart.windows).toHaveLength(1);
  expect(chart.windows[0][0]).toBe(chart.points[6].t);
  const svg = card('db-share').locator('.budget-chart svg');
  expect(
    (await svg.locator('path.value-line').getAttribute('d'))!.split(/[ML]/).filter(Boolean),
  ).toHaveLength(SLOTS);
  expect(await svg.locator('line.limit-line').count()).toBe(1);
  expect(await svg.locator('text.limit-label').textContent()).toBe('limit 30%');
  expect(await svg.locator('.point.over').count()).toBe(6);
  expect(await svg.locator('rect.over-window').count()).toBe(1);
  // The limit line sits where the y scale puts 30 %: between the 25 % and 50 % points.
  const ys = await js<{
    limit: number;
    under: number;
    over: number;
  }>(`(() => { const s = document.querySelector('.budget-card[data-budget="db-share"] svg');
    const cy = (sel) => Number(s.querySelector(sel).getAttribute('cy'));
    return { limit: Number(s.querySelector('line.limit-line').getAttribute('y1')), under: cy('.point:not(.over) .dot'), over: cy('.point.over .dot') }; })()`);
  expect(ys.limit).toBeLessThan(ys.under);
  expect(ys.limit).toBeGreaterThan(ys.over);
  // Growth: the measured share is charted, without a limit line, and the card says why.
  const growth = card('db-growth');
  expect(await growth.locator('.budget-chart .point').count()).toBe(SLOTS);
  expect(await growth.locator('line.limit-line').count()).toBe(0);
  expect(await growth.locator('.chart-note').textContent()).toContain('without a limit line');
  // Values in their terms on the axes.
  expect(await card('cpu-rate').locator('.axis-y .tick text').allTextContents()).toContain('100/s');
  expect(await card('db-share').locator('.axis-y .tick text').allTextContents()).toContain('40 %');
  await screenshot(page, 'budgets');
});

test('the stretch over the limit and a single point open the flame graph of that time with the function searched', async () => {
  await page.goto(`${server.url}/?view=budgets&service=shop`);
  await loaded('budgets');
  const win = await js<[number, number]>(`${chartOf('db-share')}.windows[0]`);
  const rect = card('db-share').locator('rect.over-window');
  const box = (await rect.boundingBox())!;
  await rect.click({ position: { x: box.width / 2, y: box.height - 4 } });
  await loaded('explore');
  expect(param('view')).toBeNull(); // explore is the default
  expect(param('service')).toBe('shop');
  expect(param('type')).toBe('cpu:samples');
  expect(param('labels')).toBe('instance=~"a|b"');
  expect(param('search')).toBe('/^db\\.query( \\(.*\\))?$/'); // the name, or it in one of several files
  expect([Number(param('from')), Number(param('until'))]).toEqual(win);
  // Over the limit: db.query is half of everything in that window.
  await page.waitForFunction(`document.querySelector('.status-line .match') !== null`);
  expect(Number(await page.locator('.status-line .match').getAttribute('data-match'))).toBeCloseTo(0.5, 6);
  expect(await page.locator('input.search').inputValue()).toBe('/^db\\.query( \\(.*\\))?$/');
  await screenshot(page, 'budgets-to-explore');

  // Back to the budgets, then one point below the limit: its step only.
  await page.goBack();
  await loaded('budgets');
  const first = await js<{ t: number; step: number }>(
    `(() => { const c = ${chartOf('db-share')}; return { t: c.points[0].t, step: c.stepMs }; })()`,
  );
  await card('db-share').locator('.point').first().click();
  await loaded('explore');
  expect([Number(param('from')), Number(param('until'))]).toEqual([first.t, first.t + first.step]);
  await page.waitForFunction(`document.querySelector('.status-line .match') !== null`);
  expect(Number(await page.locator('.status-line .match').getAttribute('data-match'))).toBeCloseTo(0.25, 6);

  // A regex budget searches its regex; the keyboard works as the mouse does.
  await page.goBack();
  await loaded('budgets');
  await card('json').locator('.point').nth(3).focus();
  await page.keyboard.press('Enter');
  await loaded('explore');
  expect(param('search')).toBe('/JSON\\.parse.*/');
  await page.waitForFunction(`document.querySelector('.status-line .match') !== null`);
  expect(Number(await page.locator('.status-line .match').getAttribute('data-match'))).toBeCloseTo(0.035, 6);
});

test('untrusted function names, owners and descriptions are text', async () => {
  await page.goto(`${server.url}/?view=budgets&service=shop`);
  await loaded('budgets');
  const c = card('untrusted');
  expect(await c.locator('.budget-what').textContent()).toContain(XSS_FN);
  expect(await c.locator('.badge.owner').textContent()).toBe(XSS_OWNER);
  expect(await c.locator('.budget-description').textContent()).toBe(XSS_DESC);
  expect(await c.locator('.budget-value .value').textContent()).toBe('1.00 %');
  expect(await page.locator('img').count()).toBe(0);
  expect(await js<unknown>('window.__xss')).toBeUndefined();
  await c.scrollIntoViewIfNeeded();
  await screenshot(page, 'budgets-untrusted-names');
  // Through to the flame graph, the name searched exactly (as a regex, escaped).
  await c.locator('.point').last().click();
  await loaded('explore');
  expect(param('search')).toBe('/^<img src=x onerror="window\\.__xss=1">( \\(.*\\))?$/');
  await page.waitForFunction(`document.querySelector('.status-line .match') !== null`);
  expect(Number(await page.locator('.status-line .match').getAttribute('data-match'))).toBeCloseTo(0.01, 6);
  expect(await page.locator('.table-box td.name').allTextContents()).toContain(XSS_FN);
  expect(await page.locator('img').count()).toBe(0);
  expect(await js<unknown>('window.__xss')).toBeUndefined();
});

test('the Budgets link of the header opens the page of the current service; the range is in the URL', async () => {
  await page.goto(`${server.url}/?service=shop&type=cpu:samples`);
  await loaded('explore');
  await page.locator('header.top a.nav', { hasText: 'Budgets' }).click();
  await loaded('budgets');
  expect(param('view')).toBe('budgets');
  expect(param('service')).toBe('shop');
  expect(await page.locator('header.top a.nav.active').textContent()).toBe('Budgets');
  expect(await page.locator('.budget-card').count()).toBe(6);
  // The last 5 minutes hold no profile: empty charts, and nothing can be said.
  await page.locator('select[name=range]').selectOption('now-5m');
  await loaded('budgets');
  expect(param('from')).toBe('now-5m');
  expect(await page.locator('.budget-chart-box .notice-empty').count()).toBe(6);
  expect(await page.locator('.budget-card .badge.verdict.verdict-inconclusive').count()).toBe(6);
});

test('a service without budgets says how to add them', async () => {
  await page.goto(`${server.url}/?view=budgets&service=bare`);
  await loaded('budgets');
  const text = await page.locator('.notice-empty').textContent();
  expect(text).toContain('bare has no budgets');
  expect(text).toContain('/api/v1/budgets?service=bare');
  expect(text).toContain('flamewatch ci check');
  await screenshot(page, 'budgets-empty');
});

test('loading and error states, and Retry', async () => {
  let release!: () => void;
  const held = new Promise<void>((r) => {
    release = r;
  });
  let fail = false;
  await page.route(
    (url) => url.pathname === '/api/v1/budgets',
    async (route) => {
      if (fail)
        return route.fulfill({
          status: 503,
          contentType: 'application/json',
          body: JSON.stringify({ error: 'the store is unavailable' }),
        });
      await held;
      return route.continue();
    },
  );
  await page.goto(`${server.url}/?view=budgets&service=shop`);
  // The list is held back: the page says it is loading it.
  await page.locator('.notice-loading', { hasText: 'Loading budgets' }).waitFor({ timeout: 10_000 });
  expect(await page.locator('.budget-card').count()).toBe(0);
  release();
  await loaded('budgets');
  expect(await page.locator('.budget-card').count()).toBe(6);

  fail = true;
  await page.locator('button', { hasText: 'Refresh' }).click();
  await page.waitForSelector('.notice-error');
  expect(await page.locator('.notice-error').textContent()).toContain('the store is unavailable');
  await screenshot(page, 'budgets-error');
  fail = false;
  await page.locator('.notice-error button', { hasText: 'Retry' }).click();
  await loaded('budgets');
  expect(await page.locator('.budget-card').count()).toBe(6);
  // The browser logs the 503 it was sent on purpose.
  errors.splice(0, errors.length, ...errors.filter((e) => !/status of 503/.test(e)));
});
