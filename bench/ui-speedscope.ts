/**
 * Speedscope's own rendering of a big flame graph in headless Chromium: the
 * peer figure for our flame-graph UI (target: first draw < 200 ms and a zoom
 * redraw < 16 ms for 100k nodes). Speedscope's built web app
 * (node_modules/speedscope/dist/release) and the profile are served from a
 * local HTTP server; each run opens a fresh browser context (cold cache) at
 * `index.html#profileURL=...&view=left-heavy`, so speedscope fetches, parses,
 * lays out and draws the profile exactly as it does for a shared link.
 *
 *   npx tsc -p tsconfig.build.json && node dist/bench/ui-speedscope.js \
 *     [--nodes 100000] [--runs 5] [--zooms 5] [--cases left-heavy/folded,left-heavy/speedscope-json,time-ordered/speedscope-json]
 *
 * Prints JSON (every run and median/min/max per figure) on stdout, a readable
 * summary on stderr, and run 1's screenshots of each case into bench/out/.
 * time-ordered/folded also works but is not a 100k-node chart: speedscope's
 * time order of these folded lines opens ~1.8M frames.
 *
 * What is timed, in the page's own clock (performance.now(): 0 = navigation
 * start of speedscope's index.html), by a script injected before speedscope's:
 * - Every requestAnimationFrame callback is wrapped. When a callback issued
 *   WebGL draw calls (drawArrays/drawElements are counted), the wrapper reads
 *   one column of the drawing buffer back with gl.readPixels as the callback
 *   returns. readPixels cannot return before the GPU process has executed every
 *   command queued so far, so "gpuDone" is when that frame's pixels exist in
 *   the canvas (not yet composited to the screen). The column (x = 10% of the width) also
 *   tells a drawn flame graph from a clear: the first flame-graph frame is the
 *   first whose column has at least 15 non-background pixels inside the main
 *   chart (a row is ~20 px; the top row spans the whole width). Speedscope's
 *   first drawing frame paints only the minimap (the main view learns its
 *   size in that frame and draws in the next), so this is its second.
 * - loadToFirstDrawMs: navigation start -> gpuDone of that first flame-graph
 *   frame. Covers loading and evaluating speedscope's bundle, mounting the app,
 *   fetching the profile from localhost, parsing it, building the call tree,
 *   React render with the layout, and drawing (both frames).
 * - parseAndLayoutMs: the profile's last byte received (Resource Timing
 *   responseEnd) -> speedscope's first drawing frame being requested
 *   (requestAnimationFrame called once the views have rendered), i.e. parse +
 *   call-tree build + view layout and renderer setup, without the transfer
 *   and without drawing. Speedscope's own console.time('import') (fetch +
 *   parse + build) is captured too and reported in the detail, as is drawMs:
 *   first drawing frame's callback start -> first flame-graph frame's gpuDone
 *   (the minimap's frame, which draws the whole chart small and on the way
 *   uploads every rectangle batch to the GPU, then the main chart's frame).
 * - zoomRedrawMs: Ctrl+wheel zoom (2x in per step) over the main flame chart,
 *   sent as a real input event through CDP Input.dispatchMouseEvent; the figure
 *   is the first frame after the wheel event that drew, from the start of its
 *   rAF callback to its gpuDone. The wheel is 85% across and 60% down the
 *   window (in the left-heavy view the many-small-node end of the tree, left
 *   are a few heavy chains). Each step zooms one level deeper, so
 *   speedscope has to draw new rows into its row-texture atlas (its cached path
 *   is a zoom within an already drawn level, cheaper). inputToDrawMs (wheel
 *   event timeStamp -> gpuDone) is in the detail.
 *
 * WebGL: headless Chromium without a GPU runs it on SwiftShader (software
 * Vulkan under ANGLE), so GPU waits here are CPU work on the same cores as
 * the page; on a real GPU they would be far shorter. Chrome has made that
 * software fallback opt-in (--enable-unsafe-swiftshader, Chrome 139+).
 * Debian's Chromium 156 headless still gives WebGL on SwiftShader without it
 * (checked), but Playwright passes it by default and main passes it too, so
 * other builds do not silently lose WebGL. No --use-gl/--use-angle needed.
 */
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { argText, median, repoDir } from './lib';
import { bigFolded } from './fixtures/big-profile';

