/**
 * The regression processors: `detect` (one comparison: load both sides'
 * statistics, run the detector, record what regressed, notify), `detect-sweep`
 * (the schedule: decide what to compare) and `webhook` (one delivery).
 * Each is idempotent: a detect run records regressions by deterministic id,
 * so running it twice updates, never duplicates.
 */
import {
  DEFAULT_DETECT_OPTIONS,
  scheduledFdr,
  type Detection,
  type Finding,
  type ProfileKind,
} from '../../profile/regression';
import {
  compareView,
  detectJob,
  exploreView,
  JOBS,
  redactUrl,
  sweepJob,
  webhookJob,
  type ComparedSides,
  type DetectJob,
  type WebhookTarget,
} from '../../profile/detect-job';
import { UnrecoverableJobError, type JobContext, type JobQueue } from '../../profile/jobs';
import { withService } from '../../profile/pull-request';
import { parseSelector } from '../../profile/selector';
import {
  compareSelections,
  profileKind,
  regressionId,
  type Regression,
  type Selection,
  type Store,
} from '../../store';

export interface DetectDeps {
  store: Store;
  queue: JobQueue;
  webhooks: WebhookTarget[];
  /** Where links in notifications point: the UI's base URL. */
  publicUrl: string;
  /** How often the sweep runs (ms): windows end on this boundary. */
  sweepEveryMs: number;
}

function parse<T>(
  schema: {
    safeParse(v: unknown): { success: true; data: T } | { success: false; error: { message: string } };
  },
  payload: unknown,
  what: string,
): T {
  const r = schema.safeParse(payload);
  if (!r.success) throw new UnrecoverableJobError(`invalid ${what} payload: ${r.error.message}`);
  return r.data;
}

function selectionOf(job: DetectJob, side: DetectJob['baseline']): Selection {
  const sel = parseSelector(side.query);
  const [type, unit] = job.type.split(':');
  return {
    tenant: job.tenant,
    service: job.service,
    type,
    unit,
    range: { from: side.from, until: side.until },
    matchers: sel.matchers,
  };
}

/** The flame graph of the window a budget breach was measured in, its function searched. */
export function exploreLink(publicUrl: string, r: ComparedSides): string {
  return `${publicUrl.replace(/\/$/, '')}/?${new URLSearchParams(exploreView(r))}`;
}

/** The compare page of exactly these two selections. */
export function compareLink(publicUrl: string, r: ComparedSides): string {
  return `${publicUrl.replace(/\/$/, '')}/?${new URLSearchParams(compareView(r))}`;
}

/** Runs one comparison and records its regressions; returns the detection and the regressions that are new. */
export async function runDetect(
  deps: DetectDeps,
  payload: unknown,
  ctx?: JobContext,
): Promise<{ detection: Detection; recorded: Regression[]; created: Regression[] }> {
  const job = parse(detectJob, payload, 'detect');
  const [baseline, candidate] = [selectionOf(job, job.baseline), selectionOf(job, job.candidate)];
  const { detection, unit } = await compareSelections(
    deps.store,
    baseline,
    candidate,
    job.options ?? {},
    job.warmupMs ?? 0,
  );
  const recorded: Regression[] = [];
  const created: Regression[] = [];
  // The sweep looks at overlapping windows every few minutes: a window's or a named selection's finding
  // opens only once a later window that does not overlap the first shows it too (persistence across
  // disjoint windows), so repeated looks do not multiply false alarms. Versions spend their alpha instead (sweep).
  const span = job.candidate.until - job.candidate.from;
  const confirm =
    job.kind === 'window' || job.kind === 'selection'
      ? { afterMs: span, staleMs: 2 * span + deps.sweepEveryMs }
      : undefined;
  // Sightings of those are timed by their window's end (the sweep's time), not by when the job ran: a retry
  // or a backlog that looks at the same window again later confirms nothing.
  const at = confirm ? job.candidate.until : Date.now();
  for (const f of detection.regressions) {
    const { regression, created: isNew } = await deps.store.regressions.record(
      job.tenant,
      toRegression(job, f, unit, detection),
      at,
      confirm,
    );
    recorded.push(regression);
    if (isNew) created.push(regression);
  }
  ctx?.log(
    `${job.kind} ${job.service} ${job.type}: ${detection.verdict}, ${detection.regressions.length} regression(s), ${created.length} new; ${detection.baseline.n} vs ${detection.candidate.n} profiles, ${detection.tested} tests`,
  );
  for (const r of created) {
    for (const target of deps.webhooks) {
      await deps.queue.enqueue(
        JOBS.webhook,
        {
          url: target.url,
          format: target.format,
          body: webhookBody(target.format, r, deps.publicUrl, detection.kind),
        },
        {
          jobId: `webhook-${regressionId([target.url])}-${r.id}-${r.runs}`,
        },
      );
    }
  }
  return { detection, recorded, created };
}

