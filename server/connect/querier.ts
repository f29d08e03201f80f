/**
 * Pyroscope's query API, `querier.v1.QuerierService`, over Connect: what
 * Grafana's Pyroscope data source (and its Profiles Drilldown app) calls, so a
 * Grafana pointed at Flamewatch works unchanged. Each method answers from the
 * same store queries as the REST API (`/api/v1/flamegraph`, `/timeline`, ...):
 * the same selection, the same names (qualified by file where a name has
 * several), the same units.
 *
 * Pyroscope's names: a profile type's ID is
 * `name:sample_type:sample_unit:period_type:period_unit`; Flamewatch stores
 * the sample type and unit (`cpu`, `nanoseconds`), which are the ID's second and
 * third parts, and answers IDs in Pyroscope's spelling where it knows one
 * (`process_cpu:cpu:nanoseconds:cpu:nanoseconds`). The service is the
 * `service_name` label.
 */
import express, { Router, type Request, type Response } from 'express';
import { qualifyNames } from '../../profile/qualify';
import { parseSelector, type Matcher } from '../../profile/selector';
import { buildTree, flameGraph, type StackValue } from '../../profile/tree';
import { diffProfiles } from '../../profile/diff';
import { encodePprof } from '../../profile/pprof-export';
import type { ProfileQueries } from '../../store/queries';
import type { Selection } from '../../store/selection';
import { statusOf } from '../errors';
import {
  CONNECT_STATUS,
  ConnectError,
  type ConnectCode,
  decodeMessage,
  encodeMessage,
  encodingOf,
  protoRoot,
  type Encoding,
} from './codec';

export interface QuerierDeps {
  queries: ProfileQueries;
  tenantOf: (req: Request) => string;
  /** Where a failure's details go (the client is told only `internal`). */
  log?: (msg: string) => void;
}

type Obj = Record<string, unknown>;
/** A method's answer already encoded as its message's bytes (sent as is in binary). */
const RAW = '\u0000raw';
type Method = (req: Obj, tenant: string) => Promise<Obj>;

/** Pyroscope's profile names and period for the sample types its SDKs send (others: the type's own name). */
const PYROSCOPE_NAMES: Record<string, { name: string; periodType: string; periodUnit: string }> = {
  cpu: { name: 'process_cpu', periodType: 'cpu', periodUnit: 'nanoseconds' },
  samples: { name: 'process_cpu', periodType: 'cpu', periodUnit: 'nanoseconds' },
  wall: { name: 'wall', periodType: 'wall', periodUnit: 'nanoseconds' },
  alloc_objects: { name: 'memory', periodType: 'space', periodUnit: 'bytes' },
  alloc_space: { name: 'memory', periodType: 'space', periodUnit: 'bytes' },
  inuse_objects: { name: 'memory', periodType: 'space', periodUnit: 'bytes' },
  inuse_space: { name: 'memory', periodType: 'space', periodUnit: 'bytes' },
  goroutine: { name: 'goroutine', periodType: 'goroutine', periodUnit: 'count' },
  goroutines: { name: 'goroutines', periodType: 'goroutine', periodUnit: 'count' },
  contentions: { name: 'mutex', periodType: 'contentions', periodUnit: 'count' },
  delay: { name: 'mutex', periodType: 'contentions', periodUnit: 'count' },
};

/** Stacks as a FlameGraph message: names qualified by file as the REST flame graph's, Pyroscope's rows. */
function flameGraphMessage(stacks: StackValue[], maxNodes: number): Obj {
  const {
    sets: [named],
  } = qualifyNames([stacks]);
  const graph = flameGraph(buildTree(named), maxNodes);
  return {
    names: graph.names,
    levels: graph.levels.map((values) => ({ values })),
    total: graph.total,
    maxSelf: graph.maxSelf,
  };
}

