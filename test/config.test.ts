import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError, loadConfig, storeWith, VARIABLES } from '../cli/config';

/** The message loadConfig throws for `env`. */
function problem(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error(`${JSON.stringify(env)} was accepted`);
}

describe('configuration (cli/config.ts)', () => {
  it('has the documented defaults with nothing set, and blank counts as unset', () => {
    for (const env of [{}, Object.fromEntries(VARIABLES.map((v) => [v, '  ']))]) {
      const c = loadConfig(env);
      expect(c.port).toBe(4040);
      expect(c.host).toBe('127.0.0.1');
      expect(c.store).toEqual({
        url: undefined,
        dataDir: './data',
        database: 'flamewatch',
        retentionDays: 30,
        cluster: undefined,
      });
      expect(c.redisUrl).toBeUndefined();
      expect(c.auth).toEqual({ mode: undefined, adminToken: undefined, adminTenant: undefined });
      expect(c.limits).toEqual({});
      expect(c.ingestWorkers).toBeUndefined();
      expect(c.ingestMaxInFlight).toBeUndefined();
      expect(c.pullRequestDelayMs).toBe(60_000);
      expect(c.rollupEveryMs).toBe(60_000);
      expect(c.jobConcurrency).toBe(1);
      expect(c.detection).toEqual({
        webhooks: [],
        publicUrl: undefined,
        sweepEveryMs: 300_000,
        github: undefined,
      });
    }
  });

  it('reads every setting, trimmed', () => {
    const c = loadConfig({
      PORT: '0',
      FLAMEWATCH_HOST: '0.0.0.0',
      FLAMEWATCH_DATA: '/var/lib/fw',
      FLAMEWATCH_DATABASE: 'fw_prod',
      FLAMEWATCH_RETENTION_DAYS: ' 7 ',
      CLICKHOUSE_URL: 'http://u:p@ch:8123',
      FLAMEWATCH_CLICKHOUSE_CLUSTER: 'main',
      REDIS_URL: 'redis://redis:6379',
      FLAMEWATCH_AUTH: 'Token',
      FLAMEWATCH_ADMIN_TOKEN: 'a-long-random-secret-value',
      FLAMEWATCH_ADMIN_TENANT: 'ops',
      FLAMEWATCH_LIMITS: '{"acme":{"maxLabels":8}}',
      FLAMEWATCH_INGEST_WORKERS: '0',
      FLAMEWATCH_INGEST_MAX_IN_FLIGHT: '64',
      FLAMEWATCH_PR_DELAY: '1.5',
      FLAMEWATCH_DETECT_EVERY: '0',
      FLAMEWATCH_ROLLUP_EVERY: '2.5',
      FLAMEWATCH_JOB_CONCURRENCY: ' 4 ',
      FLAMEWATCH_WEBHOOKS: 'https://hooks.example/a, slack=https://hooks.slack.com/services/T/B/x',
      FLAMEWATCH_PUBLIC_URL: 'https://fw.example',
      FLAMEWATCH_GITHUB_TOKEN: 'ghs_secret',
      FLAMEWATCH_GITHUB_API_URL: 'https://ghe.example/api/v3',
      FLAMEWATCH_GITHUB_REPOSITORIES: 'acme/app, acme/*',
    });
    expect(c.port).toBe(0);
    expect(c.host).toBe('0.0.0.0');
    expect(c.store).toEqual({
      url: 'http://u:p@ch:8123',
      dataDir: '/var/lib/fw',
      database: 'fw_prod',
      retentionDays: 7,
      cluster: 'main',
    });
    expect(c.redisUrl).toBe('redis://redis:6379');
    expect(c.auth).toEqual({ mode: 'token', adminToken: 'a-long-random-secret-value', adminTenant: 'ops' });
    expect(c.limits).toEqual({ acme: { maxLabels: 8 } });
    expect([c.ingestWorkers, c.ingestMaxInFlight]).toEqual([0, 64]);
    expect([c.pullRequestDelayMs, c.detection.sweepEveryMs, c.rollupEveryMs]).toEqual([1500, 0, 2500]);
    expect(c.jobConcurrency).toBe(4);
    expect(c.detection).toEqual({
      webhooks: [
        { url: 'https://hooks.example/a', format: 'json' },
        { url: 'https://hooks.slack.com/services/T/B/x', format: 'slack' },
      ],
      publicUrl: 'https://fw.example',
      sweepEveryMs: 0,
      github: {
        token: 'ghs_secret',
        apiUrl: 'https://ghe.example/api/v3',
        repositories: ['acme/app', 'acme/*'],
      },
    });
  });

  it('refuses a wrong value by name, saying what it must be', () => {
    const cases: [Record<string, string>, RegExp][] = [
      [{ PORT: '70000' }, /^PORT must be a port, a whole number from 0 to 65535, not "70000"$/],
      [{ FLAMEWATCH_RETENTION_DAYS: '0' }, /^FLAMEWATCH_RETENTION_DAYS must be days, .* not "0"$/],
      [{ FLAMEWATCH_DATABASE: 'fw-prod' }, /^FLAMEWATCH_DATABASE must be a database name/],
      [
        { FLAMEWATCH_CLICKHOUSE_CLUSTER: 'a;b', CLICKHOUSE_URL: 'http://ch' },
        /^FLAMEWATCH_CLICKHOUSE_CLUSTER: cluster name "a;b"/,
      ],
      [{ FLAMEWATCH_CLICKHOUSE_CLUSTER: 'main' }, /a cluster needs CLICKHOUSE_URL/],
      [{ FLAMEWATCH_AUTH: 'maybe' }, /^FLAMEWATCH_AUTH must be open or token, not "maybe"$/],
      [{ FLAMEWATCH_ADMIN_TENANT: 'a b' }, /^FLAMEWATCH_ADMIN_TENANT must be a tenant/],
      [{ FLAMEWATCH_LIMITS: '{nope' }, /^FLAMEWATCH_LIMITS is not valid JSON/],
      [
        { FLAMEWATCH_INGEST_MAX_IN_FLIGHT: '0' },
        /^FLAMEWATCH_INGEST_MAX_IN_FLIGHT must be a whole number of at least 1/,
      ],
      [{ FLAMEWATCH_INGEST_WORKERS: 'many' }, /^FLAMEWATCH_INGEST_WORKERS must be a whole number/],
      [{ FLAMEWATCH_PR_DELAY: '0.5' }, /^FLAMEWATCH_PR_DELAY must be seconds \(at least 1\), not "0.5"$/],
      [
        { FLAMEWATCH_DETECT_EVERY: '-1' },
        /^FLAMEWATCH_DETECT_EVERY must be seconds \(0 turns detection off\)/,
      ],
      [
        { FLAMEWATCH_ROLLUP_EVERY: 'often' },
        /^FLAMEWATCH_ROLLUP_EVERY must be seconds \(0 turns rollups off\)/,
      ],
      [{ FLAMEWATCH_PUBLIC_URL: 'fw.example' }, /^FLAMEWATCH_PUBLIC_URL must be an http\(s\) URL/],
      [{ FLAMEWATCH_GITHUB_API_URL: 'ftp://x' }, /^FLAMEWATCH_GITHUB_API_URL must be an http\(s\) URL/],
      [{ FLAMEWATCH_GITHUB_REPOSITORIES: 'acme' }, /"acme" is not owner\/name or owner\/\*/],
    ];
    for (const bad of ['0', '-1', '2.5', 'abc', '1e3', '99999'])
      cases.push([
        { FLAMEWATCH_JOB_CONCURRENCY: bad },
        /^FLAMEWATCH_JOB_CONCURRENCY must be a whole number from 1 to 9999, not "/,
      ]);
    for (const [env, message] of cases) expect(problem(env)).toMatch(message);
  });

  it('names every wrong variable at once, and never quotes a secret', () => {
    const message = problem({
      PORT: 'x',
      FLAMEWATCH_AUTH: 'maybe',
      CLICKHOUSE_URL: 'clickhouse://admin:hunter2@ch',
      REDIS_URL: 'hunter2-redis',
      FLAMEWATCH_WEBHOOKS: 'hooks.slack.com/services/T/B/hunter2',
    });
    expect(message).toMatch(/^the environment has 5 problems:\n/);
    for (const name of ['PORT', 'FLAMEWATCH_AUTH', 'CLICKHOUSE_URL', 'REDIS_URL', 'FLAMEWATCH_WEBHOOKS'])
      expect(message).toContain(name);
    expect(message).not.toContain('hunter2');
    expect(message).toMatch(/CLICKHOUSE_URL must be an http\(s\) URL \(its value is not shown/);
  });

  it('lets a command line flag override the environment, checked again', () => {
    const c = loadConfig({ FLAMEWATCH_DATA: '/env', FLAMEWATCH_RETENTION_DAYS: '9' });
    expect(storeWith(c, { dataDir: '/flag', retentionDays: undefined, cluster: undefined })).toMatchObject({
      dataDir: '/flag',
      retentionDays: 9,
    });
    expect(() => storeWith(c, { retentionDays: 0 })).toThrow(/retention must be a whole number of days/);
    expect(() => storeWith(c, { cluster: 'main' })).toThrow(/a cluster needs CLICKHOUSE_URL/);
  });

  it('is the one reader of the server environment: no other module under server/, store/, jobs/, notify/ or profile/ reads process.env, and the README documents each variable', () => {
    const repo = path.resolve(__dirname, '..');
    const readers: string[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory()) walk(p);
        else if (
          /\.ts$/.test(e.name) &&
          !/\.test\.ts$/.test(e.name) &&
          /process\.env/.test(fs.readFileSync(p, 'utf8'))
        )
          readers.push(path.relative(repo, p));
      }
    };
    for (const d of ['server', 'store', 'jobs', 'notify', 'profile']) walk(path.join(repo, d));
    expect(readers).toEqual([]);
    const readme = fs.readFileSync(path.join(repo, 'README.md'), 'utf8');
    const table = readme.slice(readme.indexOf('## Configuration'));
    for (const v of VARIABLES) expect(table).toContain(`\`${v}\``);
  });
});
