/**
 * `flamewatch ci`: performance gates for pull requests. `ci record` runs a
 * benchmark with the agent so its profiles arrive labelled with the branch,
 * commit and PR; `ci compare` asks the server's detector whether the PR's
 * profiles regressed against a baseline, prints a report (and keeps one
 * comment per PR up to date on GitHub), and fails the build when asked to.
 *
 * Exit codes of `ci compare`: 0 no regression (or not gating), 1 a regression
 * with `--fail-on regression`, 2 the comparison or the GitHub report could not
 * be made.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseSelector } from '../profile/selector';
import { parseTime } from '../profile/time-range';
import { actionsContext, defaultRunLabels, type ActionsContext } from './ci/actions-env';
import { CompareError, fetchComparison } from './ci/compare-client';
import { commentMarker, setStatus, upsertComment, type PullRequestTarget } from '../notify/github';
import { agentRegisterPath, MAX_REPEAT, recordEnv, runRepeated } from './ci/record';
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
} from '../notify/pr-report';
import { fetchBudgetVerdicts, readBudgetsFile } from './ci/budgets-client';
import { parseLabels } from './push/ingest-query';

interface CompareOptions {
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

interface CheckOptions {
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

interface RecordOptions {
  server?: string;
  service?: string;
  labels?: string[];
  tenant?: string;
  token?: string;
  interval?: number;
  repeat: number;
  ciLabels: boolean;
}

/** The `ci` command, for cli/main.ts to add to the program. */
export function ciCommand(): Command {
  const ci = new Command('ci').description(
    "Gate pull requests on profile regressions: record a benchmark's profiles, compare them, report on GitHub.",
  );
  ci.addCommand(compareCommand());
  ci.addCommand(checkCommand());
  ci.addCommand(recordCommand());
  return ci;
}

function compareCommand(): Command {
  return (
    new Command('compare')
      .description(
        'Compare a candidate selection (the PR) with a baseline using the regression detector; print a report, optionally comment on the PR and fail on a regression.',
      )
      .addOption(new Option('--server <url>', 'Flamewatch server URL').env('FLAMEWATCH_SERVER'))
      .requiredOption('--baseline <selector>', 'baseline selection, e.g. \'bench{branch="main"}\'')
      .requiredOption('--candidate <selector>', 'candidate selection, e.g. \'bench{branch="pr-123"}\'')
      .option('--type <type>', 'profile type, or type:unit', 'cpu')
      .option('--from <time>', "start of both sides' range: now-24h, unix seconds or ms, ISO date", 'now-24h')
      .option('--until <time>', "end of both sides' range", 'now')
      .option('--baseline-from <time>', "start of the baseline's range (default --from)")
      .option('--baseline-until <time>', "end of the baseline's range (default --until)")
      .option('--candidate-from <time>', "start of the candidate's range (default --from)")
      .option('--candidate-until <time>', "end of the candidate's range (default --until)")
      .addOption(
        new Option(
          '--fail-on <what>',
          'exit 1 on this verdict (inconclusive: also when the data cannot decide, which is never green)',
        )
          .choices(['regression', 'inconclusive', 'never'])
          .default('never'),
      )
      .addOption(
        new Option(
          '--format <format>',
          'what to print: plain text (the default at a terminal), markdown (the default when piped: what the PR comment says) or json',
        ).choices(['text', 'markdown', 'json']),
      )
      .option('--tenant <id>', 'tenant, sent as X-Scope-OrgID')
      .addOption(
        new Option('--token <token>', 'bearer token for the Flamewatch server').env('FLAMEWATCH_TOKEN'),
      )
      .addOption(
        new Option('--ui-url <url>', "the Flamewatch UI's public address for links (default --server)").env(
          'FLAMEWATCH_PUBLIC_URL',
        ),
      )
      .option('--timeout <s>', 'time allowed for the comparison', positiveInteger, 120)
      .option(
        '--github',
        'comment on the pull request (default: when GITHUB_TOKEN, GITHUB_REPOSITORY and a PR number are known)',
      )
      .option('--no-github', 'never comment on GitHub')
      .addOption(new Option('--github-token <token>', 'GitHub token').env('GITHUB_TOKEN'))
      .option('--repository <owner/name>', 'repository (default GITHUB_REPOSITORY)')
      .option('--pr <number>', 'pull request number (default from the Actions event)', positiveInteger)
      .option('--sha <sha>', "commit for --status (default the PR's head commit)")
      .option('--status', 'also set a commit status "flamewatch/<service>" with the verdict')
      .option(
        '--comment-key <text>',
        "what identifies this comparison's comment across runs (default baseline, candidate and type)",
      )
      .option(
        '--budgets <file>',
        'also judge the candidate against this budgets file (flamewatch.budgets.yaml): its section joins the report, and a broken blocking budget fails like a regression with --fail-on regression',
      )
      // A usage error must not read as a regression (exit 1) to the CI that gates on it.
      .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
      .action(async (options: CompareOptions) => {
        try {
          process.exitCode = await runCompare(options, actionsContext(process.env));
        } catch (err) {
          process.stderr.write(
            `flamewatch ci compare: ${err instanceof Error ? err.message : String(err)}\n`,
          );
          process.exitCode = 2;
        }
      })
  );
}

/** What to print: as asked, else plain text for a person at a terminal and markdown for a pipe (a file, a comment step). */
function outputFormat(asked: 'text' | 'markdown' | 'json' | undefined): 'text' | 'markdown' | 'json' {
  return asked ?? (process.stdout.isTTY ? 'text' : 'markdown');
}

