/**
 * The wall/CPU profile from V8's own sampling profiler, driven through `node:inspector` in this process, and
 * turned into a pprof Profile as @datadog/pprof's time profiler shapes it (the server and the detector see
 * the same frames either way).
 *
 * Why not @datadog/pprof's time profiler: measured beside the same service with no agent
 * (bench/agent-overhead.ts --paired), the agent on it cost +7.5 % of the service's CPU a request against +6.1 %
 * on this, and 2-6 % of its cost stays for the life of the process after it is stopped; V8's profiler run
 * through the inspector leaves 0.6 %. What this gives up: CPU time is not read per sample (the thread's CPU
 * clock over the profile is shared out by sample counts), no per-sample contexts, and no line numbers or source
 * maps (those options keep @datadog/pprof's profiler; index.ts chooses).
 */
import * as fs from 'node:fs';
import * as inspector from 'node:inspector';
import { type PprofProfile, StringTable } from './pprof';

interface CallFrame {
  functionName: string;
  scriptId: string;
  url: string;
  /** 0-based, as the inspector protocol counts; pprof's are 1-based. */
  lineNumber: number;
  columnNumber: number;
}
interface CpuProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
/** The inspector's Profiler.Profile: times in microseconds of a monotonic clock. */
export interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples?: number[];
  timeDeltas?: number[];
}

/** V8's names for samples outside JavaScript. */
const IDLE = '(idle)';
const PROGRAM = '(program)';
const GC = '(garbage collector)';
const ROOT = '(root)';

/** A session's commands answer synchronously in the thread that posts them (an in-process session). */
function post<T>(session: inspector.Session, method: string, params?: object): T {
  let result: T | undefined;
  let error: Error | null = null;
  let answered = false;
  session.post(method, params ?? {}, (err: Error | null, r?: object) => {
    error = err;
    result = r as T;
    answered = true;
  });
  if (error) throw error;
  if (!answered) throw new Error(`the inspector did not answer ${method}`);
  return result as T;
}

/**
 * V8's CPU profiler through an in-process inspector session. Each collection starts the next profile before it
 * ends the last, as @datadog/pprof does, by `console.profile` titles on the inspector's own console: the
 * profiler never stops, so it keeps its map of compiled code. Stopping and restarting it (`Profiler.stop`, then
 * `Profiler.start`) lost the inlined frames of code that was optimised in an earlier profile (a function inlined
 * into its caller vanished from later profiles; seen with Node 20's V8).
 */
export class V8WallProfiler {
  private session: inspector.Session | undefined;
  private finished: CpuProfile | undefined;
  /** The title of the profile that is running: two alternate, as V8 keeps every title it was given. */
  private current = 0;
  /** CPU clocks when the running profile began. */
  private clocks: CpuClocks | undefined;

  constructor(
    private readonly intervalMicros: number,
    /** With the cpu sample type, as `cpuTime` asks. */
    private readonly withCpu = true,
  ) {}

  start(): void {
    if (this.session) return;
    const session = new inspector.Session();
    session.connect();
    try {
      post(session, 'Profiler.enable');
      post(session, 'Profiler.setSamplingInterval', { interval: this.intervalMicros });
      session.on('Profiler.consoleProfileFinished', (m: { params: { id: string; profile: CpuProfile } }) => {
        if (m.params.id !== undefined) this.finished = m.params.profile;
      });
      this.clocks = cpuClocks();
      inspector.console.profile(title(this.current));
    } catch (err) {
      session.disconnect();
      throw err;
    }
    this.session = session;
  }

  /** The profile since start (or the last stop) as pprof; with `restart` the next one has already started. */
  stop(restart: boolean): PprofProfile {
    const session = this.session;
    if (!session) throw new Error('the V8 profiler is not started');
    const ending = this.current;
    const began = this.clocks;
    const now = cpuClocks();
    this.clocks = now;
    this.finished = undefined;
    try {
      if (restart) {
        this.current ^= 1;
        inspector.console.profile(title(this.current));
      }
      // The inspector answers in this thread, before profileEnd returns.
      inspector.console.profileEnd(title(ending));
    } finally {
      if (!restart) {
        this.session = undefined;
        session.disconnect(); // disables the profiler and drops the session's state
      }
    }
    const profile = this.finished as CpuProfile | undefined;
    this.finished = undefined;
    if (!profile) throw new Error('the inspector did not return the profile');
    const used =
      began && now.thread !== undefined && began.thread !== undefined
        ? { threadNanos: now.thread - began.thread, processNanos: now.process - began.process }
        : undefined;
    return cpuProfileToPprof(
      profile,
      this.intervalMicros,
      Date.now(),
      this.withCpu ? (used ?? 'busy') : 'none',
    );
  }
}

