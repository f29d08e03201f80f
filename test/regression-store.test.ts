/**
 * The store's side statistics, computed in ClickHouse, equal the pure
 * summarize() of the same profiles; regressions are recorded once per id,
 * keep their first sighting and status, and stay inside their tenant.
 */
import { summarize, type Observation, type SideStats } from '../profile/regression';
import { parseSelector } from '../profile/selector';
import type { Selection } from '../store';
import { rng } from './helpers/synthetic-profiles';
import { ingest, startServer, type TestServer } from './helpers/server';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(async () => server?.close());

const STACKS = [
  ['main', 'a', 'b'],
  ['main', 'a'],
  ['main', 'c', 'a', 'd'],
  ['main', 'c'],
  ['main', 'e', 'e'],
  ['gc'],
];

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
    const folded = STACKS.map((s, i) => (counts[i] ? `${s.join(';')} ${counts[i]}` : ''))
      .filter(Boolean)
      .join('\n');
    return { folded, observation: { process: '', total, seconds: 10, functions } as Observation };
  });
}

function selection(query: string, from: number, until: number, tenant = 'default'): Selection {
  const s = parseSelector(query);
  return { tenant, service: s.service, type: 'cpu', range: { from, until }, matchers: s.matchers };
}

function close(a: number, b: number): void {
  expect(Math.abs(a - b)).toBeLessThanOrEqual(1e-9 * Math.max(1, Math.abs(b)));
}

test('sideStats equals summarize() of the same profiles: per process (instance), one pushed profile per observation', async () => {
  const now = Math.floor(Date.now() / 1000);
  const made = profiles(12, 3);
  const instances = ['a', 'b'];
  for (const [i, p] of made.entries()) {
    const t = now - 600 + i * 10;
    const instance = instances[i % 2];
    p.observation.process = instance;
    expect(
      (
        await ingest(
          server.url,
          { name: `svc.cpu{instance=${instance}}`, from: String(t), until: String(t + 10), units: 'samples' },
          p.folded,
        )
      ).status,
    ).toBe(200);
  }
  await server.store.writer.drain();
  const got = await server.store.stats.sideStats(selection('svc', (now - 700) * 1000, now * 1000));
  const want = summarize(made.map((p) => p.observation));
  // Without a process id the series (its labels) is the process: two of them, whatever their keys.
  expect(got.processes).toHaveLength(2);
  const byObs = (s: SideStats) => [...s.processes].sort((x, y) => x.total.x - y.total.x);
  for (const [g, w] of byObs(got).map((g, i) => [g, byObs(want)[i]] as const)) {
    expect(g.n).toBe(6);
    close(g.seconds, w.seconds);
    for (const k of ['x', 'xx', 'xt', 'xw'] as const) close(g.total[k], w.total[k]);
    expect([...g.functions.keys()].sort()).toEqual([...w.functions.keys()].sort());
    for (const [name, wf] of w.functions) {
      const gf = g.functions.get(name)!;
      for (const m of ['self', 'total'] as const)
        for (const k of ['x', 'xx', 'xt'] as const) close(gf[m][k], wf[m][k]);
    }
  }
  // Past the observation cap, each process's profiles pool into time buckets.
  // 12 profiles over 120 s, at most 4 observations over 2 processes: 60 s buckets, 2 or 3 a process by alignment.
  const pooled = await server.store.stats.sideStats(
    selection('svc', (now - 600) * 1000, (now - 480) * 1000),
    { maxObservations: 4 },
  );
  const n = pooled.processes.reduce((a, p) => a + p.n, 0);
  expect(n).toBeGreaterThanOrEqual(4);
  expect(n).toBeLessThanOrEqual(6);
  expect(pooled.processes.reduce((a, p) => a + p.total.x, 0)).toBe(
    made.reduce((a, p) => a + p.observation.total, 0),
  );
  // Another tenant sees nothing.
  expect(
    (await server.store.stats.sideStats(selection('svc', (now - 700) * 1000, now * 1000, 'other'))).processes,
  ).toHaveLength(0);
  // V8's (idle) is no code's cost: the same profiles with idle stacks read the same.
  for (const [i, p] of made.entries()) {
    const t = now - 600 + i * 10;
    const folded = `${p.folded}\n(root);(idle) 500\n(idle) 70`;
    expect(
      (
        await ingest(
          server.url,
          {
            name: `idle.cpu{instance=${instances[i % 2]}}`,
            from: String(t),
            until: String(t + 10),
            units: 'samples',
          },
          folded,
        )
      ).status,
    ).toBe(200);
  }
  await server.store.writer.drain();
  const idle = await server.store.stats.sideStats(selection('idle', (now - 700) * 1000, now * 1000));
  expect(idle.processes.reduce((a, p) => a + p.total.x, 0)).toBe(
    made.reduce((a, p) => a + p.observation.total, 0),
  );
  expect([...idle.processes[0].functions.keys()].sort()).toEqual(
    [...got.processes[0].functions.keys()].sort(),
  );
});

