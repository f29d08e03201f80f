import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import {
  PerfScriptCollapser,
  collapsePerfScript,
  formatFolded,
  mergeV8Tiers,
  type CollapseOptions,
} from '../profile/perf-script';
import { generatedCorpus, generatedManifest, leadingSamples, sharedCorpus } from './helpers/corpus';

const repoRoot = path.resolve(__dirname, '..');
const cli = path.join(repoRoot, 'bin', 'flamewatch.js');

type Mode = 'default' | 'pid' | 'tid' | 'kernel' | 'jit' | 'all' | 'addrs';

/** The shared corpus' stackcollapse-perf.pl fixtures, `expected/<name>-collapsed-<mode>.txt`, as (file, mode) pairs. */
const sharedPerfDir = sharedCorpus && path.join(sharedCorpus.dir, 'perf');
const fixtures = (sharedPerfDir === undefined ? [] : readdirSync(path.join(sharedPerfDir, 'expected')))
  .map((name) => /^(.+)-collapsed-(default|pid|tid|kernel|jit|all|addrs)\.txt$/.exec(name))
  .filter((m): m is RegExpExecArray => m !== null)
  .map((m) => ({
    file: `${m[1]}.txt`,
    mode: m[2] as Mode,
    expected: path.join(sharedPerfDir!, 'expected', m[0]),
  }))
  .sort((a, b) => a.file.localeCompare(b.file) || a.mode.localeCompare(b.mode));

/**
 * The generated corpus' fixtures: perf's own stackcollapse.py on the
 * perf.data behind each `perf script` text, with the options of our mode
 * (test/tools/make-corpus.sh), `expected/<name>-perf-stackcollapse-<mode>.txt`.
 */
const generatedPerfDir = path.join(generatedCorpus.dir, 'perf');
const pyFixtures = readdirSync(path.join(generatedPerfDir, 'expected'))
  .map((name) => /^(.+)-perf-stackcollapse-(default|pid|tid)\.txt$/.exec(name))
  .filter((m): m is RegExpExecArray => m !== null)
  .map((m) => ({
    file: path.join(generatedPerfDir, `${m[1]}.txt`),
    mode: m[2] as Mode,
    expected: path.join(generatedPerfDir, 'expected', m[0]),
  }))
  .sort((a, b) => a.file.localeCompare(b.file) || a.mode.localeCompare(b.mode));
const pyOptions: Partial<Record<Mode, string>> = {
  default: '',
  pid: ' --include-pid',
  tid: ' --include-pid --include-tid',
};

function optionsFor(mode: Mode): CollapseOptions {
  return mode === 'default' ? {} : { [mode]: true };
}

function flagFor(mode: Mode): string {
  return mode === 'default' ? '' : ` --${mode}`;
}

/** The Perl script works on bytes; latin1 keeps every byte as one character. */
function readPerf(file: string): string {
  return readFileSync(path.isAbsolute(file) ? file : path.join(sharedPerfDir!, file), 'latin1');
}

/** Folded text → stack → count, so that line order does not matter. */
function parseFolded(text: string): Map<string, number> {
  const stacks = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const space = line.lastIndexOf(' ');
    const stack = line.slice(0, space);
    stacks.set(stack, (stacks.get(stack) ?? 0) + Number(line.slice(space + 1)));
  }
  return stacks;
}

/**
 * The corpus' --pid and --tid results for Java profiles are FlameGraph's
 * test/results, recorded before its commit e54f142 ("Correctly detect java in
 * -tid") made the Java tidy-up (`Ljava/io/File` → `java/io/File`) apply to
 * `java-<pid>` roots as well as `java`; the script has worked so since, and so
 * do we. Against those fixtures we expect the fixture with that tidy-up done.
 */
function withCurrentJavaTidy(stacks: Map<string, number>, mode: Mode): Map<string, number> {
  if (mode !== 'pid' && mode !== 'tid') return stacks;
  const tidied = new Map<string, number>();
  for (const [stack, count] of stacks) {
    const [root, ...frames] = stack.split(';');
    const key = root.startsWith('java')
      ? [root, ...frames.map((f) => (f.startsWith('L') && f.includes('/') ? f.slice(1) : f))].join(';')
      : stack;
    tidied.set(key, (tidied.get(key) ?? 0) + count);
  }
  return tidied;
}

