/**
 * What `flamewatch ci compare` and `ci check` do once parsed (cli/ci.ts
 * declares them and loads this module only when one runs).
 */
import { parseSelector } from '../../profile/selector';
import { parseTime } from '../../profile/time-range';
import type { ActionsContext } from './actions-env';
import { CompareError, fetchComparison } from './compare-client';
import { commentMarker, setStatus, upsertComment, type PullRequestTarget } from '../../notify/github';
import {
  compareLink,
  markdown as markdownMedium,
  renderBudgetSection,
  renderReport,
  text as textMedium,
  verdictText,
  type CompareAnswer,
  type ComparedSide,
  type Medium,
} from '../../notify/pr-report';
import { fetchBudgetVerdicts, readBudgetsFile } from './budgets-client';

import { checkServer } from './server-url';

export interface CompareOptions {
  server?: string;
  baseline?: string;
  candidate?: string;
  type: string;
  from: string;
  until: string;
  baselineFrom?: string;
  baselineUntil?: string;
  candidateFrom?: string;
  candidateUntil?: string;
  failOn: 'regression' | 'inconclusive' | 'never';
  format?: 'text' | 'markdown' | 'json';
  tenant?: string;
  token?: string;
  uiUrl?: string;
  timeout: number;
  github?: boolean;
  githubToken?: string;
  repository?: string;
  pr?: number;
  sha?: string;
  status?: boolean;
  commentKey?: string;
  budgets?: string;
}

export interface CheckOptions {
  server?: string;
  budgets: string;
  candidate: string;
  baseline?: string;
  from: string;
  until: string;
  failOn: 'fail' | 'inconclusive';
  format?: 'text' | 'markdown' | 'json';
  tenant?: string;
  token?: string;
  timeout: number;
  github?: boolean;
  githubToken?: string;
  repository?: string;
  pr?: number;
  commentKey?: string;
}

/** What to print: as asked, else plain text for a person at a terminal and markdown for a pipe (a file, a comment step). */
function outputFormat(asked: 'text' | 'markdown' | 'json' | undefined): 'text' | 'markdown' | 'json' {
  return asked ?? (process.stdout.isTTY ? 'text' : 'markdown');
}

export async function runCompare(o: CompareOptions, env: ActionsContext): Promise<number> {
  const server = checkServer(o.server);
  const now = Date.now();
  const side = (
    query: string,
    from: string | undefined,
    until: string | undefined,
    name: string,
  ): ComparedSide => {
    parseSelector(query);
    const range = {
      query,
      from: parseTime(from ?? o.from, now, `--${name}-from`),
      until: parseTime(until ?? o.until, now, `--${name}-until`),
    };
    if (!(range.from < range.until))
      throw new Error(`the ${name}'s range is empty: its start is not before its end`);
    return range;
  };
  const baseline = side(o.baseline!, o.baselineFrom, o.baselineUntil, 'baseline');
  const candidate = side(o.candidate!, o.candidateFrom, o.candidateUntil, 'candidate');
  const service = parseSelector(baseline.query).service;
  const github = githubTarget(o, env);

  const headers: Record<string, string> = {};
  if (o.tenant !== undefined) headers['X-Scope-OrgID'] = o.tenant;
  if (o.token) headers.Authorization = `Bearer ${o.token}`;
  let answer: CompareAnswer;
  try {
    answer = await fetchComparison({
      server,
      type: o.type,
      baseline,
      candidate,
      headers,
      timeoutMs: o.timeout * 1000,
    });
  } catch (err) {
    if (err instanceof CompareError) throw err;
    throw new CompareError(`comparison failed: ${(err as Error).message}`);
  }
  const ctx = {
    service,
    type: answer.type || o.type.split(':')[0],
    baseline,
    candidate,
    uiUrl: o.uiUrl ?? server,
    // A pull request's run is "PR"; two versions or branches compared outside one are the candidate.
    candidateLabel: github ? 'PR' : 'candidate',
  };
  const budgets =
    o.budgets === undefined
      ? undefined
      : await fetchBudgetVerdicts({
          server,
          budgets: readBudgetsFile(o.budgets),
          candidate,
          baseline,
          headers,
          timeoutMs: o.timeout * 1000,
        });
  const report = (m: Medium) =>
    renderReport(answer, ctx, m) +
    (budgets ? `\n${renderBudgetSection(budgets.verdict, budgets.budgets, undefined, m)}` : '');
  const markdown = report(markdownMedium);
  const format = outputFormat(o.format);
  process.stdout.write(
    format === 'json'
      ? `${JSON.stringify(budgets ? { ...answer, budgets } : answer, null, 2)}\n`
      : format === 'text'
        ? report(textMedium)
        : markdown,
  );

  if (github) {
    const log = (m: string) => process.stderr.write(`${m}\n`);
    const marker = commentMarker(o.commentKey ?? `${baseline.query}:${candidate.query}:${o.type}`);
    const done = await upsertComment(github, marker, markdown, { log });
    process.stderr.write(`${done.action} the comment on ${github.repository}#${github.pr}: ${done.url}\n`);
    if (o.status) {
      if (!github.sha) throw new Error('--status needs the commit: --sha, or GITHUB_SHA in Actions');
      // Undecided is not green: a pending status says the run needs more data.
      const state =
        answer.verdict === 'regression'
          ? ('failure' as const)
          : answer.verdict === 'inconclusive'
            ? o.failOn === 'inconclusive'
              ? ('failure' as const)
              : ('pending' as const)
            : ('success' as const);
      await setStatus(
        { ...github, sha: github.sha },
        {
          state,
          context: `flamewatch/${service}`,
          description: verdictText(answer),
          targetUrl: compareLink(ctx.uiUrl, ctx, answer.unit, ''),
        },
        { log },
      );
    }
  }
  const failed = answer.verdict === 'regression' || budgets?.verdict === 'fail';
  const undecided = answer.verdict === 'inconclusive' || budgets?.verdict === 'inconclusive';
  return (o.failOn === 'regression' && failed) || (o.failOn === 'inconclusive' && (failed || undecided))
    ? 1
    : 0;
}

