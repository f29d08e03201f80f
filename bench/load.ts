/**
 * Load: a fleet of simulated agents pushing at the real agent's cadence to
 * `flamewatch serve` in a child process (embedded chDB, token auth), this
 * process being the fleet. Each agent pushes what the real agent pushes (a
 * wall profile with CPU time, and a heap profile, every `--interval` s), with
 * its own service and instance labels, through the agent's own sender,
 * buffer and backoff (agent/dist: one connection per push, 10 s timeout,
 * full-jitter backoff, never sooner than Retry-After).
 *
 * The profiles are real: first an express service (bench/fixtures) runs
 * under the real agent, pointed at a capture server here, while this process
 * loads it; its first wall and heap pushes are the bytes every agent sends.
 *
 * Phases (on the same server, in turn):
 *   steady    --agents (500) every --interval (10 s) for --seconds (90)
 *   overload  --overload-agents (4000) every --overload-interval (1 s) for
 *             --overload-seconds (60): past capacity, to see 429s with
 *             Retry-After, agents backing off, and the server's memory
 *   recovery  --agents every --interval again for --recovery-seconds (30)
 * Each phase's first interval is ramp-up (agents start spread over it) and
 * is not counted. Reported per phase: profiles offered, pushes attempted
 * and acknowledged per second, answers by status, latency, Retry-After and
 * how long agents waited after a refusal, the server's RSS (sampled every
 * second, and its high-water mark), pushes in flight (its gauge), CPU, and
 * the machine's listen-queue overflows (connections the kernel dropped).
 *
 * Tenant limits: FLAMEWATCH_LIMITS lifts the tenant's push rate (default
 * 2,000/s) out of the way (1,000,000/s), so what refuses pushes is the
 * server's own capacity; the series limit stays at its default, which this
 * fleet never reaches (10 instances × 5 series per service).
 *
 *   npm run build && node dist/bench/load.js [--agents 500] [--interval 10] [--seconds 90]
 *     [--phases steady,overload,recovery] [--overload-agents 4000] [--overload-interval 1] [--overload-seconds 60]
 *   BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the server (one file per thread, at exit).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { randomBytes } from 'node:crypto';
import { gunzipSync } from 'node:zlib';
import type { retryDelayMs as RetryDelayMs } from '../agent/dist/backoff';
import type { PendingProfile, ProfileBuffer as ProfileBufferClass } from '../agent/dist/buffer';
import type { Destination, ingestName as IngestName, push as Push } from '../agent/dist/sender';
import { decodePprof } from '../profile/pprof';
import { arg, argText, cpuSeconds, freePort, percentile, repoDir, request, startServer } from './lib';

// The agent's own code, built (npm run build builds agent/ first).
const agentDist = path.join(repoDir, 'agent', 'dist');
const { push, ingestName } = require(path.join(agentDist, 'sender.js')) as {
  push: typeof Push;
  ingestName: typeof IngestName;
};
const { ProfileBuffer } = require(path.join(agentDist, 'buffer.js')) as {
  ProfileBuffer: typeof ProfileBufferClass;
};
const { retryDelayMs } = require(path.join(agentDist, 'backoff.js')) as { retryDelayMs: typeof RetryDelayMs };

const INSTANCES_PER_SERVICE = 10;
const AGENT_DEFAULTS = { maxBufferedProfiles: 30, maxBufferedBytes: 8 << 20, requestTimeoutMs: 10_000 };

interface Captured {
  kind: string;
  body: Buffer;
  sampleRate: number;
  samples: number;
  types: string;
}

/** Runs the express fixture under the real agent (pushing here) while loading it; answers its first wall and heap pushes. */
async function captureAgentProfiles(): Promise<Captured[]> {
  const got: Captured[] = [];
  let done: () => void = () => undefined;
  const complete = new Promise<void>((r) => (done = r));
  const capture = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      res.end('{}');
      const url = new URL(req.url ?? '/', 'http://x');
      const body = Buffer.concat(chunks);
      const profile = decodePprof(gunzipSync(body));
      const types = profile.sampleTypes.map((t) => t.type).join(',');
      const kind = profile.sampleTypes.some((t) => t.type === 'wall') ? 'wall' : 'heap';
      if (!got.some((g) => g.kind === kind))
        got.push({
          kind,
          body,
          sampleRate: Number(url.searchParams.get('sampleRate') ?? 100),
          samples: profile.samples.length,
          types,
        });
      if (got.length === 2) done();
    });
  });
  await new Promise<void>((r) => capture.listen(0, '127.0.0.1', r));
  const capturePort = (capture.address() as { port: number }).port;
  const port = await freePort();
  const service = spawn(process.execPath, [path.join(repoDir, 'bench', 'fixtures', 'express-service.js')], {
    env: {
      ...process.env,
      PORT: String(port),
      PROFILER: 'flamewatch',
      FLAMEWATCH_SERVER: `http://127.0.0.1:${capturePort}`,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    service.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    service.once('exit', (code) => reject(new Error(`express fixture exited with ${code}`)));
  });
  // Four clients keep the service busy (a real service at work) until both profiles arrived (~10 s, the agent's interval).
  const keepAlive = new http.Agent({ keepAlive: true, maxSockets: 4 });
  let stop = false;
  const client = async (c: number) => {
    for (let i = 0; !stop; i++) {
      await new Promise<void>((resolve) => {
        http
          .get(`http://127.0.0.1:${port}/orders/${c}-${i}`, { agent: keepAlive }, (res) =>
            res.resume().on('end', resolve),
          )
          .on('error', () => resolve());
      });
    }
  };
  const clients = [0, 1, 2, 3].map(client);
  const timeout = setTimeout(() => done(), 60_000);
  await complete;
  clearTimeout(timeout);
  stop = true;
  await Promise.all(clients);
  keepAlive.destroy();
  service.kill('SIGTERM');
  capture.close();
  if (got.length < 2)
    throw new Error(`the agent pushed ${got.length} of the 2 profiles expected within 60 s`);
  return got.sort((a, b) => (a.kind === 'wall' ? -1 : b.kind === 'wall' ? 1 : 0));
}

