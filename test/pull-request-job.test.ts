/**
 * The server-side PR bot: profiles labelled `pr=<n>` start a `pull-request`
 * job that compares the PR's newest commit with the main branch's newest runs
 * (up to 5 commits, each run its own process) and keeps one comment (and a
 * commit status) on the PR up to date, with no CI step. The process is the
 * detector's unit of replication: a PR run from one process is judged against
 * the spread between main's runs (five runs: decided; one run: inconclusive,
 * status pending). Against a local GitHub stand-in; pushed folded profiles.
 */
import { createJobRunner, type JobRunner } from '../jobs/runner';
import { lateQueue, processors } from '../jobs/processors';
import { startFakeGitHub, type FakeGitHub } from './helpers/github';
import { getJson, ingest, startServer, type TestServer } from './helpers/server';
import { requestPathFolded } from './helpers/synthetic-profiles';

let server: TestServer;
let github: FakeGitHub;
let runner: JobRunner;
const MAIN = 'a'.repeat(40);
const HEAD = 'b'.repeat(40);
/** Main's five newest runs, one commit (one process) each. */
const MAIN_RUNS = ['1', '2', '3', '4', '5'].map((c) => c.repeat(40));

beforeAll(async () => {
  github = await startFakeGitHub();
  server = await startServer({ pullRequestDelayMs: 1000 }, async (store, url) => {
    const queue = lateQueue();
    runner = createJobRunner({
      processors: processors({
        store,
        log: () => undefined,
        queue,
        publicUrl: url,
        github: { token: 'server-token', apiUrl: github.url, repositories: ['acme/*'] },
        githubOptions: { maxWaitSeconds: 2 },
      }),
      backoffMs: 100,
      log: () => undefined,
    });
    queue.bind(runner);
    return runner;
  });
}, 60_000);
afterAll(async () => {
  await server?.close();
  await github?.close();
});

async function push(
  app: string,
  labels: Record<string, string>,
  i: number,
  slow: number,
  headers: Record<string, string> = {},
): Promise<void> {
  const t = Math.floor(Date.now() / 1000) - 600 + i;
  const name = `${app}{${Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',')}}`;
  const res = await ingest(
    server.url,
    { name, from: String(t), until: String(t + 10), units: 'samples' },
    requestPathFolded(i + (slow === 1 ? 0 : 500), slow),
    headers,
  );
  expect(res.status).toBe(200);
}