async function runCompare(o: CompareOptions, env: ActionsContext): Promise<number> {
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

function checkCommand(): Command {
  return new Command('check')
    .description(
      "Judge a candidate selection against a budgets file: each budget's verdict (pass, fail, or inconclusive with the observations it needs); exits 1 when a blocking budget fails.",
    )
    .addOption(new Option('--server <url>', 'Flamewatch server URL').env('FLAMEWATCH_SERVER'))
    .requiredOption(
      '--budgets <file>',
      'the budgets file, e.g. flamewatch.budgets.yaml (schema: GET /api/v1/budgets/schema)',
    )
    .requiredOption(
      '--candidate <selector>',
      'what to judge, e.g. \'bench{pr="123"}\'; budgets apply to their own service with these labels',
    )
    .option('--baseline <selector>', 'the baseline of growth budgets, e.g. \'bench{branch="main"}\'')
    .option('--from <time>', 'start of the range: now-24h, unix seconds or ms, ISO date', 'now-24h')
    .option('--until <time>', 'end of the range', 'now')
    .addOption(
      new Option(
        '--fail-on <verdict>',
        'exit 1 when a blocking budget has this verdict (inconclusive also fails on fail)',
      )
        .choices(['fail', 'inconclusive'])
        .default('fail'),
    )
    .addOption(
      new Option(
        '--format <format>',
        'what to print: plain text (the default at a terminal), markdown (the default when piped: what the PR comment says) or json',
      ).choices(['text', 'markdown', 'json']),
    )
    .option('--tenant <id>', 'tenant, sent as X-Scope-OrgID')
    .addOption(
      new Option('--token <token>', 'bearer token for the Flamewatch server').env('FLAMEWATCH_TOKEN'),
    )
    .option('--timeout <s>', 'time allowed for the evaluation', positiveInteger, 120)
    .option(
      '--github',
      'comment the verdicts on the pull request (default: when GITHUB_TOKEN, GITHUB_REPOSITORY and a PR number are known)',
    )
    .option('--no-github', 'never comment on GitHub')
    .addOption(new Option('--github-token <token>', 'GitHub token').env('GITHUB_TOKEN'))
    .option('--repository <owner/name>', 'repository (default GITHUB_REPOSITORY)')
    .option('--pr <number>', 'pull request number (default from the Actions event)', positiveInteger)
    .option(
      '--comment-key <text>',
      "what identifies this check's comment across runs (default the candidate)",
    )
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2))
    .action(async (options: CheckOptions) => {
      try {
        process.exitCode = await runCheck(options, actionsContext(process.env));
      } catch (err) {
        process.stderr.write(`flamewatch ci check: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 2;
      }
    });
}

async function runCheck(o: CheckOptions, env: ActionsContext): Promise<number> {
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

function recordCommand(): Command {
  return new Command('record')
    .description(
      "Run a command with the Node.js agent preloaded, its profiles labelled with the branch, commit and PR (from GitHub Actions) and --labels; a benchmark reports its iterations with require('@flamewatch/agent').countWork(n).",
    )
    .argument('<command...>', 'the command, after --: flamewatch ci record -- npm run bench')
    .addOption(new Option('--server <url>', 'Flamewatch server URL').env('FLAMEWATCH_SERVER'))
    .option('--service <name>', "service name of the profiles (default: the agent's, the package name)")
    .option('--labels <k=v,...>', 'labels for every profile, after the CI defaults; repeatable', collect)
    .option('--no-ci-labels', 'do not add branch, commit and pr from the GitHub Actions environment')
    .option('--tenant <id>', 'tenant (X-Scope-OrgID)')
    .addOption(
      new Option('--token <token>', 'bearer token for the Flamewatch server').env('FLAMEWATCH_TOKEN'),
    )
    .option('--interval <s>', "seconds between the agent's pushes (default the agent's, 10)", positiveInteger)
    .option(
      '--repeat <n>',
      `run the command n times (1-${MAX_REPEAT}), one after another, each its own process: the detector needs several processes a side; stops at the first failing run`,
      repeatCount,
      1,
    )
    .action(async (command: string[], o: RecordOptions) => {
      const labels = [
        ...(o.ciLabels ? defaultRunLabels(actionsContext(process.env)) : []),
        ...parseLabels(o.labels ?? []),
      ];
      if (o.server !== undefined) checkServer(o.server);
      const settings = {
        command,
        server: o.server,
        service: o.service,
        labels,
        tenant: o.tenant,
        token: o.token,
        interval: o.interval,
      };
      process.exitCode = await runRepeated(
        settings,
        recordEnv(process.env, settings, agentRegisterPath()),
        o.repeat,
        (m) => console.error(m),
      );
    });
}

function checkServer(server: string | undefined): string {
  if (server === undefined || server === '')
    throw new Error('--server is required (or set FLAMEWATCH_SERVER), e.g. --server http://localhost:4040');
  let url: URL;
  try {
    url = new URL(server);
  } catch {
    throw new Error(`--server "${server}" is not a URL; write it as http://host:port`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error(`--server "${server}" must be an http:// or https:// URL`);
  return server;
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function repeatCount(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1 || Number(value) > MAX_REPEAT)
    throw new InvalidArgumentError(`must be a whole number from 1 to ${MAX_REPEAT} (runs of the command).`);
  return Number(value);
}

function positiveInteger(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) === 0)
    throw new InvalidArgumentError('must be a whole number of at least 1.');
  return Number(value);
}
