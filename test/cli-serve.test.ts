import { spawnSync, type ChildProcess, type SpawnSyncReturns } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parse } from 'yaml';
import { corpusFile, generatedCorpus, sharedCorpus } from './helpers/corpus';
import { cli, startServe } from './helpers/process';
import { EXPORT_PATH } from '../server/otlp/grpc';
import { otlpRoot } from '../server/otlp/decode';

const repo = path.resolve(__dirname, '..');
let proc: ChildProcess;
let url: string;
let dataDir: string;
let output: () => string;

beforeAll(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-cli-'));
  // OTLP's gRPC port on too (any free port): the server says where.
  const started = await startServe(['--data', dataDir, '--no-self-profile'], { FLAMEWATCH_OTLP_GRPC: '0' });
  ({ proc, url } = started);
  output = started.output;
});

afterAll(() => {
  if (proc.exitCode === null) proc.kill('SIGKILL');
  fs.rmSync(dataDir, { recursive: true, force: true });
});

describe('flamewatch serve', () => {
  it('serves health, the home page and the API on embedded chDB', async () => {
    expect(output()).toMatch(/embedded chDB/);
    expect(output()).toMatch(/flamewatch jobs: in-process \(no REDIS_URL\)/);
    expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: 'ok', engine: 'chdb' });
    const home = await (await fetch(url)).text();
    expect(home).toMatch(/Flamewatch/);
    expect(await (await fetch(`${url}/api/v1/services`)).json()).toEqual([]);
  });

  /** Pushes `files` (copied into a directory, as named) with `flamewatch push`, as the service `pushed`. */
  function pushDirectory(files: Record<string, string>): SpawnSyncReturns<string> {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-push-'));
    for (const [name, file] of Object.entries(files)) fs.copyFileSync(file, path.join(dir, name));
    const res = spawnSync(
      process.execPath,
      [cli, 'push', '--server', url, '--service', 'pushed', '--labels', 'env=ci', dir],
      { encoding: 'utf8' },
    );
    fs.rmSync(dir, { recursive: true, force: true });
    return res;
  }

  it('takes a directory of real profiles from flamewatch push and answers for them', () => {
    const res = pushDirectory({
      'go-heap.pb.gz': corpusFile(generatedCorpus, 'pprof/go-heap.pb.gz'),
      'nodejs-wall.pb.gz': corpusFile(generatedCorpus, 'pprof/nodejs-wall.pb.gz'),
      'perf.txt': corpusFile(generatedCorpus, 'perf/perf-c-busy.txt'),
    });
    expect(res.stdout).toMatch(/pushed 3 of 3 files/);
    expect(res.stderr).toMatch(/ok .*perf.txt \(perf-script/);
    expect(res.status).toBe(0);
  });

  it('lists what was pushed', async () => {
    expect(await (await fetch(`${url}/api/v1/services`)).json()).toEqual(['pushed']);
    const types = (await (await fetch(`${url}/api/v1/profile-types?service=pushed`)).json()) as {
      type: string;
    }[];
    expect(types.map((t) => t.type)).toEqual(expect.arrayContaining(['inuse_space', 'wall', 'cpu']));
  });

  if (sharedCorpus !== undefined) {
    const shared = sharedCorpus;
    it("takes the shared corpus' .NET profile, whose function id 0 google/pprof's parser rejects", async () => {
      const res = pushDirectory({ 'dotnet-cpu.pb.gz': corpusFile(shared, 'pprof/dotnet-cpu.pb.gz') });
      expect(res.stdout).toMatch(/pushed 1 of 1 file/);
      expect(res.status).toBe(0);
      const types = (await (await fetch(`${url}/api/v1/profile-types?service=pushed`)).json()) as {
        type: string;
      }[];
      expect(types.map((t) => t.type)).toContain('exception');
    });
  }

  it('takes OTLP profiles over gRPC on the port FLAMEWATCH_OTLP_GRPC names', async () => {
    const port = Number(/OTLP profiles over gRPC on [\d.]+:(\d+)/.exec(output())?.[1]);
    expect(port).toBeGreaterThan(0);
    const root = otlpRoot();
    const Req = root.lookupType(
      'opentelemetry.proto.collector.profiles.v1development.ExportProfilesServiceRequest',
    );
    const body = Req.encode(
      Req.fromObject({
        dictionary: {
          stringTable: ['', 'wall', 'nanoseconds', 'main'],
          functionTable: [{}, { nameStrindex: 3 }],
          locationTable: [{}, { lines: [{ functionIndex: 1 }] }],
          stackTable: [{}, { locationIndices: [1] }],
        },
        resourceProfiles: [
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValue: 'grpc-otel' } }] },
            scopeProfiles: [
              {
                profiles: [
                  {
                    sampleType: { typeStrindex: 1, unitStrindex: 2 },
                    timeUnixNano: Date.now() * 1e6,
                    samples: [{ stackIndex: 1, values: [42] }],
                  },
                ],
              },
            ],
          },
        ],
      }),
    ).finish();
    const g = require('@grpc/grpc-js') as typeof import('@grpc/grpc-js');
    const client = new g.Client(`127.0.0.1:${port}`, g.credentials.createInsecure());
    const err = await new Promise<Error | null>((resolve) =>
      client.makeUnaryRequest(
        EXPORT_PATH,
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from(body),
        (e) => resolve(e),
      ),
    );
    client.close();
    expect(err).toBeNull();
    expect(await (await fetch(`${url}/api/v1/services`)).json()).toContain('grpc-otel');
  });

  it('stops cleanly on SIGTERM', async () => {
    proc.kill('SIGTERM');
    const code = await new Promise((r) => proc.once('exit', r));
    expect(code).toBe(0);
  });
});