/** What the fleet saw in one phase. */
class Recorder {
  /** Profiles the agents generated (into their buffers), in the window. */
  offered = 0;
  attempts = 0;
  ok = 0;
  okLatency: number[] = [];
  refusedLatency: number[] = [];
  statuses = new Map<string, number>();
  retryAfter: number[] = [];
  missingRetryAfter = 0;
  /** Time from a 429/503 to the same agent's next attempt, and that answer's Retry-After. */
  backoffs: { waitedMs: number; retryAfterMs: number }[] = [];
  measuring = false;
  /** Every answer of the phase by second: [2xx, 429, other]. */
  perSecond = new Map<number, [number, number, number]>();

  count(key: string): void {
    this.statuses.set(key, (this.statuses.get(key) ?? 0) + 1);
  }
}

class SimAgent {
  private readonly buffer: ProfileBufferClass;
  private sending = false;
  private failures = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private collectTimer: NodeJS.Timeout | undefined;
  private startTimer: NodeJS.Timeout | undefined;
  private stopped = false;
  private refusedAt: { at: number; retryAfterMs: number } | undefined;
  inFlight: Promise<void> = Promise.resolve();

  constructor(
    private readonly dest: Destination,
    private readonly profiles: Captured[],
    private readonly intervalMs: number,
    private readonly rec: Recorder,
  ) {
    this.buffer = new ProfileBuffer(AGENT_DEFAULTS.maxBufferedProfiles, AGENT_DEFAULTS.maxBufferedBytes);
  }

  start(offsetMs: number): void {
    this.startTimer = setTimeout(() => {
      this.collect();
      this.collectTimer = setInterval(() => this.collect(), this.intervalMs);
    }, offsetMs);
  }

  get dropped(): number {
    return this.buffer.dropped;
  }

  get buffered(): number {
    return this.buffer.size;
  }

  private collect(): void {
    const until = Math.ceil(Date.now() / 1000);
    const from = Math.floor((Date.now() - this.intervalMs) / 1000);
    for (const p of this.profiles) {
      this.buffer.push({ kind: p.kind, from, until, body: p.body });
      if (this.rec.measuring) this.rec.offered++;
    }
    this.pump();
  }

