/**
 * How long the deploy gate takes to answer: `GET /api/v1/gate` through the
 * real server (`flamewatch serve`, embedded chDB) over an hour of one service
 * with 20 instances per version pushing every 10 s (7,200 profiles a version
 * and type, cpu and alloc_space) and 50 budgets. Issue 9's target: < 300 ms.
 *
 *   npm run build && node dist/bench/gate-latency.js [--instances 20] [--stacks 400] [--history-hours 23] [--warm 30] [--cold 5]
 *
 * Cold: the first gate call of a freshly started server on the stored data
 * (the OS page cache stays warm; nothing else does). Warm: repeated calls on
 * one server. Each with the detector (`regressions=fail`, the default) and
 * without it (`regressions=ignore`), to tell its part from the budgets'; for
 * warm calls also the server's CPU time (all threads), which other load on
 * the machine disturbs less than the latency.
 *
 * The profiles are generated inside ClickHouse (INSERT ... SELECT from
 * numbers()) by a child process that then exits, so the server opens the
 * data as it would after a restart. Stacks are the paths of a synthetic call
 * tree (test/helpers/synthetic-profiles.ts: 400 nodes over 150 functions,
 * lognormal self costs); each profile draws ~1,000 samples: per stack a
 * Poisson-like count around its weight, times a per-endpoint workload factor
 * (lognormal σ 0.15) and a per-stack one (σ 0.3). Before the measured hour
 * the stable version ran alone for `--history-hours`, so the table holds a
 * day, as a real one would. The canary makes the function with the largest
 * self share 25 % slower (the detector finds it); the budgets set just above
 * the truth fail or cannot tell, the others pass.
 *
 * BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the server.
 * `--queries` profiles the store instead (no server): every ClickHouse query
 * one gate call makes (budgets, then the detector), each timed alone
 * (process CPU time, chDB's threads included, and wall time; median of 5).
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseBudgetsYaml } from '../profile/budgets';
import { compareSelections, evaluateBudgets, openStore } from '../store';
import { makeService, type Service } from '../test/helpers/synthetic-profiles';
import { arg, type BenchServer, cpuSeconds, median, percentile, request, startServer } from './lib';

const INSTANCES = arg('instances', 20);
const NODES = arg('stacks', 400);
const HISTORY_HOURS = arg('history-hours', 23);
const WARM = arg('warm', 30);
const COLD = arg('cold', 5);
const SAMPLES = 1000;
const SERVICE = 'checkout';
const STABLE = '1.4.2';
const CANARY = '1.5.0';
const HOUR = 3_600_000;

/** The synthetic service, its stacks' frames and weights (every process derives the same ones from the seed). */
function benchService(): {
  service: Service;
  frames: string[][];
  weights: number[];
  allocWeights: number[];
  slowFn: number;
} {
  const service = makeService({ functions: 150, nodes: NODES, endpoints: 8, seed: 17 });
  const frames = Array.from({ length: NODES }, (_, i) => {
    const f: string[] = [];
    for (let n = i; n >= 0; n = service.parent[n]) f.push(service.names[service.fn[n]]);
    return f.reverse();
  });
  const sum = service.self.reduce((a, b) => a + b, 0);
  const weights = Array.from(service.self, (w) => w / sum);
  // Allocations: the same stacks, weighted differently (a fixed permutation of the call sites' costs).
  const sorted = [...weights].sort((a, b) => a - b);
  const rank = new Map(
    [...weights]
      .map((w, i) => [i, w] as const)
      .sort((a, b) => b[1] - a[1])
      .map(([i], r) => [i, r]),
  );
  const allocWeights = weights.map((_, i) => sorted[(rank.get(i)! * 7) % NODES]);
  const allocSum = allocWeights.reduce((a, b) => a + b, 0);
  const selfByFn = new Map<number, number>();
  weights.forEach((w, i) => selfByFn.set(service.fn[i], (selfByFn.get(service.fn[i]) ?? 0) + w));
  const slowFn = [...selfByFn.entries()].sort((a, b) => b[1] - a[1])[0][0];
  return { service, frames, weights, allocWeights: allocWeights.map((w) => w / allocSum), slowFn };
}