describe('flamewatch itself', () => {
  it('prints its version, and its help without loading any command’s code', () => {
    const version = spawnSync(process.execPath, [cli, '--version'], { encoding: 'utf8' });
    expect(version.status).toBe(0);
    expect(version.stdout.trim()).toBe(
      (JSON.parse(fs.readFileSync(path.join(repo, 'package.json'), 'utf8')) as { version: string }).version,
    );
    // What `--help` loads: the report, budgets and GitHub code (ajv, yaml, zod, octokit) only when ci compare or
    // check runs; the server and its store only when serve does.
    const loaded = spawnSync(
      process.execPath,
      [
        '-e',
        `process.argv = [process.argv[0], 'flamewatch', '--help'];
         process.on('exit', () => process.stderr.write(JSON.stringify(Object.keys(require.cache))));
         require(${JSON.stringify(cli)});`,
      ],
      { encoding: 'utf8' },
    );
    expect(loaded.status).toBe(0);
    const modules = JSON.parse(loaded.stderr) as string[];
    for (const heavy of [
      '/ajv/',
      '/yaml/',
      '/zod/',
      '/@octokit/',
      '/express/',
      '/chdb/',
      '/notify/',
      '/server/app',
    ])
      expect([heavy, modules.filter((m) => m.includes(heavy))]).toEqual([heavy, []]);
  });
});

