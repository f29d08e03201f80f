/**
 * How long one detection run takes over a day of one service: 20 instances
 * pushing every 10 s for 24 h on each side (day 1 the baseline, day 2 the
 * candidate: 2 × 172,800 profiles), embedded chDB. Issue 5's target: < 5 s.
 * No peer: no open profiler runs such a comparison.
 *
 *   npm run build && node dist/bench/detect-speed.js [--instances 20] [--hours 24] [--stacks 100] [--runs 5]
 *
 * The profiles are generated inside ClickHouse (INSERT ... SELECT from
 * numbers()), not pushed over HTTP: 345,600 pushes would take the ingest
 * benchmark's minutes and measure ingest, not detection. Stacks are the
 * paths of a synthetic call tree (test/helpers/synthetic-profiles.ts), with
 * heavy-tailed popularity; on day 2 the stacks ending in one function carry
 * 30 % more samples, so the run has something to find.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { detect } from '../profile/regression';
import { openStore } from '../store';
import { labelFunctions } from '../store/compare';
import { makeService } from '../test/helpers/synthetic-profiles';
import { arg, median } from './lib';

const INSTANCES = arg('instances', 20);
const HOURS = arg('hours', 24);
const STACKS_PER_PROFILE = arg('stacks', 100);
const RUNS = arg('runs', 5);
const STACKS = 2000;

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-detect-bench-'));
  const store = await openStore({ dataDir, database: 'bench', retentionDays: 30 });
  try {
    const service = makeService({ functions: 300, nodes: STACKS, endpoints: 8, seed: 11 });
    const stacks = Array.from({ length: STACKS }, (_, i) => {
      const frames: string[] = [];
      for (let n = i; n >= 0; n = service.parent[n]) frames.push(service.names[service.fn[n]]);
      // Each function in its package's file, as ingest stores pprof's; one name defined in two files (Node's `emit`s).
      const files = frames.map((f) =>
        f === service.names[5] ? `/app/${i % 2 ? 'events' : 'stream'}.js` : `/app/${f.split('.')[0]}.js`,
      );
      return { tenant: 'default', stack_id: String(i + 1), frames: frames.reverse(), files: files.reverse() };
    });
    await store.client.insert({ table: 'bench.stacks', values: stacks, format: 'JSONEachRow' });
    // The function made slower on day 2: the leaf of the most popular stack.
    const target = stacks[0].frames[stacks[0].frames.length - 1];
    const slowStacks = stacks
      .filter((s) => s.frames[s.frames.length - 1] === target)
      .map((s) => Number(s.stack_id));

    const windows = (HOURS * 3600) / 10;
    const perDay = windows * INSTANCES;
    const day = HOURS * 3_600_000;
    const start = Math.floor((Date.now() - 2 * day - 60_000) / 10_000) * 10_000;
    const t0 = performance.now();
    await store.client.command({
      query: `INSERT INTO bench.profiles (tenant, service, type, unit, time, duration_ms, profile_id, labels, stack_ids, values, total)
        SELECT 'default', 'bench', 'cpu', 'samples',
          fromUnixTimestamp64Milli(toInt64({start:Int64} + intDiv(number, {instances:UInt32}) * 10000)), 10000,
          generateUUIDv4(number), map('instance', toString(number % {instances:UInt32})),
          arrayMap(k -> toUInt64(1 + toUInt64(${STACKS} * pow((cityHash64(number, k) % 1000003) / 1000003, 3))), range({perProfile:UInt32})) AS ids,
          arrayMap((id, k) -> toInt64((1 + cityHash64(number, k, 7) % 20) * if(number >= {perDay:UInt64} AND has({slow:Array(UInt64)}, id), 1.3, 1.0)), ids, range({perProfile:UInt32})) AS vs,
          arraySum(vs)
        FROM numbers({rows:UInt64})`,
      query_params: {
        start,
        instances: INSTANCES,
        perProfile: STACKS_PER_PROFILE,
        perDay,
        slow: slowStacks,
        rows: 2 * perDay,
      },
    });
    const loadSeconds = (performance.now() - t0) / 1000;

    const sel = (from: number) => ({
      tenant: 'default',
      service: 'bench',
      type: 'cpu',
      range: { from, until: from + day },
      matchers: [],
    });
    const times: number[] = [];
    let last: ReturnType<typeof detect> | undefined;
    let split = { baselineMs: 0, candidateMs: 0, detectMs: 0 };
    for (let i = 0; i < RUNS; i++) {
      const a = performance.now();
      const b = await store.stats.sideStats(sel(start));
      const m = performance.now();
      const c = await store.stats.sideStats(sel(start + day));
      const n = performance.now();
      labelFunctions([b, c]);
      last = detect(b, c);
      const e = performance.now();
      times.push(e - a);
      split = { baselineMs: m - a, candidateMs: n - m, detectMs: e - n };
    }
    const found = last!.regressions.map(
      (f) => `${f.function || '(rate)'}/${f.measure} ${(f.relative * 100).toFixed(1)} %`,
    );
    console.log(
      JSON.stringify(
        {
          instances: INSTANCES,
          hours: HOURS,
          profilesPerSide: perDay,
          stacksPerProfile: STACKS_PER_PROFILE,
          loadSeconds: Math.round(loadSeconds * 10) / 10,
          observationsPerSide: [last!.baseline.n, last!.candidate.n],
          tested: last!.tested,
          runMs: {
            median: Math.round(median(times)),
            min: Math.round(Math.min(...times)),
            max: Math.round(Math.max(...times)),
          },
          lastRunSplitMs: Object.fromEntries(Object.entries(split).map(([k, v]) => [k, Math.round(v)])),
          target,
          found,
        },
        null,
        2,
      ),
    );
  } finally {
    await store.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
