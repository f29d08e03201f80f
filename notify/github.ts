/**
 * The report on GitHub: one comment per pull request and comparison, found
 * again by a hidden marker and updated, never a new one per run; optionally a
 * commit status with the verdict. Through `@octokit/rest` with retries of 5xx
 * and 429 (plugin-retry) and waits for rate-limit resets (plugin-throttling),
 * each wait bounded.
 */
import { Octokit } from '@octokit/rest';
import { retry } from '@octokit/plugin-retry';
import { throttling } from '@octokit/plugin-throttling';

/** Where the report goes: `owner/name`, the pull request, and the commit for a status. */
export interface PullRequestTarget {
  token: string;
  repository: string;
  pr: number;
  /** The pull request's head commit, for the status. */
  sha?: string;
  /** GitHub's REST API, e.g. https://api.github.com or a GHES `/api/v3`; GITHUB_API_URL in Actions. */
  apiUrl: string;
}

export interface GitHubOptions {
  /** Longest wait for a rate-limit reset or Retry-After, seconds. Default 120. */
  maxWaitSeconds?: number;
  /** Retries of one request. Default 3. */
  retries?: number;
  log?: (message: string) => void;
}

/** A GitHub request failed for good; the CLI exits 2 with this message. `status` is GitHub's answer, when there was one. */
export class GitHubError extends Error {
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
    this.name = 'GitHubError';
  }
}

const ThrottledOctokit = Octokit.plugin(retry, throttling);

/** An Octokit that retries 5xx/429 and waits out rate limits up to `maxWaitSeconds`. */
export function githubClient(
  token: string,
  apiUrl: string,
  options: GitHubOptions = {},
): InstanceType<typeof ThrottledOctokit> {
  const maxWait = options.maxWaitSeconds ?? 120;
  const retries = options.retries ?? 3;
  const log = options.log ?? (() => undefined);
  const onLimit =
    (kind: string) =>
    (retryAfter: number, request: { method: string; url: string }, _octokit: unknown, retryCount: number) => {
      if (retryCount >= retries || retryAfter > maxWait) {
        log(
          `GitHub ${kind} on ${request.method} ${request.url}: not retrying (reset in ${retryAfter} s, limit ${maxWait} s, ${retryCount} retries)`,
        );
        return false;
      }
      log(`GitHub ${kind} on ${request.method} ${request.url}: retrying in ${retryAfter} s`);
      return true;
    };
  const gh = new ThrottledOctokit({
    auth: token,
    baseUrl: apiUrl.replace(/\/$/, ''),
    userAgent: 'flamewatch-ci',
    // 429 is left to the hook below, which honours Retry-After (plugin-retry would back off 1, 4, 9 s regardless).
    retry: { retries, doNotRetry: [400, 401, 403, 404, 422, 429, 451] },
    throttle: { onRateLimit: onLimit('rate limit'), onSecondaryRateLimit: onLimit('secondary rate limit') },
    log: { debug: () => undefined, info: () => undefined, warn: log, error: log },
  });
  // plugin-throttling only looks at 403s; GitHub also answers 429 with Retry-After or x-ratelimit-reset.
  gh.hook.wrap('request', async (request, requestOptions) => {
    for (let attempt = 0; ; attempt++) {
      try {
        return await request(requestOptions);
      } catch (err) {
        const e = err as { status?: number; response?: { headers?: Record<string, string | undefined> } };
        if (e.status !== 429 || attempt >= retries) throw err;
        const seconds = waitSeconds(e.response?.headers ?? {}, Date.now());
        if (seconds > maxWait) throw err;
        log(`GitHub 429 on ${requestOptions.method} ${requestOptions.url}: retrying in ${seconds} s`);
        await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
      }
    }
  });
  return gh;
}

/** Seconds to wait after a 429: Retry-After, else until x-ratelimit-reset (plus one second), else 1. */
export function waitSeconds(headers: Record<string, string | undefined>, now: number): number {
  const after = Number(headers['retry-after']);
  if (Number.isFinite(after) && after >= 0 && headers['retry-after'] !== undefined) return after;
  const reset = Number(headers['x-ratelimit-reset']);
  if (headers['x-ratelimit-remaining'] === '0' && Number.isFinite(reset))
    return Math.max(0, Math.ceil(reset - now / 1000) + 1);
  return 1;
}

/** The hidden marker that finds this comparison's comment again; `key` is what stays the same across a PR's runs. */
export function commentMarker(key: string): string {
  // Percent-encoding keeps `--` and `>` (which would end the comment) out of the marker.
  return `<!-- flamewatch:${encodeURIComponent(key).replace(/-/g, '%2D')} -->`;
}

/**
 * Creates the pull request's comment carrying `marker`, or updates it when an
 * earlier run made one (`create: false` only updates). Returns what was done
 * and the comment's URL.
 */
export async function upsertComment(
  target: PullRequestTarget,
  marker: string,
  markdown: string,
  options: GitHubOptions & { create?: boolean } = {},
): Promise<{ action: 'created' | 'updated' | 'none'; url: string }> {
  const gh = githubClient(target.token, target.apiUrl, options);
  const [owner, repo] = splitRepository(target.repository);
  const body = `${marker}\n${markdown}`;
  return withContext(`comment on ${target.repository}#${target.pr}`, async () => {
    const comments = await gh.paginate(gh.rest.issues.listComments, {
      owner,
      repo,
      issue_number: target.pr,
      per_page: 100,
    });
    // The marker opens the report; a reply quoting it does not start with it.
    const mine = comments.find((c) => typeof c.body === 'string' && c.body.startsWith(marker));
    if (mine) {
      const res = await gh.rest.issues.updateComment({ owner, repo, comment_id: mine.id, body });
      return { action: 'updated' as const, url: res.data.html_url };
    }
    if (options.create === false) return { action: 'none' as const, url: '' };
    const res = await gh.rest.issues.createComment({ owner, repo, issue_number: target.pr, body });
    return { action: 'created' as const, url: res.data.html_url };
  });
}

/** Sets a commit status on `target.sha` under `context`. */
export async function setStatus(
  target: PullRequestTarget & { sha: string },
  status: {
    state: 'success' | 'failure' | 'error' | 'pending';
    context: string;
    description: string;
    targetUrl?: string;
  },
  options: GitHubOptions = {},
): Promise<void> {
  const gh = githubClient(target.token, target.apiUrl, options);
  const [owner, repo] = splitRepository(target.repository);
  await withContext(`status on ${target.sha.slice(0, 12)}`, () =>
    gh.rest.repos.createCommitStatus({
      owner,
      repo,
      sha: target.sha,
      state: status.state,
      context: status.context,
      description: status.description.slice(0, 140),
      ...(status.targetUrl ? { target_url: status.targetUrl } : {}),
    }),
  );
}

function splitRepository(repository: string): [string, string] {
  const m = /^([^/\s]+)\/([^/\s]+)$/.exec(repository);
  if (!m)
    throw new GitHubError(`repository "${repository}" is not owner/name (GITHUB_REPOSITORY or --repository)`);
  return [m[1], m[2]];
}

async function withContext<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    const status = (err as { status?: number }).status;
    const hint =
      status === 401
        ? ': the token was refused (GITHUB_TOKEN)'
        : status === 403
          ? ': forbidden; the token needs pull-requests: write (and statuses: write for a status)'
          : status === 404
            ? ': not found; check the repository and pull request number, and that the token can see them'
            : '';
    throw new GitHubError(
      `GitHub ${what} failed${status ? ` (${status})` : ''}: ${(err as Error).message}${hint}`,
      status,
    );
  }
}
