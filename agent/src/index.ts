import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { heap, time, encode, SourceMapper } from '@datadog/pprof';
import { retryDelayMs } from './backoff';
import { ProfileBuffer } from './buffer';
import { type AgentOptions, type ResolvedOptions, optionsFromEnv, resolveOptions } from './config';
import { type Destination, ingestName, processId, push } from './sender';
import { encodePprof } from './pprof';
import { V8WallProfiler } from './v8';
import { WorkMeter } from './work';

const gzip = promisify(zlib.gzip);

export type { AgentLogger, AgentOptions } from './config';

/** The first push comes this soon after start (or after intervalMs, if shorter): a new service shows at once. */
const FIRST_PUSH_MS = 10_000;
export { optionsFromEnv } from './config';
export type { WorkMode } from './work';
export { countWork } from './work';

/** Counters of what the agent did, for the service's own health checks. */
export interface AgentStats {
  collected: number;
  pushed: number;
  /** Pushes that failed and will be tried again. */
  retried: number;
  /** Profiles the server refused (4xx), not retried. */
  rejected: number;
  /** Profiles dropped because the buffer was full (the oldest first). */
  dropped: number;
  buffered: number;
  bufferedBytes: number;
  /**
   * The agent's own cost on the event loop: how many collections ran, and the milliseconds their synchronous
   * parts held it (ending one wall profile and starting the next, with the inspector engine its conversion and
   * protobuf encoding too; starting the profiler for a window of a duty cycle; taking the heap profile).
   * @datadog/pprof's encoding (in slices), gzip and the push come after and are not counted.
   */
  collections: number;
  blockedMs: number;
}

/** What start() returns. */
export interface Agent {
  /** Stops profiling and pushes what is left within `stopTimeoutMs`; never rejects. */
  stop(): Promise<void>;
  stats(): AgentStats;
}

/** The agent start() returns when its options are unusable: it does nothing (the reason was logged). */
class DisabledAgent implements Agent {
  async stop(): Promise<void> {}
  stats(): AgentStats {
    return {
      collected: 0,
      pushed: 0,
      retried: 0,
      rejected: 0,
      dropped: 0,
      buffered: 0,
      bufferedBytes: 0,
      collections: 0,
      blockedMs: 0,
    };
  }
}

/**
 * A running agent. It never throws into its host: every failure is logged
 * (through the given logger, silent by default) and counted.
 */
export class FlamewatchAgent implements Agent {
  private readonly buffer: ProfileBuffer;
  private readonly dest: Destination;
  private readonly work: WorkMeter;
  private collectTimer: NodeJS.Timeout | undefined;
  /** With a duty cycle: the timer that starts or ends the next profiling window, and where its interval began. */
  private windowTimer: NodeJS.Timeout | undefined;
  private intervalStart = Date.now();
  private retryTimer: NodeJS.Timeout | undefined;
  private sending = false;
  private failures = 0;
  private stopped = false;
  private wallStarted = false;
  private heapStarted = false;
  private lastCollect = Date.now();
  private sourceMapper: SourceMapper | undefined;
  /** The wall profiler, when it is V8's through the inspector (see wallEngine); @datadog/pprof's otherwise. */
  private readonly v8: V8WallProfiler | undefined;
  private readonly loggedRejections = new Set<number>();
  private readonly counts = {
    collected: 0,
    pushed: 0,
    retried: 0,
    rejected: 0,
    collections: 0,
    blockedMs: 0,
  };

  constructor(private readonly o: ResolvedOptions) {
    this.buffer = new ProfileBuffer(o.maxBufferedProfiles, o.maxBufferedBytes);
    this.dest = {
      server: o.server,
      name: ingestName(o.service, o.labels),
      sampleRate: Math.round(1e6 / o.wallIntervalMicros),
      process: processId(),
      authToken: o.authToken,
      tenant: o.tenant,
      timeoutMs: o.requestTimeoutMs,
    };
    // Work goes with the wall profile's pushes: without it, there is nothing to count for.
    this.work = new WorkMeter(o.wall ? o.work : 'off');
    // Lines, source maps and windows need @datadog/pprof's profiler: the inspector gives no line per sample, and
    // a fresh inspector profiler after a stopped one lost inlined frames (v8.ts).
    if (o.wallEngine === 'inspector' && !o.lineNumbers && !o.sourceMapsDir && o.profileMs >= o.intervalMs)
      this.v8 = new V8WallProfiler(o.wallIntervalMicros, o.cpuTime);
  }

