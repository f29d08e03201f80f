import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { Router, type Request, type RequestHandler } from 'express';
import { diffProfiles } from '../../profile/diff';
import { InputError } from '../../profile/errors';
import { formatFolded } from '../../profile/folded';
import { encodePprof } from '../../profile/pprof-export';
import { readSource, rootsFor, type SourceRoots } from '../source';
import { qualifyNames, type Qualified } from '../../profile/qualify';
import { functionLines } from '../../profile/source-lines';
import { encodeSpeedscope } from '../../profile/speedscope';
import { buildTree, flameGraph, topFunctions, type StackValue } from '../../profile/tree';
import type { ProfileQueries } from '../../store/queries';
import type { Selection } from '../../store/selection';
import type {
  DiffPayload,
  FlamePayload,
  FunctionLinesPayload,
  ProfileType,
  ShownFunction,
  TimelinePayload,
  TopPayload,
} from './wire';
import { intParam, param, rangeOf, required, selectionOf } from './params';

const gzipAsync = promisify(gzip);

/** Files of one function whose source a line view reads. */
const MAX_SOURCE_FILES = 8;

export interface ApiDeps {
  queries: ProfileQueries;
  tenantOf: (req: Request) => string;
  sourceRoots?: SourceRoots;
}

// Express 5 forwards rejected promises to the error middleware.
type AsyncHandler = (req: Request, res: Parameters<RequestHandler>[1]) => Promise<void>;
const route =
  (fn: AsyncHandler): RequestHandler =>
  (req, res) =>
    fn(req, res);