interface CpuClocks {
  /** This (the JS) thread's CPU time, ns, where the system tells it (Linux); else undefined. */
  thread: number | undefined;
  /** The whole process's, ns. */
  process: number;
}

/** The main thread's is /proc/self/task/<pid>/stat's utime and stime, in USER_HZ (100 a second on Linux). */
function cpuClocks(): CpuClocks {
  const u = process.cpuUsage();
  const processNanos = (u.user + u.system) * 1000;
  let thread: number | undefined;
  try {
    const stat = fs.readFileSync(`/proc/self/task/${process.pid}/stat`, 'latin1');
    // Fields after the command name (which may hold spaces and parentheses): state is the 3rd, utime the 14th.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(f[11]) + Number(f[12]);
    if (Number.isFinite(ticks)) thread = ticks * 1e7;
  } catch {
    // not Linux: the busy time stands in for CPU
  }
  return { thread, process: processNanos };
}

const title = (i: number) => `flamewatch-agent-${i}`;

/**
 * A CPU profile as pprof with sample types samples/count, wall/nanoseconds and cpu/nanoseconds, one sample per
 * stack, as @datadog/pprof serialises a time profile: `(idle)` and `(program)` samples are left out, `(garbage
 * collector)` is `Node.js` > `Garbage Collection`, anonymous functions are named by their line and column,
 * `file://` is cut from paths. Unlike theirs, the samples share the busy time they span, not the profile's mean
 * period.
 *
 * `cpu`: with the thread's and the process's CPU time over the profile, the thread's is shared out among the
 * samples by count as the busy time is (`(program)`'s share left out, as its samples are), and what other threads
 * used is `Node.js` > `Non JS threads activity`, as @datadog/pprof has it; `busy`: the busy time stands in;
 * `none`: no cpu type.
 */
