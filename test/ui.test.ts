/**
 * The UI in real headless Chromium against a real server with real ingested
 * profiles: explore, zoom, search, keyboard, sandwich, sorting, URL state,
 * compare with a differential flame graph, and untrusted names as text.
 * Screenshots land in test/out/screenshots.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { launchBrowser, newPage, screenshot } from './helpers/browser';
import { formatPercent, formatValue } from '../ui/src/format';
import { corpusFile, expectedFor, generatedCorpus } from './helpers/corpus';
import { parseSourceRoots } from '../server/source';
import { ingest, startServer, type TestServer } from './helpers/server';
import { twoEmitters } from './helpers/synthetic-profiles';

let server: TestServer;
let browser: Browser;
let page: Page;
let errors: string[];

const XSS = 'orders.<img src=x onerror="window.__xss=1">';

/** A real @datadog/pprof profile with CPU time (generated corpus), and google/pprof's answer for its cpu type, which the UI opens. */
const nodeCpu = corpusFile(generatedCorpus, 'pprof/nodejs-cpu.pb.gz');
const nodeCpuAnswer = expectedFor(nodeCpu).sampleTypes.find((st) => st.type === 'cpu')!;

// One request path, measured in samples per push: v1.5 makes book.scan 30 % slower.
const V14 = `main;http.handle;orders.match;book.insert 300\nmain;http.handle;orders.match;book.scan 200\nmain;http.handle;json.parse 120\nmain;gc 80\nmain;http.handle;${XSS} 10\n`;
const V15 = `main;http.handle;orders.match;book.insert 300\nmain;http.handle;orders.match;book.scan 260\nmain;http.handle;json.parse 120\nmain;gc 80\n`;

/** The file the corpus program's sortRows is in: the server reads its source from that directory. */
const sortRowsFile = (() => {
  const key = Object.keys(nodeCpuAnswer.lines!).find((k) => k.startsWith('sortRows\t'))!;
  return key.slice(key.indexOf('\t') + 1, key.lastIndexOf(':'));
})();

