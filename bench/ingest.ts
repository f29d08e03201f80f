/**
 * Ingest throughput, embedded chDB, end to end over HTTP from a separate load
 * process (this one) against `flamewatch serve` (a child process), pushing the
 * corpus' java-kafka-cpu.pb.gz (26 kB gz, 359 samples) as fast as the server
 * acknowledges. Also the bare decode loop in this process (gunzip + pprof
 * decode + split into series): the ceiling one core can reach.
 *
 *   npm run build && node dist/bench/ingest.js [--seconds 15] [--concurrency 32]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { decodePprof } from '../profile/pprof';
import { splitProfile } from '../profile/series';
import { arg, cpuSeconds, request, requireSharedCorpus, startServer } from './lib';

const seconds = arg('seconds', 15);
const concurrency = arg('concurrency', 32);
const file = path.join(requireSharedCorpus(), 'pprof', 'java-kafka-cpu.pb.gz');
const body = fs.readFileSync(file);

function decodeLoop(ms: number): number {
  const end = Date.now() + ms;
  let n = 0;
  while (Date.now() < end) {
    splitProfile(decodePprof(gunzipSync(body)), { service_name: 'bench', instance: String(n % 10) });
    n++;
  }
  return n / (ms / 1000);
}

async function main(): Promise<void> {
  const samples = decodePprof(gunzipSync(body)).samples.length;
  decodeLoop(1000); // warm up
  const decodeRate = decodeLoop(5000);

  // 256 connections x 50 pods are 12,800 series: past the default limit of 10,000 an hour, which this measures nothing of.
  const server = await startServer({ FLAMEWATCH_LIMITS: JSON.stringify({ '*': { maxSeriesPerHour: 0 } }) });
  try {
    let ok = 0;
    let failed = 0;
    let stop = false;
    let measuring = false;
    const latencies: number[] = [];
    const failures = new Map<string, number>();
    const worker = async (w: number) => {
      for (let i = 0; !stop; i++) {
        const from = Math.floor(Date.now() / 1000) - 10;
        const t = performance.now();
        const res = await request(
          `${server.url}/ingest?name=${encodeURIComponent(`bench{instance=w${w},pod=p${i % 50}}`)}&format=pprof&from=${from}&until=${from + 10}`,
          'POST',
          body,
          { 'content-type': 'application/octet-stream' },
        );
        if (!measuring) continue;
        latencies.push(performance.now() - t);
        if (res.status === 200) ok++;
        else {
          failed++;
          const reason = `${res.status} ${/"reason":"([^"]+)"/.exec(res.body.toString())?.[1] ?? ''}`.trim();
          failures.set(reason, (failures.get(reason) ?? 0) + 1);
        }
      }
    };
    const workers = Array.from({ length: concurrency }, (_, w) => worker(w));
    await new Promise((r) => setTimeout(r, 3000)); // warm up
    measuring = true;
    const cpu0 = cpuSeconds(server.proc.pid!);
    const load0 = process.cpuUsage();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const elapsed = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(server.proc.pid!) - cpu0;
    const load = process.cpuUsage(load0);
    measuring = false;
    stop = true;
    await Promise.all(workers);

    const rate = ok / elapsed;
    latencies.sort((a, b) => a - b);
    const p = (q: number) => latencies[Math.floor(q * (latencies.length - 1))].toFixed(1);
    console.log(
      `ingest of ${path.basename(file)} (${(body.length / 1024).toFixed(0)} kB gz, ${samples} samples), ${concurrency} connections, ${seconds} s, embedded chDB`,
    );
    console.log('| measure | value |');
    console.log('| --- | --- |');
    console.log(`| profiles/s acknowledged (HTTP 200) | ${rate.toFixed(0)} |`);
    console.log(`| samples/s | ${(rate * samples).toFixed(0)} |`);
    console.log(
      `| failed requests | ${failed}${failed ? ` (${[...failures].map(([r, n]) => `${n} × ${r}`).join(', ')})` : ''} |`,
    );
    console.log(`| latency p50 / p99 (ms) | ${p(0.5)} / ${p(0.99)} |`);
    console.log(`| server CPU (cores busy) | ${(cpu / elapsed).toFixed(2)} |`);
    console.log(
      `| load generator CPU (cores busy) | ${((load.user + load.system) / 1e6 / elapsed).toFixed(2)} |`,
    );
    console.log(`| bare decode loop, one core (profiles/s) | ${decodeRate.toFixed(0)} |`);
    console.log(`| end to end / decode loop | ${(rate / decodeRate).toFixed(2)} |`);
  } finally {
    await server.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
