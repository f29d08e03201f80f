/**
 * The server's configuration: every environment variable `flamewatch serve`,
 * `worker`, `migrate` and `token` read, checked in one place with zod before
 * anything opens, and handed down as typed settings. No module under server/,
 * store/ or jobs/ reads process.env.
 *
 * Loaded inside those commands' actions, not when the command line is read:
 * a bad value must not break `collapse` or `push`. Client commands (push, ci,
 * perf) take FLAMEWATCH_SERVER, FLAMEWATCH_TOKEN and FLAMEWATCH_TENANT as
 * their options' fallbacks (commander's `.env()`), and the agent reads its own
 * (agent/README.md).
 */
import { z } from 'zod';
import { parseWebhooks, type WebhookTarget } from '../profile/detect-job';
import { parseLimits, type LimitOverrides } from '../server/ingest/tenant-limits';
import { checkStoreConfig, type StoreConfig } from '../store/client';
import { checkClusterName } from '../store/cluster';

/** Values that are or may hold secrets: an error names the variable, never its value. */
const SECRETS = new Set([
  'FLAMEWATCH_ADMIN_TOKEN',
  'FLAMEWATCH_GITHUB_TOKEN',
  'FLAMEWATCH_WEBHOOKS',
  'CLICKHOUSE_URL',
  'REDIS_URL',
]);

/** A number within [min, max]; `what` completes "NAME must be …". */
function number(what: string, min: number, max: number, integer: boolean) {
  return z.string().transform((s, ctx) => {
    const n = Number(s);
    if (!(integer ? /^\d+$/ : /^\d+(\.\d+)?$/).test(s) || n < min || n > max) {
      ctx.addIssue({ code: 'custom', message: what });
      return z.NEVER;
    }
    return n;
  });
}

/** A parser of our own that throws with a full sentence (FLAMEWATCH_LIMITS, FLAMEWATCH_WEBHOOKS). */
function parsed<T>(parse: (text: string) => T) {
  return z.string().transform((s, ctx) => {
    try {
      return parse(s);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: (err as Error).message, params: { sentence: true } });
      return z.NEVER;
    }
  });
}

const httpUrl = z.string().regex(/^https?:\/\/\S+$/, 'an http(s) URL');

const schema = z.object({
  PORT: number('a port, a whole number from 0 to 65535', 0, 65535, true).default(4040),
  FLAMEWATCH_HOST: z.string().default('127.0.0.1'),
  FLAMEWATCH_DATA: z.string().default('./data'),
  FLAMEWATCH_DATABASE: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/, 'a database name: letters, digits and _')
    .default('flamewatch'),
  FLAMEWATCH_RETENTION_DAYS: number('days, a whole number from 1 to 3650', 1, 3650, true).default(30),
  CLICKHOUSE_URL: httpUrl.optional(),
  FLAMEWATCH_CLICKHOUSE_CLUSTER: parsed(checkClusterName).optional(),
  REDIS_URL: z
    .string()
    .regex(/^(rediss?:\/\/\S+|\/\S+)$/, 'a redis:// or rediss:// URL, or a socket path')
    .optional(),

  FLAMEWATCH_AUTH: z
    .string()
    .transform((s) => s.toLowerCase())
    .pipe(z.enum(['open', 'token'], 'open or token'))
    .optional(),
  FLAMEWATCH_ADMIN_TOKEN: z.string().optional(),
  FLAMEWATCH_ADMIN_TENANT: z
    .string()
    .regex(/^[A-Za-z0-9_.\-]{1,64}$/, 'a tenant: 1-64 letters, digits, _ . or -')
    .optional(),
  FLAMEWATCH_LIMITS: parsed(parseLimits).optional(),

  FLAMEWATCH_INGEST_WORKERS: number(
    'a whole number of decoding threads from 0 to 256',
    0,
    256,
    true,
  ).optional(),
  FLAMEWATCH_INGEST_MAX_IN_FLIGHT: number('a whole number of at least 1', 1, 9_999_999, true).optional(),
  FLAMEWATCH_PR_DELAY: number('seconds (at least 1)', 1, 86_400, false).default(60),

  FLAMEWATCH_DETECT_EVERY: number('seconds (0 turns detection off)', 0, 86_400 * 7, false).default(300),
  FLAMEWATCH_ROLLUP_EVERY: number('seconds (0 turns rollups off)', 0, 86_400, false).default(60),
  FLAMEWATCH_JOB_CONCURRENCY: number('a whole number from 1 to 9999', 1, 9999, true).default(1),

  FLAMEWATCH_WEBHOOKS: parsed(parseWebhooks).default([]),
  FLAMEWATCH_PUBLIC_URL: httpUrl.optional(),
  FLAMEWATCH_SOURCE_ROOTS: z.string().optional(),
  FLAMEWATCH_OTLP_GRPC: z.string().optional(),
  FLAMEWATCH_GITHUB_TOKEN: z.string().optional(),
  FLAMEWATCH_GITHUB_API_URL: httpUrl.default('https://api.github.com'),
  FLAMEWATCH_GITHUB_REPOSITORIES: parsed((text) => {
    const list = text
      .split(',')
      .map((r) => r.trim())
      .filter(Boolean);
    for (const r of list) {
      if (!/^[A-Za-z0-9_.-]+\/([A-Za-z0-9_.-]+|\*)$/.test(r))
        throw new Error(`FLAMEWATCH_GITHUB_REPOSITORIES: ${JSON.stringify(r)} is not owner/name or owner/*`);
    }
    return list;
  }).optional(),
});

