/**
 * Queries over a realistic fleet (issue 19): flame graph, top functions and a diff over 24 h × 50 instances of
 * real Node.js agent profiles, p50 warm and cold, through the REST API of a real `flamewatch serve` (embedded
 * chDB), beside google/pprof merging the same files (`pprof -top`, and `-diff_base` for the diff) in the same
 * run; bytes on disk per table after merges against the gzip'd pprof files; then 7 d × 50 instances.
 *
 *   npm run build && bash test/tools/build-pprof.sh && node dist/bench/query-fleet.js
 *     [--instances 50] [--hours 24] [--every 5] [--days 7] [--every7d 10] [--record 24] [--runs 20] [--cold 3]
 *     [--pprof-runs 3] [--deploy-every 2] [--edit 0.25] [--keep 1]
 *   small: node dist/bench/query-fleet.js --instances 5 --hours 2 --days 0 --record 6 --runs 5 --cold 1 --pprof-runs 1
 *
 * The data:
 * 1. Recording (once, at start): bench/fixtures/shop/ (an express shop API, ~40 routes over ~130 named
 *    functions in 12 modules) runs in 3 processes under the real agent (agent/dist: wall and CPU time at
 *    100 Hz, no heap, a push every 10 s) pointed at a sink in this process, while this process sends them a
 *    weighted mix of their routes. The first push of each process (start-up) is dropped; the next --record (24)
 *    10 s profiles are kept as they came (.pb.gz in a temp dir).
 * 2. Replay: each of --instances (50) instances pushes one profile every --every (5) minutes over the last
 *    --hours (24), staggered across the slot (14,400 pushes by default; one per 10 s, 432,000, would not
 *    ingest on this machine in minutes). Each push is one recording (chosen per instance and slot) with each
 *    sample's count drawn again (Poisson on the recorded count, at least 1) and its times (wall, cpu: the
 *    agent writes count × the profile's mean) scaled to match, times the instance's speed (0.8–1.2) and a
 *    per-file jitter: no two files are alike and each compresses as the agent's own. Every sample is kept (a
 *    thinned copy would still carry the locations of the samples it dropped).
 *    Every --deploy-every (2) hours a deploy rolls out over 10 minutes and edits each of the service's modules
 *    with probability --edit (0.25), at 1–3 lines, moving the functions below each edit down (CodeHistory):
 *    the agent's frames carry their function's first line, which is part of a stack's identity, so every stack
 *    through a moved function is new from that deploy on and new stacks appear all day, as in a real fleet.
 *    Labels: instance (i00..), region (5), version (the deploy); process `<instance>:<deploy>` (a deploy
 *    restarts the process). Every push is written to disk as the .pb.gz that was sent: pprof merges exactly
 *    those files, and their total size is the bytes-on-disk yardstick.
 * 3. 7 d: after the 24 h figures, the --days - 1 earlier days are pushed at one profile an instance every
 *    --every7d (10) minutes, half the 24 h's density, to keep a default run under ~15 minutes here (at 5, the
 *    run took 15.3 min and the 7 d query 995 ms warm). The query reads hourly rollups, whose rows grow with
 *    series × hours × the distinct stacks of a series' hour, so fewer profiles an hour make it cheaper.
 *
 * The server: ingest with the rollup job off (FLAMEWATCH_ROLLUP_EVERY=0) and no limit on new series per clock
 * hour (FLAMEWATCH_LIMITS; a backfill starts days of series in minutes). Then, the server stopped, the rollup
 * job's builder (buildRollups, store/rollups.ts) builds every hour that is over and `OPTIMIZE TABLE … FINAL`
 * merges every table, in a child process opening the data directory (one process owns chDB); sizes from
 * system.parts (active parts) and system.columns. Queries run on a server started on that directory with the
 * default jobs but the regression sweep off (FLAMEWATCH_DETECT_EVERY=0, so it does not run beside the timings).
 * Cold: the first request of a freshly started server (each cold sample its own restart: its caches, chDB's and
 * the frames cache, empty; the OS page cache not dropped). Warm: --runs requests of each, interleaved, after
 * the cold ones. Ranges are absolute: the data's first profile to its end, as "the last 24 hours" asked then;
 * the diff is the first half of the hours (left) against the second (right); type cpu. pprof: `pprof -top
 * -nodecount=100 -sample_index=cpu -unit=ns` over all files; the diff the same with `-diff_base=<file>` for
 * each left file and the right files; medians of --pprof-runs. --keep 1 keeps the temp dir (recordings, files,
 * data) for a closer look.
 */
