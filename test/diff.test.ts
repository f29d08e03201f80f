import * as fs from 'node:fs';
import { bigFolded } from '../bench/fixtures/big-profile';
import { corpora, corpusFile, type Corpus, expectedFor } from './helpers/corpus';
import { getJson, ingest, startServer, type TestServer } from './helpers/server';

interface FunctionDiff {
  name: string;
  file?: string;
  function?: string;
  leftSelf: number;
  leftTotal: number;
  rightSelf: number;
  rightTotal: number;
}
interface Diff {
  type: string;
  unit: string;
  left: { total: number; spanMs: number };
  right: { total: number; spanMs: number };
  names: string[];
  tree: {
    name: number[];
    depth: number[];
    leftTotal: number[];
    leftSelf: number[];
    rightTotal: number[];
    rightSelf: number[];
  };
  nodes: { total: number; shown: number };
  functions: FunctionDiff[];
}

let server: TestServer;
const t0 = Math.floor(Date.now() / 1000) - 600; // ten minutes ago, whole seconds
const window = { from: String(t0 - 60), until: String(t0 + 600) };

// myapp 1.5 spends three times as long in parse as 1.4; everything else is unchanged.
const v14 = 'main;handle;parse 30\nmain;handle;render 50\nmain;gc 20\n';
const v15 = 'main;handle;parse 90\nmain;handle;render 50\nmain;gc 20\n';

/** Per corpus, a real profile pushed as the service named after the corpus. */
const realProfiles: Record<Corpus['name'], string> = {
  generated: 'pprof/go-cpu-labels.pb.gz',
  shared: 'pprof/java-kafka-cpu.pb.gz',
};

beforeAll(async () => {
  server = await startServer();
  const push = async (
    name: string,
    from: number,
    body: string | Uint8Array,
    extra: Record<string, string> = {},
  ) =>
    expect(
      (
        await ingest(
          server.url,
          { name, from: String(from), until: String(from + 10), units: 'samples', ...extra },
          body,
        )
      ).status,
    ).toBe(200);
  await push('myapp.cpu{version=1.4}', t0, v14);
  await push('myapp.cpu{version=1.5}', t0 + 120, v15);
  await push('big.cpu{version=1}', t0, bigFolded(3000, 1));
  await push('big.cpu{version=2}', t0, bigFolded(3000, 2));
  await push('mixed.cpu{version=a}', t0, 'main 1\n');
  await push('mixed.cpu{version=b}', t0, 'main 1\n', { units: 'nanoseconds' });
  for (const corpus of corpora)
    await push(
      `${corpus.name}{source=corpus}`,
      t0,
      fs.readFileSync(corpusFile(corpus, realProfiles[corpus.name])),
      { format: 'pprof' },
    );
});
afterAll(() => server.close());

const diffUrl = (params: Record<string, string>) =>
  `/api/v1/diff?${new URLSearchParams({ leftFrom: window.from, leftUntil: window.until, rightFrom: window.from, rightUntil: window.until, ...params })}`;
const versions = { type: 'cpu', leftQuery: 'myapp{version="1.4"}', rightQuery: 'myapp{version="1.5"}' };

async function diff(params: Record<string, string>, headers: Record<string, string> = {}): Promise<Diff> {
  const { status, json } = await getJson<Diff & { error?: string }>(server.url, diffUrl(params), headers);
  expect([status, json.error]).toEqual([200, undefined]);
  return json;
}

/** The payload's tree drawn one node per line, indented by depth: `name left total/self | right total/self`. */
function draw(d: Diff): string[] {
  const t = d.tree;
  return t.name.map(
    (n, i) =>
      `${'  '.repeat(t.depth[i])}${d.names[n]} ${t.leftTotal[i]}/${t.leftSelf[i]} | ${t.rightTotal[i]}/${t.rightSelf[i]}`,
  );
}

