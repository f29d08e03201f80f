/**
 * `flamewatch ci compare` against a real server with pushed, labelled folded
 * profiles (a PR branch where one function does twice the work, one where
 * nothing changed), and its GitHub report against a local GitHub stand-in:
 * one comment per PR, updated on later runs; rate limits (403, 429) waited out; 5xx
 * retried; a missing token named.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import { requestPathFolded } from './helpers/synthetic-profiles';
import { startFakeGitHub, type FakeGitHub } from './helpers/github';
import { freePort } from './helpers/redis';
import { ingest, startServer, type TestServer } from './helpers/server';

const root = path.resolve(__dirname, '..');
const bin = path.join(root, 'bin', 'flamewatch.js');
let server: TestServer;
let github: FakeGitHub;
const now = Date.now();

// Each branch's benchmark ran as three processes (instance a, b, c): the process is the detector's unit of
// replication, and one process a side can never be decisive.
const INSTANCES = ['a', 'b', 'c'];

beforeAll(async () => {
  server = await startServer();
  for (let i = 0; i < 10; i++) {
    const t = Math.floor((now - 50 * 60_000 + i * 60_000) / 1000);
    for (const [branch, seed, slow] of [
      ['main', 300, 1],
      ['pr-7', 400, 2],
      ['pr-8', 500, 1],
    ] as const) {
      for (const [k, instance] of INSTANCES.entries()) {
        const res = await ingest(
          server.url,
          {
            name: `bench.cpu{branch=${branch},instance=${instance}}`,
            from: String(t),
            until: String(t + 10),
            units: 'samples',
          },
          requestPathFolded(seed + 20 * k + i, slow),
        );
        expect(res.status).toBe(200);
      }
    }
  }
  await server.store.writer.drain();
}, 60_000);
afterAll(async () => server?.close());
beforeEach(async () => {
  github = await startFakeGitHub({ perPage: 2 });
});
afterEach(async () => github?.close());

/** Runs the built CLI with no FLAMEWATCH_* or GITHUB_* from the caller, plus `env`. */
function ci(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !k.startsWith('FLAMEWATCH_') && !k.startsWith('GITHUB_')),
  );
  return new Promise((resolve) => {
    // Asynchronous on purpose: the servers answering live in this process.
    execFile('node', [bin, 'ci', ...args], { cwd: root, env: { ...base, ...env } }, (err, stdout, stderr) => {
      resolve({ code: err === null ? 0 : typeof err.code === 'number' ? err.code : -1, stdout, stderr });
    });
  });
}

const compare = (candidate: string, extra: string[] = []) => [
  'compare',
  '--server',
  server.url,
  '--baseline',
  'bench{branch="main"}',
  '--candidate',
  `bench{branch="${candidate}"}`,
  '--from',
  'now-2h',
  ...extra,
];

const actions = () => ({
  GITHUB_TOKEN: 'ghs_test',
  GITHUB_REPOSITORY: 'acme/shop',
  GITHUB_REF: 'refs/pull/7/merge',
  GITHUB_SHA: 'abc123',
  GITHUB_API_URL: github.url,
});

