/**
 * Secrets the server holds stay where they belong: a webhook URL (a Slack
 * webhook's path is its secret) never reaches a log line, a job's error or
 * the failed-job list; the server's GitHub token comments only on the
 * repositories the operator lists (none listed: none), whatever repository a
 * tenant admin names in its settings.
 */
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { createJobRunner, type JobRunner } from '../jobs/runner';
import { lateQueue, processors } from '../jobs/processors';
import { deliverWebhook } from '../jobs/processors/detect';
import { runPullRequest } from '../jobs/processors/pull-request';
import { JOBS, redactUrl } from '../profile/detect-job';
import type { Store } from '../store';
import { getJson, startServer } from './helpers/server';

const SECRET = 'T0000/B0000/XXXXXXXXXXXXXXXXXXXXXXXX';

test('a webhook URL is shown by its origin only', () => {
  expect(redactUrl(`https://hooks.slack.com/services/${SECRET}`)).toBe('https://hooks.slack.com/…');
  expect(redactUrl('https://example.com/hook?token=abc')).toBe('https://example.com/…');
  expect(redactUrl('https://example.com')).toBe('https://example.com');
  expect(redactUrl('not a url')).toBe('(a webhook URL)');
});

test("a failing or unreachable webhook's error does not carry its URL", async () => {
  const server = http.createServer((_req, res) => {
    res.statusCode = 404;
    res.end('no such hook');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const refused = await deliverWebhook({
      url: `${origin}/services/${SECRET}`,
      format: 'json',
      body: {},
    }).catch((e: Error) => e);
    expect(refused).toBeInstanceOf(Error);
    expect((refused as Error).message).toBe(`webhook ${origin}/… answered 404`);
  } finally {
    await new Promise((r) => server.close(r));
  }
  // Nothing listens there now.
  const unreachable = await deliverWebhook({
    url: `${origin}/services/${SECRET}`,
    format: 'json',
    body: {},
  }).catch((e: Error) => e);
  expect((unreachable as Error).message).toMatch(
    new RegExp(`^webhook ${origin.replace(/[.]/g, '\\.')}/… unreachable: `),
  );
  expect((unreachable as Error).message).not.toContain(SECRET);
});

describe("the PR bot's token goes only where the operator allows", () => {
  // The job reads the service's settings first: a tenant admin pointed it at a repository.
  const store = {
    baselines: { get: async () => ({ pullRequests: { repository: 'victim/private' } }) },
  } as unknown as Store;
  const payload = { tenant: 't', service: 'svc', pr: '7' };

  test('with no FLAMEWATCH_GITHUB_REPOSITORIES it comments nowhere, and says how to allow it', async () => {
    const r = await runPullRequest(
      { store, publicUrl: 'http://x', github: { token: 'server-token', apiUrl: 'http://127.0.0.1:9' } },
      payload,
    );
    expect(r).toEqual({ skipped: expect.stringContaining('FLAMEWATCH_GITHUB_REPOSITORIES is not set') });
    expect((r as { skipped: string }).skipped).toContain('victim/private');
  });

  test('a repository outside the list is refused', async () => {
    const r = await runPullRequest(
      {
        store,
        publicUrl: 'http://x',
        github: { token: 'server-token', apiUrl: 'http://127.0.0.1:9', repositories: ['acme/*'] },
      },
      payload,
    );
    expect(r).toEqual({ skipped: 'victim/private is not in FLAMEWATCH_GITHUB_REPOSITORIES' });
  });
});

test('the failed-job list and the server log show a failed webhook by its origin only', async () => {
  const hook = http.createServer((_req, res) => {
    res.statusCode = 410;
    res.end('gone');
  });
  await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(hook.address() as AddressInfo).port}`;
  let runner: JobRunner | undefined;
  const logs: string[] = [];
  const server = await startServer({}, async (store, url) => {
    const queue = lateQueue();
    runner = createJobRunner({
      processors: processors({ store, log: () => undefined, queue, publicUrl: url }),
      backoffMs: 50,
      log: (m) => logs.push(m),
    });
    queue.bind(runner);
    return runner;
  });
  try {
    await runner!.enqueue(
      JOBS.webhook,
      { url: `${origin}/services/${SECRET}`, format: 'slack', body: { text: 'x' } },
      { jobId: 'webhook-secret' },
    );
    let failed: { id: string; error: string; payload: { url: string } }[] = [];
    for (let i = 0; i < 100 && failed.length === 0; i++) {
      await new Promise((r) => setTimeout(r, 50));
      failed = (await getJson<{ failed: typeof failed }>(server.url, '/api/v1/jobs')).json.failed;
    }
    expect(failed).toHaveLength(1);
    expect(failed[0].payload.url).toBe(`${origin}/…`);
    expect(failed[0].error).toBe(`webhook ${origin}/… answered 410`);
    expect([...logs, ...server.logs].join('\n')).not.toContain(SECRET);
  } finally {
    await server.close();
    await new Promise((r) => hook.close(r));
  }
});
