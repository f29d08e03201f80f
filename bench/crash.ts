/**
 * Crash safety at scale: `flamewatch serve` (a child process, embedded
 * chDB) takes a stream of profiles from --connections (16) pushers and is
 * SIGKILLed mid-stream, --rounds (5) times, each after a random 2-6 s
 * (seeded), then started again on the same data directory. After every
 * restart every profile acknowledged so far (HTTP 200) must be found, and
 * every profile found must be whole and stored once: its total and each of
 * its functions' values equal what was pushed, read from raw profiles over
 * windows inside a minute and whole minutes, and over the whole hour, which
 * the `rollup` job (every second here, FLAMEWATCH_ROLLUP_EVERY=1) builds
 * while profiles keep arriving in it and the kills land: a read of the hour
 * comes from the rollup whenever the rollup's recorded count matches.
 * test/crash-safety.test.ts does this once, small.
 *
 * Profile i (label seq=i) is folded text of 40 stacks, stack j weighing
 * (i+1)(j+1), so its total is 820(i+1); it lies in the previous clock hour,
 * 50 profiles to a minute, so the whole hour, being over, is rolled up by
 * the job as profiles arrive late into it. The pushers do
 * not retry (a profile is acknowledged once or never); one refused must not
 * be found, one whose answer was lost may be. The tenant's push
 * rate and series limits are lifted (FLAMEWATCH_LIMITS): every profile is a
 * series of its own.
 *
 *   npm run build && node dist/bench/crash.js [--rounds 5] [--connections 16] [--seed 1]
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { arg, type BenchServer, request, startServer } from './lib';

const rounds = arg('rounds', 5);
const connections = arg('connections', 16);
let seed = arg('seed', 1) >>> 0;
/** mulberry32: the kill times are the same for the same seed. */
function random(): number {
  seed = (seed + 0x6d2b79f5) >>> 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}

const STACKS = 40;
const PER_MINUTE = 50;
const SERVICE = 'crash';
const HOUR_MS = 3_600_000;
const hour = Math.floor(Date.now() / HOUR_MS) * HOUR_MS - HOUR_MS;

const weight = (i: number, j: number) => (i + 1) * (j + 1);
const body = (i: number) =>
  Array.from({ length: STACKS }, (_, j) => `main;handler${j % 5};work${j} ${weight(i, j)}`).join('\n') + '\n';
/** Profile i's minute within the hour (59 of them, so no profile sits on the hour's end), and its second in it (5-54). */
const minuteOf = (i: number) => Math.floor(i / PER_MINUTE) % 59;
const timeOf = (i: number) => hour + minuteOf(i) * 60_000 + (5 + (i % PER_MINUTE)) * 1000;

interface Top {
  total: number;
  functions: { name: string; self: number }[];
}

/** /top of the service over a range: of the profiles `seqs`, or of all. */
async function top(url: string, seqs: number[] | undefined, from: number, until: number): Promise<Top> {
  const q = new URLSearchParams({
    query: seqs ? `${SERVICE}{seq=~"${seqs.join('|')}"}` : SERVICE,
    type: 'cpu',
    from: String(from),
    until: String(until),
    limit: '0',
  });
  const res = await request(`${url}/api/v1/top?${q}`, 'GET');
  if (res.status !== 200)
    throw new Error(`/top answered ${res.status}: ${res.body.toString().slice(0, 200)}`);
  return JSON.parse(res.body.toString()) as Top;
}

/**
 * What is stored: the seqs found in raw rows, and every sum that differs from
 * what was pushed for them (a profile half-written, stored twice, or in a
 * rollup but not in raw rows) over windows inside a minute, whole minutes and the whole hour,
 * selected by seq (through the series table) and unselected. A selection
 * whose sums are wrong is looked at profile by profile: `partial` are the
 * profiles whose sums are wrong in some read.
 */
async function verify(
  url: string,
): Promise<{ found: Set<number>; wrong: string[]; partial: Map<number, string[]> }> {
  const res = await request(
    `${url}/api/v1/label-values?${new URLSearchParams({ service: SERVICE, label: 'seq', from: String(hour), until: String(hour + HOUR_MS) })}`,
    'GET',
  );
  const found = new Set((JSON.parse(res.body.toString()) as string[]).map(Number));
  const wrong: string[] = [];
  const partial = new Map<number, string[]>();
  const byMinute = new Map<number, number[]>();
  for (let m = 0; m < 59; m++) byMinute.set(m, []);
  for (const i of found) byMinute.get(minuteOf(i))!.push(i);
  const totalOf = (seqs: number[]) => seqs.reduce((s, i) => s + ((STACKS * (STACKS + 1)) / 2) * (i + 1), 0);
  const differences = (seqs: number[], got: Top): string[] => {
    const out: string[] = [];
    if (got.total !== totalOf(seqs)) out.push(`total ${got.total}, pushed ${totalOf(seqs)}`);
    for (let j = 0; j < STACKS; j++) {
      const self = got.functions.find((f) => f.name === `work${j}`)?.self ?? 0;
      const want = seqs.reduce((s, i) => s + weight(i, j), 0);
      if (self !== want) out.push(`work${j} ${self}, pushed ${want}`);
    }
    return out;
  };
  /** Checks a read of `seqs` (or of every profile) over a range; a wrong one is read again profile by profile. */
  const check = async (what: string, seqs: number[], from: number, until: number, all = false) => {
    const diff = differences(seqs, await top(url, all ? undefined : seqs, from, until));
    if (!diff.length) return;
    wrong.push(`${what}: ${diff[0]}${diff.length > 1 ? ` (and ${diff.length - 1} more sums)` : ''}`);
    if (all) return;
    for (const i of seqs) {
      if (differences([i], await top(url, [i], from, until)).length)
        partial.set(i, [...(partial.get(i) ?? []), what.replace(/ \d+/, '').replace(/, seqs.*$/, '')]);
    }
  };
  for (const [minute, seqs] of byMinute) {
    const start = hour + minute * 60_000;
    for (let k = 0; k < seqs.length; k += PER_MINUTE) {
      const batch = seqs.slice(k, k + PER_MINUTE);
      // Raw rows: a window inside the minute holds no whole minute.
      await check(`minute ${minute} raw`, batch, start + 1000, start + 59_000);
      await check(`minute ${minute} whole`, batch, start, start + 60_000);
    }
    // Nothing but the profiles found.
    await check(`minute ${minute} whole, every profile`, seqs, start, start + 60_000, true);
  }
  const all = [...found];
  for (let k = 0; k < all.length; k += 200) {
    await check(`hour rollup, seqs ${all[k]}…`, all.slice(k, k + 200), hour, hour + HOUR_MS);
  }
  await check('hour rollup, every profile', all, hour, hour + HOUR_MS, true);
  return { found, wrong, partial };
}