  /** As FlamewatchAgent.pump: the oldest buffered profile, then the next, until empty or failing. */
  private pump(): void {
    if (this.stopped || this.sending || this.retryTimer) return;
    const next: PendingProfile | undefined = this.buffer.peek();
    if (!next) return;
    this.sending = true;
    const rec = this.rec;
    const t0 = performance.now();
    const sentAt = Date.now();
    if (this.refusedAt && rec.measuring)
      rec.backoffs.push({ waitedMs: sentAt - this.refusedAt.at, retryAfterMs: this.refusedAt.retryAfterMs });
    this.refusedAt = undefined;
    const measuring = rec.measuring;
    if (measuring) rec.attempts++;
    this.inFlight = push(this.dest, next, false).then((result) => {
      const ms = performance.now() - t0;
      this.sending = false;
      const second = Math.floor(Date.now() / 1000);
      const row = rec.perSecond.get(second) ?? [0, 0, 0];
      rec.perSecond.set(second, row);
      if (result.outcome === 'ok') {
        row[0]++;
        if (measuring) {
          rec.ok++;
          rec.okLatency.push(ms);
          rec.count('2xx');
        }
        this.buffer.remove(next);
        this.failures = 0;
        this.pump();
        return;
      }
      if (result.outcome === 'reject') {
        row[2]++;
        if (measuring) rec.count(String(result.status));
        this.buffer.remove(next);
        this.pump();
        return;
      }
      const status = result.status;
      if (status === 429) row[1]++;
      else row[2]++;
      if (measuring) {
        rec.count(
          status
            ? String(status)
            : `no answer (${/no answer within/.test(result.reason) ? 'timeout' : result.reason.slice(0, 40)})`,
        );
        if (status === 429 || status === 503) {
          rec.refusedLatency.push(ms);
          if (result.retryAfterMs === undefined) rec.missingRetryAfter++;
          else rec.retryAfter.push(result.retryAfterMs / 1000);
        }
      }
      if (status === 429 || status === 503)
        this.refusedAt = { at: Date.now(), retryAfterMs: result.retryAfterMs ?? 0 };
      this.failures++;
      const delay = retryDelayMs(this.failures, result.retryAfterMs);
      this.retryTimer = setTimeout(() => {
        this.retryTimer = undefined;
        this.pump();
      }, delay);
    });
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.startTimer);
    clearInterval(this.collectTimer);
    clearTimeout(this.retryTimer);
  }
}

function rssMb(pid: number): { rss: number; hwm: number } {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? 0);
  return { rss: kb('VmRSS') / 1024, hwm: kb('VmHWM') / 1024 };
}

/** The kernel's count of connections dropped because a listen queue was full (the whole machine's). */
function listenOverflows(): number {
  const lines = fs
    .readFileSync('/proc/net/netstat', 'utf8')
    .split('\n')
    .filter((l) => l.startsWith('TcpExt:'));
  const [names, values] = lines.map((l) => l.split(/\s+/));
  return Number(values?.[names?.indexOf('ListenOverflows') ?? -1] ?? NaN);
}

