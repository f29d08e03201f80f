import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { detectFormat, isGzip } from '../profile/format';
import { corpora, corpusFiles, generatedCorpus } from './helpers/corpus';

/**
 * The file's bytes, gunzipped when they are gzip, as `flamewatch push` hands
 * them to detectFormat. By content, not name: some `.pb.gz` files in the
 * corpus (dotnet-cpu, pyspy-cpu) are raw protobuf.
 */
function uncompressed(file: string): Buffer {
  const bytes = fs.readFileSync(file);
  return isGzip(bytes) ? zlib.gunzipSync(bytes) : bytes;
}

const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

/** At least this many files of each kind in each corpus: a corpus that shrank fails here, not silently. */
const sizes = { generated: { pprof: 5, perf: 2, folded: 6 }, shared: { pprof: 16, perf: 10, folded: 70 } };

for (const corpus of corpora) {
  const pprofFiles = corpusFiles(corpus, 'pprof', /\.pb(\.gz)?$/).concat(
    corpus.name === 'shared' ? corpusFiles(corpus, 'pprof/bad', /\.pb\.gz$/) : [],
  );
  const perfFiles = corpusFiles(corpus, 'perf', /\.txt$/);
  const foldedFiles = corpusFiles(corpus, 'perf/expected', /\.txt$/);

  describe(`detectFormat on the ${corpus.name} corpus`, () => {
    it('finds the corpus', () => {
      expect(pprofFiles.length).toBeGreaterThanOrEqual(sizes[corpus.name].pprof);
      expect(perfFiles.length).toBeGreaterThanOrEqual(sizes[corpus.name].perf);
      expect(foldedFiles.length).toBeGreaterThanOrEqual(sizes[corpus.name].folded);
    });

    it.each(pprofFiles.map((f) => [path.relative(corpus.dir, f), f]))('says pprof for %s', (_name, file) => {
      const bytes = uncompressed(file);
      expect(detectFormat(bytes)).toBe('pprof');
      expect(detectFormat(bytes, 'profile.txt')).toBe('pprof');
    });

    it.each(pprofFiles.map((f) => [path.relative(corpus.dir, f), f]))(
      'says pprof for a 300-byte prefix of %s',
      (_name, file) => {
        expect(detectFormat(uncompressed(file).subarray(0, 300))).toBe('pprof');
      },
    );

    it.each(perfFiles.map((f) => [path.basename(f), f]))('says perf-script for %s', (_name, file) => {
      const bytes = fs.readFileSync(file);
      expect(detectFormat(bytes)).toBe('perf-script');
      expect(detectFormat(bytes, path.basename(file))).toBe('perf-script');
    });

    it.each(perfFiles.map((f) => [path.basename(f), f]))(
      'says perf-script for a prefix of %s cut inside a line',
      (_name, file) => {
        const text = fs.readFileSync(file, 'utf8');
        const firstSample = text.search(/^[^#\n]/m);
        const cut = text.indexOf(' (', firstSample + 1000) + 3;
        expect(detectFormat(utf8(text.slice(0, cut)))).toBe('perf-script');
      },
    );

    it.each(foldedFiles.map((f) => [path.basename(f), f]))('says folded for %s', (_name, file) => {
      const bytes = fs.readFileSync(file);
      expect(detectFormat(bytes)).toBe('folded');
      expect(detectFormat(bytes, 'stacks.folded')).toBe('folded');
    });
  });
}

describe('detectFormat', () => {
  it('forgives the last folded line when a prefix cut its count off', () => {
    expect(detectFormat(utf8('main;work 12\nmain;idle 3\nmain;wa'))).toBe('folded');
    expect(detectFormat(utf8('main;work 12\nmain;idle\nmain;wait 4\n'))).toBeUndefined();
  });

  it('reads folded lines with CRLF endings, non-ASCII frames and spaces inside frames', () => {
    const text = 'main;std::vector<int>::push_back(int const&) 3\r\nmain;größe 1\r\n';
    expect(detectFormat(utf8(text))).toBe('folded');
  });

  it('says perf-script for a sample without a timestamp and frames without indentation (old perf)', () => {
    const text = 'java 19983 cycles:\nffffffff8103d0ca native_write_msr_safe ([kernel.kallsyms])\n\n';
    expect(detectFormat(utf8(text))).toBe('perf-script');
  });

  it('says perf-script for a command name with spaces and an event with modifiers', () => {
    const text =
      'Web Content 4021/4033 [002] 8123.456789:     250000 cycles:ppp: \n\t    7f3a1c2d sym+0x12 (/usr/lib/libxul.so)\n';
    expect(detectFormat(utf8(text))).toBe('perf-script');
  });

  it('says nothing for a gzip stream, whatever its name: the caller gunzips first', () => {
    const gz = fs.readFileSync(path.join(generatedCorpus.dir, 'pprof', 'go-heap.pb.gz'));
    expect(detectFormat(gz)).toBeUndefined();
    expect(detectFormat(gz, 'go-heap.pb.gz')).toBeUndefined();
  });

  it('says nothing for files that are no profile', () => {
    const json = fs.readFileSync(path.join(generatedCorpus.dir, 'pprof', 'go-heap.expected.json'));
    expect(detectFormat(json, 'go-heap.expected.json')).toBeUndefined();
    expect(detectFormat(fs.readFileSync(path.join(__dirname, 'README.md')))).toBeUndefined();
    expect(detectFormat(new Uint8Array(0), 'empty.pb')).toBeUndefined();
    expect(detectFormat(utf8('\n\n  \n'), 'blank.txt')).toBeUndefined();
    expect(detectFormat(utf8('# only comments\n# from perf\n'))).toBeUndefined();
    expect(
      detectFormat(Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46]), 'photo.pb'),
    ).toBeUndefined();
  });

  it('breaks ties by the file name, and without one takes text that also walks as protobuf fields for text', () => {
    // A newline is the tag of field 1 (sample_type); "m" then claims 109 bytes the short file lacks.
    const ambiguous = utf8('\nmain;work 1\n');
    expect(detectFormat(ambiguous, 'cpu.pb')).toBe('pprof');
    expect(detectFormat(ambiguous, 'cpu.folded')).toBe('folded');
    expect(detectFormat(ambiguous)).toBe('folded');
    expect(detectFormat(utf8('\n\n  \n'), 'blank.pb')).toBe('pprof');
  });
});
