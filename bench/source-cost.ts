/**
 * What keeping where code lives costs (issue 17: file and line per frame):
 * for each real profile of the corpora, the distinct stacks ingest stores
 * (stacks told apart by function name only, and as this build tells them
 * apart), the decode loop's rate (gunzip + decode + split into series +
 * serialise the rows, one core), and bytes on disk after storing it as
 * `--copies` instances' pushes: the `stacks` and `profiles` tables
 * compressed, beside the gzip'd pprof files of the same pushes. Run it from
 * two builds (before and after a change) for the change's cost.
 *
 *   npm run build && node dist/bench/source-cost.js [--copies 20] [--ms 1500]
 *
 * Corpora: the generated one (.tools/corpus, made by `npm test`'s setup) and
 * ../shared/corpus when it is there.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import type { ClickHouseClient } from '@clickhouse/client';
import { decodePprof } from '../profile/pprof';
import { splitProfile } from '../profile/series';
import { stackId } from '../profile/stack-id';
import { openStore } from '../store';
import { prepareWrite } from '../store/rows';
import { generatedCorpus, sharedCorpus } from '../test/helpers/corpus';
import { arg } from './lib';

const COPIES = arg('copies', 20);
const MS = arg('ms', 1500);

function files(): { corpus: string; file: string }[] {
  const out: { corpus: string; file: string }[] = [];
  for (const [corpus, dir] of [
    ['generated', generatedCorpus.dir],
    ['shared', sharedCorpus?.dir],
  ] as const) {
    if (!dir || !fs.existsSync(path.join(dir, 'pprof'))) continue;
    for (const f of fs.readdirSync(path.join(dir, 'pprof')).sort())
      if (/\.pb(\.gz)?$/.test(f)) out.push({ corpus, file: path.join(dir, 'pprof', f) });
  }
  return out;
}

const raw = (bytes: Buffer) => (bytes[0] === 0x1f && bytes[1] === 0x8b ? gunzipSync(bytes) : bytes);

async function main(): Promise<void> {
  const all = files();
  if (all.length === 0) throw new Error('no corpus: run `npm test` once (its setup makes .tools/corpus)');
  if (!sharedCorpus) console.log('(no ../shared/corpus: the generated corpus only)');
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-source-cost-'));
  const store = await openStore({ dataDir, database: 'bench', retentionDays: 30 });
  console.log(
    '| file | samples | stacks by name | stacks stored | decode+split+rows µs/profile | stacks table B | profiles table B | pprof.gz B (× copies) |',
  );
  console.log('| --- | --- | --- | --- | --- | --- | --- | --- |');
  let sums = { stacks: 0, profiles: 0, gz: 0 };
  try {
    for (const { corpus, file } of all) {
      const bytes = fs.readFileSync(file);
      const gz = bytes[0] === 0x1f && bytes[1] === 0x8b ? bytes.length : gzipLength(bytes);
      const profile = decodePprof(raw(bytes));
      const byName = new Set(profile.samples.map((s) => stackId(s.stack)));
      const stored = new Set(profile.samples.map((s) => s.stackId ?? stackId(s.stack)));
      // The decode loop: what an ingest worker does per push.
      let n = 0;
      const end = performance.now() + MS;
      const t0 = performance.now();
      while (performance.now() < end) {
        const split = splitProfile(decodePprof(raw(bytes)), { service_name: 'bench', instance: String(n) });
        prepareWrite({
          tenant: 't',
          service: 'bench',
          time: 0,
          durationMs: 10_000,
          work: 0,
          process: '',
          profile: split,
        });
        n++;
      }
      const us = ((performance.now() - t0) * 1000) / n;
      // Bytes on disk: the pushes of COPIES instances, a service of its own each file.
      const service = path.basename(file).replace(/\.pb(\.gz)?$/, '');
      const now = Date.now();
      for (let i = 0; i < COPIES; i++) {
        const split = splitProfile(profile, { service_name: service, instance: `i${i}` });
        const w = prepareWrite({
          tenant: 'default',
          service,
          time: now - (COPIES - i) * 10_000,
          durationMs: 10_000,
          work: 0,
          process: `p${i}`,
          profile: split,
        });
        await store.writer.write([w]);
      }
      await store.writer.drain();
      const before = await tableBytes(store.client);
      await store.client.command({ query: 'TRUNCATE TABLE bench.stacks' });
      await store.client.command({ query: 'TRUNCATE TABLE bench.profiles' });
      sums = {
        stacks: sums.stacks + before.stacks,
        profiles: sums.profiles + before.profiles,
        gz: sums.gz + gz * COPIES,
      };
      console.log(
        `| ${corpus}/${path.basename(file)} | ${profile.samples.length} | ${byName.size} | ${stored.size} | ${us.toFixed(0)} | ${before.stacks} | ${before.profiles} | ${gz * COPIES} |`,
      );
    }
    console.log(
      `| all | | | | | ${sums.stacks} | ${sums.profiles} | ${sums.gz} (stored/pprof ${((sums.stacks + sums.profiles) / sums.gz).toFixed(2)}) |`,
    );
  } finally {
    await store.close();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

function gzipLength(bytes: Buffer): number {
  return gzipSync(bytes).length;
}

/** Compressed bytes of each table's active parts, after merging them (as they settle). */
async function tableBytes(client: ClickHouseClient): Promise<{ stacks: number; profiles: number }> {
  for (const t of ['stacks', 'profiles']) await client.command({ query: `OPTIMIZE TABLE bench.${t} FINAL` });
  const rs = await client.query({
    query: `SELECT table, sum(data_compressed_bytes) AS b FROM system.parts WHERE database = 'bench' AND active AND table IN ('stacks', 'profiles') GROUP BY table`,
    format: 'JSONEachRow',
  });
  const rows = await rs.json<{ table: string; b: string }>();
  const of = (t: string) => Number(rows.find((r) => r.table === t)?.b ?? 0);
  return { stacks: of('stacks'), profiles: of('profiles') };
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