function expectedStacks(fixture: (typeof fixtures)[number]): Map<string, number> {
  return withCurrentJavaTidy(parseFolded(readFileSync(fixture.expected, 'latin1')), fixture.mode);
}

/**
 * stackcollapse.py's stacks as stackcollapse-perf.pl counts them: the Perl
 * script weighs a sample by its period, the Python one counts it once, and
 * every generated sample has the same period (`perf record -c`).
 */
function pyExpectedStacks(fixture: (typeof pyFixtures)[number]): Map<string, number> {
  const period = generatedManifest().perfPeriod;
  return new Map(
    [...parseFolded(readFileSync(fixture.expected, 'latin1'))].map(([stack, count]) => [
      stack,
      count * period,
    ]),
  );
}

/**
 * Our stacks in stackcollapse.py's words: a frame perf could not name is
 * `[unknown]` there, while stackcollapse-perf.pl (and we) name it after its
 * module, `[libc.so.6]`. A frame the reference names is compared as it is.
 */
function asStackcollapsePy(stacks: Map<string, number>): Map<string, number> {
  const renamed = new Map<string, number>();
  for (const [stack, count] of stacks) {
    const key = stack
      .split(';')
      .map((frame, i) => (i > 0 && /^\[[^;]*\]$/.test(frame) ? '[unknown]' : frame))
      .join(';');
    renamed.set(key, (renamed.get(key) ?? 0) + count);
  }
  return renamed;
}

/** Feeds `text` in pieces cut at `cuts` (sorted offsets). */
function collapseInPieces(text: string, cuts: number[], options: CollapseOptions): Map<string, number> {
  const collapser = new PerfScriptCollapser(options);
  let from = 0;
  for (const cut of [...cuts, text.length]) {
    collapser.push(text.slice(from, cut));
    from = cut;
  }
  return collapser.end();
}

function everyNth(length: number, step: number): number[] {
  const cuts: number[] = [];
  for (let at = step; at < length; at += step) cuts.push(at);
  return cuts;
}

describe("perf's own stackcollapse.py on the generated corpus", () => {
  it('finds the generated fixtures', () => {
    expect(pyFixtures.length).toBeGreaterThanOrEqual(6);
  });

  for (const fixture of pyFixtures) {
    it(`matches perf's stackcollapse.py${pyOptions[fixture.mode]} for ${path.basename(fixture.file)}`, () => {
      const ours = collapsePerfScript(readPerf(fixture.file), optionsFor(fixture.mode));
      expect(asStackcollapsePy(ours)).toEqual(pyExpectedStacks(fixture));
    });
  }
});

if (sharedCorpus !== undefined) {
  describe('stackcollapse-perf.pl conformance on the shared corpus', () => {
    it('finds the corpus fixtures', () => {
      expect(fixtures.length).toBeGreaterThanOrEqual(70);
    });

    for (const fixture of fixtures) {
      it(`matches stackcollapse-perf.pl${flagFor(fixture.mode)} for ${fixture.file}`, () => {
        const ours = collapsePerfScript(readPerf(fixture.file), optionsFor(fixture.mode));
        expect(ours).toEqual(expectedStacks(fixture));
      });
    }
  });
}

/** Small real inputs, a few kB each, for the chunking tests that collapse them thousands of times. */
const smallInputs = [
  {
    name: 'the first samples of perf-c-busy.txt',
    text: leadingSamples(readPerf(path.join(generatedPerfDir, 'perf-c-busy.txt')), 4000),
  },
].concat(
  sharedCorpus === undefined
    ? []
    : [{ name: 'perf-java-stacks-02.txt', text: readPerf('perf-java-stacks-02.txt') }],
);