export interface PeerRenderResult {
  loadToFirstDrawMs: number;
  parseAndLayoutMs?: number;
  zoomRedrawMs?: number;
  notes: string[];
}

export type SpeedscopeView = 'left-heavy' | 'time-ordered';
/** `folded`: the text as given (speedscope's collapsed-stack importer); `speedscope-json`: the same merged tree as speedscope's own evented JSON, children in first-seen order. */
export type SpeedscopeFormat = 'folded' | 'speedscope-json';

export interface SpeedscopeOptions {
  view?: SpeedscopeView;
  format?: SpeedscopeFormat;
  /** Ctrl+wheel 2x zoom-in steps per run (0: no zoom figures). */
  zoomSteps?: number;
  /** Where run 1's screenshots go (first draw, after the zooms); none if unset. */
  screenshotDir?: string;
  /** Export speedscope's loaded profile (Ctrl+S) once and compare its merged tree with the folded text's. */
  verify?: boolean;
}

/** One run's figures, ms. */
export interface SpeedscopeRun {
  loadToFirstDrawMs: number;
  /** Navigation start -> speedscope starts loading the profile (bundle loaded, evaluated, app mounted). */
  appStartMs: number;
  /** Profile transfer from localhost: fetch start -> responseEnd. */
  profileFetchMs: number;
  /** speedscope's console.time('import'): fetch + parse + call-tree build. */
  importMs: number;
  /** responseEnd -> speedscope's import done (parse + build). */
  parseMs: number;
  /** import done -> first drawing frame requested (React render, layout, renderer setup). */
  layoutMs: number;
  /** responseEnd -> first drawing frame requested: parseMs + layoutMs. */
  parseAndLayoutMs: number;
  /** First drawing frame's callback start -> first flame-graph frame's gpuDone (minimap frame, then main chart frame). */
  drawMs: number;
  /** Of drawMs, the time spent waiting for the GPU after those frames' callbacks returned. */
  drawGpuWaitMs: number;
  /** Profile received (responseEnd) -> first flame-graph frame's gpuDone: everything after the bytes are in hand. */
  dataToFirstDrawMs: number;
  /** Per zoom step: the redraw frame (callback start -> gpuDone); of which the callback's own run (JS, GL calls issued); wheel event -> gpuDone. */
  zoomRedrawMs: number[];
  zoomRedrawCallbackMs: number[];
  zoomInputToDrawMs: number[];
}

export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export interface SpeedscopeDetail {
  view: SpeedscopeView;
  format: SpeedscopeFormat;
  profileBytes: number;
  /** Rectangles speedscope draws for this view (the merged tree's nodes for left-heavy). */
  rectangles: number;
  webgl: string;
  importer: string;
  /** Each figure over all runs (zoom figures: over all steps of all runs). */
  summary: Record<keyof SpeedscopeRun, Spread>;
  runs: SpeedscopeRun[];
  verification?: string;
  /** Run 1's first flame-graph frame: draw calls, and non-background pixels in the read-back column (of the canvas height). */
  firstFrame: string;
  screenshots: string[];
}

// ---------------------------------------------------------------------------
// The folded text as a tree, and as speedscope's evented JSON.

interface TreeNode {
  self: number;
  total: number;
  children: Map<string, TreeNode>;
}

function newNode(): TreeNode {
  return { self: 0, total: 0, children: new Map() };
}

/** The merged call tree of folded stacks (`a;b;c N` lines); totals filled in. */
export function foldedTree(folded: string): { root: TreeNode; nodes: number } {
  const root = newNode();
  let nodes = 0;
  for (const line of folded.split('\n')) {
    const sp = line.lastIndexOf(' ');
    if (sp <= 0) continue;
    const weight = Number(line.slice(sp + 1));
    let node = root;
    for (const name of line.slice(0, sp).split(';')) {
      let child = node.children.get(name);
      if (!child) {
        child = newNode();
        node.children.set(name, child);
        nodes++;
      }
      node = child;
    }
    node.self += weight;
  }
  const fill = (n: TreeNode): number => {
    n.total = n.self;
    for (const c of n.children.values()) n.total += fill(c);
    return n.total;
  };
  fill(root);
  return { root, nodes };
}

