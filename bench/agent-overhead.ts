/**
 * Agent overhead: an express service under a fixed wrk load (1 thread, 16
 * connections, 10 s, after 3 s of warm-up), runs interleaved of: no agent,
 * our agent at its defaults (wall with CPU time, heap), our agent without CPU
 * time, and @pyroscope/nodejs at its defaults (wall without CPU time, heap),
 * all pushing to a real `flamewatch serve`. Reports requests/s and p99.
 *
 *   npm run build && taskset -c 1 node dist/bench/agent-overhead.js [--rounds 5] [--seconds 10]
 *   (wrk from Debian: apt-get install wrk; taskset from util-linux)
 */
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { arg, freePort, median, repoDir, startServer } from './lib';

const rounds = arg('rounds', 5);
const seconds = arg('seconds', 10);
const modes = ['none', 'flamewatch', 'flamewatch-nocpu', 'pyroscope'] as const;
const service = path.join(repoDir, 'bench', 'fixtures', 'express-service.js');

/** Parses wrk's Requests/sec and its 99 % latency (in ms). */
function parseWrk(out: string): { rps: number; p99: number } {
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const m = /\s99%\s+([\d.]+)(us|ms|s)/.exec(out);
  if (!m || !Number.isFinite(rps)) throw new Error(`cannot read wrk's output:\n${out}`);
  const p99 = Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1);
  return { rps, p99 };
}

async function measure(
  mode: (typeof modes)[number],
  flamewatch: string,
): Promise<{ rps: number; p99: number }> {
  const port = await freePort();
  // The service alone on core 0; wrk and the Flamewatch server on core 1, so
  // what the profiler costs shows on the service's core, not as contention.
  const proc = spawn('taskset', ['-c', '0', process.execPath, service], {
    env: { ...process.env, PORT: String(port), PROFILER: mode, FLAMEWATCH_SERVER: flamewatch },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    proc.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    proc.once('exit', (code) => reject(new Error(`service (${mode}) exited with ${code}`)));
  });
  try {
    const url = `http://127.0.0.1:${port}/orders/42`;
    spawnSync('taskset', ['-c', '1', 'wrk', '-t1', '-c16', '-d3s', url], { encoding: 'utf8' });
    const run = spawnSync('taskset', ['-c', '1', 'wrk', '-t1', '-c16', `-d${seconds}s`, '--latency', url], {
      encoding: 'utf8',
    });
    if (run.error) throw new Error(`wrk: ${run.error.message} (apt-get install wrk)`);
    return parseWrk(run.stdout);
  } finally {
    proc.kill('SIGTERM');
    await new Promise((r) => proc.once('exit', r));
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

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