import { execFile, spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { gunzipSync, gzip } from 'node:zlib';
import * as protobuf from 'protobufjs';
import { ProfileType, int64, type Int64 } from '../profile/pprof-schema';
import { createStoreClient } from '../store/client';
import { buildRollups } from '../store/rollups';
import { statementRunner } from '../store/schema';
import { rng } from '../test/helpers/synthetic-profiles';
import { arg, median, mixSeed, percentile, repoDir, request, startServer, type BenchServer } from './lib';

const INSTANCES = arg('instances', 50);
const HOURS = arg('hours', 24);
const EVERY_MIN = arg('every', 5);
const DAYS = arg('days', 7);
const EVERY7D_MIN = arg('every7d', 10);
const RECORD = arg('record', 24);
const RUNS = arg('runs', 20);
const COLD = arg('cold', 3);
const PPROF_RUNS = arg('pprof-runs', 3);
const DEPLOY_EVERY_H = arg('deploy-every', 2);
const EDIT = arg('edit', 0.25);
const KEEP_TMP = arg('keep', 0) === 1;
const RECORD_PROCESSES = 3;
const PROFILE_SECONDS = 10;
const INGEST_CONCURRENCY = 16;
const DB = 'flamewatch';
const SERVICE = 'shop';
const REGIONS = ['eu-west-1', 'eu-central-1', 'us-east-1', 'us-west-2', 'ap-south-1'];
const MINUTE = 60_000;
const HOUR = 3_600_000;
const pprofTool = path.join(repoDir, '.tools', 'pprof');
const execFileAsync = promisify(execFile);
const gzipAsync = promisify(gzip);

const load = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
const log = (msg: string) =>
  console.error(`[${new Date().toISOString().slice(11, 19)}] ${msg} (load ${load()})`);

// ---------------------------------------------------------------- recording

interface Pushed {
  body: Buffer;
  work: number;
}

/** Runs the shop fixture in RECORD_PROCESSES processes under the real agent, pushing here, while loading it. */
async function record(count: number, dir: string): Promise<Pushed[]> {
  const perProcess = Math.ceil(count / RECORD_PROCESSES);
  const got = new Map<number, Pushed[]>();
  let finish: () => void = () => undefined;
  const complete = new Promise<void>((r) => (finish = r));
  const sink = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.end('{}');
      const url = new URL(req.url ?? '/', 'http://x');
      // The agent names its process `<host>:<pid>:<start>`: one list per pid.
      const pid = Number((url.searchParams.get('process') ?? '').split(':')[1]);
      const list = got.get(pid) ?? [];
      got.set(pid, list);
      list.push({ body: Buffer.concat(chunks), work: Number(url.searchParams.get('work') ?? 0) });
      if (got.size === RECORD_PROCESSES && [...got.values()].every((l) => l.length > perProcess)) finish();
    });
  });
  await new Promise<void>((r) => sink.listen(0, '127.0.0.1', r));
  const sinkUrl = `http://127.0.0.1:${(sink.address() as { port: number }).port}`;
  const services = await Promise.all(
    Array.from({ length: RECORD_PROCESSES }, async () => {
      const proc = spawn(process.execPath, [path.join(repoDir, 'bench', 'fixtures', 'shop', 'server.js')], {
        env: {
          ...process.env,
          PORT: '0',
          FLAMEWATCH_SERVER: sinkUrl,
          FLAMEWATCH_INTERVAL: String(PROFILE_SECONDS),
        },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const port = await new Promise<number>((resolve, reject) => {
        proc.stdout!.on('data', (d: Buffer) => {
          const m = /ready (\d+)/.exec(d.toString());
          if (m) resolve(Number(m[1]));
        });
        proc.once('exit', (code) => reject(new Error(`shop fixture exited with ${code}`)));
      });
      return { proc, port };
    }),
  );
  const routesRes = await request(`http://127.0.0.1:${services[0].port}/routes`, 'GET');
  const routes = JSON.parse(routesRes.body.toString()) as { method: string; path: string; weight: number }[];
  const weighted = routes.flatMap((r) => Array.from({ length: r.weight }, () => r));
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 64 });
  let stop = false;
  const client = async (port: number, seed: number) => {
    const random = rng(seed);
    while (!stop) {
      const r = weighted[Math.floor(random() * weighted.length)];
      const sep = r.path.includes('?') ? '&' : '?';
      const url = `http://127.0.0.1:${port}${r.path}${sep}user=${1 + Math.floor(random() * 50)}&page=${1 + Math.floor(random() * 3)}`;
      await new Promise<void>((resolve) => {
        const req = http.request(url, { method: r.method, agent: keepAlive }, (res) =>
          res.resume().on('end', resolve),
        );
        req.on('error', () => resolve());
        req.end();
      });
    }
  };
  const clients = services.flatMap((s, i) => [0, 1, 2].map((c) => client(s.port, i * 10 + c + 1)));
  const timeout = setTimeout(finish, (perProcess + 4) * PROFILE_SECONDS * 1000 + 30_000);
  await complete;
  clearTimeout(timeout);
  stop = true;
  await Promise.all(clients);
  keepAlive.destroy();
  for (const s of services) s.proc.kill('SIGTERM');
  sink.close();
  const kept: Pushed[] = [];
  for (const list of got.values()) kept.push(...list.slice(1, 1 + perProcess));
  if (kept.length < count) throw new Error(`recorded ${kept.length} of ${count} profiles`);
  kept.length = count;
  kept.forEach((p, i) => fs.writeFileSync(path.join(dir, `rec-${String(i).padStart(2, '0')}.pb.gz`), p.body));
  return kept;
}

// ---------------------------------------------------------------- replay

interface Sample {
  /** Packed location ids, as encoded. */
  loc: Uint8Array;
  values: number[];
  /** Each label's message, as encoded. */
  labels: Uint8Array[];
}

/** A location or function entry: as encoded when it is not the service's own code, else the message to re-encode. */
type Entry<T> = { bytes: Uint8Array } | { module: string; message: T };

interface LocationMessage {
  id: Int64;
  mappingId: Int64;
  address: Int64;
  line: { functionId: Int64; line: Int64; column?: Int64 }[];
}
interface FunctionMessage {
  id: Int64;
  name: Int64;
  systemName: Int64;
  filename: Int64;
  startLine: Int64;
}

interface Recording {
  /** Every field but samples, locations, functions, strings and time_nanos, as encoded. */
  head: Uint8Array;
  samples: Sample[];
  locations: Entry<LocationMessage>[];
  functions: Entry<FunctionMessage>[];
  strings: string[];
  /** Names of the service's own anonymous functions, which carry their line (`(anonymous:L#12:C#5)`): index → module. */
  anonymous: Map<number, string>;
  /** Which values are nanoseconds (scaled per copy), and which is the sample count (-1: none). */
  scaled: boolean[];
  count: number;
  durationMs: number;
  work: number;
}

interface DecodedProfile {
  sampleType: { type: Int64; unit: Int64 }[];
  sample: { locationId: Int64[]; value: Int64[]; label: unknown[] }[];
  location: LocationMessage[];
  function: FunctionMessage[];
  stringTable: string[];
  timeNanos: Int64;
  durationNanos: Int64;
}