async function main(): Promise<void> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-crash-bench-'));
  const env = {
    FLAMEWATCH_LIMITS: JSON.stringify({ '*': { ingestRate: 0, maxSeriesPerHour: 0 } }),
    FLAMEWATCH_ROLLUP_EVERY: '1',
  };
  const acknowledged = new Set<number>();
  const refusedSeqs = new Set<number>();
  let next = 0;
  let ok = true;
  console.log(
    `load average at start: ${fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ')}`,
  );
  console.log(
    '| round | pushed this round | acknowledged (200) | refused (4xx/5xx) | no answer (killed in flight) | killed after | restart to healthy | acknowledged so far | found | acknowledged, not found | found, not acknowledged | half-written (acknowledged) |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  let server: BenchServer = await startServer(env, { dataDir });
  try {
    for (let round = 1; round <= rounds; round++) {
      let killed = false;
      let pushed = 0;
      let acked = 0;
      let refused = 0;
      let noAnswer = 0;
      const url = server.url;
      const pusher = async () => {
        while (!killed) {
          const i = next++;
          pushed++;
          const from = timeOf(i);
          const q = new URLSearchParams({
            name: `${SERVICE}.cpu{seq=${i}}`,
            from: String(from),
            until: String(from + 1000),
          });
          try {
            const res = await request(`${url}/ingest?${q}`, 'POST', Buffer.from(body(i)));
            if (res.status === 200) {
              acknowledged.add(i);
              acked++;
            } else {
              refused++;
              refusedSeqs.add(i);
            }
          } catch {
            noAnswer++; // the server died under this request
          }
        }
      };
      const pushers = Array.from({ length: connections }, pusher);
      const after = 2 + 4 * random();
      await new Promise((r) => setTimeout(r, after * 1000));
      const exited = new Promise((r) => server.proc.once('exit', r));
      server.proc.kill('SIGKILL');
      killed = true;
      await Promise.all(pushers);
      await exited;

      const t0 = performance.now();
      server = await startServer(env, { dataDir });
      const health = await request(`${server.url}/healthz`, 'GET');
      if (health.status !== 200) throw new Error(`the server did not come back healthy: ${health.status}`);
      const restartS = (performance.now() - t0) / 1000;
      const { found, wrong, partial } = await verify(server.url);
      const missing = [...acknowledged].filter((i) => !found.has(i));
      const extra = [...found].filter((i) => !acknowledged.has(i));
      const refusedFound = extra.filter((i) => refusedSeqs.has(i));
      if (missing.length || wrong.length || refusedFound.length) ok = false;
      const partialAcked = [...partial.keys()].filter((i) => acknowledged.has(i));
      console.log(
        `| ${round} | ${pushed} | ${acked} | ${refused} | ${noAnswer} | ${after.toFixed(1)} s | ${restartS.toFixed(1)} s | ${acknowledged.size} | ${found.size} | ${missing.length} | ${extra.length} | ${partial.size} (${partialAcked.length}) |`,
      );
      for (const w of wrong) console.log(`  wrong: ${w}`);
      if (partial.size) {
        const where = new Map<string, number>();
        for (const reads of partial.values())
          where.set(reads.join(' + '), (where.get(reads.join(' + ')) ?? 0) + 1);
        console.log(
          `  half-written: ${[...partial.keys()].sort((a, b) => a - b).join(', ')}, acknowledged: ${partialAcked.length ? partialAcked.join(', ') : 'none'}; wrong in ${[...where].map(([w, n]) => `${w} (${n})`).join(', ')}`,
        );
      }
      if (missing.length) console.log(`  acknowledged but not found: ${missing.slice(0, 20).join(', ')}`);
      if (refusedFound.length) console.log(`  refused but found: ${refusedFound.slice(0, 20).join(', ')}`);
    }
  } finally {
    await server.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
  console.log(
    ok
      ? 'every acknowledged profile found, every profile found whole, in raw rows, whole minutes and the hour (rollup)'
      : 'FAILED: see the rows above',
  );
  process.exitCode = ok ? 0 : 1;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
