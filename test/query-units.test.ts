/**
 * What the query routes add up: values of one unit only (a type pushed in
 * samples by one pusher and in nanoseconds by another is never summed; the
 * answer says which unit it chose and names the others), and a gauge
 * (in-use memory) as the level held, each series' snapshots averaged, not
 * summed over time.
 */
import { mainCalls } from './helpers/synthetic-profiles';
import { getJson, ingest, startServer, type TestServer } from './helpers/server';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

const now = Math.floor(Date.now() / 1000);
const push = async (name: string, body: string, at: number, extra: Record<string, string> = {}) => {
  const res = await ingest(
    server.url,
    { name, format: 'folded', from: String(at), until: String(at + 10), ...extra },
    body,
  );
  expect(res.status).toBe(200);
};
interface Answer {
  unit: string;
  otherUnits?: string[];
  total: number;
  functions: { name: string; self: number }[];
}

test('a type stored in two units: the most common one alone, the other named; asked for, the other alone', async () => {
  // Three profiles in samples, one in nanoseconds (another SDK): never 3 + 5,000,000.
  for (let i = 0; i < 3; i++)
    await push('mixed.cpu{pod=a}', 'main;work 1\n', now - 300 + i * 10, { units: 'samples' });
  await push('mixed.cpu{pod=b}', 'main;work 5000000\n', now - 200, { units: 'nanoseconds' });
  await server.store.writer.drain();
  const q = (type: string, route = 'top') =>
    getJson<Answer>(server.url, `/api/v1/${route}?query=mixed&type=${type}&from=now-1h`);
  expect((await q('cpu')).json).toMatchObject({ unit: 'samples', otherUnits: ['nanoseconds'], total: 3 });
  const asked = (await q('cpu:nanoseconds')).json;
  expect(asked).toMatchObject({ unit: 'nanoseconds', total: 5_000_000 });
  expect(asked.otherUnits).toBeUndefined();
  const graph = (await q('cpu', 'flamegraph')).json as unknown as {
    unit: string;
    otherUnits: string[];
    nodes: unknown;
  };
  expect([graph.unit, graph.otherUnits]).toEqual(['samples', ['nanoseconds']]);
  const timeline = (await q('cpu', 'timeline')).json as unknown as {
    unit: string;
    points: [number, number][];
  };
  expect(timeline.unit).toBe('samples');
  expect(timeline.points.reduce((s, p) => s + p[1], 0)).toBe(3);
});

test('a gauge is the level held: snapshots of a series averaged, series summed', async () => {
  // Two processes' heaps, 6 snapshots each over a minute: 100 and 300 bytes held under cache;fill, 50 under main.
  for (let i = 0; i < 6; i++) {
    await push('heap.inuse_space{pod=a}', 'main 50\nmain;cache;fill 100\n', now - 600 + i * 10, {
      units: 'bytes',
    });
    await push('heap.inuse_space{pod=b}', 'main 50\nmain;cache;fill 300\n', now - 600 + i * 10, {
      units: 'bytes',
    });
  }
  // And a cost type beside it is still summed over time.
  for (let i = 0; i < 6; i++)
    await push('heap.alloc_space{pod=a}', 'main;cache;fill 100\n', now - 600 + i * 10, { units: 'bytes' });
  await server.store.writer.drain();
  const held = (await getJson<Answer>(server.url, '/api/v1/top?query=heap&type=inuse_space&from=now-1h'))
    .json;
  expect(held.total).toBe(500);
  expect(held.functions.find((f) => f.name === 'fill')?.self).toBe(400);
  expect(
    (await getJson<Answer>(server.url, '/api/v1/top?query=heap{pod="a"}&type=inuse_space&from=now-1h')).json
      .total,
  ).toBe(150);
  expect(
    (await getJson<Answer>(server.url, '/api/v1/top?query=heap&type=alloc_space&from=now-1h')).json.total,
  ).toBe(600);
  // The timeline: each step's level, however many snapshots fall in it.
  const timeline = (
    await getJson<{ points: [number, number][] }>(
      server.url,
      `/api/v1/timeline?query=heap&type=inuse_space&from=${now - 600}&until=${now - 540}&step=30`,
    )
  ).json;
  const levels = timeline.points.filter((p) => p[1] > 0).map((p) => p[1]);
  expect(levels.length).toBeGreaterThan(0);
  for (const level of levels) expect(level).toBe(500);
});