const FIXTURE_DIR = path.join(repoDir, 'bench', 'fixtures', 'shop');
const Label = ProfileType.lookupType('perftools.profiles.Label');
const LocationType = ProfileType.lookupType('perftools.profiles.Location');
const FunctionType = ProfileType.lookupType('perftools.profiles.Function');
const ANONYMOUS = /^\(anonymous:L#(\d+):C#(\d+)\)$/;

/** The fixture's module a file name is, or undefined for anything else (express, node:, the agent). */
function moduleOf(file: string | undefined): string | undefined {
  return file && path.dirname(file) === FIXTURE_DIR ? path.basename(file) : undefined;
}

function prepare(p: Pushed): Recording {
  const msg = ProfileType.decode(gunzipSync(p.body)) as unknown as DecodedProfile;
  const strings = [...msg.stringTable];
  const samples = msg.sample.map((s) => {
    const w = protobuf.Writer.create();
    for (const id of s.locationId) w.uint64(int64(id));
    return {
      loc: w.finish(),
      values: s.value.map((v) => int64(v)),
      labels: s.label.map((l) => Label.encode(l as protobuf.Message).finish()),
    };
  });
  const moduleOfFunction = new Map<number, string>();
  const anonymous = new Map<number, string>();
  const functions = msg.function.map((f): Entry<FunctionMessage> => {
    const module = moduleOf(strings[int64(f.filename)]);
    if (!module) return { bytes: FunctionType.encode(f as unknown as protobuf.Message).finish() };
    moduleOfFunction.set(int64(f.id), module);
    if (ANONYMOUS.test(strings[int64(f.name)])) anonymous.set(int64(f.name), module);
    return { module, message: f };
  });
  const locations = msg.location.map((l): Entry<LocationMessage> => {
    const module = l.line.map((line) => moduleOfFunction.get(int64(line.functionId))).find((m) => m);
    return module
      ? { module, message: l }
      : { bytes: LocationType.encode(l as unknown as protobuf.Message).finish() };
  });
  const scaled = msg.sampleType.map((t) => strings[int64(t.unit)] === 'nanoseconds');
  const count = msg.sampleType.findIndex((t) => strings[int64(t.unit)] === 'count');
  const durationMs = Math.round(int64(msg.durationNanos) / 1e6) || PROFILE_SECONDS * 1000;
  msg.sample = [];
  msg.location = [];
  msg.function = [];
  msg.stringTable = [];
  msg.timeNanos = 0;
  const head = ProfileType.encode(msg as unknown as protobuf.Message).finish();
  return { head, samples, locations, functions, strings, anonymous, scaled, count, durationMs, work: p.work };
}

function hashString(s: string): number {
  let h = 2166136261;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619);
  return h >>> 0;
}

/** A Poisson draw (Knuth's method below 30, a rounded normal above). */
function poisson(mean: number, random: () => number): number {
  if (mean >= 30) {
    const z = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
    return Math.max(0, Math.round(mean + Math.sqrt(mean) * z));
  }
  const limit = Math.exp(-mean);
  let k = 0;
  for (let p = random(); p > limit; p *= random()) k++;
  return k;
}

function varint(out: number[], v: bigint): void {
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
}

/**
 * The code's history: each deploy edits each module of the fixture with probability EDIT, at 1–3 random
 * lines, each edit adding 1–6 lines, so every function below an edit in that module starts further down from
 * then on.
 * Node's profiles carry each frame's function's first line, and a frame's line is part of a stack's identity:
 * every stack through a moved function is a new stack, as after a real deploy; names stay as they are.
 */
class CodeHistory {
  private readonly lengths = new Map<string, number>();
  /** Per deploy (from `first`), per module, every edit so far: [line, lines added]. */
  private readonly edits: Map<string, [number, number][]>[] = [];

  get modules(): number {
    return this.lengths.size;
  }

  constructor(private readonly first: number) {
    for (const f of fs.readdirSync(FIXTURE_DIR))
      this.lengths.set(f, fs.readFileSync(path.join(FIXTURE_DIR, f), 'utf8').split('\n').length);
  }

  private editsAt(deploy: number): Map<string, [number, number][]> {
    if (deploy < this.first) throw new Error(`deploy ${deploy} is before the history's first, ${this.first}`);
    while (this.edits.length <= deploy - this.first) {
      const d = this.first + this.edits.length;
      const before = this.edits[this.edits.length - 1];
      const now = new Map<string, [number, number][]>();
      for (const [module, length] of this.lengths) {
        const list = [...(before?.get(module) ?? [])];
        const h = mixSeed(hashString(module), d);
        if (h / 4294967296 < EDIT)
          for (let k = 0; k <= h % 3; k++) {
            const e = mixSeed(h, k);
            list.push([1 + (e % length), 1 + ((e >>> 16) % 6)]);
          }
        now.set(module, list);
      }
      this.edits.push(now);
    }
    return this.edits[deploy - this.first];
  }

  /** Where a line of a module (as recorded) is at a deploy. */
  line(module: string, line: number, deploy: number): number {
    let moved = line;
    for (const [at, added] of this.editsAt(deploy).get(module) ?? []) if (at < line) moved += added;
    return moved;
  }

  /** Edits so far at a deploy, over every module. */
  count(deploy: number): number {
    return [...this.editsAt(deploy).values()].reduce((n, l) => n + l.length, 0);
  }
}

class Replayer {
  /** Per deploy, per recording: locations, functions and strings as that deploy's code has them, encoded. */
  private readonly code = new Map<number, Map<number, Uint8Array>>();
  constructor(
    readonly recordings: Recording[],
    readonly history: CodeHistory,
  ) {}

