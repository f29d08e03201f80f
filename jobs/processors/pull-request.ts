/**
 * The `pull-request` processor: a PR's benchmark run has profiles (the server
 * enqueued this when they arrived), so compare its newest commit with the
 * newest run of the baseline branch and keep one comment on the PR up to
 * date, without a CI step. The service's settings (`PUT /api/v1/baselines`,
 * `pullRequests`) name the repository; the server's GitHub token
 * (`FLAMEWATCH_GITHUB_TOKEN`) writes the comment. Idempotent: the same data
 * gives the same comment, updated in place.
 */
import {
  commentMarker,
  GitHubError,
  setStatus,
  upsertComment,
  type GitHubOptions,
} from '../../notify/github';
import {
  compareAnswer,
  renderPullRequestReport,
  verdictText,
  compareLink,
  type ReportSection,
} from '../../notify/pr-report';
import { UnrecoverableJobError, type JobContext } from '../../profile/jobs';
import { DEFAULT_PR_BASELINE, pullRequestJob, RUN_LABELS, withService } from '../../profile/pull-request';
import { DEFAULT_DETECT_OPTIONS } from '../../profile/regression';
import { formatMatchers, parseSelector, type Matcher } from '../../profile/selector';
import { compareSelections, type Store } from '../../store';

export interface PullRequestDeps {
  store: Store;
  /** The server's GitHub credentials; without them the job only logs that it cannot comment. `repositories` is where tenants may point it (none: nowhere). */
  github?: { token: string; apiUrl: string; repositories?: string[] };
  githubOptions?: GitHubOptions;
  /** The UI's base URL, for the report's links. */
  publicUrl: string;
}

/** How far back a PR's and its baseline's runs are looked for. */
const LOOKBACK_MS = 14 * 86_400_000;

export type PullRequestResult =
  | { skipped: string }
  | {
      comment: 'created' | 'updated' | 'none';
      url: string;
      verdicts: Record<string, string>;
      commit: string;
    };