test('a regression: the report names the slower function, and --fail-on regression exits 1', async () => {
  const gate = await ci(compare('pr-7', ['--fail-on', 'regression']));
  expect(gate.stderr).toBe('');
  expect(gate.code).toBe(1);
  // db.query's callers (handler, http, main) grew with it: they are its growth seen from above, not regressions of their own.
  expect(gate.stdout).toMatch(
    /^🔴 \*\*Regression\*\*: 1 function slower, worst db\.query \+\d+\.\d\d pp \(\+\d+\.\d %\)\.\n/,
  );
  expect(gate.stdout).toContain('### Regressions (1)');
  expect(gate.stdout).toMatch(
    /\| \[db\.query\]\(http:\/\/127\.0\.0\.1:\d+\/\?view=compare&service=bench&type=cpu%3Asamples&left=branch%3D%22main%22&right=branch%3D%22pr-7%22.*&search=db\.query\) \| total \|/,
  );
  // Without a work count the whole program's cost is reported, never judged.
  expect(gate.stdout).toMatch(
    /Whole cost .* samples\/s per instance \(.*\): traffic moves it, so without a work count it is not judged\./,
  );
  expect(gate.stdout).toContain('(30 profiles from 3 processes)');
  // Not gating: the same verdict exits 0. For a terminal: plain text, no markdown, and outside a PR the "candidate".
  const plain = await ci(compare('pr-7', ['--format', 'text']));
  expect(plain.code).toBe(0);
  expect(plain.stdout).toMatch(/^🔴 Regression: 1 function slower, worst db\.query /);
  expect(plain.stdout).toContain('against candidate bench{branch="pr-7"}');
  expect(plain.stdout).toMatch(/\ndb\.query\s+total\s+/);
  expect(plain.stdout).not.toMatch(/\*\*|&#|\| ---|<details>/);
  const json = await ci(compare('pr-7', ['--format', 'json']));
  const answer = JSON.parse(json.stdout) as {
    regressions: { function: string; measure: string }[];
    rate: { verdict: string };
  };
  expect(answer).toMatchObject({
    verdict: 'regression',
    unit: 'samples',
    normalisation: 'size',
    baseline: { n: 30, processes: 3 },
    candidate: { n: 30, processes: 3 },
  });
  expect(answer.regressions.map((f) => `${f.function}/${f.measure}`)).toEqual(['db.query/total']);
  expect(answer.rate.verdict).toBe('unchanged');
});

test('one process a side is inconclusive, never a regression: --fail-on regression exits 0, --fail-on inconclusive 1', async () => {
  // The same slower db.query, but seen in one process of each branch: there is no telling it from that process's own luck.
  const one = (candidate: string, extra: string[]) => [
    'compare',
    '--server',
    server.url,
    '--baseline',
    'bench{branch="main",instance="a"}',
    '--candidate',
    `bench{branch="${candidate}",instance="a"}`,
    '--from',
    'now-2h',
    ...extra,
  ];
  const res = await ci(one('pr-7', ['--fail-on', 'regression']));
  expect(res.stderr).toBe('');
  expect(res.code).toBe(0);
  expect(res.stdout).toMatch(/^🟡 \*\*Inconclusive\*\*: /);
  expect(res.stdout).toContain('(10 profiles from 1 process)');
  expect(res.stdout).not.toContain('### Regressions');
  expect((await ci(one('pr-7', ['--fail-on', 'inconclusive']))).code).toBe(1);
  const json = JSON.parse((await ci(one('pr-7', ['--format', 'json']))).stdout) as {
    verdict: string;
    regressions: unknown[];
    baseline: { processes: number };
  };
  expect(json).toMatchObject({
    verdict: 'inconclusive',
    regressions: [],
    baseline: { processes: 1 },
    candidate: { processes: 1 },
  });
  // With three processes a side the same question is decided, and an unchanged branch passes even --fail-on inconclusive.
  expect((await ci(compare('pr-7', ['--fail-on', 'inconclusive']))).code).toBe(1);
  expect((await ci(compare('pr-8', ['--fail-on', 'inconclusive']))).code).toBe(0);
});

test('no change: no regression, exit 0 even when gating', async () => {
  const res = await ci(compare('pr-8', ['--fail-on', 'regression']));
  expect(res.code).toBe(0);
  expect(res.stdout).toMatch(/^🟢 \*\*No regression\*\*/);
  const none = await ci(compare('none', ['--fail-on', 'regression']));
  expect(none.code).toBe(0);
  expect(none.stdout).toMatch(
    /^⚪ \*\*Insufficient data\*\*: needs at least 5 profiles on each side; the baseline has 30, the candidate 0\./,
  );
});

test('an unreachable server, a refusal and a bad selector exit 2 with a clear message', async () => {
  const closed = `http://127.0.0.1:${await freePort()}`;
  const down = await ci(['compare', '--server', closed, '--baseline', 'bench', '--candidate', 'bench']);
  expect(down.code).toBe(2);
  expect(down.stderr).toBe(
    `flamewatch ci compare: cannot reach the Flamewatch server at ${closed} (ECONNREFUSED); check --server\n`,
  );
  // The GitHub stand-in answers 401 to anything without a token: a refusal.
  const refused = await ci([
    'compare',
    '--server',
    github.url,
    '--baseline',
    'bench',
    '--candidate',
    'bench',
  ]);
  expect(refused.code).toBe(2);
  expect(refused.stderr).toContain('the server refused the comparison: 401');
  const usage = await ci(['compare', '--server', server.url, '--candidate', 'bench']);
  expect(usage.code).toBe(2);
  expect(usage.stderr).toContain("required option '--baseline <selector>' not specified");
  const bad = await ci(['compare', '--server', server.url, '--baseline', 'bench{', '--candidate', 'bench']);
  expect(bad.code).toBe(2);
  expect(bad.stderr).toBe('flamewatch ci compare: missing closing } at position 6 of "bench{"\n');
});

test('GitHub: the first run creates one comment, later runs update it, other comments are left alone', async () => {
  // Others' comments, one quoting an earlier report (marker and all), on two pages.
  const quoting =
    '> <!-- flamewatch:bench%7Bbranch%3D%22main%22%7D%3Abench%7Bbranch%3D%22pr%2D7%22%7D%3Acpu -->\n> 🔴 why?';
  github.comments.set(
    7,
    [`someone else 1`, quoting, 'someone else 3'].map((body, i) => ({
      id: i + 1,
      body,
      html_url: '',
      user: { login: 'octocat' },
    })),
  );
  const first = await ci(compare('pr-7', ['--status']), actions());
  expect(first.stderr).toContain('created the comment on acme/shop#7');
  expect(first.code).toBe(0);
  const second = await ci(compare('pr-7', ['--candidate-from', 'now-46m']), actions());
  expect(second.stderr).toContain('updated the comment on acme/shop#7');
  const comments = github.comments.get(7)!;
  expect(comments).toHaveLength(4);
  const mine = comments[3];
  expect(mine.body).toMatch(/^<!-- flamewatch:bench%7Bbranch%3D%22main%22%7D/);
  expect(mine.body).toContain('against PR `bench{branch="pr-7"}` (15 profiles from 3 processes)');
  expect(comments.slice(0, 3).map((c) => c.body)).toEqual(['someone else 1', quoting, 'someone else 3']);
  // The list was read page by page (two per page here), with the token.
  expect(github.requests.filter((r) => r.method === 'GET').map((r) => r.path)).toEqual([
    '/repos/acme/shop/issues/7/comments?per_page=100',
    '/repos/acme/shop/issues/7/comments?per_page=2&page=2',
    '/repos/acme/shop/issues/7/comments?per_page=100',
    '/repos/acme/shop/issues/7/comments?per_page=2&page=2',
  ]);
  expect(github.requests.every((r) => r.auth === 'token ghs_test')).toBe(true);
  expect(github.requests.filter((r) => r.method === 'PATCH').map((r) => r.path)).toEqual([
    `/repos/acme/shop/issues/comments/${mine.id}`,
  ]);
  // --status: the verdict on the commit.
  expect(github.statuses).toEqual([
    expect.objectContaining({
      sha: 'abc123',
      state: 'failure',
      context: 'flamewatch/bench',
      description: expect.stringMatching(/^regression: 1 function slower, worst db\.query \+\d+\.\d %$/),
    }),
  ]);
  // --no-github: nothing sent.
  const before = github.requests.length;
  expect((await ci(compare('pr-7', ['--no-github']), actions())).code).toBe(0);
  expect(github.requests).toHaveLength(before);
}, 60_000);

test('GitHub: a 403 rate limit is retried after x-ratelimit-reset, a 502 is retried, a 429 waits for Retry-After', async () => {
  const reset = Math.ceil(Date.now() / 1000) + 1;
  github.failNext({
    status: 403,
    headers: {
      'x-ratelimit-remaining': '0',
      'x-ratelimit-limit': '5000',
      'x-ratelimit-reset': String(reset),
    },
    body: { message: 'API rate limit exceeded for installation ID 1.' },
  });
  const res = await ci(compare('pr-8'), actions());
  expect(res.stderr).toContain('created the comment');
  expect(res.code).toBe(0);
  const [limited, retried] = github.requests;
  expect(limited.path).toBe(retried.path);
  expect(retried.at).toBeGreaterThanOrEqual(reset * 1000);
  expect(github.comments.get(7)).toHaveLength(1);

  github.failNext({ status: 502, body: { message: 'Server Error' } });
  const again = await ci(compare('pr-8'), actions());
  expect(again.stderr).toContain('updated the comment');
  expect(github.comments.get(7)).toHaveLength(1);

  // A 429 with Retry-After: waited out, then retried.
  const before = github.requests.length;
  github.failNext({
    status: 429,
    headers: { 'retry-after': '2' },
    body: { message: 'You have exceeded a secondary rate limit.' },
  });
  const third = await ci(compare('pr-8'), actions());
  expect(third.stderr).toContain('updated the comment');
  const [throttled, after] = github.requests.slice(before);
  expect(after.at - throttled.at).toBeGreaterThanOrEqual(2000);
}, 60_000);

test('GitHub: --github without a token says to set GITHUB_TOKEN; a refused token is named', async () => {
  const { GITHUB_TOKEN: _unused, ...noToken } = actions();
  const res = await ci(compare('pr-8', ['--github']), noToken);
  expect(res.code).toBe(2);
  expect(res.stderr).toContain('--github needs a token: set GITHUB_TOKEN');
  expect(github.requests).toHaveLength(0);
  // Without --github and without a token, no comment is attempted and the gate still works.
  expect((await ci(compare('pr-7', ['--fail-on', 'regression']), noToken)).code).toBe(1);
  github.failNext({ status: 401, body: { message: 'Bad credentials' } });
  const refused = await ci(compare('pr-8'), actions());
  expect(refused.code).toBe(2);
  expect(refused.stderr).toMatch(/GitHub comment on acme\/shop#7 failed \(401\).*GITHUB_TOKEN/);
});