  private codeOf(r: number, d: number): Uint8Array {
    let byRecording = this.code.get(d);
    if (!byRecording) {
      this.code.set(d, (byRecording = new Map()));
      // Pushes come in time order: older deploys are done with.
      for (const k of this.code.keys()) if (k < d - 2) this.code.delete(k);
    }
    let bytes = byRecording.get(r);
    if (!bytes) {
      const rec = this.recordings[r];
      const w = protobuf.Writer.create();
      for (const l of rec.locations) {
        if ('bytes' in l) w.uint32((4 << 3) | 2).bytes(l.bytes);
        else {
          const line = l.message.line.map((x) => ({
            ...x,
            line: this.history.line(l.module, int64(x.line), d),
          }));
          w.uint32((4 << 3) | 2).bytes(
            LocationType.encode({ ...l.message, line } as unknown as protobuf.Message).finish(),
          );
        }
      }
      for (const f of rec.functions) {
        if ('bytes' in f) w.uint32((5 << 3) | 2).bytes(f.bytes);
        else {
          const startLine = this.history.line(f.module, int64(f.message.startLine), d);
          w.uint32((5 << 3) | 2).bytes(
            FunctionType.encode({ ...f.message, startLine } as unknown as protobuf.Message).finish(),
          );
        }
      }
      rec.strings.forEach((s, i) => {
        const module = rec.anonymous.get(i);
        const m = module && ANONYMOUS.exec(s);
        w.uint32((6 << 3) | 2).string(
          m ? `(anonymous:L#${this.history.line(module, Number(m[1]), d)}:C#${m[2]})` : s,
        );
      });
      bytes = w.finish();
      byRecording.set(r, bytes);
    }
    return bytes;
  }

  /**
   * One push: recording r as deploy d's code, starting at `timeMs`; each sample's count drawn again (Poisson on the
   * recorded one, at least 1), its times scaled by `speed` (the instance's) and a per-file jitter.
   */
  async body(
    r: number,
    d: number,
    seed: number,
    speed: number,
    timeMs: number,
  ): Promise<{ gz: Buffer; raw: number; samples: number }> {
    const rec = this.recordings[r];
    const random = rng(seed);
    const w = protobuf.Writer.create();
    let samples = 0;
    // The agent writes each sample's time as its count × one per-profile mean: so do the copies.
    const perFile = speed * (0.97 + 0.06 * random());
    for (const s of rec.samples) {
      samples++;
      const count = rec.count >= 0 ? s.values[rec.count] : 0;
      const drawn = count > 0 ? Math.max(1, poisson(count, random)) : 0;
      w.uint32((2 << 3) | 2).fork();
      w.uint32((1 << 3) | 2).bytes(s.loc);
      w.uint32((2 << 3) | 2).fork();
      for (let j = 0; j < s.values.length; j++) {
        const v = s.values[j];
        if (j === rec.count) w.int64(drawn);
        else if (rec.scaled[j]) w.int64(Math.round(count > 0 ? (v / count) * drawn * perFile : v * perFile));
        else w.int64(v);
      }
      w.ldelim();
      for (const l of s.labels) w.uint32((3 << 3) | 2).bytes(l);
      w.ldelim();
    }
    const time: number[] = [9 << 3];
    varint(time, BigInt(timeMs) * 1_000_000n);
    const raw = Buffer.concat([rec.head, w.finish(), this.codeOf(r, d), Uint8Array.from(time)]);
    return { gz: await gzipAsync(raw), raw: raw.length, samples };
  }
}

interface Push {
  instance: number;
  timeMs: number;
}

/** Deploy number at a time for an instance: every DEPLOY_EVERY_H hours from `epoch`, rolled out over 10 minutes. */
function deployOf(instance: number, timeMs: number, epoch: number): number {
  const rollout = (instance / INSTANCES) * 10 * MINUTE;
  return Math.floor((timeMs - epoch - rollout) / (DEPLOY_EVERY_H * HOUR));
}

/** Pushes of every instance each `everyMin` minutes in [from, until), staggered across the slot, in time order. */
function schedule(from: number, until: number, everyMin: number): Push[] {
  const pushes: Push[] = [];
  for (let t = from; t < until; t += everyMin * MINUTE)
    for (let i = 0; i < INSTANCES; i++) {
      const at = t + Math.floor((i / INSTANCES) * everyMin * MINUTE);
      if (at < until) pushes.push({ instance: i, timeMs: at });
    }
  return pushes.sort((a, b) => a.timeMs - b.timeMs || a.instance - b.instance);
}

interface IngestResult {
  files: { file: string; timeMs: number }[];
  bytes: number;
  rawBytes: number;
  samples: number;
  seconds: number;
}

async function ingest(
  server: BenchServer,
  replayer: Replayer,
  pushes: Push[],
  epoch: number,
  filesDir?: string,
): Promise<IngestResult> {
  const t0 = performance.now();
  const files: IngestResult['files'] = [];
  let bytes = 0;
  let rawBytes = 0;
  let samples = 0;
  let next = 0;
  let lastLog = t0;
  const worker = async () => {
    while (next < pushes.length) {
      const n = next++;
      const { instance, timeMs } = pushes[n];
      const deploy = deployOf(instance, timeMs, epoch);
      const seed = mixSeed(7, instance, Math.floor(timeMs / MINUTE));
      const r = seed % replayer.recordings.length;
      const speed = 0.8 + (0.4 * mixSeed(11, instance)) / 4294967296;
      const body = await replayer.body(r, deploy, seed, speed, timeMs);
      bytes += body.gz.length;
      rawBytes += body.raw;
      samples += body.samples;
      if (filesDir) {
        const file = `${String(n).padStart(6, '0')}.pb.gz`;
        fs.writeFileSync(path.join(filesDir, file), body.gz);
        files.push({ file, timeMs });
      }
      const inst = `i${String(instance).padStart(2, '0')}`;
      const name = `${SERVICE}{instance="${inst}",region="${REGIONS[instance % REGIONS.length]}",version="3.${deploy + 1000}.0"}`;
      const rec = replayer.recordings[r];
      const url =
        `${server.url}/ingest?name=${encodeURIComponent(name)}&format=pprof&spyName=nodespy&sampleRate=100` +
        `&from=${timeMs}&until=${timeMs + rec.durationMs}&work=${rec.work}&process=${encodeURIComponent(`${inst}:${deploy}`)}`;
      for (let attempt = 0; ; attempt++) {
        const res = await request(url, 'POST', body.gz, { 'content-type': 'application/octet-stream' });
        if (res.status === 200) break;
        if ((res.status === 429 || res.status === 503) && attempt < 20) {
          await new Promise((r) => setTimeout(r, 200));
          continue;
        }
        throw new Error(`ingest: ${res.status} ${res.body.toString().slice(0, 200)}`);
      }
      if (performance.now() - lastLog > 15_000) {
        lastLog = performance.now();
        log(`pushed ${n + 1} of ${pushes.length}`);
      }
    }
  };
  await Promise.all(Array.from({ length: INGEST_CONCURRENCY }, worker));
  files.sort((a, b) => a.file.localeCompare(b.file));
  return { files, bytes, rawBytes, samples, seconds: (performance.now() - t0) / 1000 };
}