export function cpuProfileToPprof(
  profile: CpuProfile,
  intervalMicros: number,
  nowMs: number,
  cpu: { threadNanos: number; processNanos: number } | 'busy' | 'none' = 'busy',
): PprofProfile {
  const withCpu = cpu !== 'none';
  const strings = new StringTable();
  const byId = new Map<number, CpuProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  // The busy time is what the kept samples span, each to the next sample (the last: to the profile's end):
  // under load V8's sampler thread falls behind while the JS thread is busy but not while it idles, so the
  // profile's mean period undercounted busy time (by 3× in a test on this machine). It is shared out by sample
  // counts, not by each sample's own span: a gap where the sampler was descheduled would otherwise land whole on
  // one function, and that noise left a real +45 % on a function inconclusive in regression-e2e.
  const hits = new Map<number, { n: number; micros: number }>();
  const ids = profile.samples ?? [];
  const deltas = profile.timeDeltas ?? [];
  let t = profile.startTime + (deltas[0] ?? 0);
  for (let i = 0; i < ids.length; i++) {
    const next = i + 1 < ids.length ? t + (deltas[i + 1] ?? 0) : Math.max(t, profile.endTime);
    const h = hits.get(ids[i]);
    const micros = Math.max(0, next - t);
    if (h) {
      h.n++;
      h.micros += micros;
    } else hits.set(ids[i], { n: 1, micros });
    t = next;
  }
  const durationMicros = Math.max(0, profile.endTime - profile.startTime);
  const periodNanos = intervalMicros * 1000;

  const functions: PprofProfile['functions'] = [];
  const functionIds = new Map<string, number>();
  const locations: PprofProfile['locations'] = [];
  const locationIds = new Map<string, number>();
  const functionOf = (name: string, scriptId: string, file: string, line: number, column: number): number => {
    const key = name ? `${scriptId}:${name}` : `${scriptId}:${line}:${column}`;
    let id = functionIds.get(key);
    if (id === undefined) {
      id = functions.length + 1;
      functionIds.set(key, id);
      if (!name)
        name = line
          ? column
            ? `(anonymous:L#${line}:C#${column})`
            : `(anonymous:L#${line})`
          : '(anonymous)';
      functions.push({ id, name: strings.id(name), filename: strings.id(file), startLine: 0 });
    }
    return id;
  };
  const locationOf = (name: string, scriptId: string, url: string, line: number, column: number): number => {
    const key = `${scriptId}:${line}:${column}:${name}`;
    let id = locationIds.get(key);
    if (id === undefined) {
      id = locations.length + 1;
      locationIds.set(key, id);
      const file = url.startsWith('file://') ? url.slice(7) : url;
      locations.push({ id, functionId: functionOf(name, scriptId, file, line, column), line });
    }
    return id;
  };
  let runtime: number | undefined;
  const runtimeLocation = () => (runtime ??= locationOf('Node.js', '0', '', 0, 0));
  /** Each node's stack, leaf first; undefined for nodes whose samples are left out. */
  const stacks = new Map<number, number[] | undefined>();
  const stackOf = (id: number): number[] | undefined => {
    if (stacks.has(id)) return stacks.get(id);
    const node = byId.get(id);
    let stack: number[] | undefined;
    if (node) {
      const f = node.callFrame;
      const up = parent.get(id);
      const upNode = up === undefined ? undefined : byId.get(up);
      const top = !upNode || upNode.callFrame.functionName === ROOT;
      if (f.functionName === ROOT && top) stack = [];
      else if (top && (f.functionName === IDLE || f.functionName === PROGRAM)) stack = undefined;
      else if (top && f.functionName === GC)
        stack = [locationOf('Garbage Collection', '0', '', 0, 0), runtimeLocation()];
      else {
        const above = up === undefined ? [] : stackOf(up);
        if (above) {
          // V8's lines and columns are 0-based; -1 where there is none.
          const line = f.lineNumber >= 0 ? f.lineNumber + 1 : 0;
          const column = f.columnNumber >= 0 ? f.columnNumber + 1 : 0;
          stack = [locationOf(f.functionName, f.scriptId, f.url, line, column), ...above];
        }
      }
    }
    stacks.set(id, stack);
    return stack;
  };
  const kept: Array<[number[], number]> = [];
  let keptCount = 0;
  let keptMicros = 0;
  let programCount = 0;
  for (const [id, h] of hits) {
    const stack = stackOf(id);
    if (!stack?.length) {
      if (byId.get(id)?.callFrame.functionName === PROGRAM) programCount += h.n;
      continue;
    }
    kept.push([stack, h.n]);
    keptCount += h.n;
    keptMicros += h.micros;
  }
  const nanosPerSample = keptCount ? (keptMicros * 1000) / keptCount : 0;
  const threadNanos = typeof cpu === 'object' ? Math.max(0, cpu.threadNanos) : 0;
  const cpuPerSample =
    typeof cpu === 'object' ? threadNanos / Math.max(1, keptCount + programCount) : nanosPerSample;
  const samples: PprofProfile['samples'] = kept.map(([stack, n]) => {
    const nanos = Math.round(n * nanosPerSample);
    return { locationIds: stack, values: withCpu ? [n, nanos, Math.round(n * cpuPerSample)] : [n, nanos] };
  });
  if (typeof cpu === 'object' && cpu.processNanos > threadNanos)
    samples.push({
      locationIds: [locationOf('Non JS threads activity', '0', '', 0, 0), runtimeLocation()],
      values: [0, 0, Math.round(cpu.processNanos - threadNanos)],
    });
  const wall = { type: strings.id('wall'), unit: strings.id('nanoseconds') };
  return {
    sampleTypes: [
      { type: strings.id('sample'), unit: strings.id('count') },
      wall,
      ...(withCpu ? [{ type: strings.id('cpu'), unit: wall.unit }] : []),
    ],
    samples,
    locations,
    functions,
    strings,
    timeNanos: Math.round((nowMs - durationMicros / 1000) * 1e6),
    durationNanos: durationMicros * 1000,
    periodType: wall,
    period: periodNanos,
  };
}
