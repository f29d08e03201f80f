/**
 * A flame graph over long ranges, from raw profiles and from rollups (issue
 * 7 target: < 1 s for 7 days × 50 instances, embedded chDB). Each instance
 * pushes a profile of 100 stacks every 10 s (3,024,000 profiles, 302 M
 * samples for 7 d × 50); the query is what GET /api/v1/flamegraph does:
 * stacks and unit of the selection, then the tree and its 8,192-node graph.
 *
 *   npm run build && node dist/bench/rollup-query.js [--days 7] [--instances 50] [--stacks 100] [--runs 5]
 *   (--days 0: the insert cost alone)
 *
 * The profiles are generated inside ClickHouse (INSERT ... SELECT from
 * numbers(), as bench/detect-speed.ts does), then the rollup job's builder
 * (store/rollups.ts) builds every hour, as after an upgrade. Ranges end 13 s
 * into a minute (as `now` does), so every rollup query also reads raw
 * profiles at its edges. Fewer instances are selected with a label matcher
 * (`instance=~"0|1|…"`) over the same data. Raw and rollup runs alternate;
 * medians of --runs after one warm-up each. The cost side: ms of wall and
 * CPU time per pushed profile for inserts of 200 profiles (the writer's
 * batch), and for building their hours afterwards.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ClickHouseClient } from '@clickhouse/client';
import { buildTree, flameGraph } from '../profile/tree';
import { createStoreClient } from '../store/client';
import { ProfileQueries } from '../store/queries';
import { buildRollups, rolledHoursQuery, wholeHours } from '../store/rollups';
import { migrate, statementRunner } from '../store/schema';
import type { Selection } from '../store/selection';
import { makeService } from '../test/helpers/synthetic-profiles';
import { arg, median } from './lib';

const DAYS = arg('days', 7);
const INSTANCES = arg('instances', 50);
const STACKS_PER_PROFILE = arg('stacks', 100);
const RUNS = arg('runs', 5);
const STACKS = 2000;
const DB = 'bench';
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');

/** Profiles of `instances` instances every 10 s from `start`, numbered from `first`. */
function generate(
  first: number,
  count: number,
  start: number,
  instances: number,
  db = DB,
  stacks = STACKS_PER_PROFILE,
): string {
  return `INSERT INTO ${db}.profiles (tenant, service, type, unit, time, duration_ms, profile_id, labels, stack_ids, values, total)
    SELECT 'default', 'bench', 'cpu', 'samples',
      fromUnixTimestamp64Milli(toInt64(${start} + intDiv(number, ${instances}) * 10000)), 10000,
      generateUUIDv4(number), map('instance', toString(number % ${instances})),
      arrayMap(k -> toUInt64(1 + toUInt64(${STACKS} * pow((cityHash64(number, k) % 1000003) / 1000003, 3))), range(${stacks})) AS ids,
      arrayMap(k -> toInt64(1 + cityHash64(number, k, 7) % 20), range(${stacks})) AS vs,
      arraySum(vs)
    FROM numbers(${first}, ${count})`;
}

/** Builds every pending hour, as the job would over several runs; seconds. */
async function buildAll(client: ClickHouseClient, db: string): Promise<{ seconds: number; hours: number }> {
  const t = performance.now();
  let hours = 0;
  for (;;) {
    const r = await buildRollups(db, statementRunner(client), { now: Date.now() + 2 * DAY, maxHours: 1000 });
    hours += r.hoursBuilt;
    if (r.unverified) throw new Error(`rollup build left ${r.unverified} unverified`);
    if (r.hoursLeft === 0) break;
  }
  return { seconds: (performance.now() - t) / 1000, hours };
}

/**
 * ms of wall and of CPU (this process: chDB runs in it) per profile for 20
 * inserts of 200 profiles of 359 samples (the writer's batch, the ingest
 * benchmark's profile), spread over 2 hours, merges included (OPTIMIZE FINAL);
 * then for building those hours' rollups, merges included.
 */
