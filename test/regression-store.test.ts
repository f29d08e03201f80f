/**
 * The store's side statistics, computed in ClickHouse, equal the pure
 * summarize() of the same profiles; regressions are recorded once per id,
 * keep their first sighting and status, and stay inside their tenant.
 */
import { summarize, type Observation } from '../profile/regression';
import { parseSelector } from '../profile/selector';
import type { Selection } from '../store';
import { rng } from './helpers/synthetic-profiles';
import { ingest, startServer, type TestServer } from './helpers/server';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => server?.close());

const STACKS = [['main', 'a', 'b'], ['main', 'a'], ['main', 'c', 'a', 'd'], ['main', 'c'], ['main', 'e', 'e'], ['gc']];

/** `count` profiles with random per-stack counts, as folded text and as the observation they make. */
function profiles(count: number, seed: number): { folded: string; observation: Observation }[] {
  const random = rng(seed);
  return Array.from({ length: count }, () => {
    const counts = STACKS.map(() => Math.floor(random() * 50));
    counts[0] += 1;
    const functions = new Map<string, { self: number; total: number }>();
    let total = 0;
    STACKS.forEach((stack, i) => {
      const c = counts[i];
      if (c === 0) return;
      total += c;
      for (const f of new Set(stack)) {
        const v = functions.get(f) ?? { self: 0, total: 0 };
        v.total += c;
        functions.set(f, v);
      }
      functions.get(stack[stack.length - 1])!.self += c;
    });
    const folded = STACKS.map((s, i) => (counts[i] ? `${s.join(';')} ${counts[i]}` : '')).filter(Boolean).join('\n');
    return { folded, observation: { total, seconds: 10, functions } };
  });
}

function selection(query: string, from: number, until: number, tenant = 'default'): Selection {
  const s = parseSelector(query);
  return { tenant, service: s.service, type: 'cpu', range: { from, until }, matchers: s.matchers };
}

function close(a: number, b: number): void {
  expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(b)));
}

test('sideStats equals summarize() of the same profiles, one pushed profile per observation', async () => {
  const now = Math.floor(Date.now() / 1000);
  const made = profiles(12, 3);
  for (const [i, p] of made.entries()) {
    const t = now - 600 + i * 10;
    expect((await ingest(server.url, { name: 'svc.cpu{instance=a}', from: String(t), until: String(t + 10), units: 'samples' }, p.folded)).status).toBe(200);
  }
  await server.store.writer.drain();
  const got = await server.store.regressions.sideStats(selection('svc', (now - 700) * 1000, now * 1000));
  const want = summarize(made.map((p) => p.observation));
  expect(got.n).toBe(12);
  expect(got.samples).toBe(want.samples);
  close(got.rate.sum, want.rate.sum);
  close(got.rate.sumSq, want.rate.sumSq);
  expect([...got.functions.keys()].sort()).toEqual([...want.functions.keys()].sort());
  for (const [name, w] of want.functions) {
    const g = got.functions.get(name)!;
    for (const m of ['self', 'total'] as const) {
      close(g[m].sum, w[m].sum);
      close(g[m].sumSq, w[m].sumSq);
    }
  }
  // Past the observation cap, each instance's profiles pool into time buckets.
  // 12 profiles over 120 s, at most 4 observations: 30 s buckets, 3 profiles each (4 or 5 buckets by alignment).
  const pooled = await server.store.regressions.sideStats(selection('svc', (now - 600) * 1000, (now - 480) * 1000), 4);
  expect(pooled.n).toBeGreaterThanOrEqual(4);
  expect(pooled.n).toBeLessThanOrEqual(5);
  expect(pooled.samples).toBe(want.samples);
  // Another tenant sees nothing.
  expect((await server.store.regressions.sideStats(selection('svc', (now - 700) * 1000, now * 1000, 'other'))).n).toBe(0);
});

test('a regression is recorded once per id: first sighting, runs and status survive updates; tenants are apart', async () => {
  const r = server.store.regressions;
  const base = {
    id: 'r1', service: 'svc', type: 'cpu', unit: 'samples', function: 'a', measure: 'self' as const, kind: 'window',
    baseline: { query: 'svc', from: 1_000, until: 2_000, profiles: 30, value: 0.1 },
    candidate: { query: 'svc', from: 3_000, until: 4_000, profiles: 30, value: 0.12 },
    effect: 0.02, relative: 0.2, ci: [0.01, 0.03] as [number, number], p: 1e-5, q: 1e-4,
  };
  const first = await r.record('t1', base, 10_000);
  expect(first.created).toBe(true);
  const second = await r.record('t1', { ...base, effect: 0.03 }, 20_000);
  expect(second.created).toBe(false);
  expect(second.regression).toMatchObject({ firstSeen: 10_000, lastSeen: 20_000, runs: 2, effect: 0.03, status: 'open' });
  await r.setStatus('t1', 'r1', 'acknowledged');
  expect((await r.record('t1', base, 30_000)).regression.status).toBe('acknowledged');
  await r.setStatus('t1', 'r1', 'resolved');
  const again = await r.record('t1', base, 40_000);
  expect(again.created).toBe(true);
  expect(again.regression.status).toBe('open');
  const listed = await r.list('t1');
  expect(listed).toHaveLength(1);
  expect(listed[0]).toMatchObject({ id: 'r1', runs: 4, firstSeen: 10_000, baseline: base.baseline, candidate: base.candidate });
  expect(await r.list('t2')).toEqual([]);
  expect(await r.get('t2', 'r1')).toBeUndefined();
});
