import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Ajv from 'ajv';
import type { SpeedscopeFile } from '../profile/speedscope';
import {
  corpora,
  corpusFile,
  type Corpus,
  type Expected,
  expectedFor,
  generatedCorpus,
  toolsDir,
} from './helpers/corpus';
import { getJson, ingest, startServer, type TestServer } from './helpers/server';

const pprofTool = path.join(toolsDir, 'pprof');
const refprof = path.join(toolsDir, 'refprof');
let server: TestServer;
let tmp: string;
const now = Math.floor(Date.now() / 1000);
const range = { from: String(now - 60), until: String(now + 60) };

beforeAll(async () => {
  for (const tool of [pprofTool, refprof]) {
    if (!fs.existsSync(tool))
      throw new Error(`${tool} is missing: run \`npm test\`, whose setup builds it (test/setup-system.sh)`);
  }
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fw-export-'));
  server = await startServer();
});
afterAll(async () => {
  await server.close();
  fs.rmSync(tmp, { recursive: true, force: true });
});

async function exportTo(file: string, params: Record<string, string>): Promise<void> {
  const res = await fetch(`${server.url}/api/v1/export?${new URLSearchParams({ ...range, ...params })}`);
  expect(res.status).toBe(200);
  fs.writeFileSync(file, Buffer.from(await res.arrayBuffer()));
}

/** Per corpus, a CPU profile in nanoseconds to export: a real Go profile, and the shared corpus' JFR one. */
const cpuProfiles: Record<Corpus['name'], string> = {
  generated: 'pprof/go-cpu-labels.pb.gz',
  shared: 'pprof/java-kafka-cpu.pb.gz',
};

