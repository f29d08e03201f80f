/**
 * Agent overhead: an express service under a fixed wrk load (1 thread, 16
 * connections, 10 s, after 3 s of warm-up), runs interleaved of: no agent,
 * our agent at its defaults (wall with CPU time, heap), our agent without CPU
 * time, and @pyroscope/nodejs at its defaults (wall without CPU time, heap),
 * all pushing to a real `flamewatch serve`. Reports requests/s and p99.
 *
 *   npm run build && taskset -c 1 node dist/bench/agent-overhead.js [--rounds 5] [--seconds 10]
 *   (wrk from Debian: apt-get install wrk; taskset from util-linux)
 *
 * With `--rate N` (issue 20's method): the service at a fixed N requests/s
 * instead of saturated, sent open-loop by this process (on core 1) on
 * keep-alive connections, N/100 requests every 10 ms; reports the service's
 * CPU time per 1,000 requests (from /proc, over the measured seconds) and
 * p50/p99 latency, against no agent, with each mode's spread over the rounds.
 *
 *   taskset -c 1 node dist/bench/agent-overhead.js --rate 1500 --rounds 5 --seconds 20 \
 *     [--modes none,flamewatch,flamewatch-nocpu,flamewatch-60s,pyroscope]
 *
 * `--modes`: flamewatch with suffixes that change one default each (-nocpu, -noheap, -nowork, -<n>s push
 * interval, -<n>hz sampling rate, -dd @datadog/pprof's wall profiler instead of V8's through the inspector;
 * bench/fixtures/express-service.js), to find where the cost goes; `inspector` is V8's profiler with no agent.
 *
 * `--paired`: each mode runs beside a no-agent service of its own, both on core 0 at the rate over the same
 * seconds, and the figure is the median of the two's ratios. This machine's speed moves by 10-30 % from one
 * minute to the next (other tenants); one after the other, that drowns a 2 % difference, side by side both
 * services see the same minute.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import * as http from 'node:http';
import { arg, argText, cpuSeconds, freePort, median, percentile, repoDir, startServer } from './lib';

const rounds = arg('rounds', 5);
const seconds = arg('seconds', 10);
const rate = arg('rate', 0);
/** With --rate: each mode runs beside a no-agent service at the same time instead of one after the other. */
const paired = process.argv.includes('--paired');
/** What profiles the service: none, pyroscope, or flamewatch with suffixes (bench/fixtures/express-service.js). */
const modes = argText('modes', 'none,flamewatch,flamewatch-nocpu,pyroscope').split(',').filter(Boolean);
if (!modes.includes('none')) modes.unshift('none');
const service = path.join(repoDir, 'bench', 'fixtures', 'express-service.js');

/** Parses wrk's Requests/sec and its 99 % latency (in ms). */
function parseWrk(out: string): { rps: number; p99: number } {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const m = /\s99%\s+([\d.]+)(us|ms|s)/.exec(out);
  if (!m || !Number.isFinite(rps)) throw new Error(`cannot read wrk's output:\n${out}`);
  const p99 = Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
  return { rps, p99 };
}

/**
 * `rate` requests a second for `secs` seconds, open loop (sent on schedule whether or not earlier ones have
 * answered), on 64 keep-alive sockets; the latencies of those answered, and how many failed.
 */
async function fixedRate(
  url: string,
  rps: number,
  secs: number,
): Promise<{ latencies: number[]; failed: number }> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
  const latencies: number[] = [];
  let failed = 0;
  const inFlight = new Set<Promise<void>>();
  const one = () => {
    const t = performance.now();
    const p = new Promise<void>((resolve) => {
      const req = http.get(url, { agent }, (res) => {
        res.resume();
        res.on('end', () => {
          if (res.statusCode === 200) latencies.push(performance.now() - t);
          else failed++;
          resolve();
        });
      });
      req.on('error', () => {
        failed++;
        resolve();
      });
    });
    inFlight.add(p);
    void p.then(() => inFlight.delete(p));
  };
  const tickMs = 10;
  const start = performance.now();
  let sent = 0;
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      const due = Math.min(rps * secs, Math.floor(((performance.now() - start) / 1000) * rps));
      while (sent < due) {
        one();
        sent++;
      }
      if (sent >= rps * secs) {
        clearInterval(timer);
        resolve();
      }
    }, tickMs);
  });
  await Promise.all(inFlight);
  agent.destroy();
  return { latencies, failed };
}