  /** Starts the profilers and the push timer. */
  async begin(): Promise<void> {
    if (this.o.sourceMapsDir) {
      this.sourceMapper = await SourceMapper.create([this.o.sourceMapsDir]).catch((err: Error) => {
        this.log('warn', `source maps not loaded: ${err.message}`);
        return undefined;
      });
    }
    if (this.stopped) return;
    if (this.o.heap) {
      this.heapStarted =
        this.guard('start the heap profiler', () => {
          heap.start(this.o.heapIntervalBytes, this.o.heapStackDepth);
          return true;
        }) ?? false;
    }
    this.lastCollect = Date.now();
    this.work.take(); // the first interval's work starts with its profile
    if (this.o.wall && this.o.profileMs < this.o.intervalMs) {
      // A duty cycle: the wall profiler records profileMs of every interval, heap and the push follow each window.
      this.intervalStart = Date.now();
      this.scheduleWindow(true);
      this.log(
        'info',
        `profiling ${this.o.service} to ${this.o.server}: ${this.o.profileMs / 1000} s of every ${this.o.intervalMs / 1000} s`,
      );
      return;
    }
    if (this.o.wall)
      this.wallStarted = this.guard('start the wall profiler', () => this.startWall()) ?? false;
    // The first profile after at most FIRST_PUSH_MS, so a new service shows in the UI at once; then every interval.
    const first = Math.min(FIRST_PUSH_MS, this.o.intervalMs);
    this.collectTimer = setTimeout(() => {
      if (this.stopped) return;
      void this.collect(true);
      this.collectTimer = setInterval(() => this.collect(true), this.o.intervalMs);
      this.collectTimer.unref();
    }, first);
    this.collectTimer.unref();
    this.log('info', `profiling ${this.o.service} to ${this.o.server} every ${this.o.intervalMs / 1000} s`);
  }

  /**
   * Sets the timer of the next window: at a random point of the current interval (so a fleet's processes do not
   * profile in step, and a job that runs on the minute is not always in or always out of the window), or of the
   * next interval when this one's window has run; the first at once.
   */
  private scheduleWindow(first = false): void {
    const now = Date.now();
    while (this.intervalStart + this.o.intervalMs <= now) this.intervalStart += this.o.intervalMs;
    // The first window starts at once: a new service shows in the UI within profileMs, not an interval.
    const at = first ? now : this.intervalStart + Math.random() * (this.o.intervalMs - this.o.profileMs);
    this.windowTimer = setTimeout(() => this.startWindow(), Math.max(0, at - now));
    this.windowTimer.unref();
  }

  private startWindow(): void {
    this.windowTimer = undefined;
    if (this.stopped) return;
    this.work.take(); // the window's work is what is served while it records
    this.lastCollect = Date.now();
    // Starting V8's profiler anew lists the code it knows: counted as the agent's own time on the event loop.
    const started = performance.now();
    this.wallStarted = this.guard('start the wall profiler', () => this.startWall()) ?? false;
    this.counts.blockedMs += performance.now() - started;
    this.windowTimer = setTimeout(() => {
      this.windowTimer = undefined;
      void this.collect(false);
      this.intervalStart += this.o.intervalMs;
      if (!this.stopped) this.scheduleWindow();
    }, this.o.profileMs);
    this.windowTimer.unref();
  }

  private startWall(): boolean {
    if (this.v8) {
      this.v8.start();
      return true;
    }
    time.start({
      intervalMicros: this.o.wallIntervalMicros,
      durationMillis: this.o.profileMs,
      sourceMapper: this.sourceMapper,
      withContexts: this.o.cpuTime,
      collectCpuTime: this.o.cpuTime,
      lineNumbers: this.o.lineNumbers,
    });
    return true;
  }

  /** Takes this interval's profiles into the buffer and starts a push. */
  private collect(restart: boolean): Promise<void> {
    const started = performance.now();
    const until = Date.now();
    const from = this.lastCollect;
    this.lastCollect = until;
    const intervalWork = this.work.take();
    const encodes: Promise<void>[] = [];
    /** Encodes and gzips a profile into the buffer (gzip on libuv's threads, @datadog/pprof's encoder in slices). */
    const take = (kind: string, encoded: (() => Promise<Buffer>) | undefined, work?: number) => {
      if (!encoded) return;
      encodes.push(
        encoded().then(
          (body) => {
            this.counts.collected++;
            this.buffer.push({
              kind,
              from: Math.floor(from / 1000),
              until: Math.ceil(until / 1000),
              work,
              body,
            });
          },
          (err: Error) => this.log('warn', `could not encode the ${kind} profile: ${err.message}`),
        ),
      );
    };
    // The heap snapshot first: the wall profile's collection (the inspector's JSON, its conversion) allocates
    // thousands of objects that are garbage at once but still held until the next GC, and a snapshot taken after
    // it counted them as the service's memory (an unchanged service's inuse_objects was flagged in detector-e2e).
    if (this.heapStarted)
      take(
        'heap',
        this.guard('collect the heap profile', () => {
          const profile = heap.profile(undefined, this.sourceMapper);
          return () => encode(profile);
        }),
      );
    // The wall profile (with CPU time) is cumulative over the interval: it carries the interval's work; heap is a snapshot.
    if (this.wallStarted)
      take(
        'wall',
        this.guard('collect the wall profile', () => {
          if (this.v8) {
            const bytes = encodePprof(this.v8.stop(restart));
            return () => gzip(bytes);
          }
          const profile = time.stop(restart);
          return () => encode(profile);
        }),
        intervalWork,
      );
    if (!restart) this.wallStarted = false;
    this.counts.collections++;
    this.counts.blockedMs += performance.now() - started;
    return Promise.all(encodes).then(() => this.pump());
  }