function toRegression(
  job: DetectJob,
  f: Finding,
  unit: string,
  d: Detection,
): Omit<Regression, 'firstSeen' | 'lastSeen' | 'runs' | 'status'> {
  return {
    // The unit the comparison used, however the job spelled the type (`cpu` or `cpu:nanoseconds`): one id for one finding.
    id: regressionId([
      job.tenant,
      job.service,
      `${job.type.split(':')[0]}:${unit}`,
      job.kind,
      job.key,
      f.function,
      f.measure,
    ]),
    service: job.service,
    type: job.type.split(':')[0],
    unit,
    function: f.function,
    measure: f.measure,
    kind: job.kind,
    baseline: { ...job.baseline, profiles: d.baseline.n, value: f.baseline },
    candidate: { ...job.candidate, profiles: d.candidate.n, value: f.candidate },
    effect: f.effect,
    relative: f.relative,
    ci: f.ci,
    p: f.p,
    q: f.q,
  };
}

/**
 * A regression as a webhook body: generic JSON, or Slack's `text` + blocks. `typeKind` is the detection's (a type
 * its pushers declared averaged is a gauge whatever its name): a gauge reads "more memory held", not "slower".
 */
export function webhookBody(
  format: 'json' | 'slack',
  r: Regression,
  publicUrl: string,
  typeKind: ProfileKind = profileKind(r.type),
): unknown {
  const link = r.kind === 'budget' ? exploreLink(publicUrl, r) : compareLink(publicUrl, r);
  const gauge = typeKind === 'gauge';
  const what = r.budget
    ? `budget ${r.budget.name}${r.function ? ` (${r.function} ${r.measure})` : ''}`
    : r.measure === 'rate'
      ? `the whole program's ${r.type}${gauge ? ' held' : ' per unit of work'}`
      : `${r.function} (${r.type}, ${gauge ? 'more memory held' : 'slower'})`;
  const change = r.budget
    ? `${r.budget.valueText} over ${r.budget.limitText}`
    : r.measure === 'rate'
      ? `${pct(r.relative)}`
      : `${pp(r.baseline.value)} → ${pp(r.candidate.value)} of the baseline's ${r.type} (${pct(r.relative)})`;
  if (format === 'json')
    return { event: r.kind === 'budget' ? 'budget.breached' : 'regression.opened', regression: r, link };
  // Slack mrkdwn: escape its three control characters in untrusted names.
  const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const text = `${r.kind === 'budget' ? 'Budget breached' : 'Regression'} in ${esc(r.service)}: ${esc(what)} ${esc(change)}`;
  return {
    text,
    blocks: [
      {
        type: 'section',
        text: {
          type: 'mrkdwn',
          text: r.budget
            ? `*${text}*\n${esc(r.budget.severity)} budget of ${esc(r.budget.owner || 'no owner')}, ${r.candidate.profiles} observations, ${((1 - r.p) * 100).toFixed(1)} % sure`
            : `*${text}*\n${r.kind} baseline, ${r.baseline.profiles} vs ${r.candidate.profiles} profiles, q = ${r.q.toPrecision(2)}`,
        },
      },
      {
        type: 'actions',
        elements: [{ type: 'button', text: { type: 'plain_text', text: 'Open the diff' }, url: link }],
      },
    ],
  };
}

const pp = (x: number) => `${(x * 100).toFixed(2)} %`;
const pct = (x: number) => (Number.isFinite(x) ? `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} %` : 'new');

/** Delivers one webhook: a non-2xx answer throws (retried with backoff), except a 4xx other than 408/429, which cannot improve. */
export async function deliverWebhook(payload: unknown): Promise<{ status: number }> {
  const job = parse(webhookJob, payload, 'webhook');
  const where = redactUrl(job.url);
  const res = await fetch(job.url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'user-agent': 'flamewatch' },
    body: JSON.stringify(job.body),
    signal: AbortSignal.timeout(10_000),
  }).catch((err: unknown) => {
    // The failure's text goes to logs and the failed-job list: never the URL itself (it is the secret).
    const cause =
      (err as { cause?: { code?: string } }).cause?.code ??
      (err instanceof Error ? err.message : String(err));
    throw new Error(`webhook ${where} unreachable: ${String(cause).split(job.url).join(where)}`);
  });
  await res.arrayBuffer().catch(() => undefined);
  if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
    throw new UnrecoverableJobError(`webhook ${where} answered ${res.status}`);
  }
  if (!res.ok) throw new Error(`webhook ${where} answered ${res.status}`);
  return { status: res.status };
}

/**
 * The schedule's work: for each (tenant, service, type) with recent profiles,
 * enqueue the comparisons its baseline settings ask for. Job ids are built
 * from the inputs, so a sweep repeated (or run by two workers) adds nothing.
 */
