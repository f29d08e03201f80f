import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startServe } from './helpers/process';

// Every profile acknowledged with a 200 survives a SIGKILL of the server.
const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-crash-'));
afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

const serve = () => startServe(['--data', dataDir, '--no-self-profile']);

/** Profile i: three stacks whose values sum to 6 * (i + 1). */
const body = (i: number) => `main;a ${i + 1}\nmain;b ${2 * (i + 1)}\nmain;b;c ${3 * (i + 1)}\n`;

describe('crash safety', () => {
  it('finds every acknowledged profile, whole, after a SIGKILL mid-stream and a restart', async () => {
    const first = await serve();
    const acknowledged = new Set<number>();
    const now = Math.floor(Date.now() / 1000);
    let next = 0;
    let killed = false;
    const pusher = async () => {
      while (!killed) {
        const i = next++;
        try {
          const res = await fetch(
            `${first.url}/ingest?${new URLSearchParams({ name: `crash.cpu{seq=${i}}`, from: String(now - 30), until: String(now - 20) })}`,
            { method: 'POST', body: body(i) },
          );
          if (res.status === 200) acknowledged.add(i);
        } catch {
          // the server died under this request: not acknowledged
        }
      }
    };
    const pushers = Array.from({ length: 8 }, pusher);
    // Kill mid-stream once the stream is well under way (a busy machine acknowledges more slowly).
    for (let waited = 0; waited < 20_000 && acknowledged.size < 30; waited += 100)
      await new Promise((r) => setTimeout(r, 100));
    const exited = new Promise((r) => first.proc.once('exit', r));
    first.proc.kill('SIGKILL');
    killed = true;
    await Promise.all(pushers);
    await exited;
    expect(acknowledged.size).toBeGreaterThan(20);

    const second = await serve();
    try {
      const q = (params: Record<string, string>) =>
        new URLSearchParams({ type: 'cpu', from: String(now - 60), until: String(now), ...params });
      const seqs = (
        (await (await fetch(`${second.url}/api/v1/label-values?service=crash&label=seq`)).json()) as string[]
      ).map(Number);
      for (const i of acknowledged) expect(seqs).toContain(i);
      // No profile is half-written: each one found has its whole total (checked in batches by regex).
      const found = [...new Set(seqs)];
      for (let k = 0; k < found.length; k += 50) {
        const batch = found.slice(k, k + 50);
        const top = (await (
          await fetch(
            `${second.url}/api/v1/top?${q({ query: `crash{seq=~"${batch.join('|')}"}`, limit: '0' })}`,
          )
        ).json()) as { total: number; functions: { name: string; self: number }[] };
        const expected = batch.reduce((sum, i) => sum + 6 * (i + 1), 0);
        expect(top.total).toBe(expected);
        expect(top.functions.find((f) => f.name === 'c')?.self).toBe(
          batch.reduce((sum, i) => sum + 3 * (i + 1), 0),
        );
      }
    } finally {
      second.proc.kill('SIGKILL');
    }
  }, 60_000);
});