// ---------------------------------------------------------------- the store, in a child process

interface TableSize {
  table: string;
  rows: number;
  bytes_on_disk: number;
  data_compressed_bytes: number;
  data_uncompressed_bytes: number;
  parts: number;
  part_types: string;
}
interface ColumnSize {
  table: string;
  name: string;
  type: string;
  data_compressed_bytes: number;
  data_uncompressed_bytes: number;
}
interface StoreReport {
  buildSeconds: number;
  hoursBuilt: number;
  optimizeSeconds: number;
  tables: TableSize[];
  columns: ColumnSize[];
  storedSamples: number;
  profileRows: number;
  stacks: number;
  /** Per hour (ms): stacks first seen in it, and distinct stacks in it (cpu rows). */
  hours: { h: number; first: number; distinct: number }[];
}

/** `--store-task <dataDir>`: builds every hour's rollup, merges every table, prints sizes as JSON. */
async function storeTask(dataDir: string): Promise<void> {
  const { client } = createStoreClient({ dataDir, database: DB, retentionDays: 30 });
  try {
    const rows = async <T>(query: string) => (await client.query({ query, format: 'JSONEachRow' })).json<T>();
    let t = performance.now();
    let hoursBuilt = 0;
    for (;;) {
      const r = await buildRollups(DB, statementRunner(client), { now: Date.now(), maxHours: 1000 });
      hoursBuilt += r.hoursBuilt;
      if (r.unverified) throw new Error(`rollup build left ${r.unverified} unverified`);
      if (r.hoursLeft === 0) break;
    }
    const buildSeconds = (performance.now() - t) / 1000;
    t = performance.now();
    const tables = await rows<{ name: string }>(
      `SELECT name FROM system.tables WHERE database = '${DB}' AND engine LIKE '%MergeTree%'`,
    );
    for (const { name } of tables) await client.command({ query: `OPTIMIZE TABLE ${DB}.${name} FINAL` });
    const optimizeSeconds = (performance.now() - t) / 1000;
    const num = <T extends object>(xs: T[]) =>
      xs.map(
        (x) =>
          Object.fromEntries(
            Object.entries(x).map(([k, v]) => [k, typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v]),
          ) as T,
      );
    const sizes = num(
      await rows<TableSize>(
        `SELECT table, sum(rows) AS rows, sum(bytes_on_disk) AS bytes_on_disk, sum(data_compressed_bytes) AS data_compressed_bytes,
           sum(data_uncompressed_bytes) AS data_uncompressed_bytes, count() AS parts,
           arrayStringConcat(groupUniqArray(part_type), '+') AS part_types
         FROM system.parts WHERE database = '${DB}' AND active GROUP BY table ORDER BY bytes_on_disk DESC`,
      ),
    );
    const columns = num(
      await rows<ColumnSize>(
        `SELECT table, name, type, data_compressed_bytes, data_uncompressed_bytes FROM system.columns
         WHERE database = '${DB}' AND table IN ('profiles', 'stacks', 'profiles_1h') AND data_compressed_bytes > 0
         ORDER BY table, data_compressed_bytes DESC`,
      ),
    );
    const [counts] = num(
      await rows<{ storedSamples: number; profileRows: number; stacks: number }>(
        `SELECT (SELECT sum(length(stack_ids)) FROM ${DB}.profiles) AS storedSamples,
           (SELECT count() FROM ${DB}.profiles) AS profileRows, (SELECT count() FROM ${DB}.stacks FINAL) AS stacks`,
      ),
    );
    const hours = num(
      await rows<StoreReport['hours'][number]>(
        `SELECT h, sum(is_first) AS first, count() AS distinct FROM (
           SELECT stack_id, h, h = min(h) OVER (PARTITION BY stack_id) AS is_first
           FROM (SELECT DISTINCT stack_id, intDiv(toUnixTimestamp64Milli(time), ${HOUR}) * ${HOUR} AS h
                 FROM ${DB}.profiles ARRAY JOIN stack_ids AS stack_id WHERE type = 'cpu'))
         GROUP BY h ORDER BY h`,
      ),
    );
    const report: StoreReport = {
      buildSeconds,
      hoursBuilt,
      optimizeSeconds,
      tables: sizes,
      columns,
      ...counts,
      hours,
    };
    process.stdout.write(JSON.stringify(report));
  } finally {
    await client.close();
  }
}

async function runStoreTask(dataDir: string): Promise<StoreReport> {
  const { stdout } = await execFileAsync(process.execPath, [__filename, '--store-task', dataDir], {
    maxBuffer: 64 << 20,
  });
  return JSON.parse(stdout) as StoreReport;
}

// ---------------------------------------------------------------- queries

const QUERY_ENV = { FLAMEWATCH_DETECT_EVERY: '0' };
/**
 * Ingest: the rollup job off (built afterwards, below), and no limit on new series per clock hour: a
 * backfill of days in minutes starts all of their series (instance × version × type) within one clock hour.
 */