export async function sweep(deps: DetectDeps, payload: unknown): Promise<{ enqueued: number }> {
  const job = parse(sweepJob, payload ?? {}, 'sweep');
  const now = job.now ?? Date.now();
  const end = Math.floor(now / deps.sweepEveryMs) * deps.sweepEveryMs;
  const series = await deps.store.stats.activeSeries(end - 3_600_000);
  let enqueued = 0;
  const add = async (j: DetectJob, idParts: (string | number)[]) => {
    const r = await deps.queue.enqueue(JOBS.detect, j, {
      jobId: `detect-${j.kind}-${regressionId(idParts)}`,
    });
    if (r.added) enqueued++;
  };
  for (const s of series) {
    const cfg = await deps.store.baselines.get(s.tenant, s.service, s.type);
    const options = { fdr: cfg.fdr, minAbsolute: cfg.minAbsolute, minRelative: cfg.minRelative };
    const svc = `{service_name=${JSON.stringify(s.service)}}`;
    // One comparison per type and unit: units are never summed together.
    const type = s.unit ? `${s.type}:${s.unit}` : s.type;
    // Windows and named selections are looked at every sweep, all day, over the same processes: they test at the
    // schedule's share of the configured level (profile/regression.ts SCHEDULE_FDR_SHARE). Versions spend theirs below.
    const base = {
      tenant: s.tenant,
      service: s.service,
      type,
      options: clean({ ...options, fdr: scheduledFdr(cfg.fdr ?? DEFAULT_DETECT_OPTIONS.fdr) }),
      ...(cfg.warmupMs > 0 ? { warmupMs: cfg.warmupMs } : {}),
    };
    if (cfg.windowOffsetMs > 0 && cfg.windowMs > 0) {
      const candidate = { query: svc, from: end - cfg.windowMs, until: end };
      const baseline = {
        query: svc,
        from: candidate.from - cfg.windowOffsetMs,
        until: candidate.until - cfg.windowOffsetMs,
      };
      await add({ ...base, kind: 'window', key: String(cfg.windowOffsetMs), baseline, candidate }, [
        s.tenant,
        s.service,
        type,
        'window',
        end,
        cfg.windowOffsetMs,
      ]);
    }
    if (cfg.versionLabel) {
      // A deploy: the newest value of the version label against the one before it, once enough of it has arrived;
      // again each time its profile count doubles, so the verdict firms up as data comes in, and once more on its
      // final data when it stops receiving profiles (a canary or a benchmark run that ended).
      const history = await deps.store.stats.labelHistory(
        s.tenant,
        s.service,
        s.type,
        cfg.versionLabel,
        end - 7 * 86_400_000,
        end,
      );
      if (history.length >= 2) {
        const [prev, next] = history.slice(-2);
        const stage =
          next.last < end - 2 * deps.sweepEveryMs
            ? `settled-${next.profiles}`
            : Math.floor(Math.log2(next.profiles));
        if (next.profiles >= 5 && prev.profiles >= 5) {
          const sel = (v: string) =>
            `{service_name=${JSON.stringify(s.service)},${cfg.versionLabel}=${JSON.stringify(v)}}`;
          // Alpha spending over the looks at one deploy: the settled look (all its data, once) tests at fdr/2;
          // the looks while it grows (the k-th doubling) share the other half as fdr/2·6/(π²k²), which sums
          // to fdr/2 over every such look there can be.
          const look = Math.max(1, Math.floor(Math.log2(next.profiles)) - 1);
          const fdrAll = cfg.fdr ?? DEFAULT_DETECT_OPTIONS.fdr;
          const fdr =
            typeof stage === 'string' ? fdrAll / 2 : ((fdrAll / 2) * 6) / (Math.PI ** 2 * look * look);
          await add(
            {
              ...base,
              options: clean({ ...options, fdr }),
              kind: 'version',
              key: `${prev.value}→${next.value}`,
              baseline: { query: sel(prev.value), from: prev.first, until: prev.last + 1 },
              candidate: { query: sel(next.value), from: next.first, until: next.last + 1 },
            },
            [s.tenant, s.service, type, 'version', prev.value, next.value, stage],
          );
        }
      }
    }
    for (const named of cfg.selections) {
      const from = end - cfg.windowMs;
      await add(
        {
          ...base,
          kind: 'selection',
          key: named.name,
          baseline: { query: withService(s.service, named.baseline), from, until: end },
          candidate: { query: withService(s.service, named.candidate), from, until: end },
        },
        [s.tenant, s.service, type, 'selection', named.name, end],
      );
    }
  }
  return { enqueued };
}

function clean<T extends object>(o: T): Partial<T> | undefined {
  const out = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
  return Object.keys(out).length ? out : undefined;
}