export async function runPullRequest(
  deps: PullRequestDeps,
  payload: unknown,
  ctx?: JobContext,
  now = Date.now(),
): Promise<PullRequestResult> {
  const parsed = pullRequestJob.safeParse(payload);
  if (!parsed.success)
    throw new UnrecoverableJobError(`invalid pull-request payload: ${parsed.error.message}`);
  const { tenant, service, pr } = parsed.data;
  const settings = (await deps.store.baselines.get(tenant, service, '*')).pullRequests;
  if (!settings)
    return {
      skipped: `${service} has no pullRequests settings; PUT /api/v1/baselines?service=... {"pullRequests":{"repository":"owner/name"}} turns PR comments on`,
    };
  if (!deps.github) {
    ctx?.log(`pull request ${pr} of ${service}: not commenting, FLAMEWATCH_GITHUB_TOKEN is not set`);
    return { skipped: 'FLAMEWATCH_GITHUB_TOKEN is not set' };
  }

  // One server token serves every tenant, and a tenant admin names the repository: the token goes only where the
  // operator listed (FLAMEWATCH_GITHUB_REPOSITORIES); none listed, nowhere.
  const allowed = deps.github.repositories ?? [];
  if (
    !allowed.some(
      (r) =>
        r === settings.repository || (r.endsWith('/*') && settings.repository.startsWith(r.slice(0, -1))),
    )
  ) {
    const why =
      allowed.length === 0
        ? `FLAMEWATCH_GITHUB_REPOSITORIES is not set, so the server's token comments nowhere; list ${settings.repository} (or ${settings.repository.split('/')[0]}/*) there`
        : `${settings.repository} is not in FLAMEWATCH_GITHUB_REPOSITORIES`;
    ctx?.log(`pull request ${pr} of ${service}: ${why}; not commenting`);
    return { skipped: why };
  }
  const from = now - LOOKBACK_MS;
  const until = now + 1;
  const prMatchers: Matcher[] = [{ name: RUN_LABELS.pr, op: '=', value: pr }];
  const prRuns = await deps.store.stats.runs(tenant, service, prMatchers, RUN_LABELS.commit, from, until);
  if (prRuns.length === 0) return { skipped: `no profiles of pull request ${pr}` };
  // The PR's newest commit is the one whose profiles arrived last; earlier pushes to the PR are history.
  const head = prRuns.reduce((a, b) => (b.last > a.last ? b : a)).value;
  const baselineMatchers = parseSelector(
    withService(service, settings.baseline ?? DEFAULT_PR_BASELINE),
  ).matchers;
  const baselineRuns = await deps.store.stats.runs(
    tenant,
    service,
    baselineMatchers,
    RUN_LABELS.commit,
    from,
    until,
  );

  const sections: ReportSection[] = [];
  for (const run of prRuns.filter((r) => r.value === head)) {
    // A profile without a commit label reads as '' here and in the selector, so the matcher is the same either way.
    const candidateMatchers: Matcher[] = [...prMatchers, { name: RUN_LABELS.commit, op: '=', value: head }];
    // The baseline is the branch's newest runs (by commit) that began before the PR's run ended: up to
    // BASELINE_RUNS of them, so that a PR's single run is judged against the spread between the
    // branch's runs (each its own process), as a lookback over history does.
    const eligible = baselineRuns
      .filter((b) => b.type === run.type && b.unit === run.unit && b.first <= run.last)
      .sort((a, b) => b.last - a.last);
    const enough = eligible.filter((b) => b.profiles >= DEFAULT_DETECT_OPTIONS.minObservations);
    const bases = (enough.length ? enough : eligible).slice(0, BASELINE_RUNS);
    const commits = bases.map((b) => b.value);
    const bMatchers: Matcher[] =
      commits.length === 1
        ? [...baselineMatchers, { name: RUN_LABELS.commit, op: '=', value: commits[0] }]
        : commits.length > 1
          ? [
              ...baselineMatchers,
              { name: RUN_LABELS.commit, op: '=~', value: commits.map(escapeRegex).join('|') },
            ]
          : baselineMatchers;
    const baseline =
      bases.length > 0
        ? {
            query: withService(service, formatMatchers(bMatchers)),
            from: Math.min(...bases.map((b) => b.first)),
            until: Math.max(...bases.map((b) => b.last)) + 1,
          }
        : { query: withService(service, formatMatchers(bMatchers)), from, until: run.first };
    const candidate = {
      query: withService(service, formatMatchers(candidateMatchers)),
      from: run.first,
      until: run.last + 1,
    };
    const cfg = await deps.store.baselines.get(tenant, service, run.type);
    const selection = (matchers: Matcher[], side: { from: number; until: number }) => ({
      tenant,
      service,
      type: run.type,
      unit: run.unit,
      range: side,
      matchers,
    });
    const { detection, unit } = await compareSelections(
      deps.store,
      selection(bMatchers, baseline),
      selection(candidateMatchers, candidate),
      {
        fdr: cfg.fdr,
        minAbsolute: cfg.minAbsolute,
        minRelative: cfg.minRelative,
      },
    );
    sections.push({
      answer: compareAnswer(run.type, unit, detection),
      ctx: { service, type: run.type, baseline, candidate, uiUrl: deps.publicUrl },
    });
  }

  const verdicts = Object.fromEntries(sections.map((s) => [s.ctx.type, s.answer.verdict]));
  // Say nothing until some type can be decided: a comment that only says "too few profiles yet" is noise.
  const decided = sections.some((s) => s.answer.verdict !== 'insufficient_data');
  const markdown = renderPullRequestReport({ service, pr, commit: head || undefined }, sections);
  const target = {
    token: deps.github.token,
    apiUrl: deps.github.apiUrl,
    repository: settings.repository,
    pr: Number(pr),
    sha: head || undefined,
  };
  const log = (m: string) => ctx?.log(m);
  try {
    const done = await upsertComment(target, commentMarker(`server:${tenant}:${service}`), markdown, {
      ...deps.githubOptions,
      log,
      create: decided,
    });
    ctx?.log(
      `pull request ${settings.repository}#${pr} of ${service} at ${head.slice(0, 12) || 'no commit'}: ${JSON.stringify(verdicts)}, comment ${done.action}`,
    );
    if (settings.status && decided && /^[0-9a-f]{7,40}$/i.test(head)) {
      const regressed =
        sections.find((s) => s.answer.verdict === 'regression') ??
        sections.find((s) => s.answer.verdict === 'inconclusive') ??
        sections.find((s) => s.answer.verdict !== 'insufficient_data')!;
      await setStatus(
        { ...target, sha: head },
        {
          // Undecided is not green: pending until more runs decide.
          state:
            regressed.answer.verdict === 'regression'
              ? 'failure'
              : regressed.answer.verdict === 'inconclusive'
                ? 'pending'
                : 'success',
          context: `flamewatch/${service}`.slice(0, 255),
          description: verdictText(regressed.answer),
          targetUrl: compareLink(deps.publicUrl, regressed.ctx, regressed.answer.unit, ''),
        },
        { ...deps.githubOptions, log },
      );
    }
    return { comment: done.action, url: done.url, verdicts, commit: head };
  } catch (err) {
    // Refusals a retry cannot change (a bad token, a repository or PR the token cannot see) fail the job at once, into the dead letters.
    if (
      err instanceof GitHubError &&
      err.status !== undefined &&
      [401, 403, 404, 410, 422].includes(err.status)
    )
      throw new UnrecoverableJobError(err.message);
    throw err;
  }
}

/** Runs of the baseline branch a pull request's run is compared with: its spread between runs is the yardstick. */
export const BASELINE_RUNS = 5;

function escapeRegex(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
