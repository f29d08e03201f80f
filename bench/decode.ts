/**
 * Decoding a pprof, per core, beside google/pprof's own parser (issue 19): for each corpus profile (the
 * generated Node and Go ones, and the shared corpus' Java, Go and Node ones when it is there),
 *
 * - `parse`: gunzip and decodePprof, the model with every sample's stack id: what Go's profile.Parse does
 *   (gunzip, decode, link);
 * - `ingest`: prepareIngest, what an ingest worker does with the body (gunzip, decode, split into series,
 *   labels checked, rows serialised), in the steady state where the profile's stacks are already stored (they
 *   are not serialised again) and, `first`, when none is;
 * - Go: `.tools/parsetime` (bench/tools/parsetime, built by test/tools/build-pprof.sh from Debian's
 *   golang-github-google-pprof-dev), the same file, alternating with ours, on the same core.
 *
 *   npm run build && bash test/tools/build-pprof.sh && \
 *     taskset -c 1 node dist/bench/decode.js [--rounds 3] [--seconds 2]   (FLAMEWATCH_SHARED=../shared for Java)
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { isGzip } from '../profile/format';
import { decodePprof } from '../profile/pprof';
import { DEFAULT_LIMITS } from '../server/ingest/limits';
import { readIngestParams } from '../server/ingest/params';
import { prepareIngest } from '../server/ingest/prepare';
import { KnownStacks } from '../store/known-stacks';
import { corpusFile, generatedCorpus, sharedCorpus, toolsDir } from '../test/helpers/corpus';
import { arg, median } from './lib';

const rounds = arg('rounds', 3);
const seconds = arg('seconds', 2);

const files = [
  ...['nodejs-cpu.pb.gz', 'nodejs-wall.pb.gz', 'go-cpu-labels.pb.gz', 'go-heap.pb.gz'].map((f) => ({
    name: `generated/${f}`,
    file: corpusFile(generatedCorpus, path.join('pprof', f)),
  })),
  ...(sharedCorpus
    ? ['java-kafka-cpu.pb.gz', 'java-kafka-alloc.pb.gz', 'go-cpu-labels.pb.gz', 'nodejs-heap.pb.gz'].map(
        (f) => ({ name: `shared/${f}`, file: corpusFile(sharedCorpus!, path.join('pprof', f)) }),
      )
    : []),
].filter((f) => fs.existsSync(f.file));

/** Milliseconds per call of `f`, over about `seconds` after a warm-up. */
async function timeIt(f: () => unknown): Promise<number> {
  for (let i = 0; i < 50; i++) await f();
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    await f();
    n++;
  }
  return (performance.now() - start) / n;
}

function goParse(file: string): number {
  const tool = path.join(toolsDir, 'parsetime');
  if (!fs.existsSync(tool)) throw new Error(`${tool} is missing: run bash test/tools/build-pprof.sh`);
  const run = spawnSync(tool, ['-seconds', String(seconds), file], { encoding: 'utf8' });
  if (run.status !== 0) throw new Error(`parsetime: ${run.stderr}`);
  return (JSON.parse(run.stdout) as { msPerParse: number }).msPerParse;
}

async function main(): Promise<void> {
  if (!sharedCorpus) console.error('the shared corpus is not here: Node and Go profiles only');
  const rows: string[] = [];
  for (const { name, file } of files) {
    const body = fs.readFileSync(file);
    const raw = isGzip(body) ? gunzipSync(body) : body;
    const job = () => ({
      tenant: 't',
      params: readIngestParams({ name: 'bench{env=prod}', format: 'pprof' }, Date.now()),
      body,
      contentType: 'application/octet-stream',
      received: Date.now(),
      limits: DEFAULT_LIMITS,
    });
    // Steady state: every stack of the profile is stored already.
    const known = new KnownStacks();
    for (const id of (await prepareIngest(job())).write.stackIds) known.add('t', id);
    const r = { go: [] as number[], parse: [] as number[], ingest: [] as number[], first: [] as number[] };
    for (let round = 0; round < rounds; round++) {
      r.go.push(goParse(file));
      r.parse.push(await timeIt(() => decodePprof(isGzip(body) ? gunzipSync(body) : body)));
      r.ingest.push(await timeIt(() => prepareIngest(job(), known)));
      r.first.push(await timeIt(() => prepareIngest(job())));
    }
    const go = median(r.go);
    const m = { parse: median(r.parse), ingest: median(r.ingest), first: median(r.first) };
    const samples = decodePprof(raw).samples.length;
    console.error(
      `${name}: Go ${go.toFixed(3)} ms, parse ${m.parse.toFixed(3)}, ingest ${m.ingest.toFixed(3)}, first ${m.first.toFixed(3)}`,
    );
    rows.push(
      `| ${name} | ${(body.length / 1024).toFixed(0)} / ${(raw.length / 1024).toFixed(0)} KiB, ${samples} samples | ${go.toFixed(3)} | ${m.parse.toFixed(3)} (${(go / m.parse).toFixed(2)}×) | ${m.ingest.toFixed(3)} (${(go / m.ingest).toFixed(2)}×) | ${m.first.toFixed(3)} (${(go / m.first).toFixed(2)}×) |`,
    );
  }
  console.log(
    `ms a profile, medians of ${rounds} alternating rounds of ~${seconds} s each; (×) is Go's time / ours`,
  );
  console.log(
    '| profile | size (gzip / raw) | Go profile.Parse | ours: gunzip + decode | ours: what ingest stores, stacks known | ours: same, stacks new |',
  );
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const row of rows) console.log(row);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