describe('GET /api/v1/diff', () => {
  it("shows a function made slower with both sides' values, first among the functions", async () => {
    const d = await diff(versions);
    expect([d.type, d.unit, d.left.total, d.right.total]).toEqual(['cpu', 'samples', 100, 160]);
    expect(d.left.spanMs).toBe(10_000); // one 10 s push a side: per second of the time the data covers
    expect(draw(d)).toEqual([
      'total 100/0 | 160/0',
      '  main 100/0 | 160/0',
      '    gc 20/20 | 20/20',
      '    handle 80/0 | 140/0',
      '      parse 30/30 | 90/90',
      '      render 50/50 | 50/50',
    ]);
    expect(d.nodes).toEqual({ total: 6, shown: 6 });
    // parse's share went from 30% to 56%: the largest change; render's from 50% to 31%: the next.
    expect(d.functions[0]).toEqual({
      name: 'parse',
      leftSelf: 30,
      leftTotal: 30,
      rightSelf: 90,
      rightTotal: 90,
    });
    expect(d.functions[1].name).toBe('render');
    expect(d.functions.map((f) => f.name).sort()).toEqual(['gc', 'handle', 'main', 'parse', 'render']);
  });

  it("has root totals equal to /api/v1/top's total of each side", async () => {
    const d = await diff({ type: 'cpu', leftQuery: 'big{version="1"}', rightQuery: 'big{version="2"}' });
    for (const [side, query] of [
      ['left', 'big{version="1"}'],
      ['right', 'big{version="2"}'],
    ] as const) {
      const top = (
        await getJson<{ total: number }>(
          server.url,
          `/api/v1/top?${new URLSearchParams({ ...window, query, type: 'cpu' })}`,
        )
      ).json;
      expect(top.total).toBeGreaterThan(0);
      expect(d[side].total).toBe(top.total);
      expect(d.tree[`${side}Total`][0]).toBe(top.total);
    }
  });

  it('compares two time windows of one query', async () => {
    const d = await diff({
      type: 'cpu',
      leftQuery: 'myapp',
      rightQuery: 'myapp',
      leftFrom: String(t0),
      leftUntil: String(t0 + 60),
      rightFrom: String(t0 + 60),
      rightUntil: String(t0 + 600),
    });
    expect([d.left.total, d.right.total]).toEqual([100, 160]);
  });

  it('defaults both sides to the last hour', async () => {
    const { status, json } = await getJson<Diff>(server.url, `/api/v1/diff?${new URLSearchParams(versions)}`);
    expect(status).toBe(200);
    expect([json.left.total, json.right.total]).toEqual([100, 160]);
  });

  it("prunes to maxNodes with every total covering its children's, on both sides", async () => {
    const full = await diff({
      type: 'cpu',
      leftQuery: 'big{version="1"}',
      rightQuery: 'big{version="2"}',
      maxNodes: '0',
    });
    expect(full.nodes.shown).toBe(full.nodes.total);
    expect(full.nodes.total).toBeGreaterThan(3000); // two unrelated 3,000-node trees, merged
    const d = await diff({
      type: 'cpu',
      leftQuery: 'big{version="1"}',
      rightQuery: 'big{version="2"}',
      maxNodes: '500',
    });
    expect(d.nodes).toEqual({ total: full.nodes.total, shown: 500 });
    expect([d.left, d.right]).toEqual([full.left, full.right]);
    const t = d.tree;
    expect(t.depth[0]).toBe(0);
    for (let i = 0; i < t.depth.length; i++) {
      if (i > 0) expect(t.depth[i]).toBeLessThanOrEqual(t.depth[i - 1] + 1); // no node without its parent
      let left = t.leftSelf[i];
      let right = t.rightSelf[i];
      for (let j = i + 1; j < t.depth.length && t.depth[j] > t.depth[i]; j++) {
        if (t.depth[j] !== t.depth[i] + 1) continue;
        left += t.leftTotal[j];
        right += t.rightTotal[j];
      }
      expect(t.leftTotal[i]).toBeGreaterThanOrEqual(left);
      expect(t.rightTotal[i]).toBeGreaterThanOrEqual(right);
    }
    // The functions come from the full stacks, not the pruned tree.
    expect(d.functions).toEqual(full.functions);
    expect(full.functions).toHaveLength(200);
    expect(
      (await diff({ type: 'cpu', leftQuery: 'big{version="1"}', rightQuery: 'big{version="2"}', limit: '0' }))
        .functions.length,
    ).toBeGreaterThan(200);
  });

  it('never shows one tenant the data of another', async () => {
    const d = await diff(versions, { 'X-Scope-OrgID': 'other' });
    expect([d.left.total, d.right.total]).toEqual([0, 0]);
    expect(draw(d)).toEqual(['total 0/0 | 0/0']);
    expect(d.functions).toEqual([]);
  });

  it.each(corpora.map((c) => [realProfiles[c.name], c] as const))(
    "gives google/pprof's flat and cum on both sides for %s diffed against itself",
    async (file, corpus) => {
      const st = expectedFor(corpusFile(corpus, file)).sampleTypes[0];
      const d = await diff({
        type: `${st.type}:${st.unit}`,
        leftQuery: `${corpus.name}{source="corpus"}`,
        rightQuery: corpus.name,
        limit: '0',
      });
      expect([d.unit, d.left.total, d.right.total]).toEqual([st.unit, st.total, st.total]);
      const want = Object.entries(st.functions)
        .map(([name, { flat, cum }]) => ({
          name,
          leftSelf: flat,
          leftTotal: cum,
          rightSelf: flat,
          rightTotal: cum,
        }))
        .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      // Go's function names are unique across files here: nothing is qualified, and each carries its file.
      expect(d.functions.filter((f) => f.function !== undefined)).toEqual([]);
      expect(d.functions.every((f) => f.file === undefined || f.file.length > 0)).toBe(true);
      expect(d.functions.map(({ file: _file, ...f }) => f)).toEqual(want); // no change anywhere: ordered by name
    },
  );
});

describe('GET /api/v1/diff refuses bad parameters', () => {
  it.each([
    [{ type: 'cpu', rightQuery: 'myapp' }, /leftQuery is required: leftQuery=<service>/],
    [{ type: 'cpu', leftQuery: 'myapp' }, /rightQuery is required: rightQuery=<service>/],
    [{ leftQuery: 'myapp', rightQuery: 'myapp' }, /type is required/],
    [{ ...versions, leftQuery: 'myapp{version=~"("}' }, /regular expression/],
    [{ ...versions, rightFrom: 'yesterday' }, /rightFrom "yesterday" is not a time/],
    [{ ...versions, leftFrom: 'now', leftUntil: 'now-1h' }, /leftFrom .* must be before leftUntil/],
    [{ ...versions, maxNodes: '-1' }, /maxNodes must be a whole number/],
    [{ ...versions, limit: 'x' }, /limit must be a whole number/],
    [
      { type: 'cpu', leftQuery: 'mixed{version="a"}', rightQuery: 'mixed{version="b"}' },
      /samples on the left and in nanoseconds on the right; pass type=cpu:<unit>/,
    ],
  ])('%j → 400', async (params, message) => {
    const { status, json } = await getJson<{ error: string }>(
      server.url,
      diffUrl(params as Record<string, string>),
    );
    expect(status).toBe(400);
    expect(json.error).toMatch(message);
  });
});
