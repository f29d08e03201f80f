/**
 * Regression endpoints under /api/v1: the stored regressions and their status,
 * baseline settings per service, an on-demand comparison with the detector's
 * statistics (what CI and the PR bot call), and the job queue's state.
 */
import express, { Router, type Request, type RequestHandler } from 'express';
import { z } from 'zod';
import { InputError } from '../../profile/errors';
import type { FailedJob, JobQueue } from '../../profile/jobs';
import type { Detection } from '../../profile/regression';
import { compareView, exploreView, redactUrl, type ComparedSides } from '../../profile/detect-job';
import { compareSelections, type BaselineConfig, type Store } from '../../store';
import { checkedSelector, DEFAULT_PR_BASELINE } from '../../profile/pull-request';
import type { Regression as WireRegression } from './wire';
import { numberParam, param, required, selectionOf } from './params';

export interface RegressionDeps {
  store: Store;
  tenantOf: (req: Request) => string;
  jobs?: JobQueue;
  /**
   * The tenant whose jobs a request may see and retry, or undefined for all
   * (open mode, the operator): the queue is shared by every tenant, so a
   * tenant's token sees only failed jobs whose payload names its tenant, and
   * no queue-wide counts.
   */
  jobTenant?: (req: Request) => string | undefined;
}

type AsyncHandler = (req: Request, res: Parameters<RequestHandler>[1]) => Promise<void>;
const route =
  (fn: AsyncHandler): RequestHandler =>
  (req, res) =>
    fn(req, res);

const STATUSES = ['open', 'acknowledged', 'resolved'] as const;
/** What a listing may filter on: also `suspected` (seen once, awaiting a disjoint window to confirm it). */
const LISTED = ['suspected', ...STATUSES] as const;

const baselineBody = z
  .object({
    windowOffsetMs: z
      .number()
      .int()
      .min(0)
      .max(90 * 86_400_000),
    windowMs: z
      .number()
      .int()
      .min(60_000)
      .max(7 * 86_400_000),
    versionLabel: z.string().max(128),
    warmupMs: z.number().int().min(0).max(3_600_000),
    selections: z
      .array(
        z.object({
          name: z.string().min(1).max(128),
          baseline: z.string().max(2048),
          candidate: z.string().max(2048),
        }),
      )
      .max(50),
    minAbsolute: z.number().min(0).max(1),
    minRelative: z.number().min(0).max(100),
    fdr: z.number().gt(0).lt(1),
    pullRequests: z
      .object({
        repository: z.string().regex(/^[A-Za-z0-9_.-]{1,100}\/[A-Za-z0-9_.-]{1,100}$/, 'must be owner/name'),
        baseline: z.string().max(2048).optional(),
        status: z.boolean().optional(),
      })
      .strict()
      .nullable(),
  })
  .partial()
  .strict();

/** A failed job as listed: a webhook's URL (a Slack webhook's path is its secret) shown by its origin only. */
function shown(j: FailedJob): FailedJob {
  const p = j.payload as { url?: unknown } | null;
  return p && typeof p === 'object' && typeof p.url === 'string'
    ? { ...j, payload: { ...p, url: redactUrl(p.url) } }
    : j;
}

/** JSON cannot say Infinity: a relative change from zero is sent as null. */
function finiteJson(d: Detection): unknown {
  return JSON.parse(
    JSON.stringify(d, (_k, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? null : v)),
  );
}