test("a gauge's timeline is guarded like its flame graph: one push split by sample labels is one snapshot, not two", async () => {
  // One in-use heap push whose samples carry two values of a label: two label sets, one snapshot, 400 bytes held.
  const bytes = mainCalls('inuse_space', 'bytes', 'fill', [
    { value: 100, labels: { kind: 'a' } },
    { value: 300, labels: { kind: 'b' } },
  ]);
  const at = now - 900;
  const res = await ingest(
    server.url,
    { name: 'split', format: 'pprof', from: String(at), until: String(at + 10) },
    Buffer.from(bytes),
  );
  expect(res.status).toBe(200);
  await server.store.writer.drain();
  const range = `from=${at - 30}&until=${at + 30}`;
  expect(
    (await getJson<Answer>(server.url, `/api/v1/top?query=split&type=inuse_space&${range}`)).json.total,
  ).toBe(400);
  const timeline = (
    await getJson<{ points: [number, number][] }>(
      server.url,
      `/api/v1/timeline?query=split&type=inuse_space&${range}&step=60`,
    )
  ).json;
  expect(timeline.points.filter((p) => p[1] > 0).map((p) => p[1])).toEqual([400]);
});

test('a type its pushers declare averaged is a gauge whatever its name: aggregationType=average and sample_type_config', async () => {
  // Pyroscope's aggregationType=average on a type named for what it counts: two processes' goroutines, 6 snapshots each.
  for (let i = 0; i < 6; i++) {
    for (const [pod, n] of [
      ['a', 10],
      ['b', 30],
    ] as const)
      await push(`gr.goroutines{pod=${pod}}`, `main;serve ${n}\n`, now - 600 + i * 10, {
        units: 'goroutines',
        aggregationType: 'average',
      });
  }
  // The same name summed (no declaration) in another service: a cost, added up over time.
  for (let i = 0; i < 6; i++)
    await push('sum.goroutines{pod=a}', 'main;serve 10\n', now - 600 + i * 10, { units: 'goroutines' });
  // A pprof whose sample_type_config calls its type averaged, as Pyroscope's SDKs send it.
  const pprof = mainCalls('live', 'count', 'hold', [{ value: 7 }]);
  for (let i = 0; i < 3; i++) {
    const form = new FormData();
    form.append('profile', new Blob([Buffer.from(pprof)]), 'profile.pprof');
    form.append('sample_type_config', new Blob([JSON.stringify({ live: { aggregation: 'average' } })]));
    const at = now - 600 + i * 10;
    const res = await fetch(
      `${server.url}/ingest?${new URLSearchParams({ name: 'held{pod=a}', from: String(at), until: String(at + 10) })}`,
      { method: 'POST', body: form },
    );
    expect(res.status).toBe(200);
  }
  await server.store.writer.drain();
  const top = async (query: string, type: string) =>
    (await getJson<Answer>(server.url, `/api/v1/top?query=${query}&type=${type}&from=now-1h`)).json.total;
  expect(await top('gr', 'goroutines')).toBe(40); // 10 + 30 held, not 6 × 40
  expect(await top('sum', 'goroutines')).toBe(60);
  expect(await top('held', 'live')).toBe(7);
  const timeline = (
    await getJson<{ points: [number, number][] }>(
      server.url,
      `/api/v1/timeline?query=gr&type=goroutines&from=${now - 600}&until=${now - 540}&step=30`,
    )
  ).json;
  for (const level of timeline.points.filter((p) => p[1] > 0).map((p) => p[1])) expect(level).toBe(40);
  // The detector compares it as levels.
  const compare = (
    await getJson<{ kind: string }>(
      server.url,
      `/api/v1/compare?type=goroutines&leftQuery=gr&rightQuery=gr&leftFrom=${now - 600}&leftUntil=${now - 570}&rightFrom=${now - 570}&rightUntil=${now - 540}`,
    )
  ).json;
  expect(compare.kind).toBe('gauge');
  // Every reader knows it: the type list says gauge, and a rate budget is a level per instance, not per second.
  const types = async (service: string) =>
    (await getJson<{ type: string; kind: string }[]>(server.url, `/api/v1/profile-types?service=${service}`))
      .json;
  expect(await types('gr')).toEqual([{ type: 'goroutines', unit: 'goroutines', kind: 'gauge' }]);
  expect(await types('sum')).toEqual([{ type: 'goroutines', unit: 'goroutines', kind: 'cost' }]);
  const budget = async (service: string) => {
    const res = await fetch(`${server.url}/api/v1/budgets/evaluate`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        candidate: { query: service, from: now - 600, until: now - 530 },
        budgets: { budgets: [{ name: 'held', service, type: 'goroutines', rate: 100 }] },
      }),
    });
    expect(res.status).toBe(200);
    return ((await res.json()) as { budgets: { value: number; valueText: string; typeKind: string }[] })
      .budgets[0];
  };
  // Six snapshots of 10 and six of 30: each observation is its level, so the mean is 20, not 20 × 6 / 60 s.
  expect(await budget('gr')).toMatchObject({ value: 20, valueText: '20.0', typeKind: 'gauge' });
  const summed = await budget('sum');
  expect(summed).toMatchObject({ typeKind: 'cost', valueText: expect.stringMatching(/\/s$/) as unknown });
});