/** Rectangles of speedscope's time-ordered view of folded input: consecutive lines share their common prefix, everything after it opens anew. */
function chronoFrames(folded: string): number {
  let prev: string[] = [];
  let opens = 0;
  for (const line of folded.split('\n')) {
    const sp = line.lastIndexOf(' ');
    if (sp <= 0) continue;
    const stack = line.slice(0, sp).split(';');
    let common = 0;
    while (common < stack.length && common < prev.length && stack[common] === prev[common]) common++;
    opens += stack.length - common;
    prev = stack;
  }
  return opens;
}

/** The merged tree as a speedscope file (evented profile, unit none): each node opens, its children follow in first-seen order, then its self weight. */
export function speedscopeJson(root: TreeNode, name: string): string {
  const frameIndex = new Map<string, number>();
  const frames: { name: string }[] = [];
  const events: { type: 'O' | 'C'; frame: number; at: number }[] = [];
  const walk = (n: TreeNode, frameName: string, at: number): void => {
    let frame = frameIndex.get(frameName);
    if (frame === undefined) {
      frame = frames.length;
      frameIndex.set(frameName, frame);
      frames.push({ name: frameName });
    }
    events.push({ type: 'O', frame, at });
    let t = at;
    for (const [childName, c] of n.children) {
      walk(c, childName, t);
      t += c.total;
    }
    events.push({ type: 'C', frame, at: at + n.total });
  };
  let t = 0;
  for (const [childName, c] of root.children) {
    walk(c, childName, t);
    t += c.total;
  }
  return JSON.stringify({
    $schema: 'https://www.speedscope.app/file-format-schema.json',
    shared: { frames },
    profiles: [{ type: 'evented', name, unit: 'none', startValue: 0, endValue: root.total, events }],
    name,
    exporter: 'flamewatch bench/ui-speedscope',
  });
}

interface ExportedFile {
  shared: { frames: { name: string }[] };
  profiles: {
    type: string;
    startValue: number;
    endValue: number;
    events: { type: string; frame: number; at: number }[];
  }[];
}

/** The merged tree of a speedscope export (an evented profile in call order). */
function exportedTree(file: ExportedFile): { root: TreeNode; nodes: number } {
  const root = newNode();
  let nodes = 0;
  const stack: { node: TreeNode; at: number }[] = [{ node: root, at: 0 }];
  for (const p of file.profiles) {
    for (const ev of p.events) {
      if (ev.type === 'O') {
        const parent = stack[stack.length - 1].node;
        const frameName = file.shared.frames[ev.frame].name;
        let child = parent.children.get(frameName);
        if (!child) {
          child = newNode();
          parent.children.set(frameName, child);
          nodes++;
        }
        stack.push({ node: child, at: ev.at });
      } else {
        const open = stack.pop()!;
        open.node.total += ev.at - open.at;
      }
    }
    root.total += p.endValue - p.startValue;
  }
  return { root, nodes };
}

/** The first difference between two merged trees (names, totals), or null. */
function treeDiff(a: TreeNode, b: TreeNode, where = '(root)'): string | null {
  if (a.total !== b.total) return `${where}: total ${a.total} vs ${b.total}`;
  if (a.children.size !== b.children.size)
    return `${where}: ${a.children.size} vs ${b.children.size} children`;
  for (const [name, ca] of a.children) {
    const cb = b.children.get(name);
    if (!cb) return `${where}: child ${name} missing`;
    const d = treeDiff(ca, cb, `${where};${name}`);
    if (d) return d;
  }
  return null;
}

// ---------------------------------------------------------------------------
// Serving speedscope and the profile.

interface StaticServer {
  origin: string;
  close(): Promise<void>;
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.txt': 'text/plain',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
};

