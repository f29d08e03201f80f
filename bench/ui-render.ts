/**
 * The UI on a 100,000-node flame graph and a 100,000-node diff, in headless
 * Chromium on this machine, beside speedscope's own app drawing the same
 * profile in the same run; plus the server's payloads (time, raw and gzip size).
 *
 *   npm run build && node dist/bench/ui-render.js [--nodes 100000] [--runs 5]
 *
 * What each figure covers:
 *   server ms       GET /api/v1/flamegraph (or /diff) with every node, gzip on, median
 *   first draw      in the page, from the answer's bytes in hand: JSON.parse + model build + the first canvas draw
 *   nav → drawn     from navigation start to that first draw (includes the requests and the page's own startup)
 *   zoom redraw     FlameGraph.draw() after a zoom into a node (and back out to the whole graph): the main-thread work of a frame;
 *                   "flushed" adds a 1-pixel read-back, which makes the browser rasterise the frame (speedscope's figures
 *                   likewise wait for its WebGL frame with readPixels)
 */
import type { Browser, Page } from 'playwright-core';
import * as zlib from 'node:zlib';
import { bigFolded } from './fixtures/big-profile';
import { arg, median, percentile, request, startServer } from './lib';
import { launchBrowser } from '../test/helpers/browser';
import { measureSpeedscope } from './ui-speedscope';

const NODES = arg('nodes', 100_000);
const RUNS = arg('runs', 5);

/** Pushes folded text in pieces under the body limit (the merged tree is the same). */
async function pushFolded(url: string, name: string, folded: string, from: number): Promise<void> {
  const lines = folded.trimEnd().split('\n');
  let piece: string[] = [];
  let size = 0;
  const flush = async () => {
    if (!piece.length) return;
    const res = await request(
      `${url}/ingest?name=${encodeURIComponent(name)}&from=${from}&until=${from + 10}&units=samples`,
      'POST',
      Buffer.from(piece.join('\n') + '\n'),
    );
    if (res.status !== 200)
      throw new Error(`ingest ${name}: ${res.status} ${res.body.toString().slice(0, 200)}`);
    piece = [];
    size = 0;
  };
  for (const line of lines) {
    piece.push(line);
    size += line.length + 1;
    if (size > 8 << 20) await flush();
  }
  await flush();
}

/** Server time and payload sizes of one query endpoint. */
async function payload(url: string): Promise<{ serverMs: number; rawBytes: number; gzipBytes: number }> {
  const times: number[] = [];
  let gzipBytes = 0;
  let rawBytes = 0;
  for (let i = 0; i < RUNS; i++) {
    const t = performance.now();
    const res = await request(url, 'GET', undefined, { 'accept-encoding': 'gzip' });
    times.push(performance.now() - t);
    if (res.status !== 200) throw new Error(`${url}: ${res.status} ${res.body.toString().slice(0, 200)}`);
    gzipBytes = res.body.length;
    rawBytes = zlib.gunzipSync(res.body).length;
  }
  return { serverMs: median(times), rawBytes, gzipBytes };
}

interface PageRun {
  parseMs: number;
  buildMs: number;
  drawMs: number;
  firstDrawMs: number;
  navToDrawnMs: number;
  nodes: number;
  zoomIn: number[];
  zoomOut: number[];
  zoomInFlushed: number[];
  zoomOutFlushed: number[];
}

async function measurePage(browser: Browser, url: string, view: 'explore' | 'compare'): Promise<PageRun> {
  const page: Page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  await page.goto(url);
  // A function, not a string: Playwright evals string predicates in the page, which the UI's CSP refuses.
  await page.waitForFunction(
    (v) => {
      const fw = (globalThis as unknown as { __flamewatch?: { timings: Record<string, unknown> } })
        .__flamewatch;
      return fw !== undefined && fw.timings[v] !== undefined;
    },
    view,
    { timeout: 120_000, polling: 50 },
  );
  const t = (await page.evaluate(`window.__flamewatch.timings.${view}`)) as {
    parseMs: number;
    buildMs: number;
    drawMs: number;
    at: number;
    nodes: number;
  };
  // Zoom into the 12 widest nodes at depths 2-8 and back out, timing each redraw.
  const zoom = (await page.evaluate(`(() => {
    const g = window.__flamewatch.${view}.graph; const m = g.model; const picks = [];
    for (let d = 2; d <= 8 && d < m.levelStart.length - 1; d++)
      for (let n = m.levelStart[d]; n < m.levelStart[d + 1]; n++) picks.push(n);
    picks.sort((a, b) => m.w[b] - m.w[a]);
    // Reading one pixel back makes the browser rasterise what draw() recorded: the "flushed" figures include it.
    const ctx = g.canvas.getContext('2d');
    const flushed = (n) => { const t = performance.now(); g.zoomTo(n, false); ctx.getImageData(0, 0, 1, 1); return performance.now() - t; };
    const zoomIn = [], zoomOut = [], zoomInFlushed = [], zoomOutFlushed = [];
    for (const n of picks.slice(0, 12)) {
      g.zoomTo(n, false); zoomIn.push(g.lastDrawMs);
      g.zoomTo(0, false); zoomOut.push(g.lastDrawMs);
      zoomInFlushed.push(flushed(n));
      zoomOutFlushed.push(flushed(0));
    }
    return { zoomIn, zoomOut, zoomInFlushed, zoomOutFlushed };
  })()`)) as { zoomIn: number[]; zoomOut: number[]; zoomInFlushed: number[]; zoomOutFlushed: number[] };
  await page.close();
  if (errors.length) throw new Error(`page errors: ${errors.join('; ')}`);
  return {
    parseMs: t.parseMs,
    buildMs: t.buildMs,
    drawMs: t.drawMs,
    firstDrawMs: t.parseMs + t.buildMs + t.drawMs,
    navToDrawnMs: t.at,
    nodes: t.nodes,
    ...zoom,
  };
}

