import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as net from 'node:net';

export interface RedisServer {
  url: string;
  port: number;
  proc: ChildProcess;
  /** Kills it (SIGKILL: as a crash looks to clients) and waits for the exit. */
  kill(): Promise<void>;
}

/** A port nothing listens on right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A real, throwaway redis-server on `port` (default: a free one): no RDB
 * snapshots, no AOF, loopback only. Fails with what to install when
 * redis-server is missing (test/setup-system.sh installs it).
 */
export async function startRedis(port?: number): Promise<RedisServer> {
  if (spawnSync('redis-server', ['--version']).error) {
    throw new Error(
      'redis-server is not installed: the job runner tests need a real Redis (Debian package redis-server; test/setup-system.sh installs it)',
    );
  }
  const p = port ?? (await freePort());
  const proc = spawn(
    'redis-server',
    ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  await new Promise<void>((resolve, reject) => {
    const onData = (d: Buffer) => {
      output += d.toString();
      if (/Ready to accept connections/.test(output)) resolve();
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`redis-server --port ${p} exited with ${code}: ${output}`)));
  });
  return {
    url: `redis://127.0.0.1:${p}`,
    port: p,
    proc,
    kill: () =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve();
        proc.once('exit', () => resolve());
        proc.kill('SIGKILL');
      }),
  };
}