/** The query API under /api/v1: JSON answers, errors as `{ error }` through the error middleware. */
export function apiRouter({ queries, tenantOf, sourceRoots }: ApiDeps): Router {
  const api = Router();

  /**
   * The selection in one unit: the one asked for (`type=cpu:nanoseconds`), else the one most of its profiles
   * are in (ties by name). Values of different units are never summed; the answer names the others.
   */
  async function oneUnit(sel: Selection): Promise<{ sel: Selection; unit: string; otherUnits?: string[] }> {
    if (sel.unit !== undefined) return { sel, unit: sel.unit };
    const units = await queries.unitsOf(sel);
    if (units.length === 0) return { sel, unit: '' };
    return {
      sel: { ...sel, unit: units[0] },
      unit: units[0],
      ...(units.length > 1 ? { otherUnits: units.slice(1) } : {}),
    };
  }

  api.get(
    '/services',
    route(async (req, res) => {
      res.json(await queries.services(tenantOf(req)));
    }),
  );

  api.get(
    '/profile-types',
    route(async (req, res) => {
      res.json(
        (await queries.profileTypes(
          tenantOf(req),
          required(req, 'service', 'service=<name>'),
        )) satisfies ProfileType[],
      );
    }),
  );

  api.get(
    '/labels',
    route(async (req, res) => {
      const range = rangeOf(req, 'now-7d');
      res.json(
        await queries.labelNames(
          tenantOf(req),
          required(req, 'service', 'service=<name>'),
          range.from,
          range.until,
        ),
      );
    }),
  );

  api.get(
    '/label-values',
    route(async (req, res) => {
      const range = rangeOf(req, 'now-7d');
      const service = required(req, 'service', 'service=<name>');
      const label = required(req, 'label', 'label=<label name>');
      const order = param(req, 'order') ?? 'name';
      if (order !== 'name' && order !== 'recent')
        throw new InputError('invalid_parameter', 'order must be name or recent');
      res.json(await queries.labelValues(tenantOf(req), service, label, range.from, range.until, order));
    }),
  );

  api.get(
    '/top',
    route(async (req, res) => {
      const limit = intParam(req, 'limit', 100, 0, 1_000_000);
      const { sel, unit, otherUnits } = await oneUnit(selectionOf(req, tenantOf(req)));
      const qualified = qualifyNames([await queries.stacks(sel)]);
      const [stacks] = qualified.sets;
      const functions = topFunctions(stacks);
      const total = totalOf(stacks);
      res.json({
        type: sel.type,
        unit,
        ...(otherUnits ? { otherUnits } : {}),
        total,
        functions: (limit === 0 ? functions : functions.slice(0, limit)).map((f) => withFile(f, qualified)),
      } satisfies TopPayload);
    }),
  );

  api.get(
    '/function-lines',
    route(async (req, res) => {
      const name = required(req, 'function', 'function=<name>');
      const file = param(req, 'file');
      const tenant = tenantOf(req);
      const { sel, unit, otherUnits } = await oneUnit(selectionOf(req, tenant));
      const stacks = await queries.stacks(sel, { source: true });
      const total = totalOf(stacks);
      // Each file's code beside its lines, where the operator's source roots hold it (server/source.ts).
      const roots = rootsFor(sourceRoots, tenant);
      // The code of the costliest few files only (a name in many files must not read them all).
      const files = await Promise.all(
        functionLines(stacks, name, file).map(async (f, i) => {
          if (!f.file || i >= MAX_SOURCE_FILES) return f;
          const src = await readSource(
            roots,
            f.file,
            f.lines.map((l) => l.line),
          );
          return 'lines' in src ? { ...f, source: src.lines } : { ...f, sourceMissing: src.missing };
        }),
      );
      res.json({
        type: sel.type,
        unit,
        ...(otherUnits ? { otherUnits } : {}),
        function: name,
        total,
        files,
      } satisfies FunctionLinesPayload);
    }),
  );

  api.get(
    '/flamegraph',
    route(async (req, res) => {
      const maxNodes = intParam(req, 'maxNodes', 8192, 0, 10_000_000);
      const minShareText = param(req, 'minShare');
      const minShare = minShareText === undefined ? 0 : Number(minShareText);
      if (!(minShare >= 0 && minShare < 1))
        throw new InputError('invalid_parameter', 'minShare must be a fraction of the total, from 0 to 1');
      const { sel, unit, otherUnits } = await oneUnit(selectionOf(req, tenantOf(req)));
      const {
        sets: [stacks],
        fileOf,
      } = qualifyNames([await queries.stacks(sel)]);
      const tree = buildTree(stacks);
      const graph = flameGraph(tree, maxNodes, Math.ceil(tree.total[0] * minShare));
      res.json({
        type: sel.type,
        unit,
        ...(otherUnits ? { otherUnits } : {}),
        ...graph,
        ...filesOf(graph.names, fileOf),
      } satisfies FlamePayload);
    }),
  );

  api.get(
    '/diff',
    route(async (req, res) => {
      const tenant = tenantOf(req);
      const maxNodes = intParam(req, 'maxNodes', 8192, 0, 10_000_000);
      const limit = intParam(req, 'limit', 200, 0, 1_000_000);
      const [l, r] = await Promise.all([
        oneUnit(selectionOf(req, tenant, 'left')),
        oneUnit(selectionOf(req, tenant, 'right')),
      ]);
      if (l.unit && r.unit && l.unit !== r.unit) {
        throw new InputError(
          'invalid_parameter',
          `${l.sel.type} is in ${l.unit} on the left and in ${r.unit} on the right; pass type=${l.sel.type}:<unit> to compare one unit`,
        );
      }
      // A side with no data takes the other's unit, so its (empty) selection reads the same unit.
      const unit = l.unit || r.unit;
      const [left, right] = [l, r].map((s) => (s.unit || !unit ? s.sel : { ...s.sel, unit }));
      const otherUnits = [...new Set([...(l.otherUnits ?? []), ...(r.otherUnits ?? [])])];
      const [leftStacks, rightStacks, leftSpan, rightSpan] = await Promise.all([
        queries.stacks(left),
        queries.stacks(right),
        queries.dataSpanMs(left),
        queries.dataSpanMs(right),
      ]);
      const qualified = qualifyNames([leftStacks, rightStacks]);
      const [l2, r2] = qualified.sets;
      const diff = diffProfiles(l2, r2, maxNodes, limit);
      res.json({
        type: left.type,
        unit,
        ...(otherUnits.length ? { otherUnits } : {}),
        ...diff,
        ...filesOf(diff.names, qualified.fileOf),
        functions: diff.functions.map((f) => withFile(f, qualified)),
        // Per second of the time each side's data covers, not of the range asked (a deploy's first half has no new version).
        left: { ...diff.left, spanMs: leftSpan },
        right: { ...diff.right, spanMs: rightSpan },
      } satisfies DiffPayload);
    }),
  );

  api.get(
    '/timeline',
    route(async (req, res) => {
      const asked = selectionOf(req, tenantOf(req));
      const span = (asked.range.until - asked.range.from) / 1000;
      const step = intParam(req, 'step', Math.max(10, Math.ceil(span / 200)), 1, 31 * 86400);
      if (span / step > 20_000)
        throw new InputError(
          'invalid_parameter',
          `step ${step}s gives ${Math.ceil(span / step)} points; the limit is 20000`,
        );
      const { sel, unit, otherUnits } = await oneUnit(asked);
      const points = await queries.timeline(sel, step);
      // Zero-fill on ClickHouse's epoch-aligned step boundaries, so gaps show as gaps.
      const stepMs = step * 1000;
      const byTime = new Map(points.map((p) => [p.time, p.value]));
      const filled: [number, number][] = [];
      for (let t = Math.floor(sel.range.from / stepMs) * stepMs; t < sel.range.until; t += stepMs)
        filled.push([t, byTime.get(t) ?? 0]);
      res.json({
        type: sel.type,
        unit,
        ...(otherUnits ? { otherUnits } : {}),
        step,
        points: filled,
      } satisfies TimelinePayload);
    }),
  );

  api.get(
    '/export',
    route(async (req, res) => {
      const format = param(req, 'format') ?? 'pprof';
      if (format !== 'pprof' && format !== 'folded' && format !== 'speedscope') {
        throw new InputError(
          'unsupported_format',
          `format must be pprof, folded or speedscope, not ${JSON.stringify(format.slice(0, 40))}`,
        );
      }
      const { sel, unit } = await oneUnit(selectionOf(req, tenantOf(req)));
      // Folded text has no place for files and lines; pprof and speedscope carry them.
      const stacks = await queries.stacks(sel, { source: format !== 'folded' });
      const fileBase = `${sel.service}-${sel.type}`.replace(/[^A-Za-z0-9_.-]/g, '_');
      if (format === 'folded') {
        res.type('text/plain; charset=utf-8');
        res.setHeader('Content-Disposition', `attachment; filename="${fileBase}.folded"`);
        res.send(formatFolded(mergeByNames(qualifyNames([stacks]).sets[0])));
        return;
      }
      if (format === 'speedscope') {
        res.type('application/json');
        res.setHeader('Content-Disposition', `attachment; filename="${fileBase}.speedscope.json"`);
        res.send(JSON.stringify(encodeSpeedscope(stacks, `${sel.service} ${sel.type}`, unit)));
        return;
      }
      const bytes = await gzipAsync(encodePprof(stacks, { type: sel.type, unit }, sel.range));
      res.type('application/octet-stream');
      res.setHeader('Content-Disposition', `attachment; filename="${fileBase}.pb.gz"`);
      res.send(bytes);
    }),
  );

  api.use((req, res) => {
    res.status(404).json({ error: `no API endpoint ${req.method} /api/v1${req.path}` });
  });
  return api;
}