const INGEST_ENV = {
  ...QUERY_ENV,
  FLAMEWATCH_ROLLUP_EVERY: '0',
  FLAMEWATCH_LIMITS: JSON.stringify({ '*': { maxSeriesPerHour: 0 } }),
};

async function timeGet(url: string): Promise<{ ms: number; bytes: number; body: Buffer }> {
  const t = performance.now();
  const res = await request(url, 'GET');
  const ms = performance.now() - t;
  if (res.status !== 200) throw new Error(`${url}: ${res.status} ${res.body.toString().slice(0, 300)}`);
  return { ms, bytes: res.body.length, body: res.body };
}

/** A server on the data directory, once its start-up jobs (the rollup check) have had time to run. */
async function freshServer(dataDir: string): Promise<BenchServer> {
  const server = await startServer(QUERY_ENV, { dataDir });
  await new Promise((r) => setTimeout(r, 3000));
  return server;
}

interface Timing {
  cold: number[];
  warm: number[];
  bytes: number;
  /** The answer's tree: nodes in all and sent; its total. */
  nodes?: { total: number; shown: number };
  total?: number;
}

/** Cold samples (each on a freshly started server), then warm runs interleaved on the last server. */
async function measure(
  dataDir: string,
  queries: Record<string, string>,
  cold: number,
  runs: number,
): Promise<{ timings: Record<string, Timing>; server: BenchServer }> {
  const timings: Record<string, Timing> = {};
  for (const name of Object.keys(queries)) timings[name] = { cold: [], warm: [], bytes: 0 };
  let server: BenchServer | undefined;
  for (let c = 0; c < Math.max(1, cold); c++)
    for (const [name, q] of Object.entries(queries)) {
      await server?.stop();
      server = await freshServer(dataDir);
      const r = await timeGet(server.url + q);
      timings[name].cold.push(r.ms);
      log(`cold ${name}: ${r.ms.toFixed(0)} ms, ${(r.bytes / 1024).toFixed(0)} kB`);
    }
  for (const q of Object.values(queries)) await timeGet(server!.url + q);
  for (let i = 0; i < runs; i++)
    for (const [name, q] of Object.entries(queries)) {
      const r = await timeGet(server!.url + q);
      timings[name].warm.push(r.ms);
      timings[name].bytes = r.bytes;
      if (i === runs - 1) {
        const answer = JSON.parse(r.body.toString()) as {
          nodes?: Timing['nodes'];
          total?: number;
          right?: { total: number };
        };
        timings[name].nodes = answer.nodes;
        timings[name].total = answer.total ?? answer.right?.total;
      }
    }
  return { timings, server: server! };
}

/** Median ms of `runs` runs of pprof, and the total its last run reported (with -unit=ns). */
async function timePprof(args: string[], cwd: string, runs: number): Promise<{ ms: number; total: number }> {
  const times: number[] = [];
  let total = NaN;
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    const { stdout } = await execFileAsync(pprofTool, args, { cwd, maxBuffer: 64 << 20 });
    times.push(performance.now() - t);
    total = Number(/of (-?\d+)ns total/.exec(stdout)?.[1] ?? NaN);
  }
  return { ms: median(times), total };
}

// ---------------------------------------------------------------- main

const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
const kib = (b: number) => `${fmt(b / 1024)} KiB`;