beforeAll(async () => {
  server = await startServer({ sourceRoots: await parseSourceRoots(path.dirname(sortRowsFile)) });
  const now = Math.floor(Date.now() / 1000);
  for (let i = 0; i < 6; i++) {
    const t = now - 1800 + i * 120;
    expect(
      (
        await ingest(
          server.url,
          { name: 'shop.cpu{version=1.4}', from: String(t), until: String(t + 10), units: 'samples' },
          V14,
        )
      ).status,
    ).toBe(200);
    expect(
      (
        await ingest(
          server.url,
          { name: 'shop.cpu{version=1.5}', from: String(t + 60), until: String(t + 70), units: 'samples' },
          V15,
        )
      ).status,
    ).toBe(200);
  }
  // A fleet in two versions, six processes each, four pushes a process: version 2 makes `fleet.b` 1.5× slower;
  // `fleet.tick` is small and noisy (its share moves a lot in both versions), everything else is unchanged.
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (const version of ['1', '2']) {
    for (let p = 0; p < 6; p++) {
      for (let i = 0; i < 4; i++) {
        const t = now - 1500 + (version === '2' ? 600 : 0) + i * 30 + p;
        const n = (x: number) => Math.round(x * (0.95 + 0.1 * rand()));
        const body = [
          `main;fleet.work;fleet.a ${n(1000)}`,
          `main;fleet.work;fleet.b ${n(version === '2' ? 750 : 500)}`,
          `main;fleet.work;fleet.c ${n(300)}`,
          `main;fleet.tick ${Math.round(5 + 40 * rand())}`,
        ].join('\n');
        const res = await ingest(
          server.url,
          {
            name: `work-fleet.cpu{version=${version}}`,
            from: String(t),
            until: String(t + 10),
            units: 'samples',
            process: `v${version}-p${p}`,
          },
          body,
        );
        expect(res.status).toBe(200);
      }
    }
  }
  // Two functions named emit, in two files (as Node's EventEmitter and streams have them).
  const emitters = twoEmitters(['node:events', 'node:internal/streams/readable'], [30_000_000, 70_000_000]);
  expect(
    (await ingest(server.url, { name: 'z-emitters', format: 'pprof', from: String(now - 300) }, emitters))
      .status,
  ).toBe(200);
  const real = fs.readFileSync(nodeCpu);
  expect(
    (
      await ingest(
        server.url,
        { name: 'node-real', format: 'pprof', from: String(now - 600), until: String(now - 590) },
        real,
      )
    ).status,
  ).toBe(200);
  await server.store.writer.drain();
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

/** Runs JS in the page (as text: the test's tsconfig has no DOM types). */
const js = <T>(code: string): Promise<T> => page.evaluate(code) as Promise<T>;
const graphOf = (view: 'explore' | 'compare') => `window.__flamewatch.${view}.graph`;

async function loaded(view: 'explore' | 'compare'): Promise<void> {
  await page.waitForFunction(
    `window.__flamewatch && window.__flamewatch.timings.${view} !== undefined`,
    undefined,
    { timeout: 20_000 },
  );
  // The query bar fills its selects after the graph draws; let the layout settle before clicking by coordinates.
  await page.waitForLoadState('networkidle');
}

async function labelled(view: 'explore' | 'compare' = 'explore'): Promise<string[]> {
  return js<string[]>(`${graphOf(view)}.labelled()`);
}

/** Clicks the middle of the widest drawn node with this name, at its position in the page now. */
async function clickNode(
  name: string,
  view: 'explore' | 'compare' = 'explore',
  modifiers: 'Shift'[] = [],
): Promise<void> {
  // Let pending redraws (a scrollbar appearing resizes the canvas) land, so the boxes are current.
  await js('new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r)))');
  const at = await js<{ x: number; y: number } | null>(`(() => {
    const g = ${graphOf(view)}; const m = g.model; let best = null;
    for (let n = 0; n < m.count; n++) if (m.names[m.name[n]] === ${JSON.stringify(name)}) { const b = g.boxOf(n); if (b && (!best || b.w > best.w)) best = b; }
    if (!best) return null;
    const canvas = g.element.querySelector('canvas.flame-canvas');
    canvas.scrollIntoView({ block: 'center' });
    const r = canvas.getBoundingClientRect();
    return { x: r.left + best.x + best.w / 2, y: r.top + best.y + best.h / 2 }; })()`);
  expect(at).not.toBeNull();
  // mouse.click takes no modifiers: hold them on the keyboard.
  for (const k of modifiers) await page.keyboard.down(k);
  await page.mouse.click(at!.x, at!.y);
  for (const k of modifiers) await page.keyboard.up(k);
}

const param = (name: string) => new URL(page.url()).searchParams.get(name);

describe('explore', () => {
  test('the first visit picks a service and shows a real profile: flame graph and top table', async () => {
    await page.goto(server.url + '/');
    await loaded('explore');
    expect(param('service')).toBe('node-real');
    expect(param('type')).toBe(`cpu:${nodeCpuAnswer.unit}`);
    const rows = await page.locator('.table-box tbody tr').allTextContents();
    // The first row is google/pprof's largest flat (one of them, on a tie), shown as the UI formats values.
    const { total, unit, functions } = nodeCpuAnswer;
    const largest = Math.max(...Object.values(functions).map((f) => f.flat));
    const leaders = Object.keys(functions).filter((name) => functions[name].flat === largest);
    expect(leaders.filter((name) => rows[0].includes(name))).not.toEqual([]);
    expect(rows[0]).toContain(formatValue(largest, unit));
    expect(rows[0]).toContain(formatPercent(largest / total));
    expect(await page.locator('.status-line').textContent()).toContain(`Total ${formatValue(total, unit)}`);
    expect(await js<number>(`${graphOf('explore')}.draws`)).toBeGreaterThan(0);
    expect(await labelled()).toContain('total');
    // The export links download the current selection.
    const href = await page.locator('a.export', { hasText: 'speedscope' }).first().getAttribute('href');
    const file = await page.request.get(server.url + href!);
    expect(file.status()).toBe(200);
    const json = (await file.json()) as { $schema: string; profiles: { weights: number[] }[] };
    expect(json.$schema).toContain('speedscope');
    expect(json.profiles[0].weights.reduce((a, b) => a + b, 0)).toBe(total);
    await screenshot(page, 'explore-real-node');
  });

  test('click zooms into a node, the breadcrumb and URL follow, reload and Back restore it', async () => {
    await page.goto(`${server.url}/?service=shop&type=cpu:samples`);
    await loaded('explore');
    expect(await labelled()).toEqual(expect.arrayContaining(['json.parse', 'book.insert', 'gc']));
    await clickNode('orders.match');
    await page.waitForFunction(`new URL(location.href).searchParams.get('zoom') !== null`, undefined, {
      timeout: 5000,
    });
    expect(JSON.parse(param('zoom')!)).toEqual(['main', 'http.handle', 'orders.match']);
    expect(await page.locator('.crumbs .crumb').allTextContents()).toEqual([
      'all',
      'main',
      'http.handle',
      'orders.match',
    ]);
    const zoomed = await labelled();
    expect(zoomed).toEqual(expect.arrayContaining(['book.insert', 'book.scan', 'orders.match']));
    expect(zoomed).not.toContain('json.parse'); // outside the zoomed subtree
    expect(zoomed).not.toContain('gc');
    await screenshot(page, 'explore-zoomed');

    await page.reload();
    await loaded('explore');
    expect(
      await js<number>(
        `${graphOf('explore')}.model.names[${graphOf('explore')}.model.name[${graphOf('explore')}.zoomNode]]`,
      ),
    ).toBe('orders.match');

    await page.goBack();
    await page.waitForFunction(`${graphOf('explore')}.zoomNode === 0`);
    expect(param('zoom')).toBeNull();
    expect(await labelled()).toContain('json.parse');

    await page.locator('.crumbs .crumb', { hasText: 'all' }).click();
    expect(await js<number>(`${graphOf('explore')}.zoomNode`)).toBe(0);
  });

  test('search highlights matches and reports their share of the total', async () => {
    await page.goto(`${server.url}/?service=shop&type=cpu:samples`);
    await loaded('explore');
    await page.locator('input.search').fill('book.');
    await page.locator('input.search').press('Enter');
    await page.waitForFunction(`document.querySelector('.status-line .match') !== null`);
    const share = Number(await page.locator('.status-line .match').getAttribute('data-match'));
    // book.insert 300×6 + book.scan (200 + 260)×6 over everything pushed.
    const total = 6 * (710 + 760);
    expect(share).toBeCloseTo((6 * 300 * 2 + 6 * 460) / total, 6);
    expect(param('search')).toBe('book.');
    // Non-matching nodes are dimmed grey: sample the gc box's pixel.
    const gcColor = await pixelOf('gc');
    expect(gcColor[0]).toBe(gcColor[2]);
    // The table keeps only matching functions.
    expect(
      (await page.locator('.table-box tbody tr').allTextContents()).every((r) => r.includes('book.')),
    ).toBe(true);
    await screenshot(page, 'explore-search');
    await page.locator('input.search').fill('/^book\\.(insert|scan)$/');
    await page.locator('input.search').press('Enter');
    await page.waitForFunction(
      `(document.querySelector('.status-line .match')||{}).textContent?.includes('/^book')`,
    );
    expect(Number(await page.locator('.status-line .match').getAttribute('data-match'))).toBeCloseTo(
      (6 * 300 * 2 + 6 * 460) / total,
      6,
    );
  });

  test('keyboard: arrows move focus, Enter zooms, Escape zooms out, s opens the sandwich', async () => {
    await page.goto(`${server.url}/?service=shop&type=cpu:samples`);
    await loaded('explore');
    await page.locator('.explore .graph-box canvas.flame-canvas').focus();
    const focusName = () =>
      js<string>(
        `(() => { const g = ${graphOf('explore')}; return g.model.names[g.model.name[g.focusNode]]; })()`,
      );
    await page.keyboard.press('ArrowUp'); // towards the leaves: main
    expect(await focusName()).toBe('main');
    await page.keyboard.press('ArrowUp'); // widest child of main: http.handle
    expect(await focusName()).toBe('http.handle');
    // Key events reach the page asynchronously under load: wait for each to land in the URL.
    const zoomIs = (path: string[]) =>
      page.waitForFunction(
        `new URL(location.href).searchParams.get('zoom') === ${JSON.stringify(JSON.stringify(path))}`,
        undefined,
        { timeout: 5000 },
      );
    await page.keyboard.press('Enter');
    await zoomIs(['main', 'http.handle']);
    await page.keyboard.press('Escape');
    await zoomIs(['main']);
    await page.keyboard.press('s');
    await page.waitForFunction(`new URL(location.href).searchParams.get('tab') === 'sandwich'`);
    expect(param('fn')).toBe('http.handle');
  });

  test('sandwich shows callers above and callees below; icicle flips the picture', async () => {
    await page.goto(`${server.url}/?service=shop&type=cpu:samples`);
    await loaded('explore');
    await clickNode('orders.match', 'explore', ['Shift']);
    await page.waitForSelector('.sandwich-box canvas');
    expect(param('tab')).toBe('sandwich');
    expect(await page.locator('.sandwich-title').textContent()).toBe('orders.match');
    const [callers, callees] = await js<[string[], string[]]>(`(() => {
      const names = (m) => [...m.name].map((i) => m.names[i]);
      const ex = window.__flamewatch.explore; return [names(ex.sandwichGraphs[0].model), names(ex.sandwichGraphs[1].model)]; })()`);
    expect(callers).toEqual(['orders.match', 'http.handle', 'main']);
    expect(callees.sort()).toEqual(['book.insert', 'book.scan', 'orders.match']);
    await screenshot(page, 'explore-sandwich');

    await page.locator('[data-tab="flame"]').click();
    await page.locator('[data-orient="icicle"]').click();
    expect(param('orient')).toBe('icicle');
    // In an icicle the root is the top row.
    const rootBox = await js<{ y: number }>(`${graphOf('explore')}.boxOf(0)`);
    expect(rootBox.y).toBe(0);
  });

  test('the sandwich shows the function’s cost per source line, as google/pprof counts it', async () => {
    // The corpus' sortRows: its lines as google/pprof reads the profile (refprof, `function<TAB>file:line`).
    const want = Object.entries(nodeCpuAnswer.lines!)
      .filter(([k]) => k.startsWith('sortRows\t'))
      .map(([k, v]) => ({
        file: k.slice(k.indexOf('\t') + 1, k.lastIndexOf(':')),
        line: k.slice(k.lastIndexOf(':') + 1),
        ...v,
      }));
    expect(want.length).toBeGreaterThan(0);
    await page.goto(
      `${server.url}/?service=node-real&type=cpu:${nodeCpuAnswer.unit}&tab=sandwich&fn=sortRows`,
    );
    await page.waitForSelector('.lines-box .source-file');
    const files = await page.locator('.lines-box .source-file').evaluateAll((ss) =>
      ss.map((s) => ({
        file: s.getAttribute('data-file'),
        lines: [...s.querySelectorAll('tbody tr')].map((tr) => tr.querySelector('td')!.textContent),
      })),
    );
    // The code beside each line with a cost (context lines around them have no figures).
    const code = fs.readFileSync(sortRowsFile, 'utf8').split('\n');
    const rows = await page.locator('.lines-box .source-file tbody tr').evaluateAll((trs) =>
      trs.map((tr) => ({
        line: tr.querySelector('td')!.textContent,
        self: tr.querySelectorAll('td')[1].textContent,
        code: tr.querySelector('td.source-code')?.textContent,
      })),
    );
    for (const w of want) expect(rows.find((r) => r.line === w.line)?.code).toBe(code[Number(w.line) - 1]);
    expect(rows.some((r) => r.self === '')).toBe(true);
    expect(files.map((f) => f.file)).toEqual([want[0].file]);
    expect(rows.filter((r) => r.self !== '').map((r) => r.line)).toEqual(want.map((w) => w.line));
    await screenshot(page, 'explore-lines');
  });

  test('two functions of one name in two files are two rows and two frames, each with its file', async () => {
    await page.goto(`${server.url}/?service=z-emitters&type=cpu:nanoseconds`);
    await loaded('explore');
    const rows = await page
      .locator('.table-box tbody tr')
      .evaluateAll((trs) =>
        trs.map((tr) => [...tr.querySelectorAll('td')].slice(0, 2).map((td) => td.textContent)),
      );
    expect(rows).toEqual(
      expect.arrayContaining([
        ['emit (readable)', 'streams/readable'],
        ['emit (node:events)', 'node:events'],
      ]),
    );
    expect(await labelled()).toEqual(expect.arrayContaining(['emit (readable)', 'emit (node:events)']));
    await screenshot(page, 'explore-two-emits');
  });

  test('the top table sorts by any column, and the sort is in the URL', async () => {
    await page.goto(`${server.url}/?service=shop&type=cpu:samples&tab=table`);
    await loaded('explore');
    await page.locator('th button[data-sort="total"]').click();
    expect(param('sort')).toBe('-total');
    expect((await page.locator('.table-box tbody tr td.name').allTextContents())[0]).toBe('main');
    await page.locator('th button[data-sort="name"]').click();
    expect(param('sort')).toBe('name');
    const names = await page.locator('.table-box tbody tr td.name').allTextContents();
    expect(names).toEqual([...names].sort());
  });

  test('function names are text, never HTML: table, tooltip and canvas', async () => {
    await page.goto(
      `${server.url}/?service=shop&type=cpu:samples&labels=${encodeURIComponent('version="1.4"')}`,
    );
    await loaded('explore');
    const cells = await page.locator('.table-box td.name').allTextContents();
    expect(cells).toContain(XSS);
    expect(await page.locator('.table-box img, .tooltip img, .crumbs img').count()).toBe(0);
    await clickNode(XSS);
    expect(await page.locator('.crumbs .crumb.current').textContent()).toBe(XSS);
    const canvas = (await page.locator('.explore .graph-box canvas.flame-canvas').boundingBox())!;
    const box = await js<{ x: number; y: number; w: number; h: number }>(
      `${graphOf('explore')}.boxOf(${graphOf('explore')}.zoomNode)`,
    );
    await page.mouse.move(canvas.x + box.x + 20, canvas.y + box.y + 5);
    await page.waitForSelector('.tooltip:not([hidden])');
    expect(await page.locator('.tooltip .tip-name').textContent()).toBe(XSS);
    expect(await page.locator('img').count()).toBe(0);
    expect(await js<unknown>('window.__xss')).toBeUndefined();
    await screenshot(page, 'explore-untrusted-name');
  });

  test('empty and error states say what to do', async () => {
    await page.goto(`${server.url}/?service=shop&type=cpu:samples&from=now-5m`);
    await page.waitForSelector('.notice-empty');
    expect(await page.locator('.notice-empty').textContent()).toContain('No profiles for shop');
    // A good query first, then a bad label matcher: the error speaks of what was typed, and nothing of the
    // good query's timeline or total stays on the page.
    await page.goto(`${server.url}/?service=shop&type=cpu:samples`);
    await loaded('explore');
    expect(await page.locator('.timeline .timeline-area').count()).toBeGreaterThan(0);
    await page.goto(
      `${server.url}/?service=shop&type=cpu:samples&labels=${encodeURIComponent('version=="bad')}`,
    );
    await page.waitForSelector('.notice-error');
    const text = await page.locator('.notice-error').textContent();
    expect(text).toContain('The label matchers are not valid.');
    expect(text).toContain('expected a quoted value at character 9 of “version=="bad”');
    expect(text).not.toContain('service_name');
    expect(await page.locator('.timeline .timeline-area').count()).toBe(0);
    expect((await page.locator('.explore .status-line').textContent()) ?? '').toBe('');
    await screenshot(page, 'explore-error');
    // Other errors keep their Retry.
    await page.route('**/api/v1/flamegraph*', (route) =>
      route.fulfill({ status: 503, body: '{"error":"store down"}' }),
    );
    await page.goto(`${server.url}/?service=shop&type=cpu:samples`);
    await page.waitForSelector('.notice-error');
    expect(await page.locator('.notice-error button').textContent()).toBe('Retry');
    await page.unroute('**/api/v1/flamegraph*');
    // The 503 made on purpose is the one console error here.
    errors.splice(0, errors.length, ...errors.filter((e) => !/status of 503/.test(e)));
  });

  test('a service or type that does not exist is said so, with what there is; a page typed as a path opens', async () => {
    await page.goto(`${server.url}/?service=nosuch&type=cpu:samples`);
    await page.waitForSelector('.notice-error');
    expect(await page.locator('.notice-error').textContent()).toContain(
      'There is no service named “nosuch” here.',
    );
    expect(param('service')).toBe('nosuch'); // not silently another service
    await page.locator('.notice-error button', { hasText: 'shop' }).click();
    await loaded('explore');
    expect(param('service')).toBe('shop');

    await page.goto(`${server.url}/?service=shop&type=whatever`);
    await page.waitForSelector('.notice-error');
    const text = await page.locator('.notice-error').textContent();
    expect(text).toContain('shop has no profiles of type “whatever”.');
    expect(text).not.toMatch(/agent/);
    await page.locator('.notice-error button', { hasText: 'cpu:samples' }).click();
    await loaded('explore');

    await page.goto(`${server.url}/compare?service=shop&type=cpu:samples`);
    await page.waitForFunction(`new URL(location.href).searchParams.get('view') === 'compare'`);
    expect(new URL(page.url()).pathname).toBe('/');
    const wrong = await page.goto(`${server.url}/nope`);
    expect(wrong!.status()).toBe(404);
    expect(await page.locator('h1').textContent()).toBe('No page here');
  });

  test('the timeline brush sets an absolute range', async () => {
    await page.goto(`${server.url}/?service=shop&type=cpu:samples`);
    await loaded('explore');
    const svg = (await page.locator('.timeline svg').boundingBox())!;
    await page.mouse.move(svg.x + svg.width * 0.4, svg.y + 40);
    await page.mouse.down();
    await page.mouse.move(svg.x + svg.width * 0.9, svg.y + 40, { steps: 5 });
    await page.mouse.up();
    await page.waitForFunction(`/^\\d+$/.test(new URL(location.href).searchParams.get('from') || '')`);
    const from = Number(param('from'));
    const until = Number(param('until'));
    expect(until - from).toBeGreaterThan(20 * 60_000);
    expect(until - from).toBeLessThan(35 * 60_000);
    expect(await page.locator('select[name="range"]').inputValue()).toBe('custom');
  });

  test('the timeline speaks the 24-hour clock, and its peak label sits above the areas', async () => {
    await page.goto(`${server.url}/?service=shop&type=cpu:samples&from=now-6h`);
    await loaded('explore');
    const ticks = await page.locator('.timeline svg .tick text').allTextContents();
    expect(ticks.length).toBeGreaterThan(1);
    for (const t of ticks) expect(t).toMatch(/^(\d\d:\d\d(:\d\d)?|[A-Z][a-z]{2} \d\d|[A-Z][a-z]+|\d{4})$/);
    expect(ticks.join(' ')).not.toMatch(/AM|PM/);
    const peak = (await page.locator('.timeline .timeline-max').boundingBox())!;
    const areas = await page
      .locator('.timeline .timeline-area')
      .evaluateAll((els) => els.map((e) => e.getBoundingClientRect().top));
    expect(areas.length).toBeGreaterThan(0);
    expect(peak.y + peak.height).toBeLessThanOrEqual(Math.min(...areas) + 1);
  });
});

describe('compare', () => {
  test('from the home page to “book.scan got slower between 1.4 and 1.5” in a few clicks', async () => {
    await page.goto(`${server.url}/?service=shop&type=cpu:samples`);
    await loaded('explore');
    await page.locator('header a.nav', { hasText: 'Compare' }).click();
    // With nothing chosen, Compare opens on the two most recent versions: the newest against the one before.
    await page.waitForFunction(`new URL(location.href).searchParams.get('right') === 'version="1.5"'`);
    expect(param('left')).toBe('version="1.4"');
    await page.locator('select[aria-label="compare by label"]').selectOption('version');
    await page.waitForFunction(
      `document.querySelectorAll('select[aria-label="baseline value"] option').length > 1`,
    );
    await page.locator('select[aria-label="baseline value"]').selectOption('1.4');
    await page.locator('select[aria-label="comparison value"]').selectOption('1.5');
    await page.waitForFunction(`new URL(location.href).searchParams.get('right') === 'version="1.5"'`);
    await page.waitForFunction(
      `window.__flamewatch.compare && window.__flamewatch.compare.graph.model && window.__flamewatch.timings.compare`,
    );
    // The detector's verdicts fill their column.
    await page.waitForFunction(
      `[...document.querySelectorAll('.compare .table-box tbody tr td:nth-child(3)')].every((td) => td.textContent !== '…')`,
    );
    // The table sorts by the detector's verdict: one process a side cannot decide anything, so nothing is
    // "slower" and no change is painted red, whatever its share did; the undecided come first, by q.
    const rows = await page.locator('.compare .table-box tbody tr').evaluateAll((trs) =>
      trs.map((tr) => ({
        cells: [...tr.querySelectorAll('td')].map((td) => td.textContent ?? ''),
        worse: tr.querySelectorAll('td.worse').length,
      })),
    );
    const scanRow = rows.find((r) => r.cells[1] === 'book.scan')!;
    expect(scanRow.cells[2]).toMatch(/^undecided \(q /);
    expect(rows.every((r) => r.worse === 0)).toBe(true);
    const order = rows.map((r) => (r.cells[2].startsWith('undecided') ? 0 : 1));
    expect(order).toEqual([...order].sort());
    // book.scan: 200/710 of 1.4, 260/760 of 1.5 -> +20.5 % of its share.
    const expected = ((260 / 760 - 200 / 710) / (200 / 710)) * 100;
    expect(scanRow.cells.join(' ')).toContain(`+${expected.toFixed(1)} %`);
    // Its node is drawn red (grew), book.insert blue (its share shrank).
    const scan = await pixelOf('book.scan', 'compare');
    expect(scan[0]).toBeGreaterThan(scan[2] + 40);
    const insert = await pixelOf('book.insert', 'compare');
    expect(insert[2]).toBeGreaterThan(insert[0]);
    expect(await page.locator('.legend').textContent()).toContain('share');
    await screenshot(page, 'compare-diff');

    // The link reproduces the view.
    const url = page.url();
    const other = await newPage(browser, errors);
    await other.goto(url);
    await other.waitForFunction(`window.__flamewatch.timings && window.__flamewatch.timings.compare`);
    expect(await other.locator('.compare .table-box tbody td', { hasText: 'book.scan' }).count()).toBe(1);
    expect(new URL(other.url()).searchParams.get('right')).toBe('version="1.5"');
    await other.close();

    // Absolute mode and side by side.
    await page.locator('[data-mode="absolute"]').click();
    expect(param('diffMode')).toBe('absolute');
    await page.locator('[data-tab="side"]').click();
    await page.waitForFunction(`window.__flamewatch.compare.sides[1].model !== undefined`);
    const sides = await js<number[]>(`window.__flamewatch.compare.sides.map((g) => g.model.total[0])`);
    expect(sides).toEqual([6 * 710, 6 * 760]);
    await screenshot(page, 'compare-side-by-side');
  });

  test("the changed functions carry the detector's verdict: only what got slower is red, noise is not", async () => {
    await page.goto(`${server.url}/?view=compare&service=work-fleet&type=cpu:samples`);
    await page.waitForFunction(`new URL(location.href).searchParams.get('right') === 'version="2"'`);
    await page.waitForFunction(
      `(() => { const tds = [...document.querySelectorAll('.compare .table-box tbody tr td:nth-child(3)')]; return tds.length > 0 && tds.every((td) => td.textContent !== '…'); })()`,
    );
    const rows = await page.locator('.compare .table-box tbody tr').evaluateAll((trs) =>
      trs.map((tr) => ({
        cells: [...tr.querySelectorAll('td')].map((td) => td.textContent ?? ''),
        worse: tr.querySelectorAll('td.worse').length,
      })),
    );
    // fleet.b leads, slower with its q, painted; fleet.work and main grew with it (explained or no finding), unpainted.
    expect(rows[0].cells[1]).toBe('fleet.b');
    expect(rows[0].cells[2]).toMatch(/^slower \(q /);
    expect(rows[0].worse).toBeGreaterThan(0);
    const tick = rows.find((r) => r.cells[1] === 'fleet.tick')!;
    expect(tick.cells[2]).not.toMatch(/^slower/);
    expect(rows.filter((r) => r.worse > 0).map((r) => r.cells[1])).toEqual(['fleet.b']);
    // Per second of the time the data covers: the same load in both versions, whatever the windows' lengths.
    expect(await page.locator('.compare .diff-summary .rate').textContent()).toMatch(
      /Total per second: \+\d/,
    );
    await screenshot(page, 'compare-verdicts');
  });

  test('two time brushes on one label set compare two windows', async () => {
    await page.goto(
      `${server.url}/?view=compare&service=shop&type=cpu:samples&left=${encodeURIComponent('version="1.4"')}&right=${encodeURIComponent('version="1.4"')}`,
    );
    // Same labels, no brush: the page says so instead of comparing the data with itself, and draws no brush to get in the way.
    await page.waitForSelector('.compare .notice-empty');
    expect(await page.locator('.compare .notice-empty').textContent()).toContain(
      'Both sides are the same data.',
    );
    await page.waitForSelector('.timeline .brush-right');
    await page.waitForSelector('.timeline .timeline-area'); // the data is drawn: the brushes map to its range
    await page.waitForLoadState('networkidle');
    const drawn = await js<number>(
      `[...document.querySelectorAll('.timeline .brush .selection')].filter((e) => e.style.display !== 'none').length`,
    );
    expect(drawn).toBe(0);
    const svg = (await page.locator('.timeline svg').boundingBox())!;
    const drag = async (band: number, from: number, to: number, key: string) => {
      const y = svg.y + 14 + ((svg.height - 14 - 20) * (band + 0.5)) / 2;
      await page.mouse.move(svg.x + svg.width * from, y);
      await page.mouse.down();
      await page.mouse.move(svg.x + svg.width * to, y, { steps: 5 });
      await page.mouse.up();
      await page.waitForFunction(`/^\\d+$/.test(new URL(location.href).searchParams.get('${key}') || '')`);
    };
    // The comparison band (bottom), over every push: the comparison holds all six pushes of 1.4 (710 samples each).
    await drag(1, 0.03, 0.8, 'rfrom');
    await page.waitForFunction(`window.__flamewatch.timings.compare !== undefined`);
    const whole = await js<{ L: number; R: number }>(
      `(() => { const m = window.__flamewatch.compare.graph.model; return { L: m.diff.L, R: m.diff.R }; })()`,
    );
    expect(whole.R).toBe(6 * 710);
    expect(Number(param('runtil')) - Number(param('rfrom'))).toBeGreaterThan(40 * 60_000);
    // The baseline band (top), over the first pushes only: two windows of one label set.
    await drag(0, 0.01, 0.6, 'lfrom');
    await page.waitForFunction(
      `window.__flamewatch.timings.compare !== undefined && window.__flamewatch.compare.graph.model.diff.L < ${6 * 710}`,
    );
    const two = await js<{ L: number; R: number }>(
      `(() => { const m = window.__flamewatch.compare.graph.model; return { L: m.diff.L, R: m.diff.R }; })()`,
    );
    expect(two.L).toBeGreaterThan(0);
    expect(two.R).toBe(6 * 710);
    await screenshot(page, 'compare-brushes');
  });
});

/** The RGB of the canvas pixel in the middle of the widest box drawn for a name. */
async function pixelOf(
  name: string,
  view: 'explore' | 'compare' = 'explore',
): Promise<[number, number, number]> {
  return js<[number, number, number]>(`(() => {
    const g = ${graphOf(view)}; const m = g.model; let best = null;
    for (let n = 0; n < m.count; n++) if (m.names[m.name[n]] === ${JSON.stringify(name)}) { const b = g.boxOf(n); if (b && (!best || b.w > best.w)) best = b; }
    const canvas = document.querySelector('${view === 'explore' ? '.explore .graph-box' : '.compare .graph-box'} canvas.flame-canvas');
    const dpr = window.devicePixelRatio || 1;
    const d = canvas.getContext('2d').getImageData(Math.round((best.x + best.w - 3) * dpr), Math.round((best.y + 2) * dpr), 1, 1).data;
    return [d[0], d[1], d[2]]; })()`);
}