/** Each function's self and total share under `weights` (a sample counts once for a function however often it is on the stack). */
function shares(
  s: ReturnType<typeof benchService>,
  weights: number[],
): Map<string, { self: number; total: number }> {
  const out = new Map<string, { self: number; total: number }>();
  weights.forEach((w, i) => {
    const leaf = s.service.names[s.service.fn[i]];
    for (const name of new Set(s.frames[i])) {
      const e = out.get(name) ?? { self: 0, total: 0 };
      e.total += w;
      if (name === leaf) e.self += w;
      out.set(name, e);
    }
  });
  return out;
}

/**
 * 50 budgets: 45 on cpu (25 exact-function shares, 2 of them on `{region="eu"}`,
 * 8 regex shares, 2 rates, 10 growths, 1 of them the rate's) and 5 on alloc_space
 * (2 shares, a rate, 2 growths).
 * Limits around the true values: most pass, a few sit on the limit.
 */
function benchBudgets(s: ReturnType<typeof benchService>): string {
  const cpu = [...shares(s, s.weights).entries()].sort((a, b) => b[1].total - a[1].total);
  const alloc = [...shares(s, s.allocWeights).entries()].sort((a, b) => b[1].total - a[1].total);
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  const lines = ['version: 1', 'defaults:', `  service: ${SERVICE}`, '  owner: "@checkout"', 'budgets:'];
  const add = (fields: Record<string, string>) => {
    lines.push(`  - name: ${fields.name}`);
    for (const [k, v] of Object.entries(fields))
      if (k !== 'name') lines.push(`    ${k}: ${JSON.stringify(v)}`);
  };
  for (let i = 0; i < 25; i++) {
    const [name, sh] = cpu[i + 1];
    const measure = i % 3 === 0 ? 'self' : 'total';
    const value = measure === 'self' ? sh.self : sh.total;
    if (value <= 0) {
      add({ name: `share-${i}`, function: name, share: '1%' });
      continue;
    }
    // Most with room, every fifth just above the truth (close enough that the noise decides).
    add({
      name: `share-${i}`,
      function: name,
      measure,
      share: pct(Math.min(1, value * (i % 5 === 4 ? 1.01 : 1.3))),
      ...(i >= 23 ? { selector: '{region="eu"}' } : {}),
    });
  }
  for (let i = 0; i < 8; i++)
    add({
      name: `package-${i}`,
      function: `/pkg${i}\\..*/`,
      measure: i % 2 ? 'self' : 'total',
      share: '80%',
    });
  add({ name: 'cpu-rate', rate: '150/s' });
  add({ name: 'cpu-rate-eu', rate: '1.5 cores', severity: 'warn' });
  for (let i = 0; i < 9; i++)
    add({ name: `growth-${i}`, function: cpu[i + 2][0], measure: i % 2 ? 'self' : 'total', growth: '10%' });
  add({ name: 'cpu-growth', growth: '5%' });
  add({ name: 'alloc-top', type: 'alloc_space', function: alloc[1][0], share: pct(alloc[1][1].total * 1.3) });
  add({ name: 'alloc-regex', type: 'alloc_space', function: '/pkg1[0-6]\\..*/', share: '95%' });
  add({ name: 'alloc-rate', type: 'alloc_space', rate: '40 MB/s' });
  add({ name: 'alloc-growth', type: 'alloc_space', growth: '10%' });
  add({ name: 'alloc-fn-growth', type: 'alloc_space', function: alloc[2][0], growth: '10%' });
  return `${lines.join('\n')}\n`;
}

