import * as fs from 'node:fs';
import * as path from 'node:path';

/** The repository, found from test/helpers and, compiled for the benchmarks, from dist/test/helpers. */
const repoDir = [path.resolve(__dirname, '..', '..'), path.resolve(__dirname, '..', '..', '..')].find((d) =>
  fs.existsSync(path.join(d, 'test', 'run.sh')),
)!;

export const toolsDir = path.join(repoDir, '.tools');

/**
 * A folder of real profiles, each with a reference tool's answer:
 * `generated` is made at test time from profilers on this machine
 * (test/tools/make-corpus.sh, in .tools/corpus), `shared` is the wider corpus
 * of ../shared/corpus. Both lay out `pprof/<name>.pb[.gz]` with
 * `<name>.expected.json` and `perf/<name>.txt` with `perf/expected/`.
 */
export interface Corpus {
  name: 'generated' | 'shared';
  dir: string;
}

/** Where make-corpus.sh writes; it exists once test/setup-system.sh has run (test/global-setup.ts checks). */
export const generatedCorpus: Corpus = { name: 'generated', dir: path.join(toolsDir, 'corpus') };

/**
 * `$FLAMEWATCH_SHARED/corpus` (an error when that is set and has none), else
 * `../shared/corpus` beside the repository when there is one, else undefined:
 * a fresh clone has none, and test/global-setup.ts says so once per run.
 */
function findSharedCorpus(): string | undefined {
  const setting = process.env.FLAMEWATCH_SHARED;
  if (setting !== undefined) {
    const dir = path.resolve(setting, 'corpus');
    if (!fs.existsSync(dir)) throw new Error(`FLAMEWATCH_SHARED is ${setting}, which has no corpus/ folder`);
    return dir;
  }
  const beside = path.resolve(repoDir, '..', 'shared', 'corpus');
  return fs.existsSync(beside) ? beside : undefined;
}

const sharedCorpusDir = findSharedCorpus();
export const sharedCorpus: Corpus | undefined =
  sharedCorpusDir === undefined ? undefined : { name: 'shared', dir: sharedCorpusDir };

/** The corpora the conformance suites run over: the generated one always, the shared one when it is there. */
export const corpora: Corpus[] =
  sharedCorpus === undefined ? [generatedCorpus] : [generatedCorpus, sharedCorpus];

/** Files of one folder of a corpus matching a pattern, sorted. */
export function corpusFiles(corpus: Corpus, dir: string, pattern: RegExp): string[] {
  return fs
    .readdirSync(path.join(corpus.dir, dir))
    .filter((f) => pattern.test(f))
    .sort()
    .map((f) => path.join(corpus.dir, dir, f));
}

/** One file of a corpus by its path inside it, e.g. `pprof/go-heap.pb.gz`. */
export function corpusFile(corpus: Corpus, file: string): string {
  return path.join(corpus.dir, file);
}

/** What google/pprof's parser reads from a corpus profile (`<name>.expected.json`, printed by .tools/refprof). */
export interface Expected {
  samples: number;
  sampleTypes: {
    type: string;
    unit: string;
    total: number;
    functions: Record<string, { flat: number; cum: number }>;
    /**
     * The same sums per source line as `pprof -lines` groups them, keyed `function<TAB>file:line`. Only in
     * answers refprof wrote since it reads lines (the generated corpus'; the shared corpus' are older).
     */
    lines?: Record<string, { flat: number; cum: number }>;
    /** Per function and file, keyed `function<TAB>file` (answers written since refprof reads files). */
    byFile?: Record<string, { flat: number; cum: number }>;
  }[];
}

/** A profile's expected answer, beside it. */
export function expectedFor(profile: string): Expected {
  return JSON.parse(fs.readFileSync(profile.replace(/\.pb(\.gz)?$/, '.expected.json'), 'utf8')) as Expected;
}

/** The generated corpus' manifest.json: its cache key, the tools that made it, and perf's fixed sampling period. */
export interface GeneratedManifest {
  key: string;
  versions: string[];
  /** `perf record -c`: every perf sample's period, in ns of cpu-clock. */
  perfPeriod: number;
}

export function generatedManifest(): GeneratedManifest {
  return JSON.parse(
    fs.readFileSync(path.join(generatedCorpus.dir, 'manifest.json'), 'utf8'),
  ) as GeneratedManifest;
}

/** The shared corpus for the benchmarks, which measure its files; an error naming what to set when it is missing. */
export function requireSharedCorpus(): string {
  if (sharedCorpusDir === undefined)
    throw new Error(
      `the shared corpus is not at ${path.resolve(repoDir, '..', 'shared', 'corpus')}; set FLAMEWATCH_SHARED to the shared/ folder`,
    );
  return sharedCorpusDir;
}

/** The first whole samples of a `perf script` text, at most `maxChars` of it (cut after a blank line). */
export function leadingSamples(text: string, maxChars: number): string {
  const end = text.lastIndexOf('\n\n', maxChars);
  if (end < 0) throw new Error(`no whole sample in the first ${maxChars} characters`);
  return text.slice(0, end + 2);
}
