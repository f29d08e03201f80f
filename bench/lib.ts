import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export { requireSharedCorpus } from '../test/helpers/corpus';
export const repoDir = path.resolve(__dirname, '..', '..');

/** A numeric `--name value` command-line option, or `def`. */
export function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : Number(process.argv[i + 1]);
}

/** A `--name value` command-line option as text, or `def`. */
export function argText(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i === -1 ? def : process.argv[i + 1];
}

/** A 32-bit seed mixed from a run's base seed and the parts that name one draw (FNV-style), so each draw is repeatable alone. */
export function mixSeed(base: number, ...parts: number[]): number {
  let h = 2166136261 ^ base;
  for (const x of parts) {
    h = Math.imul(h ^ (x >>> 0), 16777619);
    h ^= h >>> 13;
  }
  return h >>> 0;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
}

export async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface BenchServer {
  url: string;
  proc: ChildProcess;
  dataDir: string;
  stop(): Promise<void>;
}

/**
 * Starts `flamewatch serve` as a child process and waits for /healthz: on a
 * fresh data directory (removed by stop()), or on `dataDir` (kept).
 */
export async function startServer(
  extraEnv: Record<string, string> = {},
  { dataDir: given }: { dataDir?: string } = {},
): Promise<BenchServer> {
  const port = await freePort();
  const dataDir = given ?? fs.mkdtempSync(path.join(os.tmpdir(), 'fw-bench-'));
  // BENCH_SERVER_NODE_ARGS, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof", to profile the server.
  const nodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const proc = spawn(
    process.execPath,
    [
      ...nodeArgs,
      path.join(repoDir, 'bin', 'flamewatch.js'),
      'serve',
      '--port',
      String(port),
      '--data',
      dataDir,
      '--no-self-profile',
    ],
    {
      env: { ...process.env, ...extraEnv },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const url = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      http
        .get(`${url}/healthz`, (res) => {
          res.resume();
          resolve(res.statusCode === 200);
        })
        .on('error', () => resolve(false));
    });
    if (ok) break;
    if (proc.exitCode !== null) throw new Error(`server exited with ${proc.exitCode}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    url,
    proc,
    dataDir,
    async stop() {
      if (proc.exitCode === null && proc.signalCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await exited;
      }
      if (!given) fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

/** One HTTP request over a keep-alive agent; resolves with status and body. */
export function request(
  url: string,
  method: string,
  body?: Buffer,
  headers: http.OutgoingHttpHeaders = {},
): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method, agent, headers: body ? { 'content-length': body.length, ...headers } : headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** CPU seconds (user + system) a process has used, from /proc (Linux's clock tick is 100 Hz). */
export function cpuSeconds(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}