export async function runCheck(o: CheckOptions, env: ActionsContext): Promise<number> {
  const budgetsValue = readBudgetsFile(o.budgets);
  const server = checkServer(o.server);
  const now = Date.now();
  const range = { from: parseTime(o.from, now, '--from'), until: parseTime(o.until, now, '--until') };
  if (!(range.from < range.until)) throw new Error('the range is empty: --from is not before --until');
  parseSelector(o.candidate);
  if (o.baseline) parseSelector(o.baseline);
  const headers: Record<string, string> = {};
  if (o.tenant !== undefined) headers['X-Scope-OrgID'] = o.tenant;
  if (o.token) headers.Authorization = `Bearer ${o.token}`;
  const verdicts = await fetchBudgetVerdicts({
    server,
    budgets: budgetsValue,
    candidate: { query: o.candidate, ...range },
    baseline: o.baseline ? { query: o.baseline, ...range } : undefined,
    headers,
    timeoutMs: o.timeout * 1000,
  });
  const section = (m: Medium) =>
    renderBudgetSection(verdicts.verdict, verdicts.budgets, `Performance budgets: ${m.code(o.candidate)}`, m);
  const markdown = section(markdownMedium);
  const format = outputFormat(o.format);
  process.stdout.write(
    format === 'json'
      ? `${JSON.stringify(verdicts, null, 2)}\n`
      : format === 'text'
        ? section(textMedium)
        : markdown,
  );
  const github = githubTarget(
    {
      ...o,
      failOn: 'never',
      type: 'cpu',
      from: o.from,
      until: o.until,
      timeout: o.timeout,
      format: o.format,
    },
    env,
  );
  if (github) {
    const done = await upsertComment(
      github,
      commentMarker(o.commentKey ?? `budgets:${o.candidate}`),
      markdown,
      { log: (m) => process.stderr.write(`${m}\n`) },
    );
    process.stderr.write(`${done.action} the comment on ${github.repository}#${github.pr}: ${done.url}\n`);
  }
  if (verdicts.verdict === 'fail') return 1;
  return o.failOn === 'inconclusive' && verdicts.verdict === 'inconclusive' ? 1 : 0;
}

/** Where to comment, or undefined when not commenting; throws when --github is asked for and something is missing. */
function githubTarget(o: CompareOptions, env: ActionsContext): PullRequestTarget | undefined {
  const token = o.githubToken ?? env.token;
  const repository = o.repository ?? env.repository;
  const pr = o.pr ?? env.pr;
  if (o.github === false) return undefined;
  if (o.github === undefined && !(token && repository && pr !== undefined)) return undefined;
  if (!token)
    throw new Error(
      '--github needs a token: set GITHUB_TOKEN (in a workflow: env: GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}) or pass --github-token',
    );
  if (!repository)
    throw new Error('--github needs the repository: set GITHUB_REPOSITORY or pass --repository owner/name');
  if (pr === undefined)
    throw new Error('--github needs the pull request: run on a pull_request event or pass --pr <number>');
  return { token, repository, pr, sha: o.sha ?? env.sha, apiUrl: env.apiUrl };
}