export function regressionsRouter({
  store,
  tenantOf,
  jobs,
  jobTenant = () => undefined,
}: RegressionDeps): Router {
  const api = Router();
  const json = express.json({ limit: '64kb' });

  api.get(
    '/regressions',
    route(async (req, res) => {
      const status = param(req, 'status');
      // `all` (what the UI's picker offers) is the same as no filter.
      if (status && status !== 'all' && !(LISTED as readonly string[]).includes(status))
        throw new InputError('invalid_parameter', `status must be one of ${LISTED.join(', ')} or all`);
      const limit = numberParam(req, 'limit', 1, 1000) ?? 200;
      const list = await store.regressions.list(tenantOf(req), {
        service: param(req, 'service'),
        status: status === 'all' ? undefined : status,
        limit: Math.floor(limit),
      });
      res.json(list.map(withView) satisfies WireRegression[]);
    }),
  );

  api.get(
    '/regressions/:id',
    route(async (req, res) => {
      const r = await store.regressions.get(tenantOf(req), String(req.params.id));
      if (!r) {
        res.status(404).json({ error: `no regression ${String(req.params.id).slice(0, 64)}` });
        return;
      }
      res.json(withView(r) satisfies WireRegression);
    }),
  );

  api.patch(
    '/regressions/:id',
    json,
    route(async (req, res) => {
      const status = (req.body as { status?: unknown } | undefined)?.status;
      if (typeof status !== 'string' || !(STATUSES as readonly string[]).includes(status)) {
        throw new InputError(
          'invalid_parameter',
          `send {"status": one of ${STATUSES.map((s) => `"${s}"`).join(', ')}}`,
        );
      }
      const r = await store.regressions.setStatus(
        tenantOf(req),
        String(req.params.id),
        status as (typeof STATUSES)[number],
      );
      if (!r) {
        res.status(404).json({ error: `no regression ${String(req.params.id).slice(0, 64)}` });
        return;
      }
      res.json(withView(r) satisfies WireRegression);
    }),
  );

  // Compares two selections now, with the scheduled detector's statistics.
  api.get(
    '/compare',
    route(async (req, res) => {
      const tenant = tenantOf(req);
      const left = selectionOf(req, tenant, 'left');
      const right = selectionOf(req, tenant, 'right');
      const options = {
        fdr: numberParam(req, 'fdr', 1e-6, 0.5),
        minAbsolute: numberParam(req, 'minAbsolute', 0, 1),
        minRelative: numberParam(req, 'minRelative', 0, 100),
      };
      // Ad hoc, nothing is left out unless asked: `warmupMs` drops each agent process's first ms, as the schedule does.
      const { detection, unit } = await compareSelections(
        store,
        left,
        right,
        options,
        numberParam(req, 'warmupMs', 0, 3_600_000) ?? 0,
      );
      res.json({ type: left.type, unit, ...(finiteJson(detection) as object) });
    }),
  );

  api.get(
    '/baselines',
    route(async (req, res) => {
      res.json(
        await store.baselines.get(
          tenantOf(req),
          required(req, 'service', 'service=<name>'),
          param(req, 'type') ?? '*',
        ),
      );
    }),
  );

  api.put(
    '/baselines',
    json,
    route(async (req, res) => {
      const tenant = tenantOf(req);
      const service = required(req, 'service', 'service=<name>');
      const type = param(req, 'type') ?? '*';
      const parsed = baselineBody.safeParse(req.body);
      if (!parsed.success)
        throw new InputError(
          'invalid_parameter',
          `invalid baseline settings: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'body'}: ${i.message}`).join('; ')}`,
        );
      const { pullRequests, ...rest } = parsed.data;
      const merged: BaselineConfig = {
        ...(await store.baselines.get(tenant, service, type)),
        ...rest,
      };
      if (pullRequests === null) delete merged.pullRequests;
      else if (pullRequests) {
        try {
          checkedSelector(service, pullRequests.baseline ?? DEFAULT_PR_BASELINE);
        } catch (err) {
          throw new InputError(
            'invalid_parameter',
            `invalid baseline settings: pullRequests.baseline: ${(err as Error).message}`,
          );
        }
        merged.pullRequests = pullRequests;
      }
      await store.baselines.set(tenant, service, type, merged);
      res.json(merged);
    }),
  );

  api.get(
    '/jobs',
    route(async (req, res) => {
      if (!jobs) {
        res.status(404).json({ error: 'this server runs no job queue' });
        return;
      }
      const only = jobTenant(req);
      if (only !== undefined) {
        res.json({
          failed: (await jobs.failed(MAX_FAILED_SCANNED))
            .filter((j) => payloadTenant(j.payload) === only)
            .slice(0, 50)
            .map(shown),
        });
        return;
      }
      const [counts, failed] = await Promise.all([jobs.counts(), jobs.failed(50)]);
      res.json({ counts, failed: failed.map(shown) });
    }),
  );

  api.post(
    '/jobs/:id/retry',
    route(async (req, res) => {
      if (!jobs) {
        res.status(404).json({ error: 'this server runs no job queue' });
        return;
      }
      const id = String(req.params.id);
      const only = jobTenant(req);
      // Another tenant's job is answered as one that does not exist.
      const mine =
        only === undefined ||
        (await jobs.failed(MAX_FAILED_SCANNED)).some((j) => j.id === id && payloadTenant(j.payload) === only);
      const ok = mine && (await jobs.retry(id));
      res
        .status(ok ? 200 : 404)
        .json(
          ok ? { retried: req.params.id } : { error: `no failed job ${String(req.params.id).slice(0, 64)}` },
        );
    }),
  );

  return api;
}

/** How many of the newest failed jobs a tenant's view looks through for its own. */
const MAX_FAILED_SCANNED = 1000;

function payloadTenant(payload: unknown): string | undefined {
  const t = (payload as { tenant?: unknown } | null | undefined)?.tenant;
  return typeof t === 'string' ? t : undefined;
}

/** A regression with the UI state that shows exactly its comparison (the UI links it). */
function withView<T extends ComparedSides & { kind?: string }>(r: T): T & { view: Record<string, string> } {
  // A budget breach is shown as the flame graph of the window that broke it; a regression as the diff.
  return { ...r, view: r.kind === 'budget' ? exploreView(r) : compareView(r) };
}
