/**
 * `flamewatch ci record` end to end: a real Node program run with the agent
 * preloaded, its profiles labelled from the GitHub Actions environment and
 * pushed to a real server; then two builds of it (12 one-second profiles
 * each: main, and a PR where matchOrders does twice the work) compared by
 * `ci compare`, whose GitHub comment names matchOrders.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { actionsContext, defaultRunLabels } from '../cli/ci/actions-env';
import { recordEnv } from '../cli/ci/record';
import { startFakeGitHub, type FakeGitHub } from './helpers/github';
import { getJson, startServer, type TestServer } from './helpers/server';

const root = path.resolve(__dirname, '..');
const bin = path.join(root, 'bin', 'flamewatch.js');
const bench = path.join(__dirname, 'fixtures', 'ci-bench.js');
let server: TestServer;
let github: FakeGitHub;

beforeAll(async () => {
  server = await startServer();
  github = await startFakeGitHub();
}, 60_000);
afterAll(async () => {
  await github?.close();
  await server?.close();
});

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FLAMEWATCH_') && !k.startsWith('GITHUB_') && k !== 'NODE_OPTIONS'));
  return new Promise((resolve) => {
    execFile('node', [bin, ...args], { cwd: root, env: { ...base, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

test('the Actions environment gives the PR number, its head commit and the branch as labels', () => {
  const event = JSON.stringify({ pull_request: { number: 42, head: { sha: 'feedbeef' } } });
  const ctx = actionsContext({ GITHUB_REPOSITORY: 'acme/shop', GITHUB_REF: 'refs/pull/42/merge', GITHUB_HEAD_REF: 'fix-cache', GITHUB_SHA: 'abc', GITHUB_EVENT_PATH: '/e.json' }, () => event);
  expect(ctx).toMatchObject({ repository: 'acme/shop', pr: 42, sha: 'feedbeef', branch: 'fix-cache', commit: 'abc', apiUrl: 'https://api.github.com' });
  expect(defaultRunLabels(ctx)).toEqual([['branch', 'fix-cache'], ['commit', 'feedbeef'], ['pr', '42']]);
  // A push to main: no PR, the branch from GITHUB_REF_NAME.
  expect(defaultRunLabels(actionsContext({ GITHUB_REF: 'refs/heads/main', GITHUB_REF_NAME: 'main', GITHUB_SHA: 'abc' }))).toEqual([['branch', 'main'], ['commit', 'abc']]);
  // The agent preloaded after the caller's own NODE_OPTIONS; labels merged, later ones winning.
  const env = recordEnv({ NODE_OPTIONS: '--max-old-space-size=512', FLAMEWATCH_LABELS: 'team=core,branch=x' }, { labels: [['branch', 'main']], server: 'http://s:4040' }, '/opt/my agent/register.js');
  expect(env.NODE_OPTIONS).toBe('--max-old-space-size=512 --require "/opt/my agent/register.js"');
  expect(env.FLAMEWATCH_LABELS).toBe('team=core,branch=main');
  expect(env.FLAMEWATCH_SERVER).toBe('http://s:4040');
});

test('two recorded builds, main and a PR with a slower matchOrders: the comment names matchOrders; the exit code passes through', async () => {
  const record = (branch: string, slow: number, extra: Record<string, string> = {}) => run(
    ['ci', 'record', '--server', server.url, '--service', 'cibench', '--interval', '1', '--', process.execPath, '--no-turbo-inlining', bench],
    { FLAMEWATCH_HEAP: 'false', SLOW_FACTOR: String(slow), RUN_SECONDS: '12', GITHUB_REF_NAME: branch, GITHUB_SHA: `sha-${branch}`, ...extra },
  );
  const main = await record('main', 1);
  expect(main.code).toBe(0);
  expect(main.stdout).toContain('"handled"');
  // Three times the work: a plain effect even when the machine is busy (twice gave q ≈ 0.004-0.02 under CI load).
  const pr = await record('pr-1', 3, { GITHUB_HEAD_REF: 'pr-1', GITHUB_REF: 'refs/pull/1/merge', EXIT_CODE: '3' });
  expect(pr.code).toBe(3);
  await server.store.writer.drain();
  const values = async (label: string) => (await getJson<string[]>(server.url, `/api/v1/label-values?service=cibench&label=${label}`)).json.sort();
  expect(await values('branch')).toEqual(['main', 'pr-1']);
  expect(await values('commit')).toEqual(['sha-main', 'sha-pr-1']);
  expect(await values('pr')).toEqual(['1']);

  const res = await run(
    ['ci', 'compare', '--server', server.url, '--baseline', 'cibench{branch="main"}', '--candidate', 'cibench{pr="1"}', '--type', 'cpu', '--from', 'now-10m', '--fail-on', 'regression'],
    { GITHUB_TOKEN: 'ghs_test', GITHUB_REPOSITORY: 'acme/shop', GITHUB_REF: 'refs/pull/1/merge', GITHUB_API_URL: github.url },
  );
  expect(res.stderr).toContain('created the comment on acme/shop#1');
  if (process.env.SHOW_COMMENT) console.log(res.stdout);
  expect(res.code).toBe(1);
  const comments = github.comments.get(1)!;
  expect(comments).toHaveLength(1);
  expect(comments[0].body).toContain('🔴 **Regression**');
  expect(comments[0].body).toMatch(/\| \[matchOrders\]\(http:\/\/127\.0\.0\.1:\d+\/\?view=compare&service=cibench&.*search=matchOrders\) \| self \|/);
}, 120_000);