/**
 * The express fixture under `mode`, alone on core 0 (the load and the Flamewatch server on core 1, so what the
 * profiler costs shows on the service's core, not as contention); `stop` ends it and answers what it printed.
 */
async function startService(
  mode: string,
  flamewatch: string,
): Promise<{ pid: number; url: string; stop: () => Promise<string> }> {
  const port = await freePort();
  const proc = spawn('taskset', ['-c', '0', process.execPath, service], {
    env: { ...process.env, PORT: String(port), PROFILER: mode, FLAMEWATCH_SERVER: flamewatch },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve, reject) => {
    proc.stdout!.on('data', () => out.includes('ready') && resolve());
    proc.once('exit', (code) => reject(new Error(`service (${mode}) exited with ${code}`)));
  });
  return {
    pid: proc.pid!,
    url: `http://127.0.0.1:${port}/orders/42`,
    stop: async () => {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM');
        await new Promise((r) => proc.once('exit', r));
      }
      return out;
    },
  };
}

interface AtRate {
  cpuPer1000: number;
  p50: number;
  p99: number;
  failed: number;
  blockedMsPerCollection?: number;
}

/**
 * The services of `group` side by side on core 0, each at the fixed rate over the same seconds: CPU ms per
 * 1,000 requests answered, p50/p99 latency and the agent's own account, for each.
 */
async function measureAtRate(group: string[], flamewatch: string): Promise<AtRate[]> {
  const svcs: Awaited<ReturnType<typeof startService>>[] = [];
  try {
    for (const mode of group) svcs.push(await startService(mode, flamewatch));
    // Warm-up: JIT and the agent's first profile (its interval is 10 s).
    await Promise.all(svcs.map((svc) => fixedRate(svc.url, rate, 12)));
    const cpu0 = svcs.map((svc) => cpuSeconds(svc.pid));
    const runs = await Promise.all(svcs.map((svc) => fixedRate(svc.url, rate, seconds)));
    const cpu = svcs.map((svc, i) => cpuSeconds(svc.pid) - cpu0[i]);
    const out: AtRate[] = [];
    for (let i = 0; i < svcs.length; i++) {
      const { latencies, failed } = runs[i];
      latencies.sort((a, b) => a - b);
      // The agent's own account (bench/fixtures/express-service.js prints it as it stops).
      const stats = /\{"agentStats":.*\}/.exec(await svcs[i].stop())?.[0];
      const agent = stats
        ? (JSON.parse(stats) as { agentStats: { collections: number; blockedMs: number } }).agentStats
        : undefined;
      out.push({
        cpuPer1000: (cpu[i] * 1000 * 1000) / Math.max(1, latencies.length),
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
        failed,
        ...(agent && agent.collections > 0
          ? { blockedMsPerCollection: agent.blockedMs / agent.collections }
          : {}),
      });
    }
    return out;
  } finally {
    for (const svc of svcs) await svc.stop();
  }
}