/** A stored type and unit as Pyroscope's ProfileType. */
export function profileTypeOf(type: string, unit: string): Obj {
  const known = PYROSCOPE_NAMES[type];
  const name = known?.name ?? type;
  const periodType = known?.periodType ?? type;
  const periodUnit = known?.periodUnit ?? unit;
  return {
    ID: `${name}:${type}:${unit}:${periodType}:${periodUnit}`,
    name,
    sampleType: type,
    sampleUnit: unit,
    periodType,
    periodUnit,
  };
}

/** The stored type and unit a ProfileType ID selects: its sample type and unit (parts 2 and 3). */
export function typeOfId(id: unknown): { type: string; unit: string } {
  const parts = String(id ?? '').split(':');
  if (!(parts.length === 5 || (parts.length === 6 && parts[5] === 'delta')) || !parts[1] || !parts[2])
    throw new ConnectError(
      'invalid_argument',
      `profile_typeID must be name:sample_type:sample_unit:period_type:period_unit (ProfileTypes lists them), not ${JSON.stringify(String(id ?? '').slice(0, 200))}`,
    );
  return { type: parts[1], unit: parts[2] };
}

/**
 * A Pyroscope label selector, `{service_name="api", env="prod"}`: its matchers, the service's apart, and
 * those on Pyroscope's own labels (`__profile_type__`, `__name__`: the profile type, which the request's
 * profile_typeID already names) apart from the labels the store filters on.
 */
function selectorOf(text: unknown): { service: Matcher[]; type: Matcher[]; labels: Matcher[] } {
  const t = String(text ?? '').trim() || '{}';
  const sel = parseSelector(t.startsWith('{') ? t : `{${t}}`, {
    requireService: false,
    serviceLabels: ['service_name'],
  });
  const service: Matcher[] = sel.service ? [{ name: 'service_name', op: '=', value: sel.service }] : [];
  const type: Matcher[] = [];
  const labels: Matcher[] = [];
  for (const m of sel.matchers)
    (m.name === 'service_name'
      ? service
      : m.name === '__profile_type__' || m.name === '__name__'
        ? type
        : labels
    ).push(m);
  return { service, type, labels };
}

function rangeOf(req: Obj): { from: number; until: number } {
  const from = Number(req.start ?? 0);
  const until = Number(req.end ?? 0);
  // Milliseconds from 1970 to 2500: anything else is a mistake ClickHouse would answer with an internal error.
  const ok = (x: number) => Number.isSafeInteger(x) && x >= 0 && x <= 16_725_225_600_000;
  if (!ok(from) || !ok(until))
    throw new ConnectError('invalid_argument', 'start and end must be Unix milliseconds');
  if (until < from)
    throw new ConnectError(
      'invalid_argument',
      `start (${String(req.start)}) must not be after end (${String(req.end)})`,
    );
  return { from, until };
}