export function speedscopeReleaseDir(): string {
  return path.join(path.dirname(require.resolve('speedscope/package.json')), 'dist', 'release');
}

/** Speedscope's release files at /, the given profiles at /profiles/<name>, on 127.0.0.1 and an ephemeral port. */
async function serve(profiles: Map<string, Buffer>): Promise<StaticServer> {
  const dir = speedscopeReleaseDir();
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    let body: Buffer | undefined;
    let name = decodeURIComponent(url.pathname);
    if (name.startsWith('/profiles/')) {
      body = profiles.get(name.slice('/profiles/'.length));
    } else {
      name = name === '/' ? 'index.html' : path.basename(name);
      const file = path.join(dir, name);
      if (fs.existsSync(file)) body = fs.readFileSync(file);
    }
    if (!body) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, {
      'content-type': TYPES[path.extname(name)] ?? 'application/octet-stream',
      'content-length': body.length,
      'cache-control': 'no-store',
    });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

// ---------------------------------------------------------------------------
// In the page.

/** Injected before speedscope's bundle (plain JS: this project compiles without DOM types). See the top of the file. */
const INSTRUMENT = `(() => {
  const S = { frames: [], draws: 0, gl: null, times: {}, wheels: [], firstDraw: null, lastFrameEnd: 0, minPainted: 15 };
  let resolveFirst;
  S.firstDrawn = new Promise((r) => { resolveFirst = r; });
  Object.defineProperty(window, '__ssBench', { value: S });

  const count = (obj, names) => {
    for (const n of names) {
      const orig = obj[n];
      if (typeof orig !== 'function') continue;
      obj[n] = function () { S.draws++; return orig.apply(this, arguments); };
    }
  };
  count(WebGLRenderingContext.prototype, ['drawArrays', 'drawElements']);
  if (typeof WebGL2RenderingContext !== 'undefined') {
    count(WebGL2RenderingContext.prototype, ['drawArrays', 'drawElements', 'drawArraysInstanced', 'drawElementsInstanced', 'drawRangeElements']);
  }
  const getExtension = WebGLRenderingContext.prototype.getExtension;
  WebGLRenderingContext.prototype.getExtension = function (name) {
    const ext = getExtension.call(this, name);
    if (ext && name === 'ANGLE_instanced_arrays' && !ext.__ssCounted) {
      count(ext, ['drawArraysInstancedANGLE', 'drawElementsInstancedANGLE']);
      ext.__ssCounted = true;
    }
    return ext;
  };
  const getContext = HTMLCanvasElement.prototype.getContext;
  HTMLCanvasElement.prototype.getContext = function (type) {
    const ctx = getContext.apply(this, arguments);
    if (ctx && /webgl/.test(String(type))) {
      S.gl = ctx;
      const info = ctx.getExtension('WEBGL_debug_renderer_info');
      S.webgl = ctx.getParameter(ctx.VERSION) + ' / ' + (info ? ctx.getParameter(info.UNMASKED_RENDERER_WEBGL) : '?');
    }
    return ctx;
  };

  const time = console.time, timeEnd = console.timeEnd;
  console.time = function (label) { S.times[label] = { start: performance.now() }; return time.apply(this, arguments); };
  console.timeEnd = function (label) { const t = S.times[label]; if (t) t.end = performance.now(); return timeEnd.apply(this, arguments); };

  // One column of the drawing buffer (x = 10% of the width), read back; the
  // read waits for the GPU. Counts the non-background pixels in the column,
  // all of it and within the main flame chart (the biggest 2D canvas, which
  // speedscope lays over its one full-window GL canvas for the labels; the
  // other is the minimap's).
  const painted = (gl) => {
    const w = gl.drawingBufferWidth, h = gl.drawingBufferHeight;
    const fb = gl.getParameter(gl.FRAMEBUFFER_BINDING);
    if (fb) gl.bindFramebuffer(gl.FRAMEBUFFER, null);
    const px = new Uint8Array(4 * h);
    gl.readPixels(Math.floor(w * 0.1), 0, 1, h, gl.RGBA, gl.UNSIGNED_BYTE, px);
    if (fb) gl.bindFramebuffer(gl.FRAMEBUFFER, fb);
    let main = null;
    for (const c of document.querySelectorAll('canvas')) {
      if (c === gl.canvas) continue;
      const r = c.getBoundingClientRect();
      if (!main || r.width * r.height > main.width * main.height) main = r;
    }
    const scale = h / gl.canvas.getBoundingClientRect().height;
    let all = 0, inMain = 0;
    for (let i = 0; i < h; i++) {
      if (px[4 * i] >= 240 && px[4 * i + 1] >= 240 && px[4 * i + 2] >= 240) continue;
      all++;
      const y = (h - 1 - i) / scale;
      if (main && y >= main.top && y < main.bottom) inMain++;
    }
    return { all, inMain };
  };

  const raf = window.requestAnimationFrame.bind(window);
  window.requestAnimationFrame = function (cb) {
    const requested = performance.now();
    return raf(function (ts) {
      const start = performance.now();
      const d0 = S.draws;
      try {
        return cb(ts);
      } finally {
        const cbEnd = performance.now();
        const f = { requested, vsync: ts, start, cbEnd, gpuDone: cbEnd, draws: S.draws - d0, painted: -1, paintedMain: -1 };
        if (f.draws > 0 && S.gl) {
          const p = painted(S.gl);
          f.gpuDone = performance.now();
          f.painted = p.all;
          f.paintedMain = p.inMain;
        }
        S.frames.push(f);
        S.lastFrameEnd = f.gpuDone;
        if (!S.firstDraw && f.paintedMain >= S.minPainted) { S.firstDraw = f; resolveFirst(f); }
      }
    });
  };

  addEventListener('wheel', (e) => { S.wheels.push({ at: performance.now(), ts: e.timeStamp }); }, { capture: true, passive: true });
})();`;