/** The generator (a child process): stacks and profiles into the store at dataDir, then exit. */
async function generate(dataDir: string, until: number): Promise<void> {
  const store = await openStore({ dataDir, database: 'flamewatch', retentionDays: 30 });
  const s = benchService();
  await store.client.insert({
    table: 'flamewatch.stacks',
    format: 'JSONEachRow',
    values: s.frames.map((frames, i) => ({ tenant: 'default', stack_id: String(i + 1), frames })),
  });
  const slow = Array.from(s.service.fn, (f) => (f === s.slowFn ? 1.25 : 1));
  // A uniform in (0, 1) and a standard normal (Box–Muller) from hashes of the row, the stack and a salt.
  const u = (salt: string) => `((cityHash64(number, k, ${salt}) % 1000003) + 0.5) / 1000003`;
  const z = (a: string, b: string) => `sqrt(-2 * log(${u(a)})) * cos(2 * pi() * ${u(b)})`;
  const zMix = `sqrt(-2 * log(((cityHash64(number, 1000 + {endpoint:Array(UInt32)}[k + 1], 11) % 1000003) + 0.5) / 1000003)) * cos(2 * pi() * ((cityHash64(number, 1000 + {endpoint:Array(UInt32)}[k + 1], 12) % 1000003) + 0.5) / 1000003)`;
  const t0 = performance.now();
  let rows = 0;
  // Segments: the history (stable only), then the measured hour (both versions side by side).
  const same = slow.map(() => 1);
  for (const [type, unit, scale, w, canarySlow] of [
    ['cpu', 'samples', 1, s.weights, slow],
    ['alloc_space', 'bytes', 4096, s.allocWeights, same],
  ] as const) {
    for (const seg of [
      { from: until - HOUR - HISTORY_HOURS * HOUR, hours: HISTORY_HOURS, versions: 1 },
      { from: until - HOUR, hours: 1, versions: 2 },
    ]) {
      if (seg.hours === 0) continue;
      const perWindow = INSTANCES * seg.versions;
      const count = ((seg.hours * 3600) / 10) * perWindow;
      await store.client.command({
        query: `INSERT INTO flamewatch.profiles (tenant, service, type, unit, time, duration_ms, profile_id, labels, stack_ids, values, total)
          SELECT 'default', {service:String}, {type:String}, {unit:String},
            fromUnixTimestamp64Milli(toInt64({from:Int64} + intDiv(number, {perWindow:UInt32}) * 10000 + (number % {instances:UInt32}) * 97)), 10000,
            generateUUIDv4(number), map('version', if(canary, {canary:String}, {stable:String}),
              'instance', concat('i-', toString(number % {instances:UInt32})), 'region', if(number % 2 = 1, 'eu', 'us')),
            arrayFilter((id, v) -> v > 0, arrayMap(k -> toUInt64(k + 1), range({nodes:UInt32})), all_values),
            arrayMap(v -> v * {scale:Int64}, arrayFilter(v -> v > 0, all_values)) AS vs,
            arraySum(vs)
          FROM (
            SELECT number, canary, arrayMap((lambda, k) -> toInt64(greatest(0, floor(lambda + sqrt(lambda) * ${z('3', '4')} + ${u('5')}))), lambdas, range({nodes:UInt32})) AS all_values
            FROM (
              SELECT number, intDiv(number, {instances:UInt32}) % {versions:UInt32} = 1 AS canary,
                arrayMap(k -> {samples:Float64} * {w:Array(Float64)}[k + 1] * if(canary, {slow:Array(Float64)}[k + 1], 1)
                  * exp(0.15 * ${zMix}) * exp(0.3 * ${z('1', '2')}), range({nodes:UInt32})) AS lambdas
              FROM numbers({count:UInt64})))`,
        query_params: {
          service: SERVICE,
          type,
          unit,
          from: seg.from,
          perWindow,
          instances: INSTANCES,
          versions: seg.versions,
          canary: CANARY,
          stable: STABLE,
          samples: SAMPLES,
          w,
          slow: canarySlow,
          endpoint: Array.from(s.service.endpoint),
          nodes: NODES,
          scale,
          count,
        },
      });
      rows += count;
    }
  }
  const [shape] = await (
    await store.client.query({
      query: `SELECT count() AS profiles, avg(length(stack_ids)) AS stacks, avg(total) AS samples FROM flamewatch.profiles
      WHERE type = 'cpu' AND time >= fromUnixTimestamp64Milli({from:Int64}) AND labels['version'] = {canary:String}`,
      query_params: { from: until - HOUR, canary: CANARY },
      format: 'JSONEachRow',
    })
  ).json<{ profiles: string; stacks: number; samples: number }>();
  await store.close();
  console.log(
    JSON.stringify({
      rows,
      loadSeconds: (performance.now() - t0) / 1000,
      canaryCpuProfiles: Number(shape.profiles),
      stacksPerProfile: shape.stacks,
      samplesPerProfile: shape.samples,
    }),
  );
}