async function insertCost(
  client: ClickHouseClient,
): Promise<{ insert: { wall: number; cpu: number }; build: { wall: number; cpu: number } }> {
  const db = `${DB}_cost`;
  await client.command({ query: `DROP DATABASE IF EXISTS ${db}` });
  await migrate(client, db, 30);
  const start = Math.floor(Date.now() / HOUR) * HOUR - 4 * HOUR;
  const measure = async (work: () => Promise<void>) => {
    const cpu = process.cpuUsage();
    const t = performance.now();
    await work();
    const used = process.cpuUsage(cpu);
    return { wall: (performance.now() - t) / 4000, cpu: (used.user + used.system) / 1000 / 4000 };
  };
  const insert = await measure(async () => {
    for (let i = 0; i < 20; i++)
      await client.command({ query: generate(i * 200, 200, start + i * 360_000, 50, db, 359) });
    await client.command({ query: `OPTIMIZE TABLE ${db}.profiles FINAL` });
  });
  const build = await measure(async () => {
    await buildAll(client, db);
    for (const table of ['profiles_1h', 'series', 'rollup_hours'])
      await client.command({ query: `OPTIMIZE TABLE ${db}.${table} FINAL` });
  });
  await client.command({ query: `DROP DATABASE ${db}` });
  return { insert, build };
}

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-rollup-bench-'));
  const { client } = createStoreClient({ dataDir, database: DB, retentionDays: 30 });
  const out: Record<string, unknown> = {
    days: DAYS,
    instances: INSTANCES,
    stacksPerProfile: STACKS_PER_PROFILE,
    runs: RUNS,
    loadBefore: load(),
  };
  try {
    // The cost side first, on a quiet store: medians of 3, alternating.
    const costs = [];
    for (let i = 0; i < 3; i++) costs.push(await insertCost(client));
    const med = (xs: { wall: number; cpu: number }[]) => ({
      wall: +median(xs.map((x) => x.wall)).toFixed(3),
      cpu: +median(xs.map((x) => x.cpu)).toFixed(3),
    });
    out.insertMsPerProfile359 = {
      insert: med(costs.map((c) => c.insert)),
      buildLater: med(costs.map((c) => c.build)),
    };
    console.error(
      `insert cost per profile (ms): ${JSON.stringify(out.insertMsPerProfile359)} (load ${load()})`,
    );

    if (DAYS === 0) {
      console.log(JSON.stringify(out, null, 2));
      return;
    }
    await migrate(client, DB, 30);
    const service = makeService({ functions: 300, nodes: STACKS, endpoints: 8, seed: 11 });
    const stacks = Array.from({ length: STACKS }, (_, i) => {
      const frames: string[] = [];
      for (let n = i; n >= 0; n = service.parent[n]) frames.push(service.names[service.fn[n]]);
      return { tenant: 'default', stack_id: String(i + 1), frames: frames.reverse() };
    });
    await client.insert({ table: `${DB}.stacks`, values: stacks, format: 'JSONEachRow' });

    const perDay = (DAY / 10_000) * INSTANCES;
    const start = Math.floor((Date.now() - DAYS * DAY) / DAY) * DAY - DAY;
    let t = performance.now();
    // Profile n is instance n % INSTANCES at start + floor(n / INSTANCES) * 10 s: one statement per day.
    for (let d = 0; d < DAYS; d++)
      await client.command({ query: generate(d * perDay, perDay, start, INSTANCES) });
    out.generateSeconds = +((performance.now() - t) / 1000).toFixed(1);
    const [span] = await (
      await client.query({
        query: `SELECT toUnixTimestamp64Milli(min(time)) AS first, toUnixTimestamp64Milli(max(time)) AS last, count() AS n FROM ${DB}.profiles`,
        format: 'JSONEachRow',
      })
    ).json<{ first: string; last: string; n: string }>();
    if (
      Number(span.first) !== start ||
      Number(span.last) !== start + DAYS * DAY - 10_000 ||
      Number(span.n) !== DAYS * perDay
    ) {
      throw new Error(`generated the wrong profiles: ${JSON.stringify(span)}`);
    }
    console.error(
      `generated ${DAYS * perDay} profiles in ${out.generateSeconds} s; building rollups (load ${load()})`,
    );

    const built = await buildAll(client, DB);
    out.buildSeconds = +built.seconds.toFixed(1);
    out.hoursBuilt = built.hours;
    console.error(`built ${built.hours} hours in ${out.buildSeconds} s; merging (load ${load()})`);
    // What each later run of the job costs when nothing is pending: the check over every stored hour, and over the last 26.
    const idle = async (sinceMs?: number) => {
      const t0 = performance.now();
      const r = await buildRollups(DB, statementRunner(client), { now: start + DAYS * DAY + HOUR, sinceMs });
      if (r.pending) throw new Error(`${r.pending} still pending after the build`);
      return Math.round(performance.now() - t0);
    };
    out.idleRunMs = { allHours: await idle(), last26Hours: await idle(start + DAYS * DAY - 25 * HOUR) };

    t = performance.now();
    for (const table of ['profiles', 'profiles_1h', 'series', 'rollup_hours'])
      await client.command({ query: `OPTIMIZE TABLE ${DB}.${table} FINAL` });
    out.optimizeSeconds = +((performance.now() - t) / 1000).toFixed(1);
    console.error(`merged in ${out.optimizeSeconds} s (load ${load()})`);
    const sizes = await (
      await client.query({
        query: `SELECT table, sum(rows) AS rows, formatReadableSize(sum(data_compressed_bytes)) AS size FROM system.parts
              WHERE database = '${DB}' AND active AND table IN ('profiles', 'profiles_1h') GROUP BY table ORDER BY table`,
        format: 'JSONEachRow',
      })
    ).json<{ table: string; rows: string; size: string }>();
    const [{ samples }] = await (
      await client.query({
        query: `SELECT sum(length(stack_ids)) AS samples FROM ${DB}.profiles WHERE service = 'bench'`,
        format: 'JSONEachRow',
      })
    ).json<{ samples: string }>();
    out.tables = Object.fromEntries(sizes.map((s) => [s.table, { rows: Number(s.rows), size: s.size }]));
    out.samples = Number(samples);

    const raw = new ProfileQueries(client, DB, { rollups: false });
    const rolled = new ProfileQueries(client, DB);
    const until = start + DAYS * DAY - 47_000; // 13 s into a minute
    const flamegraph = async (q: ProfileQueries, sel: Selection) => {
      const t0 = performance.now();
      // As the flame graph route does: the unit first (its profiles' most common), then the stacks in it.
      const [unit] = await q.unitsOf(sel);
      const stackValues = await q.stacks({ ...sel, unit });
      const t1 = performance.now();
      const graph = flameGraph(buildTree(stackValues), 8192);
      return { ms: performance.now() - t0, queryMs: t1 - t0, stacks: stackValues, nodes: graph.nodes.shown };
    };
    const results: Record<string, unknown>[] = [];
    for (const hours of [1, 6, 24, 24 * 7].filter((h) => h <= DAYS * 24)) {
      for (const instances of [10, 25, 50].filter((n) => n <= INSTANCES)) {
        const matchers =
          instances === INSTANCES
            ? []
            : [
                {
                  name: 'instance',
                  op: '=~' as const,
                  value: Array.from({ length: instances }, (_, i) => i).join('|'),
                },
              ];
        const sel: Selection = {
          tenant: 'default',
          service: 'bench',
          type: 'cpu',
          range: { from: until - hours * HOUR, until },
          matchers,
        };
        // Warm-up (frames cache, page cache), and the two answers must be equal.
        const [a, b] = [await flamegraph(raw, sel), await flamegraph(rolled, sel)];
        const key = (xs: typeof a.stacks) =>
          xs
            .map((s) => `${s.stack.join(';')} ${s.value}`)
            .sort()
            .join('\n');
        if (key(a.stacks) !== key(b.stacks))
          throw new Error(`rollups differ from raw for ${hours} h × ${instances}`);
        const times = {
          raw: [] as number[],
          rollup: [] as number[],
          rawQuery: [] as number[],
          rollupQuery: [] as number[],
          check: [] as number[],
        };
        // The check of which hours are up to date, alone (part of every rollup query).
        const checkOnce = async () => {
          const hoursRange = wholeHours(sel.range);
          if (!hoursRange) return 0;
          const params = {};
          const t0 = performance.now();
          await (
            await client.query({
              query: rolledHoursQuery(DB, sel, hoursRange, params),
              query_params: params,
              format: 'JSONEachRow',
            })
          ).json();
          return performance.now() - t0;
        };
        for (let i = 0; i < RUNS; i++) {
          times.check.push(await checkOnce());
          const r = await flamegraph(raw, sel);
          const u = await flamegraph(rolled, sel);
          times.raw.push(r.ms);
          times.rollup.push(u.ms);
          times.rawQuery.push(r.queryMs);
          times.rollupQuery.push(u.queryMs);
        }
        const row = {
          range: hours >= 24 ? `${hours / 24}d` : `${hours}h`,
          instances,
          rawMs: Math.round(median(times.raw)),
          rollupMs: Math.round(median(times.rollup)),
          ratio: +(median(times.raw) / median(times.rollup)).toFixed(1),
          rollupMinMax: [Math.round(Math.min(...times.rollup)), Math.round(Math.max(...times.rollup))],
          rawQueryMs: Math.round(median(times.rawQuery)),
          rollupQueryMs: Math.round(median(times.rollupQuery)),
          upToDateCheckMs: Math.round(median(times.check)),
          stacks: a.stacks.length,
          nodes: b.nodes,
        };
        results.push(row);
        console.error(JSON.stringify(row), `load ${load()}`);
      }
    }
    out.results = results;
    out.loadAfter = load();
    console.log(JSON.stringify(out, null, 2));
  } finally {
    await client.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