function summarise(runs: PageRun[]) {
  const all = (f: (r: PageRun) => number[]) => runs.flatMap(f);
  const r1 = (x: number) => Math.round(x * 10) / 10;
  return {
    nodes: runs[0].nodes,
    firstDrawMs: r1(median(runs.map((r) => r.firstDrawMs))),
    firstDrawRange: [
      r1(Math.min(...runs.map((r) => r.firstDrawMs))),
      r1(Math.max(...runs.map((r) => r.firstDrawMs))),
    ],
    parseMs: r1(median(runs.map((r) => r.parseMs))),
    buildMs: r1(median(runs.map((r) => r.buildMs))),
    drawMs: r1(median(runs.map((r) => r.drawMs))),
    navToDrawnMs: r1(median(runs.map((r) => r.navToDrawnMs))),
    zoomInMs: {
      median: r1(median(all((r) => r.zoomIn))),
      p95: r1(
        percentile(
          all((r) => r.zoomIn),
          95,
        ),
      ),
    },
    zoomOutMs: {
      median: r1(median(all((r) => r.zoomOut))),
      p95: r1(
        percentile(
          all((r) => r.zoomOut),
          95,
        ),
      ),
    },
    zoomInFlushedMs: {
      median: r1(median(all((r) => r.zoomInFlushed))),
      p95: r1(
        percentile(
          all((r) => r.zoomInFlushed),
          95,
        ),
      ),
    },
    zoomOutFlushedMs: {
      median: r1(median(all((r) => r.zoomOutFlushed))),
      p95: r1(
        percentile(
          all((r) => r.zoomOutFlushed),
          95,
        ),
      ),
    },
  };
}

async function main(): Promise<void> {
  const server = await startServer();
  const browser = await launchBrowser();
  try {
    const now = Math.floor(Date.now() / 1000) - 120;
    const a = bigFolded(NODES, 1);
    await pushFolded(server.url, 'big.cpu{version=a}', a, now);
    await pushFolded(server.url, 'big.cpu{version=b}', bigFolded(NODES, 1, 2), now + 20);
    // Let the group commit land before measuring.
    await new Promise((r) => setTimeout(r, 1500));

    const q = (s: string) => encodeURIComponent(s);
    const range = `from=now-1h&until=now`;
    const flameUrl = `${server.url}/api/v1/flamegraph?query=${q('{service_name="big",version="a"}')}&type=cpu:samples&${range}&maxNodes=0`;
    const diffUrl =
      `${server.url}/api/v1/diff?type=cpu:samples&leftQuery=${q('{service_name="big",version="a"}')}&rightQuery=${q('{service_name="big",version="b"}')}` +
      `&leftFrom=now-1h&leftUntil=now&rightFrom=now-1h&rightUntil=now&maxNodes=0&limit=500`;
    const flamePayload = await payload(flameUrl);
    const diffPayload = await payload(diffUrl);

    const explore = `${server.url}/?service=big&type=cpu%3Asamples&labels=${q('version="a"')}&tab=flame&maxNodes=1000000`;
    const compare = `${server.url}/?view=compare&service=big&type=cpu%3Asamples&left=${q('version="a"')}&right=${q('version="b"')}&maxNodes=1000000`;
    const ours: PageRun[] = [];
    const oursDiff: PageRun[] = [];
    for (let i = 0; i < RUNS; i++) {
      ours.push(await measurePage(browser, explore, 'explore'));
      oursDiff.push(await measurePage(browser, compare, 'compare'));
    }
    // Speedscope gets the same merged tree as its own JSON (its fairer input: our UI also receives a compact tree).
    const peer = await measureSpeedscope(browser, a, RUNS, { format: 'speedscope-json', view: 'left-heavy' });
    const flame = summarise(ours);
    const diff = summarise(oursDiff);
    const result = {
      nodes: NODES,
      runs: RUNS,
      payload: { flamegraph: flamePayload, diff: diffPayload },
      flamewatch: { flamegraph: flame, diff },
      speedscope: peer,
      // Speedscope's figures wait for its pixels (readPixels): compare with our flushed redraws.
      ratios: {
        navToDrawn:
          peer.loadToFirstDrawMs && flame.navToDrawnMs
            ? Math.round((peer.loadToFirstDrawMs / flame.navToDrawnMs) * 100) / 100
            : undefined,
        zoomRedraw:
          peer.zoomRedrawMs && flame.zoomInFlushedMs.median
            ? Math.round((peer.zoomRedrawMs / flame.zoomInFlushedMs.median) * 10) / 10
            : undefined,
      },
    };
    console.log(JSON.stringify(result, null, 2));
  } finally {
    await browser.close();
    await server.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