async function mainAtRate(): Promise<void> {
  const server = await startServer();
  try {
    const results: Record<
      string,
      {
        cpu: number[];
        p50: number[];
        p99: number[];
        failed: number;
        blocked: number[];
        ratio: number[];
        p99Ratio: number[];
      }
    > = Object.fromEntries(
      modes.map((m) => [m, { cpu: [], p50: [], p99: [], failed: 0, blocked: [], ratio: [], p99Ratio: [] }]),
    );
    const record = (round: number, mode: string, r: AtRate) => {
      results[mode].cpu.push(r.cpuPer1000);
      results[mode].p50.push(r.p50);
      results[mode].p99.push(r.p99);
      results[mode].failed += r.failed;
      if (r.blockedMsPerCollection !== undefined) results[mode].blocked.push(r.blockedMsPerCollection);
      console.error(
        `round ${round} ${mode}: ${r.cpuPer1000.toFixed(1)} CPU ms / 1000 requests, p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms${r.failed ? `, ${r.failed} failed` : ''}`,
      );
    };
    for (let round = 1; round <= rounds; round++) {
      if (paired) {
        // Each mode beside its own no-agent service over the same seconds: the machine's moods (other
        // tenants, frequency) fall on both, and the ratio keeps what the agent adds.
        for (const mode of modes.filter((m) => m !== 'none')) {
          // Which of the two starts first alternates, so neither always has the warmer start.
          const group = round % 2 ? ['none', mode] : [mode, 'none'];
          const [a, b] = await measureAtRate(group, server.url);
          const [base, it] = round % 2 ? [a, b] : [b, a];
          record(round, 'none', base);
          record(round, mode, it);
          results[mode].ratio.push(it.cpuPer1000 / base.cpuPer1000);
          results[mode].p99Ratio.push(it.p99 / base.p99);
        }
      } else {
        for (const mode of modes) record(round, mode, (await measureAtRate([mode], server.url))[0]);
      }
    }
    const base = median(results.none.cpu);
    const baseP99 = median(results.none.p99);
    const pct = (x: number, b: number) => `${x >= b ? '+' : ''}${(((x - b) / b) * 100).toFixed(1)} %`;
    const spread = (xs: number[]) => `[${pct(Math.min(...xs), 1)}…${pct(Math.max(...xs), 1)}]`;
    console.log(
      `express service at ${rate} requests/s (open loop), ${seconds} s measured after 12 s of warm-up, ${rounds} ${paired ? 'rounds, each mode beside a no-agent service on the same core at the same time; medians of the paired ratios' : 'interleaved rounds; medians'}, [min–max]`,
    );
    console.log(
      '| profiler | service CPU ms / 1,000 requests | vs none | p50 ms | p99 ms | p99 vs none | failed | agent: event loop ms a collection |',
    );
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const mode of modes) {
      const r = results[mode];
      const cpu = median(r.cpu);
      const vs = paired
        ? mode === 'none'
          ? ''
          : `${pct(median(r.ratio), 1)} ${spread(r.ratio)}`
        : pct(cpu, base);
      const p99vs = paired
        ? mode === 'none'
          ? ''
          : pct(median(r.p99Ratio), 1)
        : pct(median(r.p99), baseP99);
      console.log(
        `| ${mode} | ${cpu.toFixed(1)} [${Math.min(...r.cpu).toFixed(1)}–${Math.max(...r.cpu).toFixed(1)}] | ${vs} | ${median(r.p50).toFixed(2)} | ${median(r.p99).toFixed(2)} | ${p99vs} | ${r.failed} | ${r.blocked.length ? median(r.blocked).toFixed(1) : ''} |`,
      );
    }
  } finally {
    await server.stop();
  }
}

async function measure(mode: string, flamewatch: string): Promise<{ rps: number; p99: number }> {
  const svc = await startService(mode, flamewatch);
  try {
    spawnSync('taskset', ['-c', '1', 'wrk', '-t1', '-c16', '-d3s', svc.url], { encoding: 'utf8' });
    const run = spawnSync(
      'taskset',
      ['-c', '1', 'wrk', '-t1', '-c16', `-d${seconds}s`, '--latency', svc.url],
      { encoding: 'utf8' },
    );
    if (run.error) throw new Error(`wrk: ${run.error.message} (apt-get install wrk)`);
    return parseWrk(run.stdout);
  } finally {
    await svc.stop();
  }
}

async function main(): Promise<void> {
  const server = await startServer();
  try {
    const results: Record<string, { rps: number[]; p99: number[] }> = Object.fromEntries(
      modes.map((m) => [m, { rps: [], p99: [] }]),
    );
    for (let round = 1; round <= rounds; round++) {
      for (const mode of modes) {
        const r = await measure(mode, server.url);
        results[mode].rps.push(r.rps);
        results[mode].p99.push(r.p99);
        console.error(`round ${round} ${mode}: ${r.rps.toFixed(0)} req/s, p99 ${r.p99.toFixed(2)} ms`);
      }
    }
    const base = { rps: median(results.none.rps), p99: median(results.none.p99) };
    console.log(`express service, wrk -t1 -c16 -d${seconds}s, ${rounds} interleaved rounds, medians`);
    console.log('| profiler | requests/s | vs none | p99 (ms) | vs none |');
    console.log('| --- | --- | --- | --- | --- |');
    for (const mode of modes) {
      const rps = median(results[mode].rps);
      const p99 = median(results[mode].p99);
      const pct = (x: number, b: number) => `${x >= b ? '+' : ''}${(((x - b) / b) * 100).toFixed(1)} %`;
      console.log(
        `| ${mode} | ${rps.toFixed(0)} | ${pct(rps, base.rps)} | ${p99.toFixed(2)} | ${pct(p99, base.p99)} |`,
      );
    }
  } finally {
    await server.stop();
  }
}

(rate > 0 ? mainAtRate() : main()).catch((err) => {
  console.error(err);
  process.exit(1);
});