export function querierRouter({ queries, tenantOf, log }: QuerierDeps): Router {
  /** The tenant's services a selector's service_name matchers allow (all with none). */
  async function servicesOf(tenant: string, service: Matcher[]): Promise<string[]> {
    let kept = await queries.services(tenant);
    for (const m of service) kept = await queries.matching(kept, m);
    return kept;
  }

  /** Whether a stored type and unit passes a selector's __profile_type__ / __name__ matchers (RE2, in ClickHouse). */
  async function typePasses(type: Matcher[], pt: Obj): Promise<boolean> {
    for (const m of type) {
      const value = String(m.name === '__name__' ? pt.name : pt.ID);
      if ((await queries.matching([value], m)).length === 0) return false;
    }
    return true;
  }

  /** One selection per service a request selects, in the unit its profile_typeID names. */
  async function selectionsOf(req: Obj, tenant: string): Promise<Selection[]> {
    const { type, unit } = typeOfId(req.profileTypeID);
    const { service, type: typeMatchers, labels } = selectorOf(req.labelSelector);
    const range = rangeOf(req);
    const stackTraceSelector = req.stackTraceSelector as { callSite?: unknown[] } | undefined;
    if (stackTraceSelector?.callSite?.length)
      throw new ConnectError(
        'unimplemented',
        'stack_trace_selector (a call site to focus on) is not served yet',
      );
    if (!(await typePasses(typeMatchers, profileTypeOf(type, unit)))) return [];
    return (await servicesOf(tenant, service)).map((s) => ({
      tenant,
      service: s,
      type,
      unit,
      range,
      matchers: labels,
    }));
  }

  async function stacksOf(req: Obj, tenant: string) {
    return (await Promise.all((await selectionsOf(req, tenant)).map((sel) => queries.stacks(sel)))).flat();
  }

  function maxNodesOf(req: Obj): number {
    const n = Number(req.maxNodes ?? 0);
    return Number.isFinite(n) && n > 0 ? Math.min(n, 10_000_000) : 8192;
  }

  const methods: Record<string, { request: string; response: string; run: Method }> = {
    ProfileTypes: {
      request: 'querier.v1.ProfileTypesRequest',
      response: 'querier.v1.ProfileTypesResponse',
      // Every type any service of the tenant holds (an empty range succeeds: Grafana's health check asks 1000..4000 ms).
      run: async (_req, tenant) => {
        const seen = new Map<string, Obj>();
        for (const s of await queries.services(tenant))
          for (const t of await queries.profileTypes(tenant, s)) {
            const pt = profileTypeOf(t.type, t.unit);
            seen.set(String(pt.ID), pt);
          }
        return { profileTypes: [...seen.values()].sort((a, b) => String(a.ID).localeCompare(String(b.ID))) };
      },
    },
    LabelNames: {
      request: 'types.v1.LabelNamesRequest',
      response: 'types.v1.LabelNamesResponse',
      run: async (req, tenant) => {
        const { from, until } = rangeOf(req);
        const names = new Set<string>(['service_name', '__profile_type__', '__name__']);
        for (const s of await servicesOfMatchers(tenant, req.matchers))
          for (const n of await queries.labelNames(tenant, s, from, until)) names.add(n);
        return { names: [...names].sort() };
      },
    },
    LabelValues: {
      request: 'types.v1.LabelValuesRequest',
      response: 'types.v1.LabelValuesResponse',
      run: async (req, tenant) => {
        const { from, until } = rangeOf(req);
        const name = String(req.name ?? '');
        if (!name) throw new ConnectError('invalid_argument', 'name (the label) is required');
        const services = await servicesOfMatchers(tenant, req.matchers);
        if (name === 'service_name') return { names: services.sort() };
        if (name === '__profile_type__' || name === '__name__') {
          const out = new Set<string>();
          for (const s of services)
            for (const t of await queries.profileTypes(tenant, s))
              out.add(String(profileTypeOf(t.type, t.unit)[name === '__name__' ? 'name' : 'ID']));
          return { names: [...out].sort() };
        }
        const values = new Set<string>();
        for (const s of services)
          for (const v of await queries.labelValues(tenant, s, name, from, until)) values.add(v);
        return { names: [...values].sort() };
      },
    },
    Series: {
      request: 'querier.v1.SeriesRequest',
      response: 'querier.v1.SeriesResponse',
      run: async (req, tenant) => {
        const { from, until } = rangeOf(req);
        const wanted = (req.labelNames as string[] | undefined)?.filter(Boolean) ?? [];
        // Grafana's Profiles Drilldown lists services and their types as Series of service_name and
        // __profile_type__. Each selector is judged on its own (its services and types), the answers joined.
        const selectors = ((req.matchers as string[] | undefined) ?? []).filter((t) => t.trim());
        const out = new Map<string, Obj>();
        for (const text of selectors.length ? selectors : ['{}']) {
          const sel = selectorOf(text);
          const typeOk = new Map<string, boolean>();
          for (const s of await servicesOf(tenant, sel.service)) {
            let sets = await queries.labelSets(tenant, s, from, until);
            // Each label matcher judged once over the distinct values it meets.
            for (const m of sel.labels) {
              const kept = new Set(
                await queries.matching([...new Set(sets.map((x) => x.labels[m.name] ?? ''))], m),
              );
              sets = sets.filter((x) => kept.has(x.labels[m.name] ?? ''));
            }
            for (const set of sets) {
              const pt = profileTypeOf(set.type, set.unit);
              const id = String(pt.ID);
              if (!typeOk.has(id)) typeOk.set(id, await typePasses(sel.type, pt));
              if (!typeOk.get(id)) continue;
              const all: Record<string, string> = {
                ...set.labels,
                service_name: s,
                __profile_type__: String(pt.ID),
                __name__: String(pt.name),
              };
              const pairs = Object.entries(all)
                .filter(([k]) => wanted.length === 0 || wanted.includes(k))
                .sort(([a], [b]) => a.localeCompare(b))
                .map(([name, value]) => ({ name, value }));
              out.set(JSON.stringify(pairs), { labels: pairs });
            }
          }
        }
        return { labelsSet: [...out.values()] };
      },
    },
    SelectMergeStacktraces: {
      request: 'querier.v1.SelectMergeStacktracesRequest',
      response: 'querier.v1.SelectMergeStacktracesResponse',
      run: async (req, tenant) => {
        const format = String(req.format ?? 'PROFILE_FORMAT_UNSPECIFIED');
        if (format !== 'PROFILE_FORMAT_UNSPECIFIED' && format !== 'PROFILE_FORMAT_FLAMEGRAPH')
          throw new ConnectError('unimplemented', `format ${format} is not served; ask for the flame graph`);
        return { flamegraph: flameGraphMessage(await stacksOf(req, tenant), maxNodesOf(req)) };
      },
    },
    SelectSeries: {
      request: 'querier.v1.SelectSeriesRequest',
      response: 'querier.v1.SelectSeriesResponse',
      run: async (req, tenant) => {
        const asked = Number(req.step ?? 0);
        if (!(asked >= 0.001 && asked <= 31 * 86_400))
          throw new ConnectError('invalid_argument', 'step must be from 1 ms to 31 days (it is in seconds)');
        // Steps are whole seconds here (a finer one is taken as 1 s).
        const step = Math.max(1, Math.round(asked));
        const { from, until } = rangeOf(req);
        if ((until - from) / (step * 1000) > 20_000)
          throw new ConnectError('invalid_argument', `step ${step} s gives more than 20000 points`);
        const groupBy = ((req.groupBy as string[] | undefined) ?? []).filter(Boolean);
        const byService = groupBy.includes('service_name');
        const labelGroups = groupBy.filter((g) => g !== 'service_name');
        const limit = Number(req.limit ?? 0) > 0 ? Number(req.limit) : Infinity;
        const series: { labels: { name: string; value: string }[]; points: Obj[]; sum: number }[] = [];
        const merged = new Map<string, (typeof series)[number]>();
        for (const sel of await selectionsOf(req, tenant)) {
          for (const g of await queries.timelines(sel, step, labelGroups)) {
            const labels = [
              ...(byService ? [{ name: 'service_name', value: sel.service }] : []),
              ...labelGroups.map((name, i) => ({ name, value: g.group[i] })),
            ].sort((a, b) => a.name.localeCompare(b.name));
            const key = JSON.stringify(labels);
            let s = merged.get(key);
            if (!s) merged.set(key, (s = { labels, points: [], sum: 0 }));
            for (const p of g.points) {
              s.points.push({ value: p.value, timestamp: p.time });
              s.sum += p.value;
            }
          }
        }
        for (const s of merged.values()) {
          // Several services in one series: add their points of a step together.
          const byTime = new Map<number, number>();
          for (const p of s.points)
            byTime.set(p.timestamp as number, (byTime.get(p.timestamp as number) ?? 0) + (p.value as number));
          s.points = [...byTime]
            .sort((a, b) => a[0] - b[0])
            .map(([timestamp, value]) => ({ timestamp, value }));
          series.push(s);
        }
        series.sort((a, b) => b.sum - a.sum);
        return { series: series.slice(0, limit).map(({ labels, points }) => ({ labels, points })) };
      },
    },
    SelectMergeProfile: {
      request: 'querier.v1.SelectMergeProfileRequest',
      response: 'google.v1.Profile',
      // The merged profile as pprof (what /api/v1/export?format=pprof sends, before gzip), files and lines kept.
      run: async (req, tenant) => {
        const sels = await selectionsOf(req, tenant);
        const { type, unit } = typeOfId(req.profileTypeID);
        const stacks = (await Promise.all(sels.map((sel) => queries.stacks(sel, { source: true })))).flat();
        // The pprof bytes are the answer's wire form: sent as they are (a decode and re-encode would round
        // 64-bit values through doubles).
        return { [RAW]: Buffer.from(encodePprof(stacks, { type, unit }, rangeOf(req))) };
      },
    },
    SelectMergeSpanProfile: {
      request: 'querier.v1.SelectMergeSpanProfileRequest',
      response: 'querier.v1.SelectMergeSpanProfileResponse',
      // The samples recorded under the given spans (agents that label samples with span ids: Go's otel-profiling,
      // Datadog's); an empty graph when the data has none.
      run: async (req, tenant) => {
        const spans = ((req.spanSelector as string[] | undefined) ?? []).filter(Boolean);
        const stacks = (
          await Promise.all((await selectionsOf(req, tenant)).map((sel) => queries.spanStacks(sel, spans)))
        ).flat();
        return { flamegraph: flameGraphMessage(stacks, maxNodesOf(req)) };
      },
    },
    Diff: {
      request: 'querier.v1.DiffRequest',
      response: 'querier.v1.DiffResponse',
      run: async (req, tenant) => {
        const left = (req.left ?? {}) as Obj;
        const right = (req.right ?? {}) as Obj;
        const [l, r] = await Promise.all([stacksOf(left, tenant), stacksOf(right, tenant)]);
        const {
          sets: [ql, qr],
        } = qualifyNames([l, r]);
        return {
          flamegraph: diffLevels(diffProfiles(ql, qr, Math.max(maxNodesOf(left), maxNodesOf(right)), 0)),
        };
      },
    },
  };

  /** Services a list of selectors (`{service_name="x"}`) names; every service with none. */
  async function servicesOfMatchers(tenant: string, selectors: unknown): Promise<string[]> {
    const list = ((selectors as string[] | undefined) ?? []).filter((s) => s.trim());
    if (list.length === 0) return queries.services(tenant);
    const out = new Set<string>();
    for (const text of list) for (const s of await servicesOf(tenant, selectorOf(text).service)) out.add(s);
    return [...out];
  }

  const router = Router();
  router.post(
    '/querier.v1.QuerierService/:method',
    express.raw({ type: () => true, limit: '4mb' }),
    (req: Request, res: Response) => {
      const encoding = encodingOf(req.headers['content-type']);
      void answer(req, res, encoding);
    },
  );

  async function answer(req: Request, res: Response, encoding: Encoding | undefined): Promise<void> {
    try {
      if (!encoding)
        throw Object.assign(
          new ConnectError('invalid_argument', 'send application/proto or application/json (Connect unary)'),
          { status: 415 },
        );
      const method = methods[String(req.params.method)];
      if (!method)
        throw new ConnectError(
          'unimplemented',
          `querier.v1.QuerierService/${String(req.params.method)} is not served`,
        );
      const root = protoRoot();
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const input = decodeMessage(root.lookupType(method.request), body, encoding);
      const output = await method.run(input, tenantOf(req));
      const type = root.lookupType(method.response);
      const raw = output[RAW] as Buffer | undefined;
      res
        .status(200)
        .type(encoding === 'proto' ? 'application/proto' : 'application/json')
        .send(
          raw === undefined
            ? encodeMessage(type, output, encoding)
            : encoding === 'proto'
              ? raw
              : Buffer.from(JSON.stringify(type.toObject(type.decode(raw), { longs: String, arrays: true }))),
        );
    } catch (err) {
      sendError(res, err, log);
    }
  }

  return router;
}