test('a regression is recorded once per id: first sighting, runs and status survive updates; tenants are apart', async () => {
  const r = server.store.regressions;
  const base = {
    id: 'r1',
    service: 'svc',
    type: 'cpu',
    unit: 'samples',
    function: 'a',
    measure: 'self' as const,
    kind: 'window',
    baseline: { query: 'svc', from: 1_000, until: 2_000, profiles: 30, value: 0.1 },
    candidate: { query: 'svc', from: 3_000, until: 4_000, profiles: 30, value: 0.12 },
    effect: 0.02,
    relative: 0.2,
    ci: [0.01, 0.03] as [number, number],
    p: 1e-5,
    q: 1e-4,
  };
  const first = await r.record('t1', base, 10_000);
  expect(first.created).toBe(true);
  const second = await r.record('t1', { ...base, effect: 0.03 }, 20_000);
  expect(second.created).toBe(false);
  expect(second.regression).toMatchObject({
    firstSeen: 10_000,
    lastSeen: 20_000,
    runs: 2,
    effect: 0.03,
    status: 'open',
  });
  await r.setStatus('t1', 'r1', 'acknowledged');
  expect((await r.record('t1', base, 30_000)).regression.status).toBe('acknowledged');
  await r.setStatus('t1', 'r1', 'resolved');
  const again = await r.record('t1', base, 40_000);
  expect(again.created).toBe(true);
  expect(again.regression.status).toBe('open');
  const listed = await r.list('t1');
  expect(listed).toHaveLength(1);
  expect(listed[0]).toMatchObject({
    id: 'r1',
    runs: 4,
    firstSeen: 10_000,
    baseline: base.baseline,
    candidate: base.candidate,
  });
  expect(await r.list('t2')).toEqual([]);
  expect(await r.get('t2', 'r1')).toBeUndefined();
});

test('a finding of overlapping windows stays suspected until a disjoint window confirms it; a stale suspicion starts over', async () => {
  const r = server.store.regressions;
  const base = {
    id: 'w1',
    service: 'svc',
    type: 'cpu',
    unit: 'samples',
    function: 'a',
    measure: 'total' as const,
    kind: 'window',
    baseline: { query: 'svc', from: 1_000, until: 2_000, profiles: 30, value: 0.1 },
    candidate: { query: 'svc', from: 3_000, until: 4_000, profiles: 30, value: 0.12 },
    effect: 0.02,
    relative: 0.2,
    ci: [0.01, 0.03] as [number, number],
    p: 1e-5,
    q: 1e-4,
  };
  const confirm = { afterMs: 3_600_000, staleMs: 7_500_000 };
  const first = await r.record('t3', base, 1_000_000, confirm);
  expect(first).toMatchObject({ created: false, regression: { status: 'suspected', runs: 1 } });
  expect(await r.list('t3', { status: 'open' })).toEqual([]);
  // Seen again 5 minutes later: the windows overlap, still suspected.
  expect((await r.record('t3', base, 1_300_000, confirm)).regression.status).toBe('suspected');
  // An hour after the first sighting: a window that does not overlap the first shows it too.
  const confirmed = await r.record('t3', base, 4_600_000, confirm);
  expect(confirmed).toMatchObject({
    created: true,
    regression: { status: 'open', runs: 3, firstSeen: 1_000_000 },
  });
  expect((await r.record('t3', base, 4_900_000, confirm)).created).toBe(false);
  // Another suspicion, not seen for longer than staleMs: it starts over rather than confirming.
  const other = { ...base, id: 'w2' };
  await r.record('t3', other, 1_000_000, confirm);
  const late = await r.record('t3', other, 10_000_000, confirm);
  expect(late).toMatchObject({
    created: false,
    regression: { status: 'suspected', runs: 1, firstSeen: 10_000_000 },
  });
});
