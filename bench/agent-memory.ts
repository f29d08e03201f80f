/**
 * Agent memory with the server down and up: a service with the agent at its
 * defaults pointed at a port where nothing listens, the same pushing to a
 * real `flamewatch serve`, and the same service without the agent as the
 * baseline, side by side for 10 minutes (or --minutes); their resident memory
 * is sampled every 10 s from /proc. The target: growth under 20 MB.
 *
 *   npm run build && node dist/bench/agent-memory.js [--minutes 10]
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { freePort, repoDir, startServer } from './lib';

const minutesArg = process.argv.indexOf('--minutes');
const minutes = minutesArg === -1 ? 10 : Number(process.argv[minutesArg + 1]);
const host = path.join(repoDir, 'test', 'fixtures', 'agent-host.js');

function rssMb(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

async function main(): Promise<void> {
  const deadPort = await freePort(); // nothing listens there: the server is down
  const server = await startServer(); // a real one: the server is up
  const run = (agentServer: string | undefined): ChildProcess =>
    spawn(process.execPath, [host], {
      env: {
        ...process.env,
        HOST_SECONDS: String(minutes * 60),
        HOST_STOP: 'no',
        AGENT_OPTIONS: JSON.stringify(
          agentServer
            ? { server: agentServer, service: 'memory-bench' }
            : { server: 'not used', service: '' },
        ),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
  const services = {
    down: run(`http://127.0.0.1:${deadPort}`),
    up: run(server.url),
    none: run(undefined),
  };
  const reports = { down: [] as string[], up: [] as string[] };
  services.down.stdout!.on('data', (d: Buffer) => reports.down.push(d.toString()));
  services.up.stdout!.on('data', (d: Buffer) => reports.up.push(d.toString()));
  type Key = keyof typeof services;
  const samples: ({ t: number } & Record<Key, number>)[] = [];
  const t0 = Date.now();
  await new Promise<void>((resolve) => {
    const timer = setInterval(() => {
      try {
        samples.push({
          t: (Date.now() - t0) / 1000,
          down: rssMb(services.down.pid!),
          up: rssMb(services.up.pid!),
          none: rssMb(services.none.pid!),
        });
      } catch {
        clearInterval(timer);
        resolve();
      }
    }, 10_000);
    services.down.once('exit', () => {
      clearInterval(timer);
      resolve();
    });
  });
  await new Promise((r) => (services.up.exitCode === null ? services.up.once('exit', r) : r(null)));
  services.none.kill();
  await server.stop();
  const warm = samples.find((s) => s.t >= 60) ?? samples[0];
  const last = samples[samples.length - 1];
  const peak = (k: Key) => Math.max(...samples.map((s) => s[k]));
  const counters = (lines: string[]) =>
    JSON.stringify(
      (JSON.parse(lines.join('').trim().split('\n').pop() ?? '{}') as { before?: Record<string, number> })
        .before ?? {},
    );
  console.log(
    `service under light load with the agent at its defaults, ${minutes} min, RSS sampled every 10 s (${samples.length} samples)`,
  );
  console.log('| service | RSS at 1 min (MB) | peak (MB) | at end (MB) | growth after 1 min (MB) |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const [name, k] of [
    ['with agent, server down', 'down'],
    ['with agent, server up', 'up'],
    ['without agent', 'none'],
  ] as const) {
    console.log(
      `| ${name} | ${warm[k].toFixed(1)} | ${peak(k).toFixed(1)} | ${last[k].toFixed(1)} | ${(last[k] - warm[k]).toFixed(1)} |`,
    );
  }
  console.log(`agent counters at the end, server down: ${counters(reports.down)}`);
  console.log(`agent counters at the end, server up: ${counters(reports.up)}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