/**
 * A failure as Connect says it: JSON `{ code, message }`. The status is the server's own for the error (as
 * `/ingest` and the REST API answer it: 413 for a body over the limit, 503 while ClickHouse is away), the code
 * Connect's nearest; anything unexpected is `internal` with no detail.
 */
export function sendError(res: Response, err: unknown, log?: (msg: string) => void): void {
  let status: number;
  let code: ConnectCode;
  let message: string;
  if (err instanceof ConnectError) {
    code = err.code;
    status = (err as ConnectError & { status?: number }).status ?? CONNECT_STATUS[code];
    message = err.message;
  } else {
    status = statusOf(err);
    code =
      status === 401
        ? 'unauthenticated'
        : status === 403
          ? 'permission_denied'
          : status === 404
            ? 'not_found'
            : status === 413 || status === 429
              ? 'resource_exhausted'
              : status === 503
                ? 'unavailable'
                : status < 500
                  ? 'invalid_argument'
                  : 'internal';
    message =
      status < 500 || status === 503
        ? String((err as { message?: unknown })?.message ?? '')
        : 'internal error';
  }
  if (status >= 500 && status !== 503) log?.(`connect: ${(err as Error)?.stack ?? String(err)}`);
  if (res.headersSent) return;
  if (status === 503 || status === 429)
    res.setHeader('Retry-After', String((err as { retryAfter?: number } | undefined)?.retryAfter ?? 5));
  res.status(status).type('application/json').send(JSON.stringify({ code, message }));
}

