/**
 * Span labels (a profile, span or trace id per sample, as Pyroscope's Go SDK
 * writes `profile_id` for span profiles) are kept beside the series, never as
 * series labels: no label picker of hundreds of ids, no series per request
 * spent from the series limit, and totals unchanged.
 */
import { getJson, ingest, startServer, type TestServer } from './helpers/server';
import { mainCalls } from './helpers/synthetic-profiles';

let server: TestServer;
beforeAll(async () => {
  // A series limit far below the requests of one push: spans must not count as series.
  server = await startServer({ limits: { maxSeriesPerHour: 5 } });
});
afterAll(() => server.close());

/** 200 samples of main;handle, each its own profile_id and span_id, the handler label taking two values. */
function spanProfile(): Uint8Array {
  return mainCalls(
    'cpu',
    'nanoseconds',
    'handle',
    Array.from({ length: 200 }, (_, i) => ({
      value: 1_000_000 * (1 + (i % 3)),
      labels: { profile_id: `p${i}`, span_id: `s${i}`, handler: i % 2 ? '/a' : '/b' },
    })),
  );
}

test('span labels are kept beside the series, not as its labels', async () => {
  const now = Math.floor(Date.now() / 1000);
  const push = await ingest(
    server.url,
    { name: 'spans', format: 'pprof', from: String(now - 10), until: String(now) },
    spanProfile(),
  );
  expect([push.status, push.json]).toEqual([200, expect.anything()]);
  await server.store.writer.drain();
  const range = `from=${now - 60}&until=${now + 60}`;
  const names = (await getJson<string[]>(server.url, `/api/v1/labels?service=spans&${range}`)).json;
  expect(names).toContain('handler');
  expect(names).not.toContain('profile_id');
  expect(names).not.toContain('span_id');
  // Every sample counts: 200 samples of 1, 2, 3 ms in turn.
  let want = 0;
  for (let i = 0; i < 200; i++) want += 1_000_000 * (1 + (i % 3));
  const top = await getJson<{ total: number }>(server.url, `/api/v1/top?query=spans&type=cpu&${range}`);
  expect(top.json.total).toBe(want);
  // Two series (the two handlers), each row holding its samples' spans.
  const rs = await server.store.client.query({
    query: `SELECT labels['handler'] AS handler, length(span_values) AS spans, arraySum(span_values) AS v,
              uniqExact(arrayJoin(arrayMap(m -> m['profile_id'], span_labels))) AS ids
            FROM ${server.store.database}.profiles WHERE service = 'spans' GROUP BY handler, spans, v ORDER BY handler`,
    format: 'JSONEachRow',
  });
  const rows = await rs.json<{ handler: string; spans: number; v: string; ids: string }>();
  expect(rows.map((r) => [r.handler, Number(r.spans), Number(r.ids)])).toEqual([
    ['/a', 100, 100],
    ['/b', 100, 100],
  ]);
  expect(rows.reduce((a, r) => a + Number(r.v), 0)).toBe(want);
});
