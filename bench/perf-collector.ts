/**
 * The perf collector's own CPU cost: `flamewatch perf --pid` at 99 Hz on a
 * process that keeps one core busy, 3 windows of 10 s pushed to a real
 * `flamewatch serve`; the collector's CPU (its own and its perf record /
 * perf script children, from GNU time) as a share of one core.
 *
 *   npm run build && node dist/bench/perf-collector.js [--windows 3] [--window 10]
 */
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { arg, repoDir, startServer } from './lib';

async function main(): Promise<void> {
  const windows = arg('windows', 3);
  const window = arg('window', 10);
  const server = await startServer();
  const target = spawn(
    process.execPath,
    ['--perf-basic-prof', '-e', 'function spin() { let x = 0; for (;;) x += Math.sqrt(x + 1); } spin();'],
    { stdio: 'ignore' },
  );
  try {
    const run = spawnSync(
      '/usr/bin/time',
      [
        '-f',
        '%e %U %S',
        process.execPath,
        path.join(repoDir, 'bin', 'flamewatch.js'),
        'perf',
        '--server',
        server.url,
        '--service',
        'perf-bench',
        '--pid',
        String(target.pid),
        '--window',
        String(window),
        '--windows',
        String(windows),
        '--quiet',
      ],
      { encoding: 'utf8' },
    );
    if (run.status !== 0) throw new Error(`flamewatch perf failed: ${run.stderr}`);
    const [elapsed, user, sys] = run.stderr.trim().split('\n').pop()!.split(' ').map(Number);
    console.log(
      `flamewatch perf --pid (99 Hz, cpu-clock, -g) on one busy core, ${windows} windows of ${window} s`,
    );
    console.log('| measure | value |');
    console.log('| --- | --- |');
    console.log(`| wall time (s) | ${elapsed.toFixed(1)} |`);
    console.log(
      `| collector CPU, user + system, with perf record and perf script (s) | ${(user + sys).toFixed(2)} |`,
    );
    console.log(`| share of one core | ${(((user + sys) / elapsed) * 100).toFixed(2)} % |`);
  } finally {
    target.kill();
    await server.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