export type Env = Record<string, string | undefined>;

/** What an operator set, checked. Times are in milliseconds. */
export interface Config {
  port: number;
  host: string;
  store: StoreConfig;
  redisUrl?: string;
  auth: AuthSettings;
  limits: LimitOverrides;
  ingestWorkers?: number;
  ingestMaxInFlight?: number;
  pullRequestDelayMs: number;
  rollupEveryMs: number;
  jobConcurrency: number;
  detection: DetectionEnv;
  /** FLAMEWATCH_SOURCE_ROOTS as written; server/source.ts parses it (its directories must exist). */
  sourceRoots?: string;
  /** FLAMEWATCH_OTLP_GRPC: where OTLP's gRPC Export listens (`port` or `host:port`); off when unset. */
  otlpGrpc?: string;
}

/** FLAMEWATCH_AUTH, FLAMEWATCH_ADMIN_TOKEN, FLAMEWATCH_ADMIN_TENANT (server/auth.ts decides what they mean for a listen address). */
export interface AuthSettings {
  mode?: 'open' | 'token';
  adminToken?: string;
  adminTenant?: string;
}

/** The detection job's settings; publicUrl, when unset, is the server's own address (known once it listens). */
export interface DetectionEnv {
  webhooks: WebhookTarget[];
  publicUrl?: string;
  sweepEveryMs: number;
  github?: { token: string; apiUrl: string; repositories?: string[] };
}

/** A configuration error: one line per variable that is wrong. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(
      problems.length === 1
        ? problems[0]
        : `the environment has ${problems.length} problems:\n  ${problems.join('\n  ')}`,
    );
    this.name = 'ConfigError';
  }
}

/**
 * Reads and checks the environment. Blank values count as unset. Throws a
 * ConfigError naming every variable that is wrong (and what it must be),
 * quoting values except secrets'.
 */
export function loadConfig(env: Env): Config {
  const present: Env = {};
  for (const key of Object.keys(schema.shape)) {
    const value = env[key]?.trim();
    if (value) present[key] = value;
  }
  const result = schema.safeParse(present);
  if (!result.success) {
    const problems = result.error.issues.map((issue) => {
      const name = String(issue.path[0]);
      if (issue.code === 'custom' && (issue.params as { sentence?: boolean } | undefined)?.sentence)
        return issue.message.startsWith(name) ? issue.message : `${name}: ${issue.message}`;
      const shown = SECRETS.has(name)
        ? ' (its value is not shown: it may hold a secret)'
        : `, not ${JSON.stringify(present[name])}`;
      return `${name} must be ${issue.message}${shown}`;
    });
    throw new ConfigError(problems);
  }
  const e = result.data;
  let store: StoreConfig;
  try {
    store = checkStoreConfig({
      url: e.CLICKHOUSE_URL,
      dataDir: e.FLAMEWATCH_DATA,
      database: e.FLAMEWATCH_DATABASE,
      retentionDays: e.FLAMEWATCH_RETENTION_DAYS,
      cluster: e.FLAMEWATCH_CLICKHOUSE_CLUSTER,
    });
  } catch (err) {
    throw new ConfigError([(err as Error).message]);
  }
  return {
    port: e.PORT,
    host: e.FLAMEWATCH_HOST,
    store,
    redisUrl: e.REDIS_URL,
    auth: {
      mode: e.FLAMEWATCH_AUTH,
      adminToken: e.FLAMEWATCH_ADMIN_TOKEN,
      adminTenant: e.FLAMEWATCH_ADMIN_TENANT,
    },
    limits: e.FLAMEWATCH_LIMITS ?? {},
    ingestWorkers: e.FLAMEWATCH_INGEST_WORKERS,
    ingestMaxInFlight: e.FLAMEWATCH_INGEST_MAX_IN_FLIGHT,
    pullRequestDelayMs: Math.round(e.FLAMEWATCH_PR_DELAY * 1000),
    rollupEveryMs: Math.round(e.FLAMEWATCH_ROLLUP_EVERY * 1000),
    jobConcurrency: e.FLAMEWATCH_JOB_CONCURRENCY,
    ...(e.FLAMEWATCH_SOURCE_ROOTS?.trim() ? { sourceRoots: e.FLAMEWATCH_SOURCE_ROOTS } : {}),
    ...(e.FLAMEWATCH_OTLP_GRPC?.trim() ? { otlpGrpc: e.FLAMEWATCH_OTLP_GRPC } : {}),
    detection: {
      webhooks: e.FLAMEWATCH_WEBHOOKS,
      publicUrl: e.FLAMEWATCH_PUBLIC_URL,
      sweepEveryMs: Math.round(e.FLAMEWATCH_DETECT_EVERY * 1000),
      github: e.FLAMEWATCH_GITHUB_TOKEN
        ? {
            token: e.FLAMEWATCH_GITHUB_TOKEN,
            apiUrl: e.FLAMEWATCH_GITHUB_API_URL,
            repositories: e.FLAMEWATCH_GITHUB_REPOSITORIES,
          }
        : undefined,
    },
  };
}

/** The store settings with a command line's flags over the environment's, checked again (a flag may add a cluster). */
export function storeWith(config: Config, flags: Partial<StoreConfig>): StoreConfig {
  const set = Object.fromEntries(Object.entries(flags).filter(([, v]) => v !== undefined && v !== ''));
  return checkStoreConfig({ ...config.store, ...set });
}

/** The variables this module reads, for the README's table and its test. */
export const VARIABLES = Object.keys(schema.shape);
