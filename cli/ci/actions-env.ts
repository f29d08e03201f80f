/**
 * What the GitHub Actions environment says about the run: the repository, the
 * pull request and its head commit, the branch. Pure over the variables (and
 * the event payload's text, when GITHUB_EVENT_PATH names one).
 */
import { readFileSync } from 'node:fs';

export interface ActionsContext {
  repository?: string;
  pr?: number;
  /** The pull request's head commit when the event names it, else GITHUB_SHA. */
  sha?: string;
  branch?: string;
  /** GITHUB_SHA: the commit the run built (a PR's merge commit). */
  commit?: string;
  apiUrl: string;
  token?: string;
}

type Env = Record<string, string | undefined>;

/** Reads the Actions variables; `readEvent` returns the event payload's text (tests pass their own). */
export function actionsContext(
  env: Env,
  readEvent: (path: string) => string | undefined = readQuietly,
): ActionsContext {
  const event = env.GITHUB_EVENT_PATH ? parseEvent(readEvent(env.GITHUB_EVENT_PATH)) : undefined;
  const fromRef = /^refs\/pull\/(\d+)\//.exec(env.GITHUB_REF ?? '');
  const pr = event?.pull_request?.number ?? (fromRef ? Number(fromRef[1]) : undefined);
  return {
    repository: nonEmpty(env.GITHUB_REPOSITORY),
    pr,
    sha: event?.pull_request?.head?.sha ?? nonEmpty(env.GITHUB_SHA),
    branch: nonEmpty(env.GITHUB_HEAD_REF) ?? nonEmpty(env.GITHUB_REF_NAME),
    commit: nonEmpty(env.GITHUB_SHA),
    apiUrl: nonEmpty(env.GITHUB_API_URL) ?? 'https://api.github.com',
    token: nonEmpty(env.GITHUB_TOKEN),
  };
}

/**
 * The labels a CI run's profiles get by default: branch, commit and pr, where
 * known. On a pull request `commit` is the PR's head, not the merge commit
 * Actions builds: the one the PR shows, and where a status goes.
 */
export function defaultRunLabels(ctx: ActionsContext): Array<[string, string]> {
  const labels: Array<[string, string]> = [];
  const commit = ctx.sha ?? ctx.commit;
  if (ctx.branch) labels.push(['branch', ctx.branch]);
  if (commit) labels.push(['commit', commit]);
  if (ctx.pr !== undefined) labels.push(['pr', String(ctx.pr)]);
  return labels;
}

interface PullRequestEvent {
  pull_request?: { number?: number; head?: { sha?: string } };
}

function parseEvent(text: string | undefined): PullRequestEvent | undefined {
  if (text === undefined) return undefined;
  try {
    const event = JSON.parse(text) as PullRequestEvent;
    return typeof event === 'object' && event !== null ? event : undefined;
  } catch {
    return undefined;
  }
}

function readQuietly(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

function nonEmpty(s: string | undefined): string | undefined {
  return s === undefined || s === '' ? undefined : s;
}
