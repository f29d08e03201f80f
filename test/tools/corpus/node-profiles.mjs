// Writes real @datadog/pprof profiles of workload.mjs into a directory, for
// the generated corpus (test/tools/make-corpus.sh):
//   nodejs-wall.pb.gz  the wall-time profiler's profile (sample/count, wall/nanoseconds)
//   nodejs-cpu.pb.gz   the same profiler with CPU time on (plus cpu/nanoseconds)
//   nodejs-heap.pb     the sampling heap profiler's profile, raw protobuf (no gzip)
// usage: node node-profiles.mjs OUT_DIR [SECONDS]
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { work } from './workload.mjs';

// @datadog/pprof is the agent's dependency, installed in the repository's node_modules.
const require = createRequire(import.meta.url);
const { encode, heap, time } = require('@datadog/pprof');

const [dir, seconds = '1'] = process.argv.slice(2);
if (!dir) {
  console.error('usage: node node-profiles.mjs OUT_DIR [SECONDS]');
  process.exit(2);
}
const ms = Number(seconds) * 1000;

/** Busy for `ms` in slices, idle between them, so that wall time and CPU time differ. */
async function busyAndIdle(total) {
  for (let done = 0; done < total; done += 100) {
    work(80);
    await sleep(20);
  }
}

heap.start(8 * 1024, 64);

time.start({ intervalMicros: 1000, durationMillis: 60_000 });
await busyAndIdle(ms);
writeFileSync(join(dir, 'nodejs-wall.pb.gz'), await encode(time.stop()));

time.start({ intervalMicros: 1000, durationMillis: 60_000, withContexts: true, collectCpuTime: true });
await busyAndIdle(ms);
writeFileSync(join(dir, 'nodejs-cpu.pb.gz'), await encode(time.stop()));

writeFileSync(join(dir, 'nodejs-heap.pb'), heap.profile().encode());
heap.stop();
