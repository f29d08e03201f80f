/**
 * The real two-build scenario, end to end with nothing pressed: a real Node.js
 * program profiled by the real agent runs as version 1, then as version 2
 * where matchOrders does twice the work. The scheduled sweep notices the new
 * version, the detector compares it with the previous one, and the regression
 * shows in the API, in the UI and at the webhooks, naming matchOrders and
 * nothing else. The two builds are also labelled as a main-branch run and a
 * pull request's run: the server's pull-request job comments the PR on a
 * GitHub stand-in, naming matchOrders.
 */
import { spawn } from 'node:child_process';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as path from 'node:path';
import type { Browser } from 'playwright-core';
import { createJobRunner } from '../jobs/runner';
import { lateQueue, processors, scheduleSweep } from '../jobs/processors';
import { launchBrowser, newPage, screenshot } from './helpers/browser';
import { startFakeGitHub, type FakeGitHub } from './helpers/github';
import { startRedis, type RedisServer } from './helpers/redis';
import { startServer, type TestServer } from './helpers/server';

interface Reg { id: string; function: string; measure: string; type: string; kind: string; relative: number; status: string; view: Record<string, string> }

let server: TestServer;
let hooks: http.Server;
let redis: RedisServer | undefined;
let received: { path: string; body: Record<string, unknown> }[] = [];
let slackFailures = 0;
let github: FakeGitHub;

