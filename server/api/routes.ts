import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import { Router, type Request, type RequestHandler } from 'express';
import { diffProfiles } from '../../profile/diff';
import { InputError } from '../../profile/errors';
import { formatFolded } from '../../profile/folded';
import { encodePprof } from '../../profile/pprof-export';
import { encodeSpeedscope } from '../../profile/speedscope';
import { buildTree, flameGraph, topFunctions } from '../../profile/tree';
import type { ProfileQueries } from '../../store/queries';
import type { Selection } from '../../store/selection';
import { intParam, param, rangeOf, required, selectionOf } from './params';

const gzipAsync = promisify(gzip);

export interface ApiDeps {
  queries: ProfileQueries;
  tenantOf: (req: Request) => string;
}

// Express 5 forwards rejected promises to the error middleware.
type AsyncHandler = (req: Request, res: Parameters<RequestHandler>[1]) => Promise<void>;
const route = (fn: AsyncHandler): RequestHandler => (req, res) => fn(req, res);

/** The query API under /api/v1: JSON answers, errors as `{ error }` through the error middleware. */
export function apiRouter({ queries, tenantOf }: ApiDeps): Router {
  const api = Router();

  async function unitOf(sel: Selection): Promise<string> {
    return sel.unit ?? (await queries.unitOf(sel)) ?? '';
  }

  api.get('/services', route(async (req, res) => {
    res.json(await queries.services(tenantOf(req)));
  }));

  api.get('/profile-types', route(async (req, res) => {
    res.json(await queries.profileTypes(tenantOf(req), required(req, 'service', 'service=<name>')));
  }));

  api.get('/labels', route(async (req, res) => {
    const range = rangeOf(req, 'now-7d');
    res.json(await queries.labelNames(tenantOf(req), required(req, 'service', 'service=<name>'), range.from, range.until));
  }));

  api.get('/label-values', route(async (req, res) => {
    const range = rangeOf(req, 'now-7d');
    const service = required(req, 'service', 'service=<name>');
    const label = required(req, 'label', 'label=<label name>');
    res.json(await queries.labelValues(tenantOf(req), service, label, range.from, range.until));
  }));

  api.get('/top', route(async (req, res) => {
    const sel = selectionOf(req, tenantOf(req));
    const limit = intParam(req, 'limit', 100, 0, 1_000_000);
    const [stacks, unit] = await Promise.all([queries.stacks(sel), unitOf(sel)]);
    const functions = topFunctions(stacks);
    let total = 0;
    for (const s of stacks) total += s.value;
    res.json({ type: sel.type, unit, total, functions: limit === 0 ? functions : functions.slice(0, limit) });
  }));

  api.get('/flamegraph', route(async (req, res) => {
    const sel = selectionOf(req, tenantOf(req));
    const maxNodes = intParam(req, 'maxNodes', 8192, 0, 10_000_000);
    const minShareText = param(req, 'minShare');
    const minShare = minShareText === undefined ? 0 : Number(minShareText);
    if (!(minShare >= 0 && minShare < 1)) throw new InputError('invalid_parameter', 'minShare must be a fraction of the total, from 0 to 1');
    const [stacks, unit] = await Promise.all([queries.stacks(sel), unitOf(sel)]);
    const tree = buildTree(stacks);
    res.json({ type: sel.type, unit, ...flameGraph(tree, maxNodes, Math.ceil(tree.total[0] * minShare)) });
  }));

  api.get('/diff', route(async (req, res) => {
    const tenant = tenantOf(req);
    const left = selectionOf(req, tenant, 'left');
    const right = selectionOf(req, tenant, 'right');
    const maxNodes = intParam(req, 'maxNodes', 8192, 0, 10_000_000);
    const limit = intParam(req, 'limit', 200, 0, 1_000_000);
    const [leftStacks, rightStacks, leftUnit, rightUnit] = await Promise.all([
      queries.stacks(left),
      queries.stacks(right),
      left.unit ?? queries.unitOf(left),
      left.unit ?? queries.unitOf(right),
    ]);
    if (leftUnit !== undefined && rightUnit !== undefined && leftUnit !== rightUnit) {
      throw new InputError('invalid_parameter', `${left.type} is in ${leftUnit} on the left and in ${rightUnit} on the right; pass type=${left.type}:<unit> to compare one unit`);
    }
    res.json({ type: left.type, unit: leftUnit ?? rightUnit ?? '', ...diffProfiles(leftStacks, rightStacks, maxNodes, limit) });
  }));

  api.get('/timeline', route(async (req, res) => {
    const sel = selectionOf(req, tenantOf(req));
    const span = (sel.range.until - sel.range.from) / 1000;
    const step = intParam(req, 'step', Math.max(10, Math.ceil(span / 200)), 1, 31 * 86400);
    if (span / step > 20_000) throw new InputError('invalid_parameter', `step ${step}s gives ${Math.ceil(span / step)} points; the limit is 20000`);
    const [points, unit] = await Promise.all([queries.timeline(sel, step), unitOf(sel)]);
    // Zero-fill on ClickHouse's epoch-aligned step boundaries, so gaps show as gaps.
    const stepMs = step * 1000;
    const byTime = new Map(points.map((p) => [p.time, p.value]));
    const filled: [number, number][] = [];
    for (let t = Math.floor(sel.range.from / stepMs) * stepMs; t < sel.range.until; t += stepMs) filled.push([t, byTime.get(t) ?? 0]);
    res.json({ type: sel.type, unit, step, points: filled });
  }));

  api.get('/export', route(async (req, res) => {
    const sel = selectionOf(req, tenantOf(req));
    const format = param(req, 'format') ?? 'pprof';
    if (format !== 'pprof' && format !== 'folded' && format !== 'speedscope') {
      throw new InputError('unsupported_format', `format must be pprof, folded or speedscope, not ${JSON.stringify(format.slice(0, 40))}`);
    }
    const [stacks, unit] = await Promise.all([queries.stacks(sel), unitOf(sel)]);
    const fileBase = `${sel.service}-${sel.type}`.replace(/[^A-Za-z0-9_.-]/g, '_');
    if (format === 'folded') {
      res.type('text/plain; charset=utf-8');
      res.setHeader('Content-Disposition', `attachment; filename="${fileBase}.folded"`);
      res.send(formatFolded(stacks.map((s) => [s.stack, s.value])));
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
  }));

  api.use((req, res) => {
    res.status(404).json({ error: `no API endpoint ${req.method} /api/v1${req.path}` });
  });
  return api;
}