  /** Sends the oldest buffered profile, then the next, until empty or failing. */
  private pump(holdProcess = false): void {
    if (this.sending || this.retryTimer) return;
    const next = this.buffer.peek();
    if (!next) return;
    this.sending = true;
    void push(this.dest, next, holdProcess).then((result) => {
      this.sending = false;
      if (result.outcome === 'ok') {
        this.buffer.remove(next);
        this.counts.pushed++;
        this.failures = 0;
        this.pump(holdProcess);
      } else if (result.outcome === 'reject') {
        this.buffer.remove(next);
        this.counts.rejected++;
        if (!this.loggedRejections.has(result.status)) {
          this.loggedRejections.add(result.status);
          this.log('error', `the server refused a ${next.kind} profile (not retried): ${result.reason}`);
        }
        this.pump(holdProcess);
      } else {
        this.counts.retried++;
        this.failures++;
        // Full jitter, so a fleet of agents does not come back in step; at least Retry-After.
        const delay = retryDelayMs(this.failures, result.retryAfterMs);
        if (this.failures === 1) this.log('warn', `push failed (${result.reason}); retrying with backoff`);
        this.retryTimer = setTimeout(() => {
          this.retryTimer = undefined;
          this.pump(holdProcess);
        }, delay);
        if (!holdProcess) this.retryTimer.unref();
      }
    });
  }

  /**
   * Stops profiling and pushes what is left, giving up after `stopTimeoutMs`.
   * Resolves (never rejects) when done; keeps the process alive only that long.
   */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    try {
      clearTimeout(this.collectTimer); // a timeout until the first push, an interval after: either clears both
      clearTimeout(this.windowTimer);
      await this.collect(false);
      if (this.heapStarted) this.guard('stop the heap profiler', () => heap.stop());
      this.heapStarted = false;
      if (this.retryTimer) {
        clearTimeout(this.retryTimer);
        this.retryTimer = undefined;
      }
      const deadline = Date.now() + this.o.stopTimeoutMs;
      while (this.buffer.size > 0 && Date.now() < deadline) {
        if (!this.sending && !this.retryTimer) this.pump(true);
        await new Promise((r) => setTimeout(r, 20));
        if (this.retryTimer) break; // the server is failing: do not hold the exit
      }
    } catch (err) {
      this.log('error', `stopping: ${(err as Error).message}`);
    } finally {
      this.work.close();
      clearTimeout(this.retryTimer);
      if (current === this) current = undefined;
    }
  }

  stats(): AgentStats {
    return {
      ...this.counts,
      dropped: this.buffer.dropped,
      buffered: this.buffer.size,
      bufferedBytes: this.buffer.byteSize,
    };
  }

  private guard<T>(what: string, f: () => T): T | undefined {
    try {
      return f();
    } catch (err) {
      this.log('error', `could not ${what}: ${(err as Error).message}`);
      return undefined;
    }
  }

  private log(level: 'debug' | 'info' | 'warn' | 'error', message: string): void {
    try {
      this.o.logger[level]?.(`flamewatch agent: ${message}`);
    } catch {
      // a failing logger must not fail the host either
    }
  }
}

let current: FlamewatchAgent | undefined;

/**
 * Starts profiling this process and pushing to Flamewatch. Two lines in a
 * service: `import { start } from '@flamewatch/agent'; start({ server, service })`.
 * Never throws; with bad options it logs why and returns an agent that does
 * nothing. A second call returns the running agent (profilers are per process).
 */
export function start(options: AgentOptions): Agent {
  const logger = options?.logger ?? {};
  const say = (message: string) => {
    try {
      logger.warn?.(`flamewatch agent: ${message}`);
    } catch {
      // a failing logger must not fail the host
    }
  };
  if (current) {
    say('already running; start() returns the running agent');
    return current;
  }
  const { options: resolved, problems } = resolveOptions(options ?? ({} as AgentOptions));
  if (!resolved) {
    say(`not started: ${problems.join('; ')}`);
    return new DisabledAgent();
  }
  const agent = new FlamewatchAgent(resolved);
  current = agent;
  agent.begin().catch((err: Error) => say(err.message));
  return agent;
}

/** Starts an agent configured by environment variables (see optionsFromEnv). */
export function startFromEnv(env: NodeJS.ProcessEnv = process.env): Agent {
  return start(optionsFromEnv(env));
}
