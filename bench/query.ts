/**
 * Query latency over 500 stored profiles of the corpus' java-kafka-cpu.pb.gz,
 * embedded chDB, against google/pprof merging the same 500 files in the same
 * run (`pprof -top p*.pb.gz`, the peer).
 *
 *   npm run build && bash test/setup-system.sh && node dist/bench/query.js [--profiles 500] [--runs 30]
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { protoRoot } from '../server/connect/codec';
import { arg, median, percentile, repoDir, request, requireSharedCorpus, startServer } from './lib';

const profiles = arg('profiles', 500);
const runs = arg('runs', 30);
const body = fs.readFileSync(path.join(requireSharedCorpus(), 'pprof', 'java-kafka-cpu.pb.gz'));
const pprofTool = path.join(repoDir, '.tools', 'pprof');

interface Call {
  url: string;
  method?: string;
  body?: Buffer;
  headers?: Record<string, string>;
}

async function timeRequest(call: string | Call): Promise<{ ms: number; bytes: number }> {
  const { url, method = 'GET', body, headers } = typeof call === 'string' ? { url: call } : call;
  const t = performance.now();
  const res = await request(url, method, body, headers);
  const ms = performance.now() - t;
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${res.body.toString().slice(0, 200)}`);
  return { ms, bytes: res.body.length };
}

async function main(): Promise<void> {
  if (!fs.existsSync(pprofTool)) throw new Error(`${pprofTool} is missing: run bash test/setup-system.sh`);
  const server = await startServer();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-query-bench-'));
  try {
    const now = Math.floor(Date.now() / 1000);
    // 500 pushes spread over the last 50 minutes, 10 instances.
    for (let i = 0; i < profiles; i += 10) {
      await Promise.all(
        Array.from({ length: Math.min(10, profiles - i) }, (_, k) => {
          const from = now - 3000 + Math.floor(((i + k) * 3000) / profiles);
          const name = encodeURIComponent(`kafka{instance=i${k}}`);
          return request(
            `${server.url}/ingest?name=${name}&format=pprof&from=${from}&until=${from + 10}`,
            'POST',
            body,
          ).then((r) => {
            if (r.status !== 200) throw new Error(`ingest: ${r.status}`);
          });
        }),
      );
    }
    for (let i = 0; i < profiles; i++)
      fs.writeFileSync(path.join(dir, `p${String(i).padStart(3, '0')}.pb.gz`), body);

    const q = `query=kafka&type=cpu&from=${now - 3600}&until=${now + 60}`;
    // Grafana's call for the same flame graph: Pyroscope's SelectMergeStacktraces over Connect, binary protobuf.
    const smsRequest = protoRoot().lookupType('querier.v1.SelectMergeStacktracesRequest');
    const connect: Call = {
      url: `${server.url}/querier.v1.QuerierService/SelectMergeStacktraces`,
      method: 'POST',
      headers: { 'content-type': 'application/proto' },
      body: Buffer.from(
        smsRequest
          .encode(
            smsRequest.fromObject({
              profileTypeID: 'process_cpu:cpu:nanoseconds:cpu:nanoseconds',
              labelSelector: '{service_name="kafka"}',
              start: (now - 3600) * 1000,
              end: (now + 60) * 1000,
            }),
          )
          .finish(),
      ),
    };
    const endpoints: Record<string, string | Call> = {
      top: `${server.url}/api/v1/top?${q}&limit=100`,
      'top (limit=0)': `${server.url}/api/v1/top?${q}&limit=0`,
      flamegraph: `${server.url}/api/v1/flamegraph?${q}`,
      'SelectMergeStacktraces (Connect, binary)': connect,
    };
    const results: Record<string, { cold: number; median: number; p95: number; bytes: number }> = {};
    for (const [name, url] of Object.entries(endpoints)) {
      const cold = await timeRequest(url);
      const times: number[] = [];
      let bytes = 0;
      for (let i = 0; i < runs; i++) {
        const r = await timeRequest(url);
        times.push(r.ms);
        bytes = r.bytes;
      }
      results[name] = { cold: cold.ms, median: median(times), p95: percentile(times, 95), bytes };
    }

    const files = fs
      .readdirSync(dir)
      .sort()
      .map((f) => path.join(dir, f));
    const pprofTimes: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = performance.now();
      execFileSync(pprofTool, ['-top', '-nodecount=100', ...files], {
        stdio: ['ignore', 'ignore', 'ignore'],
      });
      pprofTimes.push(performance.now() - t);
    }
    const peer = median(pprofTimes);

    console.log(
      `query over ${profiles} stored java-kafka-cpu profiles (embedded chDB), ${runs} warm runs each; peer: pprof -top over the same ${profiles} files, 3 runs`,
    );
    console.log(
      '| query | cold (ms) | median (ms) | p95 (ms) | response | pprof -top (ms) | pprof / ours (median) |',
    );
    console.log('| --- | --- | --- | --- | --- | --- | --- |');
    for (const [name, r] of Object.entries(results)) {
      console.log(
        `| ${name} | ${r.cold.toFixed(1)} | ${r.median.toFixed(1)} | ${r.p95.toFixed(1)} | ${(r.bytes / 1024).toFixed(0)} kB | ${peer.toFixed(0)} | ${(peer / r.median).toFixed(0)}x |`,
      );
    }
    const sms = results['SelectMergeStacktraces (Connect, binary)'];
    console.log(
      `\nSelectMergeStacktraces / flamegraph (median): ${(sms.median / results.flamegraph.median).toFixed(2)}× (issue 18's goal: within 1.2×)`,
    );
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
    await server.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
