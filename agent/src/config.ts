import { WORK_MODES, type WorkMode } from './work';

/** What a service writes to start the agent; everything but server and service has a default. */
export interface AgentOptions {
  /** The Flamewatch (or Pyroscope) server, e.g. http://flamewatch:4040. */
  server: string;
  /** The service name, as it shows in the UI. */
  service: string;
  /** Labels on every profile (env, version, region, ...). */
  labels?: Record<string, string>;
  /** Sent as `Authorization: Bearer <token>`. */
  authToken?: string;
  /** Sent as `X-Scope-OrgID`. */
  tenant?: string;
  /** How often a profile is pushed, ms (default 60,000; the first after 10 s). */
  intervalMs?: number;
  /**
   * How long the wall profiler records in each interval, ms (default: all of it). Shorter, it runs a window of
   * this length at a random point of every interval and is off in between: the profiler's cost falls with the
   * share of time it runs, the samples with it.
   */
  profileMs?: number;
  /** Wall-time profile (default true)... */
  wall?: boolean;
  /**
   * ...with CPU time per sample (default true). With the `inspector` engine it is the sampled time the JS thread
   * was busy (not idle), as Chrome's DevTools count it; with `datadog` it is measured per sample (V8's context
   * tracking, a cost per async call).
   */
  cpuTime?: boolean;
  /**
   * What records the wall profile (default `inspector`): V8's own CPU profiler through `node:inspector`, or
   * @datadog/pprof's time profiler, which costs the service about twice as much CPU (BENCHMARKS.md, agent
   * overhead). `datadog` is used whatever this says with `lineNumbers`, `sourceMapsDir` or a `profileMs` window.
   */
  wallEngine?: WallEngine;
  /** Sampling heap profile (default true). */
  heap?: boolean;
  /** Wall sampling period, µs (default 10,000: 100 Hz). */
  wallIntervalMicros?: number;
  /** Heap: average bytes between samples (default 512 KiB) and stack depth (default 64). */
  heapIntervalBytes?: number;
  heapStackDepth?: number;
  /**
   * The work each CPU/wall profile is sent with (default `http`): `http`
   * counts HTTP requests this process serves plus countWork() calls,
   * `manual` countWork() calls only, `off` sends no work.
   */
  work?: WorkMode;
  /** Map generated code back to sources (reads .map files under this directory); default off. */
  sourceMapsDir?: string;
  /**
   * Wall and CPU samples at the line each frame was executing, not only at its function's first line (default
   * off; @datadog/pprof's `lineNumbers`, experimental there). A caller's frame then names the line of the call: a
   * callee that V8 inlined into it shows as the caller's cost at that call site. More distinct stacks a profile,
   * and no CPU time (`cpuTime` off: the profiler cannot keep both).
   */
  lineNumbers?: boolean;
  /** Profiles kept while the server is away: at most this many (default 30)... */
  maxBufferedProfiles?: number;
  /** ...and this many bytes (default 8 MiB); the oldest are dropped first. */
  maxBufferedBytes?: number;
  /** One push may take this long, ms (default 10,000). */
  requestTimeoutMs?: number;
  /** `stop()` gives the last push this long, ms (default 5,000). */
  stopTimeoutMs?: number;
  /** Where the agent's few log lines go; silent by default. */
  logger?: AgentLogger;
}

export interface AgentLogger {
  debug?(message: string): void;
  info?(message: string): void;
  warn?(message: string): void;
  error?(message: string): void;
}

export const WALL_ENGINES = ['inspector', 'datadog'] as const;
export type WallEngine = (typeof WALL_ENGINES)[number];

export type ResolvedOptions = Required<
  Omit<AgentOptions, 'authToken' | 'tenant' | 'sourceMapsDir' | 'logger' | 'profileMs'>
> & { profileMs: number } & Pick<AgentOptions, 'authToken' | 'tenant' | 'sourceMapsDir'> & {
    logger: AgentLogger;
  };

export const DEFAULTS = {
  // Each collection (stop and restart the profiler, serialise, gzip, push) costs the service CPU: pushing every 60 s
  // instead of 10 s saved about a point of the agent's overhead (BENCHMARKS.md, agent overhead).
  intervalMs: 60_000,
  wall: true,
  cpuTime: true,
  heap: true,
  wallIntervalMicros: 10_000,
  heapIntervalBytes: 512 * 1024,
  heapStackDepth: 64,
  maxBufferedProfiles: 30,
  maxBufferedBytes: 8 << 20,
  requestTimeoutMs: 10_000,
  stopTimeoutMs: 5_000,
  work: 'http' as WorkMode,
  lineNumbers: false,
  wallEngine: 'inspector' as WallEngine,
};