function loadAverage(): string {
  return fs.readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

/** The server's counters we compare before and after a phase. */
async function serverCounters(url: string): Promise<Map<string, number>> {
  const res = await request(`${url}/metrics`, 'GET');
  const out = new Map<string, number>();
  for (const line of res.body.toString().split('\n')) {
    const m =
      /^(flamewatch_(?:ingested_profiles_total|discarded_profiles_total)(?:\{[^}]*\})?) ([\d.e+]+)$/.exec(
        line,
      );
    if (!m) continue;
    const key = m[1].replace(/\{format="[^"]*"\}/, '');
    out.set(key, (out.get(key) ?? 0) + Number(m[2]));
  }
  return out;
}

interface Phase {
  name: string;
  agents: number;
  intervalS: number;
  seconds: number;
}

async function main(): Promise<void> {
  const phaseNames = argText('phases', 'steady,overload,recovery').split(',');
  const steady = { agents: arg('agents', 500), intervalS: arg('interval', 10), seconds: arg('seconds', 90) };
  const all: Record<string, Phase> = {
    steady: { name: 'steady', ...steady },
    overload: {
      name: 'overload',
      agents: arg('overload-agents', 4000),
      intervalS: arg('overload-interval', 1),
      seconds: arg('overload-seconds', 60),
    },
    recovery: { name: 'recovery', ...steady, seconds: arg('recovery-seconds', 30) },
  };
  const phases = phaseNames.map((n) => {
    if (!all[n]) throw new Error(`--phases: no phase ${n} (steady, overload, recovery)`);
    return all[n];
  });

  console.log(`load average at start: ${loadAverage()}`);
  const profiles = await captureAgentProfiles();
  for (const p of profiles)
    console.log(
      `agent's ${p.kind} profile: ${(p.body.length / 1024).toFixed(1)} kB gz, ${p.samples} samples, types ${p.types}`,
    );

  const adminToken = randomBytes(24).toString('base64url');
  const server = await startServer({
    FLAMEWATCH_ADMIN_TOKEN: adminToken,
    FLAMEWATCH_LIMITS: JSON.stringify({ '*': { ingestRate: 1_000_000, ingestBurst: 1_000_000 } }),
  });
  const pid = server.proc.pid!;
  const rssLog: { t: number; phase: string; rss: number; inFlight?: number }[] = [];
  const t00 = Date.now();
  let currentPhase = 'idle';
  let scraping = false;
  const sampler = setInterval(() => {
    try {
      const sample: (typeof rssLog)[number] = {
        t: (Date.now() - t00) / 1000,
        phase: currentPhase,
        rss: rssMb(pid).rss,
      };
      rssLog.push(sample);
      // Pushes in progress, from the server's gauge (over a kept-alive connection, so it needs no accept under load).
      if (!scraping) {
        scraping = true;
        request(`${server.url}/metrics`, 'GET').then(
          (res) => {
            scraping = false;
            const m = /^flamewatch_ingest_in_flight (\d+)/m.exec(res.body.toString());
            if (m) sample.inFlight = Number(m[1]);
          },
          () => (scraping = false),
        );
      }
    } catch {
      // the server is gone
    }
  }, 1000);
  const eventLoop = monitorEventLoopDelay({ resolution: 20 });
  eventLoop.enable();
  const report: unknown[] = [];
  try {
    const made = await request(
      `${server.url}/api/v1/tokens`,
      'POST',
      Buffer.from(JSON.stringify({ scopes: ['ingest'], name: 'load bench' })),
      {
        authorization: `Bearer ${adminToken}`,
        'content-type': 'application/json',
      },
    );
    if (made.status !== 201) throw new Error(`could not make an ingest token: ${made.status} ${made.body}`);
    const token = (JSON.parse(made.body.toString()) as { token: string }).token;
    console.log(`server RSS idle: ${rssMb(pid).rss.toFixed(0)} MB`);

    for (const phase of phases) {
      currentPhase = phase.name;
      const rec = new Recorder();
      const intervalMs = phase.intervalS * 1000;
      const agents = Array.from({ length: phase.agents }, (_, a) => {
        const service = `svc-${String(Math.floor(a / INSTANCES_PER_SERVICE)).padStart(3, '0')}`;
        const dest: Destination = {
          server: server.url,
          name: ingestName(service, {
            instance: `${service}-${a % INSTANCES_PER_SERVICE}`,
            env: 'prod',
            region: `r${a % 3}`,
          }),
          sampleRate: profiles[0].sampleRate,
          process: `load-bench:${a}`,
          authToken: token,
          timeoutMs: AGENT_DEFAULTS.requestTimeoutMs,
        };
        return new SimAgent(dest, profiles, intervalMs, rec);
      });
      const before = await serverCounters(server.url);
      const load0 = loadAverage();
      const hwm0 = rssMb(pid);
      agents.forEach((agent, a) => agent.start((a / phase.agents) * intervalMs));
      // Ramp-up: the first interval.
      await new Promise((r) => setTimeout(r, intervalMs));
      const rampDropped = agents.reduce((s, a) => s + a.dropped, 0);
      rec.measuring = true;
      eventLoop.reset();
      const cpu0 = cpuSeconds(pid);
      const overflows0 = listenOverflows();
      const gen0 = process.cpuUsage();
      const t0 = performance.now();
      let peakRss = 0;
      let peakInFlight = 0;
      const phaseStart = rssLog.length;
      const ticker = setInterval(() => {
        const last = rssLog[rssLog.length - 1];
        const now = Math.floor(Date.now() / 1000) - 1;
        const row = rec.perSecond.get(now) ?? [0, 0, 0];
        console.error(
          `  ${phase.name} +${((performance.now() - t0) / 1000).toFixed(0)} s: RSS ${last?.rss.toFixed(0)} MB, in flight ${last?.inFlight ?? '?'}, last second 2xx ${row[0]}, 429 ${row[1]}, other ${row[2]}; load ${loadAverage()}`,
        );
      }, 10_000);
      await new Promise((r) => setTimeout(r, (phase.seconds - phase.intervalS) * 1000));
      clearInterval(ticker);
      const elapsed = (performance.now() - t0) / 1000;
      const cpu = cpuSeconds(pid) - cpu0;
      const overflows = listenOverflows() - overflows0;
      const gen = process.cpuUsage(gen0);
      rec.measuring = false;
      const load1 = loadAverage();
      for (const s of rssLog.slice(phaseStart)) {
        peakRss = Math.max(peakRss, s.rss);
        peakInFlight = Math.max(peakInFlight, s.inFlight ?? 0);
      }
      const hwm1 = rssMb(pid);
      for (const a of agents) a.stop();
      const settle = Date.now();
      await Promise.all(agents.map((a) => a.inFlight));
      const settleMs = Date.now() - settle;
      const after = await serverCounters(server.url);
      const delta = [...after]
        .map(([k, v]) => [k, v - (before.get(k) ?? 0)] as const)
        .filter(([, v]) => v > 0);
      const dropped = agents.reduce((s, a) => s + a.dropped, 0) - rampDropped;
      const leftBuffered = agents.reduce((s, a) => s + a.buffered, 0);
      const p = (xs: number[], q: number) => (xs.length ? percentile(xs, q).toFixed(0) : '—');
      const waited = rec.backoffs.map((b) => b.waitedMs / 1000);
      const result = {
        phase: phase.name,
        agents: phase.agents,
        services: Math.ceil(phase.agents / INSTANCES_PER_SERVICE),
        intervalS: phase.intervalS,
        measuredS: Number(elapsed.toFixed(1)),
        loadAverage: [load0, load1],
        offeredPerS: Number((rec.offered / elapsed).toFixed(1)),
        attemptsPerS: Number((rec.attempts / elapsed).toFixed(1)),
        achievedPerS: Number((rec.ok / elapsed).toFixed(1)),
        statuses: Object.fromEntries(rec.statuses),
        okLatencyMs: { p50: p(rec.okLatency, 50), p99: p(rec.okLatency, 99), max: p(rec.okLatency, 100) },
        refusedLatencyMs: { p50: p(rec.refusedLatency, 50), p99: p(rec.refusedLatency, 99) },
        retryAfterS: rec.retryAfter.length
          ? { min: Math.min(...rec.retryAfter), max: Math.max(...rec.retryAfter) }
          : undefined,
        refusedWithoutRetryAfter: rec.missingRetryAfter,
        backoffAfterRefusalS: waited.length
          ? {
              n: waited.length,
              min: Math.min(...waited).toFixed(1),
              p50: percentile(waited, 50).toFixed(1),
              shorterThanRetryAfter: rec.backoffs.filter((b) => b.waitedMs < b.retryAfterMs - 20).length,
            }
          : undefined,
        droppedByAgents: dropped,
        leftInAgentBuffers: leftBuffered,
        serverRssMb: {
          startOfPhase: hwm0.rss.toFixed(0),
          peakSampled: peakRss.toFixed(0),
          peakSinceStart: hwm1.hwm.toFixed(0),
          end: hwm1.rss.toFixed(0),
        },
        serverPeakInFlight: peakInFlight,
        listenQueueOverflows: overflows,
        serverCores: Number((cpu / elapsed).toFixed(2)),
        generatorCores: Number(((gen.user + gen.system) / 1e6 / elapsed).toFixed(2)),
        generatorEventLoopP99Ms: Number((eventLoop.percentile(99) / 1e6).toFixed(1)),
        settleMs,
        serverCounters: Object.fromEntries(delta),
      };
      report.push(result);
      console.log(JSON.stringify(result, null, 1));
      // Let the server finish what it holds before the next phase.
      await new Promise((r) => setTimeout(r, 5000));
    }
    currentPhase = 'end';
    await new Promise((r) => setTimeout(r, 2000));
    fs.mkdirSync(path.join(repoDir, 'bench', 'out'), { recursive: true });
    fs.writeFileSync(
      path.join(repoDir, 'bench', 'out', 'load.json'),
      JSON.stringify(
        { profiles: profiles.map(({ body: _b, ...p }) => ({ ...p, bytes: _b.length })), report, rss: rssLog },
        null,
        1,
      ),
    );
    console.log(
      `server RSS over time: bench/out/load.json; at the end ${rssMb(pid).rss.toFixed(0)} MB, peak ${rssMb(pid).hwm.toFixed(0)} MB`,
    );
  } finally {
    clearInterval(sampler);
    await server.stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