async function main(): Promise<void> {
  if (!fs.existsSync(pprofTool))
    throw new Error(`${pprofTool} is missing: run bash test/tools/build-pprof.sh`);
  const started = performance.now();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-query-fleet-'));
  const recDir = path.join(tmp, 'recordings');
  const filesDir = path.join(tmp, 'files');
  const dataDir = path.join(tmp, 'data');
  for (const d of [recDir, filesDir, dataDir]) fs.mkdirSync(d);
  let server: BenchServer | undefined;
  try {
    log(
      `recording ${RECORD} profiles of ${PROFILE_SECONDS} s from ${RECORD_PROCESSES} shop service processes (bench/fixtures/shop)`,
    );
    const recorded = await record(RECORD, recDir);
    const recordings = recorded.map(prepare);
    const end = Math.floor(Date.now() / MINUTE) * MINUTE;
    const start = end - HOURS * HOUR;
    const weekStart = end - Math.max(1, DAYS) * 24 * HOUR;
    // The code's history starts at the deploy before the earliest push (deploys count from `start`).
    const history = new CodeHistory(
      Math.floor((Math.min(weekStart, start) - start) / (DEPLOY_EVERY_H * HOUR)) - 2,
    );
    const replayer = new Replayer(recordings, history);
    const recSamples = recordings.map((r) => r.samples.length);
    const appFunctions = new Set(
      recordings.flatMap((r) =>
        r.functions.flatMap((f) => ('module' in f ? [r.strings[int64(f.message.name)]] : [])),
      ),
    );
    const recordedBytes = recorded.reduce((n, p) => n + p.body.length, 0);
    log(
      `recorded: ${median(recSamples)} samples median (${Math.min(...recSamples)}–${Math.max(...recSamples)}), ` +
        `${appFunctions.size} of the service's functions seen`,
    );

    // 24 h × instances.
    const pushes = schedule(start, end, EVERY_MIN);
    server = await startServer(INGEST_ENV, { dataDir });
    log(
      `pushing ${pushes.length} profiles (${INSTANCES} instances × ${HOURS} h, one every ${EVERY_MIN} min)`,
    );
    const day = await ingest(server, replayer, pushes, start, filesDir);
    log(
      `pushed ${pushes.length} in ${day.seconds.toFixed(1)} s (${(pushes.length / day.seconds).toFixed(0)}/s)`,
    );
    await server.stop();
    server = undefined;
    const store = await runStoreTask(dataDir);
    log(
      `rollups built (${store.hoursBuilt} hours) in ${store.buildSeconds.toFixed(1)} s, merged in ${store.optimizeSeconds.toFixed(1)} s`,
    );

    const mid = start + (HOURS / 2) * HOUR;
    const whole = `type=cpu&from=${start}&until=${end}`;
    const queries24 = {
      flamegraph: `/api/v1/flamegraph?query=${SERVICE}&${whole}`,
      'top (limit 100)': `/api/v1/top?query=${SERVICE}&${whole}&limit=100`,
      [`diff (first vs last ${HOURS / 2} h)`]: `/api/v1/diff?type=cpu&leftQuery=${SERVICE}&rightQuery=${SERVICE}&leftFrom=${start}&leftUntil=${mid}&rightFrom=${mid}&rightUntil=${end}`,
    };
    const day24 = await measure(dataDir, queries24, COLD, RUNS);
    server = day24.server;
    await server.stop();
    server = undefined;

    log(`pprof over ${day.files.length} files, ${PPROF_RUNS} runs each`);
    const all = day.files.map((f) => f.file);
    const left = day.files.filter((f) => f.timeMs < mid).map((f) => f.file);
    const right = day.files.filter((f) => f.timeMs >= mid).map((f) => f.file);
    const top = ['-top', '-nodecount=100', '-sample_index=cpu', '-unit=ns'];
    const pprofTop = await timePprof([...top, ...all], filesDir, PPROF_RUNS);
    const pprofDiff = await timePprof(
      [...top, ...left.map((f) => `-diff_base=${f}`), ...right],
      filesDir,
      PPROF_RUNS,
    );

    // 7 d: the earlier days, sparser.
    let week:
      | { timings: Record<string, Timing>; pushes: number; ingest: IngestResult; store: StoreReport }
      | undefined;
    if (DAYS > 1) {
      const earlier = schedule(weekStart, start, EVERY7D_MIN);
      server = await startServer(INGEST_ENV, { dataDir });
      log(`pushing ${earlier.length} more profiles (${DAYS - 1} earlier days, one every ${EVERY7D_MIN} min)`);
      const more = await ingest(server, replayer, earlier, start);
      log(`pushed ${earlier.length} in ${more.seconds.toFixed(1)} s`);
      await server.stop();
      server = undefined;
      const store7 = await runStoreTask(dataDir);
      log(`rollups built (${store7.hoursBuilt} hours) in ${store7.buildSeconds.toFixed(1)} s`);
      const queries7 = {
        [`flamegraph ${DAYS} d`]: `/api/v1/flamegraph?query=${SERVICE}&type=cpu&from=${weekStart}&until=${end}`,
      };
      const m = await measure(dataDir, queries7, COLD, RUNS);
      await m.server.stop();
      week = { timings: m.timings, pushes: earlier.length + pushes.length, ingest: more, store: store7 };
    }

    // ---------------------------------------------------------------- output
    const totalSamples = day.samples;
    console.log(
      `\n## Queries over ${INSTANCES} instances × ${HOURS} h of real Node.js agent profiles (bench/query-fleet.ts)\n`,
    );
    console.log(
      `Data: ${RECORD} recorded 10 s agent profiles of bench/fixtures/shop/ (${median(recSamples)} samples median, ` +
        `${appFunctions.size} of its functions seen; ${fmt(recordedBytes / recSamples.reduce((a, b) => a + b, 0), 1)} gzip'd bytes a sample as the agent sent them), ` +
        `replayed as ${fmt(pushes.length)} pushes (one per instance every ${EVERY_MIN} min, ${fmt(totalSamples)} pprof samples, ` +
        `${fmt(day.bytes / totalSamples, 1)} bytes a sample, ${fmt(day.bytes / 1024 / 1024, 1)} MiB gzip'd); a deploy every ${DEPLOY_EVERY_H} h edits ` +
        `each of the ${history.modules} modules with probability ${EDIT} (functions below an edit move down: ` +
        `${history.count(deployOf(0, end, start)) - history.count(deployOf(INSTANCES - 1, start, start))} edits over the ${HOURS} h), ` +
        `${fmt(store.stacks)} distinct stacks stored; ingest ${fmt(pushes.length / day.seconds)} profiles/s at ${INGEST_CONCURRENCY} connections.`,
    );
    console.log(
      `Cold: first request of a fresh server, ${COLD} restart(s) per query; warm: ${RUNS} runs, interleaved. ` +
        `pprof: ${PPROF_RUNS} run(s), median. Load now: ${load()}.\n`,
    );
    console.log(
      '| query | cold p50 (ms) | cold max | warm p50 (ms) | warm p95 | response | pprof (ms) | pprof / ours (warm p50) | pprof / ours (cold p50) |',
    );
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    for (const [name, t] of Object.entries(day24.timings)) {
      const peer = (name.startsWith('diff') ? pprofDiff : pprofTop).ms;
      console.log(
        `| ${name} | ${fmt(median(t.cold))} | ${fmt(Math.max(...t.cold))} | ${fmt(median(t.warm), 1)} | ${fmt(percentile(t.warm, 95), 1)} | ` +
          `${kib(t.bytes)} | ${fmt(peer)} | ${fmt(peer / median(t.warm))}× | ${fmt(peer / median(t.cold), 1)}× |`,
      );
    }
    const ours = day24.timings.flamegraph.total;
    console.log(
      `\npprof: \`pprof ${top.join(' ')} <${all.length} files>\` for flamegraph and top; ` +
        `\`-diff_base\` × ${left.length} and ${right.length} files for the diff. Merged cpu total: ours ${fmt(ours ?? NaN)} ns, ` +
        `pprof's ${fmt(pprofTop.total)} ns (${ours === pprofTop.total ? 'equal' : 'DIFFERENT'}). ` +
        `Tree nodes: ${Object.entries(day24.timings)
          .filter(([, t]) => t.nodes)
          .map(([name, t]) => `${name} ${fmt(t.nodes!.total)} (${fmt(t.nodes!.shown)} sent)`)
          .join(', ')}.`,
    );

    console.log(
      `\n## Bytes on disk after merges (${HOURS} h × ${INSTANCES} instances, ${pushes.length} profiles)\n`,
    );
    console.log(
      `Rollups built in ${fmt(store.buildSeconds, 1)} s (${store.hoursBuilt} hours), OPTIMIZE … FINAL of every table in ${fmt(store.optimizeSeconds, 1)} s.\n`,
    );
    console.log(
      '| table | rows | parts (type) | bytes on disk | compressed | uncompressed | / pprof .pb.gz bytes | per profile | per sample |',
    );
    console.log('| --- | --- | --- | --- | --- | --- | --- | --- | --- |');
    const roles: Record<string, string> = {
      profiles: 'profiles (raw samples)',
      stacks: 'stacks',
      profiles_1h: 'profiles_1h (rollups)',
    };
    let totalDisk = 0;
    const row = (label: string, t: TableSize) =>
      console.log(
        `| ${label} | ${fmt(t.rows)} | ${t.parts}${t.part_types ? ` (${t.part_types.toLowerCase()})` : ''} | ${fmt(t.bytes_on_disk)} | ${fmt(t.data_compressed_bytes)} | ${fmt(t.data_uncompressed_bytes)} | ` +
          `${fmt(t.bytes_on_disk / day.bytes, 3)} | ${fmt(t.bytes_on_disk / pushes.length)} B | ${fmt(t.bytes_on_disk / totalSamples, 2)} B |`,
      );
    const sum = (ts: TableSize[]): TableSize =>
      ts.reduce(
        (a, t) => ({
          ...a,
          rows: a.rows + t.rows,
          parts: a.parts + t.parts,
          bytes_on_disk: a.bytes_on_disk + t.bytes_on_disk,
          data_compressed_bytes: a.data_compressed_bytes + t.data_compressed_bytes,
          data_uncompressed_bytes: a.data_uncompressed_bytes + t.data_uncompressed_bytes,
        }),
        {
          table: '',
          part_types: '',
          rows: 0,
          parts: 0,
          bytes_on_disk: 0,
          data_compressed_bytes: 0,
          data_uncompressed_bytes: 0,
        },
      );
    for (const t of store.tables) {
      row(roles[t.table] ?? t.table, t);
      totalDisk += t.bytes_on_disk;
    }
    row('**raw + stacks**', sum(store.tables.filter((t) => t.table === 'profiles' || t.table === 'stacks')));
    row('**every table**', sum(store.tables));
    row("gzip'd pprof files (the peer)", {
      table: '',
      part_types: '',
      rows: pushes.length,
      parts: 0,
      bytes_on_disk: day.bytes,
      data_compressed_bytes: day.bytes,
      data_uncompressed_bytes: day.rawBytes,
    });
    console.log(
      `\nStored: ${fmt(store.profileRows)} profile rows (one per pushed profile and type), ${fmt(store.storedSamples)} samples in them, ` +
        `${fmt(store.stacks)} stacks. Every table / pprof: ${fmt(totalDisk / day.bytes, 3)}.\n`,
    );
    const perHour = store.hours.filter((h) => h.h >= start);
    console.log(
      `Distinct stacks (cpu) per hour: median ${fmt(median(perHour.map((h) => h.distinct)))}; first seen per hour: ` +
        `${perHour.map((h) => fmt(h.first)).join(', ')}.\n`,
    );
    if (store.columns.length === 0)
      console.log(
        'No per-column sizes: the parts are compact (one file for all columns), system.columns has none.',
      );
    else
      console.log(
        'Per column (system.columns counts wide parts only: a compact part keeps every column in one file):\n\n' +
          '| table | column | type | compressed | uncompressed | ratio |\n| --- | --- | --- | --- | --- | --- |',
      );
    for (const c of store.columns)
      console.log(
        `| ${c.table} | ${c.name} | ${c.type} | ${fmt(c.data_compressed_bytes)} | ${fmt(c.data_uncompressed_bytes)} | ${fmt(c.data_uncompressed_bytes / c.data_compressed_bytes, 1)} |`,
      );

    if (week) {
      console.log(`\n## Flame graph over ${DAYS} d × ${INSTANCES} instances\n`);
      console.log(
        `The ${HOURS} h above plus ${DAYS - 1} earlier days at one profile an instance every ${EVERY7D_MIN} min${EVERY7D_MIN === EVERY_MIN ? '' : ` (not every ${EVERY_MIN}: ingest time)`}; ` +
          `${fmt(week.pushes)} profiles in all, ${fmt(week.store.stacks)} distinct stacks; the earlier days pushed at ${fmt(
            (week.pushes - pushes.length) / week.ingest.seconds,
          )}/s; rollups of ${week.store.hoursBuilt} more hours built in ${fmt(week.store.buildSeconds, 1)} s; ` +
          `profiles_1h ${fmt(week.store.tables.find((t) => t.table === 'profiles_1h')?.rows ?? 0)} rows; ` +
          `every table ${kib(week.store.tables.reduce((a, t) => a + t.bytes_on_disk, 0))} after merges. ` +
          `Tree: ${Object.values(week.timings)
            .map((t) => (t.nodes ? `${fmt(t.nodes.total)} nodes (${fmt(t.nodes.shown)} sent)` : ''))
            .join('')}.\n`,
      );
      console.log('| query | cold p50 (ms) | cold max | warm p50 (ms) | warm p95 | response |');
      console.log('| --- | --- | --- | --- | --- | --- |');
      for (const [name, t] of Object.entries(week.timings))
        console.log(
          `| ${name} | ${fmt(median(t.cold))} | ${fmt(Math.max(...t.cold))} | ${fmt(median(t.warm), 1)} | ${fmt(percentile(t.warm, 95), 1)} | ${kib(t.bytes)} |`,
        );
    }
    console.log(`\nWhole run: ${fmt((performance.now() - started) / 1000)} s.`);
  } finally {
    await server?.stop();
    if (KEEP_TMP) log(`kept ${tmp}`);
    else fs.rmSync(tmp, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--store-task')
  storeTask(process.argv[3]).catch((err) => {
    console.error(err);
    process.exit(1);
  });
else
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