for (const { name, text } of smallInputs) {
  describe(`PerfScriptCollapser fed ${name} in chunks`, () => {
    const whole = collapsePerfScript(text, { all: true });

    it('has stacks to compare', () => {
      expect(whole.size).toBeGreaterThan(0);
    });

    it('gives the same stacks for 1-character chunks', () => {
      expect(collapseInPieces(text, everyNth(text.length, 1), { all: true })).toEqual(whole);
    });

    it('gives the same stacks for 7-character chunks', () => {
      expect(collapseInPieces(text, everyNth(text.length, 7), { all: true })).toEqual(whole);
    });

    it('gives the same stacks cut in two at every offset', () => {
      for (let cut = 0; cut <= text.length; cut++) {
        const ours = collapseInPieces(text, [cut], { all: true });
        if (!mapsEqual(ours, whole)) throw new Error(`stacks differ when the input is cut at offset ${cut}`);
      }
    });
  });
}

describe('PerfScriptCollapser at the end of its input', () => {
  it('reads a last line that has no newline, and ends no sample with it', () => {
    const withoutNewline = 'ab 1 1.0: cycles:\n\tff foo (m)\n\nab 2 1.0: cycles:\n\tff bar (m)';
    expect(collapsePerfScript(withoutNewline)).toEqual(new Map([['ab;foo', 1]]));
  });
});

function mapsEqual(a: ReadonlyMap<string, number>, b: ReadonlyMap<string, number>): boolean {
  if (a.size !== b.size) return false;
  for (const [key, value] of a) if (b.get(key) !== value) return false;
  return true;
}

describe('stackcollapse-perf.pl behaviour beyond the corpus', () => {
  // Outputs below are what stackcollapse-perf.pl prints for this input.
  const sample = [
    'java 10/20 [000] 1.0: 250 cycles:',
    '\t7f01 Lcom/x/Y;.run(I)V (/tmp/perf-10.map)',
    '\t7f02 main->inl1->inl2 (/usr/bin/app)',
    '\tffffffff81 [unknown] ([kernel.kallsyms])',
    '\t7f03 [unknown] (/usr/lib/libz.so.1)',
    '',
    'perf 5 [001] 1.1: 3 instructions:',
    '\t7f04 foo (/bin/perf)',
    '',
    'ab 7 [001] 1.2: cycles:',
    '\t7f05 f+0x1a ([unknown])',
    '',
    '',
  ].join('\n');
  const javaTail = 'main;inl1_[i];inl2_[i];com/x/Y:.run';

  it('counts periods, keeps the first event type, names unknown symbols by module', () => {
    const warnings: string[] = [];
    const stacks = collapsePerfScript(sample, { onWarning: (w) => warnings.push(w) });
    expect(formatFolded(stacks)).toBe(`ab;f 1\njava;[libz.so.1];[[kernel.kallsyms]];${javaTail} 250\n`);
    expect(warnings).toEqual(['Filtering for events of type: instructions']);
  });

  it('annotates kernel and JIT frames with --all', () => {
    expect(formatFolded(collapsePerfScript(sample, { all: true }))).toBe(
      'ab;f 1\njava;[libz.so.1];[[kernel.kallsyms]]_[k];main;inl1_[i];inl2_[i];com/x/Y:.run_[j] 250\n',
    );
  });

  it('shows pid/tid with --tid and addresses with --addrs', () => {
    const withTid = collapsePerfScript(sample, { tid: true });
    expect(withTid.get(`java-10/20;[libz.so.1];[[kernel.kallsyms]];${javaTail}`)).toBe(250);
    const withAddrs = collapsePerfScript(sample, { addrs: true });
    expect(withAddrs.get(`java;[libz.so.1 <7f03>];[[kernel.kallsyms] <ffffffff81>];${javaTail}`)).toBe(250);
  });

  it('keeps only the event named by --event-filter', () => {
    expect(formatFolded(collapsePerfScript(sample, { eventFilter: 'instructions' }))).toBe('perf;foo 3\n');
  });

  it('reports lines it cannot read', () => {
    const warnings: string[] = [];
    collapsePerfScript('ab 1 1.0: cycles:\n\t-> nothing\n\n', { onWarning: (w) => warnings.push(w) });
    expect(warnings).toEqual(['Unrecognized line: \t-> nothing']);
  });
});