/** A top function with its file, and its own name when the shown one is qualified with the file. */
function withFile<T extends { name: string }>(
  f: T,
  q: Pick<Qualified, 'fileOf' | 'ownName'>,
): T & ShownFunction {
  const file = q.fileOf.get(f.name);
  if (!file) return f;
  const own = q.ownName.get(f.name);
  return { ...f, file, ...(own ? { function: own } : {}) };
}

/** The stacks' whole value. */
function totalOf(stacks: readonly StackValue[]): number {
  let total = 0;
  for (const s of stacks) total += s.value;
  return total;
}

/** Each name's file, parallel to names, when any is known. */
function filesOf(names: string[], fileOf: Map<string, string>): { files?: string[] } {
  if (fileOf.size === 0) return {};
  const files = names.map((n) => fileOf.get(n) ?? '');
  return files.some((f) => f !== '') ? { files } : {};
}

/** Stacks summed by their frames' (shown) names: stacks told apart by line only are one line of folded text. */
function mergeByNames(stacks: readonly StackValue[]): [readonly string[], number][] {
  const byKey = new Map<string, [readonly string[], number]>();
  for (const s of stacks) {
    const key = s.stack.join('\u0000');
    const e = byKey.get(key);
    if (e) e[1] += s.value;
    else byKey.set(key, [s.stack, s.value]);
  }
  return [...byKey.values()];
}
