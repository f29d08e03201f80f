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
import type { CheckOptions, CompareOptions } from './ci/run';
import { checkServer } from './ci/server-url';
import { actionsContext, defaultRunLabels } from './ci/actions-env';
import { agentRegisterPath, MAX_REPEAT, recordEnv, runRepeated } from './ci/record';
import { parseLabels } from './push/ingest-query';

// compare and check load the report, budget and GitHub code (yaml, ajv, zod, octokit: most of the command's start)
// only when they run: `flamewatch --help` or `collapse` should not pay for them.
const run = () => require('./ci/run') as typeof import('./ci/run');

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
          process.exitCode = await run().runCompare(options, actionsContext(process.env));
        } catch (err) {
          process.stderr.write(
            `flamewatch ci compare: ${err instanceof Error ? err.message : String(err)}\n`,
          );
          process.exitCode = 2;
        }
      })
  );
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
        process.exitCode = await run().runCheck(options, actionsContext(process.env));
      } catch (err) {
        process.stderr.write(`flamewatch ci check: ${err instanceof Error ? err.message : String(err)}\n`);
        process.exitCode = 2;
      }
    });
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
    .option(
      '--interval <s>',
      "seconds between the agent's pushes, each profiling all of its interval (default 10)",
      positiveInteger,
    )
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