/** `flamewatch collapse --pid` inputs: each corpus' file and the --pid stacks its reference gives, in our words. */
const pidCases = [
  {
    file: path.join(generatedPerfDir, 'perf-c-busy.txt'),
    reference: "perf's stackcollapse.py --include-pid",
    expected: () =>
      pyExpectedStacks(
        pyFixtures.find((f) => path.basename(f.file) === 'perf-c-busy.txt' && f.mode === 'pid')!,
      ),
    ours: asStackcollapsePy,
  },
].concat(
  sharedPerfDir === undefined
    ? []
    : [
        {
          file: path.join(sharedPerfDir, 'perf-iperf-stacks-pidtid-01.txt'),
          reference: 'stackcollapse-perf.pl --pid',
          expected: () =>
            expectedStacks(
              fixtures.find((f) => f.file === 'perf-iperf-stacks-pidtid-01.txt' && f.mode === 'pid')!,
            ),
          ours: (stacks: Map<string, number>) => stacks,
        },
      ],
);

describe('flamewatch collapse', () => {
  beforeAll(() => {
    if (!existsSync(path.join(repoRoot, 'dist', 'cli', 'main.js'))) {
      throw new Error('dist/ is missing: run `npm run build` (npm test does) before these tests');
    }
  });

  for (const { file, reference, expected, ours } of pidCases) {
    it(`prints the --pid stacks of ${path.basename(file)} read from a file, as ${reference}`, () => {
      const out = execFileSync(process.execPath, [cli, 'collapse', '--pid', file], { encoding: 'latin1' });
      expect(ours(parseFolded(out))).toEqual(expected());
    });

    it(`prints the --pid stacks of ${path.basename(file)} read from stdin, sorted as Perl sorts them`, () => {
      const input = readFileSync(file);
      const out = execFileSync(process.execPath, [cli, 'collapse', '--pid'], { input, encoding: 'latin1' });
      expect(ours(parseFolded(out))).toEqual(expected());
      expect(out).toBe(formatFolded(collapsePerfScript(input.toString('latin1'), { pid: true })));
    });
  }

  it('fails with a message naming a missing file', () => {
    const missing = path.join(generatedPerfDir, 'no-such-file.txt');
    const run = spawnSync(process.execPath, [cli, 'collapse', missing], { encoding: 'utf8' });
    expect(run.status).not.toBe(0);
    expect(run.stdout).toBe('');
    expect(run.stderr).toContain(`cannot read ${missing}: no such file`);
  });
});

test("V8's tiers merge into one frame per function (flamewatch perf's default), values kept", () => {
  const text = readFileSync(path.join(generatedCorpus.dir, 'perf', 'perf-node-workload.txt'), 'latin1');
  const tiered = collapsePerfScript(text);
  const merged = mergeV8Tiers(tiered);
  const frames = (stacks: Map<string, number>, re: RegExp) => {
    let sum = 0;
    for (const [stack, v] of stacks) if (stack.split(';').some((f) => re.test(f))) sum += v;
    return sum;
  };
  // The corpus' node run names fib with its tier (usually JS:*fib, a sample or two of JS:^fib while it warmed up).
  expect(frames(tiered, /^JS:[*^~+]fib /)).toBeGreaterThan(0);
  expect(frames(merged, /^JS:fib /)).toBe(frames(tiered, /^JS:[*^~+]?fib /));
  expect(frames(merged, /^(JS|LazyCompile|Function):[*^~+]/)).toBe(0);
  const total = (stacks: Map<string, number>) => [...stacks.values()].reduce((a, b) => a + b, 0);
  expect(total(merged)).toBe(total(tiered));
  expect(merged.size).toBeLessThanOrEqual(tiered.size); // fewer when a function ran in two tiers
  // Older Node names, and frames that only look alike, as they should be.
  expect([...mergeV8Tiers(new Map([['main;LazyCompile:~f a.js:1;Function:^g;x:*y', 2]])).keys()]).toEqual([
    'main;LazyCompile:f a.js:1;Function:g;x:*y',
  ]);
});
