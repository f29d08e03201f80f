/**
 * OTLP profiles ingest beside `/ingest` on the same profile (issue 18): the
 * corpus' java-kafka-cpu.pb.gz pushed as pprof to `/ingest`, and its CPU type
 * rebuilt as an OTLP ExportProfilesServiceRequest (one resource, the shared
 * dictionary, gzip as the collector sends it) pushed to
 * `/v1development/profiles`, against one `flamewatch serve`, in alternating
 * phases at the same concurrency. Checks first that one push of each stores
 * the same CPU total.
 *
 *   npm run build && FLAMEWATCH_SHARED=../shared node dist/bench/otlp-ingest.js [--seconds 10] [--concurrency 32] [--phases 2]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { decodePprof } from '../profile/pprof';
import { otlpRoot } from '../server/otlp/decode';
import { arg, median, percentile, request, requireSharedCorpus, startServer } from './lib';

const seconds = arg('seconds', 10);
const concurrency = arg('concurrency', 32);
const phases = arg('phases', 2);
const pprofBody = fs.readFileSync(path.join(requireSharedCorpus(), 'pprof', 'java-kafka-cpu.pb.gz'));

/** The pprof's `cpu` samples as an OTLP request: one location per distinct frame and line. */
function toOtlp(service: string): Buffer {
  const profile = decodePprof(gunzipSync(pprofBody));
  const t = profile.sampleTypes.findIndex((x) => x.type === 'cpu');
  if (t < 0) throw new Error('the corpus profile has no cpu type');
  const strings = ['', profile.sampleTypes[t].type, profile.sampleTypes[t].unit, 'service.name', service];
  const str = new Map(strings.map((s, i) => [s, i]));
  const s = (x: string) =>
    str.get(x) ?? (strings.push(x), str.set(x, strings.length - 1), strings.length - 1);
  const functions: Record<string, number>[] = [{}];
  const fnIndex = new Map<string, number>();
  const locations: Record<string, unknown>[] = [{}];
  const locIndex = new Map<string, number>();
  const stacks: Record<string, unknown>[] = [{}];
  const samples: Record<string, unknown>[] = [];
  for (const sample of profile.samples) {
    const value = sample.values[t] ?? 0;
    if (!value) continue;
    const locs: number[] = [];
    for (let i = sample.stack.length - 1; i >= 0; i--) {
      const name = sample.stack[i];
      const file = sample.files?.[i] ?? '';
      const line = sample.lines?.[i] ?? 0;
      const fk = `${name}\0${file}`;
      let f = fnIndex.get(fk);
      if (f === undefined) {
        f = functions.push({ nameStrindex: s(name), filenameStrindex: s(file) }) - 1;
        fnIndex.set(fk, f);
      }
      const lk = `${f}\0${line}`;
      let l = locIndex.get(lk);
      if (l === undefined) {
        l = locations.push({ lines: [{ functionIndex: f, line }] }) - 1;
        locIndex.set(lk, l);
      }
      locs.push(l);
    }
    samples.push({ stackIndex: stacks.push({ locationIndices: locs }) - 1, values: [value] });
  }
  const Request = otlpRoot().lookupType(
    'opentelemetry.proto.collector.profiles.v1development.ExportProfilesServiceRequest',
  );
  const message = Request.fromObject({
    dictionary: {
      stringTable: strings,
      functionTable: functions,
      locationTable: locations,
      stackTable: stacks,
    },
    resourceProfiles: [
      {
        resource: { attributes: [{ key: 'service.name', value: { stringValue: service } }] },
        scopeProfiles: [{ profiles: [{ sampleType: { typeStrindex: 1, unitStrindex: 2 }, samples }] }],
      },
    ],
  });
  return gzipSync(Request.encode(message).finish());
}

async function main(): Promise<void> {
  const server = await startServer({ FLAMEWATCH_LIMITS: JSON.stringify({ '*': { maxSeriesPerHour: 0 } }) });
  const otlpBody = toOtlp('otlpcheck');
  try {
    const from = Math.floor(Date.now() / 1000) - 10;
    const ingestOnce = await request(
      `${server.url}/ingest?name=pprofcheck&format=pprof&from=${from}&until=${from + 10}`,
      'POST',
      pprofBody,
    );
    const otlpOnce = await request(`${server.url}/v1development/profiles`, 'POST', otlpBody, {
      'content-type': 'application/x-protobuf',
    });
    if (ingestOnce.status !== 200 || otlpOnce.status !== 200)
      throw new Error(
        `check pushes: ${ingestOnce.status}, ${otlpOnce.status} ${otlpOnce.body.toString().slice(0, 200)}`,
      );
    await new Promise((r) => setTimeout(r, 1500));
    const total = async (q: string) =>
      (
        JSON.parse(
          (
            await request(`${server.url}/api/v1/top?query=${q}&type=cpu&from=now-10m&limit=1`, 'GET')
          ).body.toString(),
        ) as { total: number }
      ).total;
    const [a, b] = [await total('pprofcheck'), await total('otlpcheck')];
    console.log(
      `one push each stores the same CPU total: ${a === b ? 'yes' : `NO (${a} against ${b})`} (${a} ns)`,
    );

    const phase = async (kind: 'pprof' | 'otlp') => {
      let ok = 0;
      let failed = 0;
      let stop = false;
      const latencies: number[] = [];
      const bodies = Array.from({ length: concurrency }, (_, w) =>
        kind === 'otlp' ? toOtlp(`otlpbench-w${w}`) : pprofBody,
      );
      const worker = async (w: number) => {
        while (!stop) {
          const t = performance.now();
          const f = Math.floor(Date.now() / 1000) - 10;
          const res =
            kind === 'pprof'
              ? await request(
                  `${server.url}/ingest?name=${encodeURIComponent(`pprofbench-w${w}`)}&format=pprof&from=${f}&until=${f + 10}`,
                  'POST',
                  bodies[w],
                  {
                    'content-type': 'application/octet-stream',
                  },
                )
              : await request(`${server.url}/v1development/profiles`, 'POST', bodies[w], {
                  'content-type': 'application/x-protobuf',
                });
          if (stop) break;
          latencies.push(performance.now() - t);
          if (res.status === 200) ok++;
          else failed++;
        }
      };
      const workers = Array.from({ length: concurrency }, (_, w) => worker(w));
      await new Promise((r) => setTimeout(r, seconds * 1000));
      stop = true;
      await Promise.all(workers);
      return { rate: ok / seconds, failed, p50: median(latencies), p99: percentile(latencies, 99) };
    };
    const rows: string[] = [];
    for (let i = 0; i < phases; i++)
      for (const kind of ['pprof', 'otlp'] as const) {
        const r = await phase(kind);
        rows.push(
          `| ${kind === 'pprof' ? '/ingest (pprof)' : '/v1development/profiles (OTLP, gzip)'} | ${i + 1} | ${r.rate.toFixed(0)} | ${r.failed} | ${r.p50.toFixed(0)} / ${r.p99.toFixed(0)} |`,
        );
      }
    console.log(
      `\n${concurrency} connections, ${seconds} s a phase, alternating; java-kafka-cpu's cpu type (${otlpBody.length} B as OTLP gzip, ${pprofBody.length} B as pprof gzip)`,
    );
    console.log('| endpoint | phase | profiles/s | failed | p50 / p99 ms |');
    console.log('| --- | --- | --- | --- | --- |');
    for (const r of rows) console.log(r);
  } finally {
    await server.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