describe('pprof export', () => {
  it.each(corpora.map((c) => [cpuProfiles[c.name], c] as const))(
    'is read by google/pprof with the same flat and cum as the pushed %s',
    async (file, corpus) => {
      const input = corpusFile(corpus, file);
      const service = `export-${corpus.name}`;
      const cpu = expectedFor(input).sampleTypes.find(
        (st) => st.type === 'cpu' && st.unit === 'nanoseconds',
      )!;
      expect(cpu).toBeDefined();
      // Pushed twice: the export is the merge, so every sum doubles.
      for (let i = 0; i < 2; i++) {
        expect(
          (
            await ingest(
              server.url,
              { name: service, format: 'pprof', from: String(now - 10) },
              fs.readFileSync(input),
            )
          ).status,
        ).toBe(200);
      }
      const out = path.join(tmp, `${service}.pb.gz`);
      await exportTo(out, { query: service, type: 'cpu:nanoseconds', format: 'pprof' });

      const ref = JSON.parse(execFileSync(refprof, [out], { encoding: 'utf8' })) as Expected;
      expect(ref.sampleTypes).toHaveLength(1);
      expect(ref.sampleTypes[0].type).toBe('cpu');
      expect(ref.sampleTypes[0].unit).toBe('nanoseconds');
      expect(ref.sampleTypes[0].total).toBe(2 * cpu.total);
      for (const [fn, want] of Object.entries(cpu.functions)) {
        expect([fn, ref.sampleTypes[0].functions[fn]]).toEqual([
          fn,
          { flat: 2 * want.flat, cum: 2 * want.cum },
        ]);
      }

      const top = execFileSync(pprofTool, ['-top', '-nodecount=5', out], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      expect(top).toMatch(/Type: cpu/);
      expect(top).toMatch(/flat%\s+sum%\s+cum\s+cum%/);
      const biggest = Object.entries(cpu.functions).sort((a, b) => b[1].flat - a[1].flat)[0][0];
      expect(top).toContain(biggest);
    },
  );
});

describe('folded export', () => {
  it('returns the pushed stacks and counts', async () => {
    const body = 'a;b;c 3\na;b 2\nx 1\n';
    expect((await ingest(server.url, { name: 'foldexp.cpu', from: String(now - 10) }, body)).status).toBe(
      200,
    );
    const res = await fetch(
      `${server.url}/api/v1/export?${new URLSearchParams({ ...range, query: 'foldexp', type: 'cpu', format: 'folded' })}`,
    );
    expect(res.headers.get('content-disposition')).toMatch(/foldexp-cpu\.folded/);
    const lines = (await res.text()).trim().split('\n').sort();
    expect(lines).toEqual(['a;b 2', 'a;b;c 3', 'x 1']);
  });
});

describe('speedscope export', () => {
  const schema = JSON.parse(
    fs.readFileSync(require.resolve('speedscope/dist/release/file-format-schema.json'), 'utf8'),
  ) as object;
  const validate = new Ajv({ allErrors: true }).compile(schema);

  async function exportSpeedscope(
    query: string,
    type: string,
  ): Promise<{ file: SpeedscopeFile; disposition: string | null }> {
    const res = await fetch(
      `${server.url}/api/v1/export?${new URLSearchParams({ ...range, query, type, format: 'speedscope' })}`,
    );
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    const file = (await res.json()) as SpeedscopeFile;
    expect([validate(file), validate.errors ?? []]).toEqual([true, []]);
    return { file, disposition: res.headers.get('content-disposition') };
  }

  it("validates against speedscope's schema, with weights that sum to /top's self and total per function", async () => {
    const input = corpusFile(generatedCorpus, 'pprof/go-cpu-labels.pb.gz');
    expect(
      (
        await ingest(
          server.url,
          { name: 'ssgo{env=dev}', format: 'pprof', from: String(now - 10) },
          fs.readFileSync(input),
        )
      ).status,
    ).toBe(200);
    const { file, disposition } = await exportSpeedscope('ssgo', 'cpu');
    expect(disposition).toBe('attachment; filename="ssgo-cpu.speedscope.json"');
    const profile = file.profiles[0];
    expect(file.profiles).toHaveLength(1);
    expect([profile.type, profile.name, profile.unit, profile.startValue]).toEqual([
      'sampled',
      'ssgo cpu',
      'nanoseconds',
      0,
    ]);
    expect(new Set(file.shared.frames.map((f) => f.name)).size).toBe(file.shared.frames.length);

    const top = (
      await getJson<{ total: number; functions: { name: string; self: number; total: number }[] }>(
        server.url,
        `/api/v1/top?${new URLSearchParams({ ...range, query: 'ssgo', type: 'cpu', limit: '0' })}`,
      )
    ).json;
    expect(profile.endValue).toBe(top.total);
    const sums = new Map<string, { self: number; total: number }>();
    const sum = (name: string) => sums.get(name) ?? sums.set(name, { self: 0, total: 0 }).get(name)!;
    profile.samples.forEach((sample, i) => {
      const names = sample.map((f) => file.shared.frames[f].name);
      if (names.length > 0) sum(names[names.length - 1]).self += profile.weights[i];
      for (const name of new Set(names)) sum(name).total += profile.weights[i];
    });
    expect(Object.fromEntries(sums)).toEqual(
      Object.fromEntries(top.functions.map((f) => [f.name, { self: f.self, total: f.total }])),
    );
  });

  it('calls a unit speedscope does not know "none"', async () => {
    expect(
      (
        await ingest(
          server.url,
          { name: 'ssfold.cpu', units: 'samples', from: String(now - 10) },
          'a;b 3\na 1\n',
        )
      ).status,
    ).toBe(200);
    const { file } = await exportSpeedscope('ssfold', 'cpu');
    expect(file.profiles[0]).toMatchObject({ name: 'ssfold cpu', unit: 'none', endValue: 4 });
  });
});

describe('multipart ingest, as Pyroscope SDKs send it', () => {
  it('reads the profile part and the sample_type_config', async () => {
    const form = new FormData();
    form.append(
      'profile',
      new Blob([fs.readFileSync(corpusFile(generatedCorpus, 'pprof/nodejs-wall.pb.gz'))]),
      'profile.pprof',
    );
    form.append(
      'sample_type_config',
      new Blob([JSON.stringify({ wall: { units: 'microseconds', 'display-name': 'wall_time' } })]),
      'sample_type_config.json',
    );
    const res = await fetch(
      `${server.url}/ingest?${new URLSearchParams({ name: 'nodeapp{env=dev}', from: String(now - 10), until: String(now) })}`,
      { method: 'POST', body: form },
    );
    expect(res.status).toBe(200);
    const types = (await (await fetch(`${server.url}/api/v1/profile-types?service=nodeapp`)).json()) as {
      type: string;
    }[];
    expect(types.map((t) => t.type).sort()).toEqual(['sample', 'wall_time']); // @datadog/pprof's types: sample/count, wall/nanoseconds
  });

  it('refuses a multipart body without a profile part', async () => {
    const form = new FormData();
    form.append('other', 'x');
    const res = await fetch(`${server.url}/ingest?name=nodeapp`, { method: 'POST', body: form });
    expect(res.status).toBe(422);
    expect(((await res.json()) as { error: string }).error).toMatch(/no "profile" part/);
  });
});