describe('docker-compose.yml', () => {
  type Service = {
    build?: string;
    image?: string;
    command?: string[];
    environment?: Record<string, string>;
    ports?: string[];
    expose?: string[];
    volumes?: string[];
    deploy?: { replicas?: number | string };
    depends_on?: Record<string, { condition: string }>;
  };
  const compose = () =>
    parse(fs.readFileSync(path.join(repo, 'docker-compose.yml'), 'utf8')) as {
      services: Record<string, Service>;
    };

  it('parses and runs the server and workers against ClickHouse by CLICKHOUSE_URL and Redis by REDIS_URL', () => {
    const { services } = compose();
    expect(Object.keys(services).sort()).toEqual([
      'clickhouse',
      'migrate',
      'proxy',
      'redis',
      'server',
      'worker',
    ]);
    const { server, worker, redis } = services;
    expect(server.build).toBe('.');
    expect(server.environment?.CLICKHOUSE_URL).toMatch(/^http:\/\/.*@clickhouse:8123$/);
    expect(server.environment?.REDIS_URL).toBe('redis://redis:6379');
    expect(worker).toMatchObject({ build: '.', command: ['node', 'bin/flamewatch.js', 'worker'] });
    expect(worker.environment).toMatchObject({
      CLICKHOUSE_URL: server.environment?.CLICKHOUSE_URL,
      REDIS_URL: 'redis://redis:6379',
    });
    expect(redis.command).toEqual(expect.arrayContaining(['--maxmemory-policy', 'noeviction']));
    const dockerfile = fs.readFileSync(path.join(repo, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/CMD \["node", "bin\/flamewatch.js", "serve"\]/);
    for (const dir of dockerfile.matchAll(/^COPY (\S+) /gm)) {
      if (!dir[1].includes('.json')) expect(fs.existsSync(path.join(repo, dir[1]))).toBe(true);
    }
  });

  it('runs several stateless servers and workers behind one port, after one migration', () => {
    const { services } = compose();
    const { server, worker, migrate, proxy } = services;
    // Replicas: counts from the environment, several by default; no replica binds a host port.
    expect(String(server.deploy?.replicas)).toMatch(/^\$\{FLAMEWATCH_SERVERS:-([2-9]|\d\d+)\}$/);
    expect(String(worker.deploy?.replicas)).toMatch(/^\$\{FLAMEWATCH_WORKERS:-\d+\}$/);
    expect(server.ports).toBeUndefined();
    expect(server.expose).toEqual(['4040']);
    // The schema is migrated once, before servers and workers start.
    expect(migrate).toMatchObject({ build: '.', command: ['node', 'bin/flamewatch.js', 'migrate'] });
    expect(migrate.environment?.CLICKHOUSE_URL).toBe(server.environment?.CLICKHOUSE_URL);
    for (const s of [server, worker])
      expect(s.depends_on?.migrate).toEqual({ condition: 'service_completed_successfully' });
    // The proxy is the one way in, to the server service's replicas.
    expect(proxy.ports).toEqual(['4040:4040']);
    expect(proxy.depends_on?.server).toEqual({ condition: 'service_healthy' });
    const conf = proxy.volumes?.find((v) => v.endsWith(':/etc/nginx/nginx.conf:ro'))?.split(':')[0];
    expect(conf).toBeDefined();
    const nginx = fs.readFileSync(path.join(repo, conf!), 'utf8');
    expect(nginx).toMatch(/server server:4040 resolve;/);
    expect(nginx).toMatch(/listen 4040;/);
    expect(nginx).toMatch(/proxy_pass http:\/\/flamewatch;/);
    // Bodies up to the server's own ingest limit (16 MiB) reach it.
    expect(Number(/client_max_body_size (\d+)m;/.exec(nginx)?.[1])).toBeGreaterThanOrEqual(16);
  });

  it('knows the migrate command, and --cluster on serve, worker and migrate', () => {
    const help = (args: string[]) =>
      spawnSync(process.execPath, [cli, ...args, '--help'], { encoding: 'utf8' }).stdout;
    expect(help([])).toMatch(/\bmigrate\b/);
    for (const cmd of ['serve', 'worker', 'migrate']) expect(help([cmd])).toMatch(/--cluster <name>/);
  });

  it('refuses a cluster without CLICKHOUSE_URL', () => {
    const env = { ...process.env, CLICKHOUSE_URL: '', FLAMEWATCH_CLICKHOUSE_CLUSTER: '' };
    const run = spawnSync(process.execPath, [cli, 'migrate', '--cluster', 'prod'], { env, encoding: 'utf8' });
    expect(run.status).toBe(1);
    expect(run.stderr).toMatch(/a cluster needs CLICKHOUSE_URL/);
  });
});

describe('flamewatch serve profiles itself by default', () => {
  it('shows the server as service flamewatch-server within 15 s of start, so there is data to look at at once', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-self-'));
    const { proc: child, url: base } = await startServe(['--data', dir]);
    try {
      const started = Date.now();
      let services: string[] = [];
      let top = { total: 0 };
      // The heap snapshot and the wall profile are separate pushes: wait for both within the 15 s.
      while (Date.now() - started < 15_000 && !(services.includes('flamewatch-server') && top.total > 0)) {
        await new Promise((r) => setTimeout(r, 500));
        services = (await (await fetch(`${base}/api/v1/services`)).json()) as string[];
        if (services.includes('flamewatch-server'))
          top = (await (await fetch(`${base}/api/v1/top?query=flamewatch-server&type=wall`)).json()) as {
            total: number;
          };
      }
      expect(services).toContain('flamewatch-server');
      expect(top.total).toBeGreaterThan(0);
    } finally {
      child.kill('SIGKILL');
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);
});