async function settings(
  service: string,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<Response> {
  return fetch(`${server.url}/api/v1/baselines?service=${service}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify(body),
  });
}

async function waitFor<T>(what: () => T | Promise<T>, ok: (v: T) => boolean, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  let v = await what();
  while (!ok(v) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 200));
    v = await what();
  }
  return v;
}

const commentsOn = (pr: number) => github.comments.get(pr) ?? [];

/** Main's runs: `perRun` profiles of each commit of MAIN_RUNS, oldest first, from i = `from` on. */
async function mainRuns(app: string, from: number, perRun: number): Promise<void> {
  for (const [r, commit] of MAIN_RUNS.entries()) {
    for (let k = 0; k < perRun; k++) await push(app, { branch: 'main', commit }, from + r * perRun + k, 1);
  }
}

/** The PR's run from processes (instances) `instances`, `perInstance` profiles each, from i = `from` on. */
async function prRun(
  app: string,
  pr: string,
  instances: string[],
  from: number,
  perInstance: number,
  slow: number,
  branch = 'feature',
): Promise<void> {
  for (const [j, instance] of instances.entries()) {
    for (let k = 0; k < perInstance; k++)
      await push(app, { branch, commit: HEAD, pr, instance }, from + j * perInstance + k, slow);
  }
}

test("a PR run is compared with main's newest runs and commented once, updated as the run goes on, with a status", async () => {
  expect((await settings('shop', { pullRequests: { repository: 'acme/shop', status: true } })).status).toBe(
    200,
  );
  // An older main run (much slower) that five newer runs supersede: the baseline is main's five newest runs.
  for (let i = 0; i < 8; i++) await push('shop.cpu', { branch: 'main', commit: 'c'.repeat(40) }, i, 3);
  await mainRuns('shop.cpu', 10, 6);
  // The PR's run from one process, db.query 1.5x: judged against the spread between main's five runs, it is decided.
  await prRun('shop.cpu', '42', ['p0'], 50, 8, 1.5);

  const [first] = await waitFor(
    () => commentsOn(42),
    (c) => c.length > 0 && c[0].body.includes('(8 profiles from 1 process)'),
  );
  expect(first.body).toContain('<!-- flamewatch:server');
  expect(first.body).toContain('PR #42 at bbbbbbbbbbbb');
  expect(first.body).toContain('(30 profiles from 5 processes)');
  expect(first.body).toMatch(/🔴 \*\*Regression\*\*: 1 function slower, worst db\.query/);

  // Two more processes of the PR's run: the same comment follows the run, and the status fails.
  await prRun('shop.cpu', '42', ['p1', 'p2'], 60, 5, 1.5);
  await waitFor(
    () => commentsOn(42),
    (c) => c.some((x) => x.body.includes('(18 profiles from 3 processes)')),
  );
  expect(commentsOn(42)).toHaveLength(1);
  const [comment] = commentsOn(42);
  expect(comment.body).toContain('🔴 **Regression**');
  expect(comment.body).toContain('PR #42 at bbbbbbbbbbbb');
  expect(comment.body).toContain(
    'PR `{service_name="shop",pr="42",commit="' + HEAD + '"}` (18 profiles from 3 processes)',
  );
  // The baseline is main's five newest runs, each its own process; the superseded one is not in it.
  for (const commit of MAIN_RUNS) expect(comment.body).toContain(commit);
  expect(comment.body).toContain('branch="main",commit=~"');
  expect(comment.body).toContain('(30 profiles from 5 processes)');
  expect(comment.body).not.toContain('c'.repeat(40));
  // db.query's total is the regression; handler is above it: explained by it, or undecided, never a regression of its own.
  expect(comment.body).toMatch(/### Regressions \(1\)/);
  expect(comment.body).toMatch(/\| \[db\.query\]\(http:\/\/127\.0\.0\.1:\d+\/\?view=compare/);
  expect(comment.body).not.toMatch(/\| \[handler\]/);
  const status = await waitFor(
    () => github.statuses,
    (s) => s.some((x) => x.sha === HEAD && x.state === 'failure'),
  );
  expect(status.filter((x) => x.sha === HEAD).at(-1)).toMatchObject({
    sha: HEAD,
    state: 'failure',
    context: 'flamewatch/shop',
  });
  expect(github.requests.every((r) => r.auth === 'token server-token')).toBe(true);
  expect(github.requests.filter((r) => r.method === 'PATCH').length).toBeGreaterThan(0);
});

test('one PR process against one main run cannot decide: inconclusive, and the commit status waits (pending)', async () => {
  expect((await settings('solo', { pullRequests: { repository: 'acme/solo', status: true } })).status).toBe(
    200,
  );
  for (let i = 0; i < 8; i++) await push('solo.cpu', { branch: 'main', commit: MAIN }, 200 + i, 1);
  for (let i = 0; i < 8; i++)
    await push('solo.cpu', { branch: 'feature', commit: HEAD, pr: '44', instance: 'p0' }, 220 + i, 1.5);
  const [comment] = await waitFor(
    () => commentsOn(44),
    (c) => c.length > 0,
  );
  expect(comment.body).toContain('(8 profiles from 1 process) against PR');
  expect(comment.body).toMatch(/🟡 \*\*Inconclusive\*\*: /);
  expect(comment.body).not.toContain('🔴');
  // Undecided is not green: the commit status waits.
  const pending = await waitFor(
    () => github.statuses,
    (s) => s.some((x) => x.context === 'flamewatch/solo' && x.state === 'pending'),
  );
  expect(pending.filter((x) => x.context === 'flamewatch/solo').map((x) => x.state)).toEqual(['pending']);
});

test('a PR without a regression gets a green comment; too few profiles get none; services without settings, repositories outside the allowlist and other tenants get none', async () => {
  await settings('cart', { pullRequests: { repository: 'acme/cart' } });
  // Main's five runs against a PR run from three processes, the same code: green.
  await mainRuns('cart.cpu', 0, 6);
  await prRun('cart.cpu', '7', ['p0', 'p1', 'p2'], 40, 5, 1);
  // Too few: 3 profiles of PR 8 cannot be decided, so nothing is posted.
  await prRun('cart.cpu', '8', ['p0'], 60, 3, 2, 'other');
  // A repository outside the operator's allowlist (acme/*) is never written to.
  await settings('elsewhere', { pullRequests: { repository: 'victim/repo' } });
  for (let i = 0; i < 10; i++) await push('elsewhere.cpu', { branch: 'main', commit: MAIN }, i, 1);
  for (let i = 0; i < 10; i++)
    await push('elsewhere.cpu', { branch: 'feature', commit: HEAD, pr: '11' }, 20 + i, 2);
  // No settings for this service: its PR runs are not commented.
  for (let i = 0; i < 10; i++) await push('quiet.cpu', { branch: 'main', commit: MAIN }, i, 1);
  for (let i = 0; i < 10; i++)
    await push('quiet.cpu', { branch: 'feature', commit: HEAD, pr: '9' }, 20 + i, 2);
  // Another tenant's profiles under the same service and PR number use that tenant's settings (none).
  for (let i = 0; i < 10; i++)
    await push('cart.cpu', { branch: 'feature', commit: HEAD, pr: '10' }, 20 + i, 2, {
      'X-Scope-OrgID': 'other',
    });

  const [green] = await waitFor(
    () => commentsOn(7),
    (c) => c.length > 0 && c[0].body.includes('(15 profiles from 3 processes)'),
  );
  expect(green.body).toContain('🟢 **No regression**');
  expect(green.body).toContain('(30 profiles from 5 processes)');
  expect(commentsOn(7)).toHaveLength(1);
  // Give the other jobs the same time to (not) act.
  await waitFor(
    () => runner.counts(),
    (c) => Object.values(c).every((x) => x.waiting === 0 && x.active === 0 && x.delayed === 0),
    10_000,
  );
  expect(commentsOn(8)).toHaveLength(0);
  expect(commentsOn(9)).toHaveLength(0);
  expect(commentsOn(10)).toHaveLength(0);
  expect(commentsOn(11)).toHaveLength(0);
  expect(github.requests.some((r) => r.path.startsWith('/repos/victim/'))).toBe(false);
});

test('settings are validated; a token GitHub refuses fails the job into the dead letters with the reason', async () => {
  expect((await settings('shop', { pullRequests: { repository: 'not a repo' } })).status).toBe(400);
  expect(
    (await settings('shop', { pullRequests: { repository: 'acme/shop', baseline: '{branch=' } })).status,
  ).toBe(400);
  expect(
    (await getJson<{ pullRequests?: { repository: string } }>(server.url, '/api/v1/baselines?service=shop'))
      .json.pullRequests?.repository,
  ).toBe('acme/shop');

  await settings('pay', { pullRequests: { repository: 'acme/pay' } });
  for (let i = 0; i < 8; i++) await push('pay.cpu', { branch: 'main', commit: MAIN }, i, 1);
  github.failNext({ status: 401, body: { message: 'Bad credentials' } });
  for (let i = 0; i < 8; i++)
    await push('pay.cpu', { branch: 'feature', commit: HEAD, pr: '77' }, 20 + i, 1.5);
  const failed = await waitFor(
    () => runner.failed(),
    (f) => f.some((j) => j.name === 'pull-request'),
  );
  const job = failed.find((j) => j.name === 'pull-request')!;
  expect(job.attempts).toBe(1);
  expect(job.error).toMatch(/GitHub comment on acme\/pay#77 failed \(401\).*token was refused/);
  expect(commentsOn(77)).toHaveLength(0);

  // Removing the settings turns the comments off.
  expect((await settings('pay', { pullRequests: null })).status).toBe(200);
  expect(
    (await getJson<Record<string, unknown>>(server.url, '/api/v1/baselines?service=pay')).json,
  ).not.toHaveProperty('pullRequests');
});