// The same scenario on both job backends: in-process, and BullMQ on a real redis-server.
describe.each(['in-process', 'bullmq'] as const)('on the %s job runner', (transport) => {
beforeAll(async () => {
  received = [];
  slackFailures = 0;
  if (transport === 'bullmq') redis = await startRedis();
  github = await startFakeGitHub();
  hooks = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c));
    req.on('end', () => {
      // The Slack endpoint fails its first delivery: the webhook job must retry.
      if (req.url === '/slack' && slackFailures++ === 0) {
        res.statusCode = 503;
        res.end('busy');
        return;
      }
      received.push({ path: req.url ?? '', body: JSON.parse(body) as Record<string, unknown> });
      res.end('ok');
    });
  });
  await new Promise<void>((r) => hooks.listen(0, '127.0.0.1', r));
  const hookUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}`;
  server = await startServer({ pullRequestDelayMs: 2000 }, async (store, url) => {
    const queue = lateQueue();
    const runner = createJobRunner({
      ...(transport === 'bullmq' ? { redisUrl: redis!.url, role: 'all' as const, prefix: `e2e${process.pid}` } : {}),
      processors: processors({
        store, log: () => undefined, queue, publicUrl: url, sweepEveryMs: 1000,
        webhooks: [{ url: `${hookUrl}/generic`, format: 'json' }, { url: `${hookUrl}/slack`, format: 'slack' }],
        github: { token: 'server-token', apiUrl: github.url },
      }),
      backoffMs: 200,
      log: () => undefined,
    });
    queue.bind(runner);
    await scheduleSweep(runner, 1000);
    return runner;
  });
}, 60_000);

afterAll(async () => {
  await server?.close();
  await new Promise((r) => hooks?.close(r));
  await redis?.kill();
  redis = undefined;
  await github?.close();
});

function runBuild(version: string, slow: number, seconds: number, labels: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // Without inlining, each build attributes time to the same functions: V8 inlines differently from run to
    // run, which moves self time between a function and its caller and would be a real (if JIT-made) difference.
    const child = spawn(process.execPath, ['--no-turbo-inlining', path.join(__dirname, 'fixtures', 'two-builds.js')], {
      env: {
        ...process.env, FLAMEWATCH_SERVER: server.url, FLAMEWATCH_SERVICE: 'orders', FLAMEWATCH_LABELS: `version=${version},${labels}`,
        FLAMEWATCH_INTERVAL: '1', FLAMEWATCH_HEAP: 'false', SLOW_FACTOR: String(slow), RUN_SECONDS: String(seconds),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c));
    child.stderr.on('data', (c: Buffer) => (err += c));
    child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`build ${version} exited ${code}: ${err}`))));
  });
}

async function regressions(): Promise<Reg[]> {
  const res = await fetch(`${server.url}/api/v1/regressions?status=open`);
  return (await res.json()) as Reg[];
}

test('a slower function in a new version is flagged on its own: API, webhooks and UI name it and nothing else', async () => {
  // 12 one-second profiles a version: the sweep compares at 5 and again at 8 profiles of the new version (its count doubling).
  const settings = await fetch(`${server.url}/api/v1/baselines?service=orders`, {
    method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ pullRequests: { repository: 'acme/orders' } }),
  });
  expect(settings.status).toBe(200);
  await runBuild('1', 1, 12, `branch=main,commit=${'1'.repeat(40)}`);
  await runBuild('2', 2, 12, `branch=faster-orders,commit=${'2'.repeat(40)},pr=7`);
  let found: Reg[] = [];
  // The sweep compares every profile type (wall, cpu, sample) of the service; wait for wall time and CPU time to show it.
  for (let i = 0; i < 80 && !(found.some((r) => r.type === 'cpu') && found.some((r) => r.type === 'wall')); i++) {
    await new Promise((r) => setTimeout(r, 500));
    found = await regressions();
  }
  // Let the sweep's other comparisons finish too, then look at everything found.
  await new Promise((r) => setTimeout(r, 3000));
  found = await regressions();
  if (!found.some((r) => r.type === 'cpu')) {
    // Say why: the queue's state and what the detector answers for the two versions now.
    const jobs = await (await fetch(`${server.url}/api/v1/jobs`)).json();
    const types = await (await fetch(`${server.url}/api/v1/profile-types?service=orders`)).json();
    const cmp = (await (await fetch(`${server.url}/api/v1/compare?type=cpu&leftQuery=${encodeURIComponent('orders{version="1"}')}&rightQuery=${encodeURIComponent('orders{version="2"}')}&leftFrom=now-1h&rightFrom=now-1h`)).json()) as Record<string, unknown>;
    const brief = (f: Record<string, unknown>) => `${String(f.function)}/${String(f.measure)} ${String(f.baseline)}→${String(f.candidate)} q=${String(f.q)}`;
    console.log(JSON.stringify({ jobs, types, verdict: cmp.verdict, n: [cmp.baseline, cmp.candidate],
      regressions: (cmp.regressions as Record<string, unknown>[]).map(brief), inconclusive: (cmp.inconclusive as Record<string, unknown>[]).map(brief), found: found.map((r) => `${r.type}/${r.function}/${r.measure}`) }, null, 1).slice(0, 6000));
  }
  expect(found.length).toBeGreaterThan(0);
  // The total per instance-second (measure rate, no function) is the CPU the machine gave each build: on a busy
  // CI machine it differs between two runs for reasons outside the program, so only functions are checked here.
  const fns = found.filter((r) => r.measure !== 'rate');
  expect([...new Set(fns.map((r) => r.function))]).toEqual(['matchOrders']);
  for (const r of fns) {
    expect(r.kind).toBe('version');
    expect(r.relative).toBeGreaterThan(0.1);
    expect(r.view).toMatchObject({ view: 'compare', service: 'orders', left: 'version="1"', right: 'version="2"', search: 'matchOrders' });
  }
  // Wall time always shows it; CPU time too on a quiet machine (on a saturated one the scheduler's noise can leave
  // the CPU comparison inconclusive at 12 profiles, which is the detector being honest, not a miss).
  expect(fns.some((r) => r.type === 'wall' || r.type === 'cpu')).toBe(true);

  // Each new regression went to both webhooks: generic JSON and Slack's shape.
  for (let i = 0; i < 40 && received.length < 2 * found.length; i++) await new Promise((r) => setTimeout(r, 250));
  const generic = received.filter((h) => h.path === '/generic');
  const slack = received.filter((h) => h.path === '/slack');
  expect(generic.length).toBe(found.length);
  expect(slack.length).toBe(found.length);
  expect(generic.some((g) => (g.body.regression as Reg).function === 'matchOrders')).toBe(true);
  expect(String(generic[0].body.link)).toContain(`${server.url}/?view=compare`);
  expect(slack.some((h) => String(h.body.text).includes('matchOrders'))).toBe(true);
  expect(slackFailures).toBe(found.length + 1); // one refused, then each delivered

  // The server's pull-request job commented PR 7 once, naming matchOrders (its last run sees the whole build).
  let comments = github.comments.get(7) ?? [];
  for (let i = 0; i < 60 && !(comments.length > 0 && /🔴 \*\*Regression\*\*: 1 function slower, worst matchOrders/.test(comments[0].body)); i++) {
    await new Promise((r) => setTimeout(r, 500));
    comments = github.comments.get(7) ?? [];
  }
  expect(comments).toHaveLength(1);
  expect(comments[0].body).toMatch(/🔴 \*\*Regression\*\*: 1 function slower, worst matchOrders/);
  expect(comments[0].body).toContain('PR #7 at 222222222222');

  // The UI lists it; its detail page opens the diff of exactly the two versions.
  const browser: Browser = await launchBrowser();
  try {
    const errors: string[] = [];
    const page = await newPage(browser, errors);
    await page.goto(`${server.url}/?view=regressions`);
    await page.waitForSelector('.regressions table.data tbody tr');
    const rows = await page.locator('.regressions tbody tr').allTextContents();
    expect(rows.every((r) => r.includes('matchOrders') || r.includes('total per instance-second'))).toBe(true);
    await screenshot(page, 'regressions-list');
    await page.locator('.regressions tbody tr', { hasText: 'matchOrders' }).first().click();
    await page.waitForSelector('.regression-title');
    expect(await page.locator('.regression-title').textContent()).toBe('matchOrders');
    await screenshot(page, 'regression-detail');
    await page.locator('a.button.primary').click();
    await page.waitForFunction(`window.__flamewatch.timings && window.__flamewatch.timings.compare !== undefined`, undefined, { timeout: 20_000 });
    const url = new URL(page.url());
    expect(url.searchParams.get('left')).toBe('version="1"');
    expect(url.searchParams.get('right')).toBe('version="2"');
    const top = await page.locator('.compare .table-box tbody tr td.name').allTextContents();
    expect(top).toContain('matchOrders');
    await screenshot(page, 'regression-diff');
    expect(errors).toEqual([]);
  } finally {
    await browser.close();
  }
}, 120_000);
});