interface GateAnswer {
  verdict: string;
  reason: string;
  budgets: { name: string; verdict: string; observations: number; baselineObservations?: number }[];
  regressions: {
    compared: { type: string; verdict: string; profiles: number[] }[];
    found: { type: string; function: string; measure: string }[];
  } | null;
}

/** One gate call: its latency, and the server's CPU time over it (all threads, chDB's included; 10 ms resolution). */
async function gate(
  server: BenchServer,
  query: string,
): Promise<{ ms: number; cpuMs: number; answer: GateAnswer }> {
  const cpu = cpuSeconds(server.proc.pid!);
  const t = performance.now();
  const res = await request(`${server.url}/api/v1/gate?${query}`, 'GET');
  const ms = performance.now() - t;
  const cpuMs = (cpuSeconds(server.proc.pid!) - cpu) * 1000;
  if (res.status !== 200) throw new Error(`gate answered ${res.status}: ${res.body.toString()}`);
  return { ms, cpuMs, answer: JSON.parse(res.body.toString()) as GateAnswer };
}

function summary(a: GateAnswer): Record<string, unknown> {
  const count = (v: string) => a.budgets.filter((b) => b.verdict === v).length;
  return {
    verdict: a.verdict,
    budgets: { pass: count('pass'), fail: count('fail'), inconclusive: count('inconclusive') },
    observations: [a.budgets[0]?.baselineObservations, a.budgets[0]?.observations],
    regressions: a.regressions
      ? {
          compared: a.regressions.compared,
          found: a.regressions.found.map((f) => `${f.type} ${f.function} ${f.measure}`),
        }
      : null,
    reason: a.reason.slice(0, 300),
  };
}

const stats = (xs: number[]) => ({
  median: Math.round(median(xs)),
  p95: Math.round(percentile(xs, 95)),
  min: Math.round(Math.min(...xs)),
  max: Math.round(Math.max(...xs)),
  n: xs.length,
});

/**
 * The queries of one gate call, each run alone: what it costs in ClickHouse,
 * by stage. The store is opened in this process (so no server may be).
 */
async function profileQueries(dataDir: string, until: number): Promise<void> {
  const store = await openStore({ dataDir, database: 'flamewatch', retentionDays: 30 });
  try {
    const budgets = parseBudgetsYaml(benchBudgets(benchService()));
    const captured: { stage: string; args: Parameters<typeof store.client.query>[0] }[] = [];
    let stage = 'budgets';
    const query = store.client.query.bind(store.client);
    store.client.query = ((args: Parameters<typeof store.client.query>[0]) => {
      captured.push({ stage, args });
      return query(args);
    }) as typeof store.client.query;
    const range = { from: until - HOUR, until };
    const scope = (v: string) => ({ matchers: [{ name: 'version', op: '=' as const, value: v }], ...range });
    await evaluateBudgets(store, 'default', budgets, scope(CANARY), scope(STABLE));
    stage = 'detector';
    for (const type of [...new Set(budgets.map((b) => b.type))]) {
      const sel = (v: string) => ({
        tenant: 'default',
        service: SERVICE,
        type,
        range,
        matchers: scope(v).matchers,
      });
      await compareSelections(store, sel(STABLE), sel(CANARY));
    }
    store.client.query = query;
    const rows: { stage: string; cpuMs: number; wallMs: number; query: string }[] = [];
    for (const c of captured) {
      const cpu: number[] = [];
      const wall: number[] = [];
      for (let i = 0; i < 5; i++) {
        const before = process.cpuUsage();
        const t = performance.now();
        await (await store.client.query(c.args)).json();
        wall.push(performance.now() - t);
        const d = process.cpuUsage(before);
        cpu.push((d.user + d.system) / 1000);
      }
      rows.push({
        stage: c.stage,
        cpuMs: Math.round(median(cpu)),
        wallMs: Math.round(median(wall)),
        query: c.args.query.replace(/\s+/g, ' ').slice(0, 100),
      });
    }
    const total = (st: string) =>
      rows
        .filter((r) => r.stage === st)
        .reduce((a, r) => ({ cpuMs: a.cpuMs + r.cpuMs, wallMs: a.wallMs + r.wallMs }), {
          cpuMs: 0,
          wallMs: 0,
        });
    console.log(
      JSON.stringify(
        {
          totals: { budgets: total('budgets'), detector: total('detector') },
          queries: rows,
          load: os.loadavg().map((x) => x.toFixed(2)),
        },
        null,
        2,
      ),
    );
  } finally {
    await store.close();
  }
}