/**
 * A diff (profile/diff.ts: nodes in pre-order with depths) as Pyroscope's FlameGraphDiff: a row per depth, 7
 * numbers a node, [left offset, left total, left self, right offset, right total, right self, name index], each
 * offset the gap after the previous node of the row on that side.
 */
export function diffLevels(d: ReturnType<typeof diffProfiles>): Obj {
  const { name, depth, leftTotal, leftSelf, rightTotal, rightSelf } = d.tree;
  const levels: number[][] = [];
  // Per depth: the next free x on each side under the current parent, and each row's end so far.
  const startL: number[] = [];
  const startR: number[] = [];
  const endL: number[] = [];
  const endR: number[] = [];
  let maxSelf = 0;
  for (let i = 0; i < name.length; i++) {
    const dep = depth[i];
    // A node starts where its parent's next child goes (the parent's own start for its first child).
    const xl = dep === 0 ? 0 : startL[dep];
    const xr = dep === 0 ? 0 : startR[dep];
    const row = (levels[dep] ??= []);
    row.push(
      xl - (endL[dep] ?? 0),
      leftTotal[i],
      leftSelf[i],
      xr - (endR[dep] ?? 0),
      rightTotal[i],
      rightSelf[i],
      name[i],
    );
    endL[dep] = xl + leftTotal[i];
    endR[dep] = xr + rightTotal[i];
    startL[dep] = xl + leftTotal[i];
    startR[dep] = xr + rightTotal[i];
    startL[dep + 1] = xl;
    startR[dep + 1] = xr;
    maxSelf = Math.max(maxSelf, leftSelf[i], rightSelf[i]);
  }
  const left = leftTotal[0] ?? 0;
  const right = rightTotal[0] ?? 0;
  return {
    names: d.names,
    levels: levels.map((values) => ({ values })),
    total: left + right,
    maxSelf,
    leftTicks: left,
    rightTicks: right,
  };
}