/** Fills defaults and checks the options; returns a list of problems instead of throwing. */
export function resolveOptions(options: AgentOptions): { options?: ResolvedOptions; problems: string[] } {
  const problems: string[] = [];
  const o = { ...DEFAULTS, labels: {}, logger: {}, ...stripUndefined(options) } as ResolvedOptions;
  try {
    const url = new URL(o.server);
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      problems.push(`server must be an http(s) URL, not ${o.server}`);
  } catch {
    problems.push(`server is not a URL: ${JSON.stringify(o.server)}`);
  }
  if (typeof o.service !== 'string' || !/^[A-Za-z0-9_.\-/]{1,200}$/.test(o.service)) {
    problems.push(`service must be 1-200 letters, digits, _ . - or /, not ${JSON.stringify(o.service)}`);
  }
  for (const key of [
    'intervalMs',
    'wallIntervalMicros',
    'heapIntervalBytes',
    'heapStackDepth',
    'maxBufferedProfiles',
    'maxBufferedBytes',
    'requestTimeoutMs',
    'stopTimeoutMs',
  ] as const) {
    if (!Number.isFinite(o[key]) || o[key] <= 0)
      problems.push(`${key} must be a positive number, not ${o[key]}`);
  }
  if (o.intervalMs < 1000) problems.push(`intervalMs must be at least 1000, not ${o.intervalMs}`);
  o.profileMs ??= o.intervalMs;
  if (!Number.isFinite(o.profileMs) || o.profileMs < 1000 || o.profileMs > o.intervalMs)
    problems.push(`profileMs must be from 1000 to intervalMs (${o.intervalMs}), not ${o.profileMs}`);
  if (!WALL_ENGINES.includes(o.wallEngine))
    problems.push(`wallEngine must be ${WALL_ENGINES.join(' or ')}, not ${JSON.stringify(o.wallEngine)}`);
  if (!WORK_MODES.includes(o.work))
    problems.push(`work must be ${WORK_MODES.join(', ')}, not ${JSON.stringify(o.work)}`);
  // @datadog/pprof records a line per sample only without the contexts CPU time needs: lines turn CPU time off,
  // and asking for both is a mistake to name, not a profiler that silently fails to start.
  if (o.lineNumbers) {
    if (options.cpuTime === true)
      problems.push(
        'lineNumbers and cpuTime cannot both be on (@datadog/pprof keeps lines only without CPU time)',
      );
    o.cpuTime = false;
  }
  return problems.length ? { problems } : { options: o, problems };
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/**
 * Options from the environment, for `node -r @flamewatch/agent/register`:
 * FLAMEWATCH_SERVER, FLAMEWATCH_SERVICE, FLAMEWATCH_LABELS (k=v,k2=v2),
 * FLAMEWATCH_TOKEN, FLAMEWATCH_TENANT, FLAMEWATCH_INTERVAL (seconds),
 * FLAMEWATCH_PROFILE_SECONDS (the wall profiler's window in each interval),
 * FLAMEWATCH_WALL / FLAMEWATCH_CPU_TIME / FLAMEWATCH_HEAP (true|false),
 * FLAMEWATCH_WORK (http|manual|off), FLAMEWATCH_SOURCE_MAPS (a directory whose
 * source maps turn compiled frames into their sources' files and lines),
 * FLAMEWATCH_LINE_NUMBERS (true|false), FLAMEWATCH_WALL_ENGINE (inspector|datadog). Pyroscope's variables
 * (PYROSCOPE_SERVER_ADDRESS, PYROSCOPE_APPLICATION_NAME) work too.
 */
export function optionsFromEnv(env: NodeJS.ProcessEnv): AgentOptions {
  const bool = (v: string | undefined) =>
    v === undefined ? undefined : !/^(0|false|no|off)$/i.test(v.trim());
  const labels: Record<string, string> = {};
  for (const pair of (env.FLAMEWATCH_LABELS ?? '').split(',')) {
    const eq = pair.indexOf('=');
    if (eq > 0) labels[pair.slice(0, eq).trim()] = pair.slice(eq + 1).trim();
  }
  const seconds = env.FLAMEWATCH_INTERVAL === undefined ? undefined : Number(env.FLAMEWATCH_INTERVAL) * 1000;
  const profileSeconds =
    env.FLAMEWATCH_PROFILE_SECONDS === undefined ? undefined : Number(env.FLAMEWATCH_PROFILE_SECONDS) * 1000;
  return {
    server: env.FLAMEWATCH_SERVER ?? env.PYROSCOPE_SERVER_ADDRESS ?? 'http://127.0.0.1:4040',
    service:
      env.FLAMEWATCH_SERVICE ?? env.PYROSCOPE_APPLICATION_NAME ?? env.npm_package_name ?? 'node-service',
    labels,
    authToken: env.FLAMEWATCH_TOKEN ?? env.PYROSCOPE_AUTH_TOKEN,
    tenant: env.FLAMEWATCH_TENANT ?? env.PYROSCOPE_TENANT_ID,
    intervalMs: seconds,
    profileMs: profileSeconds,
    wall: bool(env.FLAMEWATCH_WALL),
    cpuTime: bool(env.FLAMEWATCH_CPU_TIME),
    heap: bool(env.FLAMEWATCH_HEAP),
    work: (env.FLAMEWATCH_WORK?.trim().toLowerCase() || undefined) as WorkMode | undefined,
    sourceMapsDir: env.FLAMEWATCH_SOURCE_MAPS?.trim() || undefined,
    lineNumbers: bool(env.FLAMEWATCH_LINE_NUMBERS),
    wallEngine: (env.FLAMEWATCH_WALL_ENGINE?.trim().toLowerCase() || undefined) as WallEngine | undefined,
  };
}