interface Frame {
  requested: number;
  vsync: number;
  start: number;
  cbEnd: number;
  gpuDone: number;
  draws: number;
  painted: number;
  paintedMain: number;
}

interface FirstDrawState {
  firstDraw: Frame;
  /** Frames that drew, up to and including firstDraw. */
  drawing: Frame[];
  importTime: { start: number; end: number } | null;
  resource: { startTime: number; responseEnd: number } | null;
  webgl: string;
  viewport: { w: number; h: number };
}

const VIEWPORT = { width: 1280, height: 720 };

async function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>(
        (_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms)),
      ),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Waits until no animation frame has run for `quietMs` (speedscope only draws on demand). */
async function settle(page: Page, quietMs = 300): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const idle = await page.evaluate<number>('performance.now() - window.__ssBench.lastFrameEnd');
    if (idle >= quietMs) return;
    await new Promise((r) => setTimeout(r, Math.max(20, quietMs - idle)));
  }
}

interface OneRun {
  run: SpeedscopeRun;
  firstFrame: string;
  webgl: string;
  importer: string;
  screenshots: string[];
  verification?: string;
}

async function runOnce(
  browser: Browser,
  url: string,
  zoomSteps: number,
  shotPrefix: string | undefined,
  verifyAgainst: TreeNode | undefined,
): Promise<OneRun> {
  const context: BrowserContext = await browser.newContext({
    viewport: VIEWPORT,
    deviceScaleFactor: 1,
    colorScheme: 'light',
    acceptDownloads: true,
  });
  try {
    await context.addInitScript({ content: INSTRUMENT });
    const page = await context.newPage();
    const problems: string[] = [];
    const consoleLines: string[] = [];
    page.on('console', (m) => consoleLines.push(m.text()));
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('dialog', (d) => {
      problems.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    await page.goto(url, { waitUntil: 'load' });
    // Speedscope reports a bad profile with alert(); stop waiting then.
    let waiting = true;
    const drawn = page.evaluate<unknown>('window.__ssBench.firstDrawn.then(() => true)');
    drawn.catch(() => undefined); // still pending when the context closes after a failure
    const failed = (async () => {
      while (waiting && problems.length === 0) await new Promise((r) => setTimeout(r, 100));
      if (waiting) throw new Error(problems.join('; '));
    })();
    try {
      await withTimeout(Promise.race([drawn, failed]), 180_000, 'speedscope first flame-graph frame');
    } finally {
      waiting = false;
    }
    const state = await page.evaluate<FirstDrawState>(`(() => {
      const S = window.__ssBench;
      const res = performance.getEntriesByType('resource').find((e) => e.name.includes('/profiles/'));
      return {
        firstDraw: S.firstDraw,
        drawing: S.frames.filter((f) => f.draws > 0 && f.start <= S.firstDraw.start),
        importTime: S.times.import && S.times.import.end !== undefined ? S.times.import : null,
        resource: res ? { startTime: res.startTime, responseEnd: res.responseEnd } : null,
        webgl: S.webgl || '',
        viewport: { w: innerWidth, h: innerHeight },
      };
    })()`);
    if (!state.importTime || !state.resource)
      throw new Error(
        `speedscope's import timer or the profile's resource timing is missing: ${JSON.stringify(state)}`,
      );
    const f = state.firstDraw;
    const f0 = state.drawing[0];
    const run: SpeedscopeRun = {
      loadToFirstDrawMs: f.gpuDone,
      appStartMs: state.importTime.start,
      profileFetchMs: state.resource.responseEnd - state.resource.startTime,
      importMs: state.importTime.end - state.importTime.start,
      parseMs: state.importTime.end - state.resource.responseEnd,
      layoutMs: f0.requested - state.importTime.end,
      parseAndLayoutMs: f0.requested - state.resource.responseEnd,
      drawMs: f.gpuDone - f0.start,
      drawGpuWaitMs: state.drawing.reduce((t, d) => t + d.gpuDone - d.cbEnd, 0),
      dataToFirstDrawMs: f.gpuDone - state.resource.responseEnd,
      zoomRedrawMs: [],
      zoomRedrawCallbackMs: [],
      zoomInputToDrawMs: [],
    };
    const screenshots: string[] = [];
    await settle(page);
    if (shotPrefix) {
      screenshots.push(`${shotPrefix}-first.png`);
      await page.screenshot({ path: screenshots[screenshots.length - 1] });
    }

    // Zoom: Ctrl+wheel over the main flame chart (below the toolbar and minimap), 2x in per step,
    // 85% across: in the left-heavy view the light, many-node end of the tree (left are a few heavy chains).
    if (zoomSteps > 0) {
      const cdp = await context.newCDPSession(page);
      const x = Math.round(state.viewport.w * 0.85);
      const y = Math.round(state.viewport.h * 0.6);
      for (let step = 0; step < zoomSteps; step++) {
        await settle(page);
        const before = await page.evaluate<number>('window.__ssBench.wheels.length');
        // modifiers 2 = Ctrl; speedscope zooms by 1 + deltaY / 40 with Ctrl held, so -20 is 0.5x the visible range.
        await cdp.send('Input.dispatchMouseEvent', {
          type: 'mouseWheel',
          x,
          y,
          deltaX: 0,
          deltaY: -20,
          modifiers: 2,
        });
        await settle(page);
        const z = await page.evaluate<{
          wheel: { at: number; ts: number } | undefined;
          frame: Frame | undefined;
        }>(`(() => {
          const S = window.__ssBench;
          const wheel = S.wheels[${before}];
          return { wheel, frame: wheel && S.frames.find((f) => f.start >= wheel.at && f.draws > 0) };
        })()`);
        if (!z.wheel || !z.frame)
          throw new Error(
            `zoom step ${step + 1}: ${z.wheel ? 'no frame drew after the wheel event' : 'the wheel event did not reach the page'}`,
          );
        run.zoomRedrawMs.push(z.frame.gpuDone - z.frame.start);
        run.zoomRedrawCallbackMs.push(z.frame.cbEnd - z.frame.start);
        run.zoomInputToDrawMs.push(z.frame.gpuDone - z.wheel.ts);
      }
      await cdp.detach();
      if (shotPrefix) {
        screenshots.push(`${shotPrefix}-zoomed.png`);
        await page.screenshot({ path: screenshots[screenshots.length - 1] });
      }
    }

    let verification: string | undefined;
    if (verifyAgainst) {
      // Ctrl+S exports what speedscope holds (its call-order tree) as a speedscope file.
      const [download] = await Promise.all([
        page.waitForEvent('download', { timeout: 180_000 }),
        page.keyboard.press('Control+s'),
      ]);
      const file = JSON.parse(fs.readFileSync(await download.path(), 'utf8')) as ExportedFile;
      const exported = exportedTree(file);
      const diff = treeDiff(verifyAgainst, exported.root);
      if (diff) throw new Error(`speedscope's loaded profile differs from the folded text: ${diff}`);
      verification = `speedscope's export (Ctrl+S) merges to the folded text's tree: ${exported.nodes} nodes, total weight ${exported.root.total}, every node's total equal`;
    }
    if (problems.length) throw new Error(problems.join('; '));
    const importer = consoleLines.find((l) => l.startsWith('Importing as')) ?? '?';
    const firstFrame =
      `${f.draws} draw calls; ${f.painted} of the ${state.viewport.h} pixels in the read-back column are not background, ${f.paintedMain} of them in the main chart; ` +
      `before it ${state.drawing.length - 1} frame(s) drew: ${state.drawing
        .slice(0, -1)
        .map((d) => `${d.draws} draw calls, ${d.painted} pixels, ${d.paintedMain} in the main chart`)
        .join('; ')}`;
    return { run, firstFrame, webgl: state.webgl, importer, screenshots, verification };
  } finally {
    await context.close();
  }
}

function spread(xs: number[]): Spread {
  return { median: median(xs), min: Math.min(...xs), max: Math.max(...xs), n: xs.length };
}

/** Every run's figures and their medians/ranges, for one view and profile format. */
export async function measureSpeedscopeDetailed(
  browser: Browser,
  foldedText: string,
  runs = 5,
  options: SpeedscopeOptions = {},
): Promise<SpeedscopeDetail> {
  const view = options.view ?? 'left-heavy';
  const format = options.format ?? 'folded';
  const zoomSteps = options.zoomSteps ?? 5;
  const tree = foldedTree(foldedText);
  // Speedscope picks its importer by file name first: *.collapsedstack.txt and *.speedscope.json.
  const name = format === 'folded' ? 'profile.collapsedstack.txt' : 'profile.speedscope.json';
  const body = Buffer.from(format === 'folded' ? foldedText : speedscopeJson(tree.root, 'profile'));
  const rectangles = view === 'time-ordered' && format === 'folded' ? chronoFrames(foldedText) : tree.nodes;
  const server = await serve(new Map([[name, body]]));
  try {
    const url = `${server.origin}/index.html#profileURL=${encodeURIComponent(`${server.origin}/profiles/${name}`)}&title=bench&view=${view}`;
    if (options.screenshotDir) fs.mkdirSync(options.screenshotDir, { recursive: true });
    const done: OneRun[] = [];
    for (let i = 0; i < runs; i++) {
      const shot =
        i === 0 && options.screenshotDir
          ? path.join(options.screenshotDir, `speedscope-${view}-${format}`)
          : undefined;
      done.push(
        await runOnce(browser, url, zoomSteps, shot, i === 0 && options.verify ? tree.root : undefined),
      );
    }
    const all = done.map((d) => d.run);
    const keys = Object.keys(all[0]) as (keyof SpeedscopeRun)[];
    const summary = Object.fromEntries(
      keys.map((k) => [k, spread(all.flatMap((r) => r[k]))]),
    ) as SpeedscopeDetail['summary'];
    return {
      view,
      format,
      profileBytes: body.length,
      rectangles,
      webgl: done[0].webgl,
      importer: done[0].importer,
      summary,
      runs: all,
      verification: done[0].verification,
      firstFrame: done[0].firstFrame,
      screenshots: done.flatMap((d) => d.screenshots),
    };
  } finally {
    await server.close();
  }
}

function describe(d: SpeedscopeDetail): string[] {
  const s = d.summary;
  const r = (x: Spread) => `${x.median.toFixed(0)} ms (${x.min.toFixed(0)}-${x.max.toFixed(0)}, n=${x.n})`;
  return [
    `speedscope ${require('speedscope/package.json').version}, ${d.view} view, ${d.format} input (${(d.profileBytes / 1e6).toFixed(1)} MB, ${d.importer.replace(/^Importing as /, '')}), ${d.rectangles} rectangles, WebGL: ${d.webgl}`,
    `loadToFirstDrawMs: navigation start -> first flame-graph frame's pixels in the canvas (GPU synced by readPixels): ${r(s.loadToFirstDrawMs)}`,
    `  of which app start ${r(s.appStartMs)}, profile fetch ${r(s.profileFetchMs)}, parse ${r(s.parseMs)}, layout ${r(s.layoutMs)}, drawing (minimap frame, then main chart frame) ${r(s.drawMs)} (of which GPU wait ${r(s.drawGpuWaitMs)}); speedscope's own 'import' timer ${r(s.importMs)}`,
    `parseAndLayoutMs: profile received -> first drawing frame requested: ${r(s.parseAndLayoutMs)}; profile received -> flame graph drawn ${r(s.dataToFirstDrawMs)}`,
    s.zoomRedrawMs.n
      ? `zoomRedrawMs: Ctrl+wheel 2x zoom-in, the redraw frame (rAF callback start -> GPU done), each step a new zoom level: ${r(s.zoomRedrawMs)} (rAF callback alone ${r(s.zoomRedrawCallbackMs)}); wheel event -> redraw done ${r(s.zoomInputToDrawMs)}`
      : 'no zoom figures',
    `first flame-graph frame (run 1): ${d.firstFrame}`,
    ...(d.verification ? [d.verification] : []),
  ];
}

/** Speedscope's medians over `runs` fresh loads of `foldedText` (left-heavy view, folded input unless options say otherwise), with what each covers in `notes`. */
export async function measureSpeedscope(
  browser: Browser,
  foldedText: string,
  runs = 5,
  options: SpeedscopeOptions = {},
): Promise<PeerRenderResult> {
  const d = await measureSpeedscopeDetailed(browser, foldedText, runs, options);
  return {
    loadToFirstDrawMs: d.summary.loadToFirstDrawMs.median,
    parseAndLayoutMs: d.summary.parseAndLayoutMs.median,
    zoomRedrawMs: d.summary.zoomRedrawMs.n ? d.summary.zoomRedrawMs.median : undefined,
    notes: describe(d),
  };
}

async function main(): Promise<void> {
  const { chromium } = await import('playwright-core');
  const nodes = Number(argText('nodes', '100000'));
  const runs = Number(argText('runs', '5'));
  const zoomSteps = Number(argText('zooms', '5'));
  const cases = argText('cases', 'left-heavy/folded,left-heavy/speedscope-json,time-ordered/speedscope-json')
    .split(',')
    .map((c) => c.split('/') as [SpeedscopeView, SpeedscopeFormat]);
  const folded = bigFolded(nodes);
  // Playwright passes --enable-unsafe-swiftshader already; named here because WebGL in headless Chromium without a GPU depends on it.
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM ?? '/usr/bin/chromium',
    args: ['--enable-unsafe-swiftshader'],
  });
  try {
    const results: SpeedscopeDetail[] = [];
    for (const [view, format] of cases) {
      const d = await measureSpeedscopeDetailed(browser, folded, runs, {
        view,
        format,
        zoomSteps,
        screenshotDir: path.join(repoDir, 'bench', 'out'),
        verify: true,
      });
      for (const line of describe(d)) console.error(line);
      results.push(d);
    }
    console.log(
      JSON.stringify({ nodes, runs, browser: browser.version(), viewport: VIEWPORT, results }, null, 2),
    );
  } finally {
    await browser.close();
  }
}

if (require.main === module) {
  main().catch((e: unknown) => {
    console.error(e);
    process.exit(1);
  });
}
