import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { getJson, startServer, type TestServer } from './helpers/server';

// Real `perf record` on real processes (Debian's linux-perf, installed by test/setup-system.sh).
const run = promisify(execFile);
const cli = path.join(__dirname, '..', 'bin', 'flamewatch.js');
const busy =
  'function busyLoopForPerfTest() { let x = 0; for (;;) { for (let i = 0; i < 1e6; i++) x += Math.sqrt(i); } } busyLoopForPerfTest();';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});
afterAll(() => server.close());

async function top(
  service: string,
): Promise<{ total: number; unit: string; functions: { name: string; self: number }[] }> {
  return (
    await getJson<{ total: number; unit: string; functions: { name: string; self: number }[] }>(
      server.url,
      `/api/v1/top?query=${service}&type=cpu&limit=0`,
    )
  ).json;
}

describe('flamewatch perf', () => {
  it('profiles a running process by pid and shows JavaScript names of a node run with --perf-basic-prof', async () => {
    const target = spawn(process.execPath, ['--perf-basic-prof', '-e', busy], { stdio: 'ignore' });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const { stderr } = await run(
        process.execPath,
        [
          cli,
          'perf',
          '--server',
          server.url,
          '--service',
          'by-pid',
          '--labels',
          'env=test',
          '--pid',
          String(target.pid),
          '--window',
          '1',
          '--windows',
          '2',
        ],
        { timeout: 30_000 },
      );
      expect(stderr).toMatch(/window 1: .* pushed/);
      expect(stderr).toMatch(/window 2: .* pushed/);
      const t = await top('by-pid');
      expect(t.unit).toBe('nanoseconds');
      // ~2 s of one busy core on a quiet machine; on a busy CI machine the target gets what the scheduler gives it.
      expect(t.total).toBeGreaterThan(2e8);
      expect(t.total).toBeLessThan(2.5e9);
      const hottest = t.functions[0].name;
      expect(hottest).toMatch(/busyLoopForPerfTest/);
      expect((await getJson(server.url, '/api/v1/label-values?service=by-pid&label=host')).json).toEqual([
        os.hostname(),
      ]);
      expect((await getJson(server.url, '/api/v1/label-values?service=by-pid&label=env')).json).toEqual([
        'test',
      ]);
    } finally {
      target.kill();
    }
  });

  it('runs a command, profiles it until it exits, and exits with its code', async () => {
    const script =
      'function briefWork() { const t = Date.now(); let x = 0; while (Date.now() - t < 1500) x += Math.sqrt(x + 1); } briefWork(); process.exit(3);';
    const done = run(
      process.execPath,
      [cli, 'perf', '--server', server.url, '--window', '1', '--', process.execPath, '-e', script],
      { timeout: 30_000 },
    );
    await expect(done).rejects.toMatchObject({ code: 3 });
    const services = (await getJson<string[]>(server.url, '/api/v1/services')).json;
    expect(services).toContain(path.basename(process.execPath)); // the command's name
    expect((await top(path.basename(process.execPath))).total).toBeGreaterThan(0);
  });

  it('says how to install perf when it is missing', async () => {
    const done = run(process.execPath, [cli, 'perf', '--pid', String(process.pid)], {
      env: { ...process.env, PATH: '/nonexistent' },
    });
    await expect(done).rejects.toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/perf is not installed: .*apt-get install linux-perf/),
    });
  });

  it('says what to change when perf is not permitted', async () => {
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-fakeperf-'));
    try {
      // perf's own answer where kernel.perf_event_paranoid forbids recording.
      fs.writeFileSync(
        path.join(bin, 'perf'),
        '#!/bin/sh\n[ "$1" = --version ] && { echo "perf version 6.1"; exit 0; }\necho "Error: Access to performance monitoring and observability operations is limited. Consider adjusting /proc/sys/kernel/perf_event_paranoid setting" >&2\nexit 255\n',
        { mode: 0o755 },
      );
      const done = run(process.execPath, [cli, 'perf', '--pid', String(process.pid), '--window', '1'], {
        env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      });
      await expect(done).rejects.toMatchObject({
        code: 1,
        stderr: expect.stringMatching(/not permitted to record here .*perf_event_paranoid.*CAP_PERFMON/),
      });
    } finally {
      fs.rmSync(bin, { recursive: true, force: true });
    }
  });

  it('refuses ambiguous targets', async () => {
    await expect(run(process.execPath, [cli, 'perf', '--pid', '1', '--all-cpus'])).rejects.toMatchObject({
      stderr: expect.stringMatching(/exactly one of/),
    });
  });
});