async function main(): Promise<void> {
  const loadBefore = os.loadavg().map((x) => x.toFixed(2));
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-gate-bench-'));
  const env = { FLAMEWATCH_DETECT_EVERY: '0' };
  try {
    const until = Math.floor(Date.now() / 10_000) * 10_000;
    const gen = spawnSync(
      process.execPath,
      [__filename, '--generate', dataDir, '--until', String(until), ...process.argv.slice(2)],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
    );
    if (gen.status !== 0) throw new Error(`the generator exited with ${gen.status}`);
    const generated = JSON.parse(gen.stdout.trim().split('\n').pop()!) as Record<string, number>;
    if (process.argv.includes('--queries')) {
      await profileQueries(dataDir, until);
      return;
    }
    const s = benchService();
    const budgets = benchBudgets(s);
    const q = (mode: string) =>
      `service=${SERVICE}&version=${CANARY}&baseline=${STABLE}&from=${until - HOUR}&until=${until}&regressions=${mode}`;

    let server = await startServer(env, { dataDir });
    const put = await request(
      `${server.url}/api/v1/budgets?service=${SERVICE}`,
      'PUT',
      Buffer.from(budgets),
      { 'content-type': 'application/yaml' },
    );
    if (put.status !== 200) throw new Error(`PUT budgets answered ${put.status}: ${put.body.toString()}`);
    await server.stop();

    const cold: Record<string, number[]> = { fail: [], ignore: [] };
    const answers: Record<string, GateAnswer> = {};
    for (let i = 0; i < COLD; i++) {
      for (const mode of ['fail', 'ignore']) {
        server = await startServer(env, { dataDir });
        const r = await gate(server, q(mode));
        cold[mode].push(r.ms);
        answers[mode] ??= r.answer;
        await server.stop();
      }
    }
    server = await startServer(env, { dataDir });
    const warm: Record<string, number[]> = { fail: [], ignore: [] };
    const warmCpu: Record<string, number[]> = { fail: [], ignore: [] };
    for (const mode of ['fail', 'ignore']) await gate(server, q(mode));
    for (let i = 0; i < WARM; i++) {
      for (const mode of ['fail', 'ignore']) {
        const r = await gate(server, q(mode));
        warm[mode].push(r.ms);
        warmCpu[mode].push(r.cpuMs);
        if (JSON.stringify(r.answer.budgets) !== JSON.stringify(answers[mode].budgets))
          throw new Error(`the ${mode} answer changed between calls`);
      }
    }
    await server.stop();
    console.log(
      JSON.stringify(
        {
          instances: INSTANCES,
          stacks: NODES,
          historyHours: HISTORY_HOURS,
          budgets: (budgets.match(/^ {2}- name:/gm) ?? []).length,
          generated: Object.fromEntries(
            Object.entries(generated).map(([k, v]) => [k, Math.round(v * 10) / 10]),
          ),
          coldMs: { withDetector: stats(cold.fail), budgetsOnly: stats(cold.ignore) },
          warmMs: { withDetector: stats(warm.fail), budgetsOnly: stats(warm.ignore) },
          warmServerCpuMs: { withDetector: stats(warmCpu.fail), budgetsOnly: stats(warmCpu.ignore) },
          answer: summary(answers.fail),
          load: { before: loadBefore, after: os.loadavg().map((x) => x.toFixed(2)) },
        },
        null,
        2,
      ),
    );
  } finally {
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

const generating = process.argv.indexOf('--generate');
(generating >= 0 ? generate(process.argv[generating + 1], arg('until', 0)) : main()).catch((err) => {
  console.error(err);
  process.exit(1);
});
