/**
 * Agent memory with the server down: a service with the agent at its defaults
 * (a push every 10 s, wall + heap) pointed at a port where nothing listens,
 * for 10 minutes; its resident memory is sampled every 10 s from /proc. The
 * target: growth under 20 MB. The same service without the agent runs beside
 * it as the baseline.
 *
 *   npm run build && node dist/bench/agent-memory.js [--minutes 10]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort, repoDir } from './lib';

const minutesArg = process.argv.indexOf('--minutes');
const minutes = minutesArg === -1 ? 10 : Number(process.argv[minutesArg + 1]);
const host = path.join(repoDir, 'test', 'fixtures', 'agent-host.js');

function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

async function main(): Promise<void> {
  const deadPort = await freePort(); // nothing listens there: the server is down
  const run = (agent: boolean): ChildProcess =>
    spawn(process.execPath, [host], {
      env: {
        ...process.env,
        HOST_SECONDS: String(minutes * 60),
        HOST_STOP: 'no',
        AGENT_OPTIONS: JSON.stringify(
          agent
            ? { server: `http://127.0.0.1:${deadPort}`, service: 'memory-bench' }
            : { server: 'not used', service: '' },
        ),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
  const withAgent = run(true);
  const without = run(false);
  const reports: string[] = [];
  withAgent.stdout!.on('data', (d: Buffer) => reports.push(d.toString()));
  const samples: { t: number; agent: number; none: number }[] = [];
  const t0 = Date.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      try {
        samples.push({
          t: (Date.now() - t0) / 1000,
          agent: rssMb(withAgent.pid!),
          none: rssMb(without.pid!),
        });
      } catch {
        clearInterval(timer);
        resolve();
      }
    }, 10_000);
    withAgent.once('exit', () => {
      clearInterval(timer);
      resolve();
    });
  });
  without.kill();
  const warm = samples.find((s) => s.t >= 60) ?? samples[0];
  const last = samples[samples.length - 1];
  const peak = (k: 'agent' | 'none') => Math.max(...samples.map((s) => s[k]));
  const report = JSON.parse(reports.join('').trim().split('\n').pop() ?? '{}') as {
    before?: Record<string, number>;
  };
  console.log(
    `service under light load, server down, ${minutes} min, RSS sampled every 10 s (${samples.length} samples)`,
  );
  console.log('| service | RSS at 1 min (MB) | peak (MB) | at end (MB) | growth after 1 min (MB) |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const [name, k] of [
    ['with agent', 'agent'],
    ['without agent', 'none'],
  ] as const) {
    console.log(
      `| ${name} | ${warm[k].toFixed(1)} | ${peak(k).toFixed(1)} | ${last[k].toFixed(1)} | ${(last[k] - warm[k]).toFixed(1)} |`,
    );
  }
  console.log(`agent counters at the end: ${JSON.stringify(report.before ?? {})}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
