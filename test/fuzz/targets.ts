import * as fs from 'node:fs';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { InputError } from '../../profile/errors';
import { parseFolded } from '../../profile/folded';
import { PerfScriptCollapser } from '../../profile/perf-script';
import { decodePprof } from '../../profile/pprof';
import { parseSelector } from '../../profile/selector';
import { parseTimeRange } from '../../profile/time-range';
import { corpora, corpusFile, corpusFiles, generatedCorpus, leadingSamples } from '../helpers/corpus';

/**
 * Fuzz targets over every parser of untrusted input, shared by the bounded
 * test (test/fuzz.test.ts) and the long run (bench/fuzz.ts). Each target must
 * either return or throw InputError: any other exception is a bug.
 */
export interface FuzzTarget {
  name: string;
  property: () => fc.IProperty<[unknown]>;
}

function onlyInputErrors(f: () => unknown): boolean {
  try {
    f();
    return true;
  } catch (err) {
    if (err instanceof InputError) return true;
    throw err;
  }
}

const corpusPprof = corpora
  .flatMap((corpus) => corpusFiles(corpus, 'pprof', /\.pb(\.gz)?$/))
  .map((file) => {
    const bytes = fs.readFileSync(file);
    return bytes[0] === 0x1f ? gunzipSync(bytes) : bytes;
  });

/** A corpus profile with some bytes flipped, cut, or spliced with random bytes. */
const mutatedPprof = fc
  .tuple(
    fc.nat({ max: corpusPprof.length - 1 }),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 16 }),
    fc.option(fc.nat()),
    fc.uint8Array({ maxLength: 64 }),
  )
  .map(([which, flips, cut, splice]) => {
    const base = Buffer.from(corpusPprof[which]);
    for (const [pos, value] of flips) base[pos % base.length] = value;
    const cutAt = cut === null ? base.length : cut % (base.length + 1);
    return Buffer.concat([base.subarray(0, cutAt), splice]);
  });

const perfText = leadingSamples(
  fs.readFileSync(corpusFile(generatedCorpus, 'perf/perf-c-busy.txt'), 'latin1'),
  40_000,
);

export const TARGETS: FuzzTarget[] = [
  {
    name: 'pprof decoder, random bytes',
    property: () =>
      fc.property(fc.uint8Array({ maxLength: 2048 }), (b) => onlyInputErrors(() => decodePprof(b))),
  },
  {
    name: 'pprof decoder, mutated corpus profiles',
    property: () => fc.property(mutatedPprof, (b) => onlyInputErrors(() => decodePprof(b))),
  },
  {
    name: 'folded parser',
    property: () =>
      fc.property(fc.string({ maxLength: 400, unit: 'binary' }), (t) =>
        onlyInputErrors(() => parseFolded(t, { type: 'cpu', unit: 'samples' })),
      ),
  },
  {
    name: 'perf script collapser, mutated corpus text',
    property: () =>
      fc.property(
        fc.tuple(
          fc.nat({ max: perfText.length }),
          fc.string({ maxLength: 200, unit: 'binary' }),
          fc.nat({ max: perfText.length }),
        ),
        ([at, insert, len]) =>
          onlyInputErrors(() => {
            const c = new PerfScriptCollapser();
            c.push(perfText.slice(0, at) + insert + perfText.slice(at, at + len));
            c.end();
          }),
      ),
  },
  {
    name: 'selectors',
    property: () =>
      fc.property(
        fc.oneof(
          fc.string({ maxLength: 120 }),
          fc.stringMatching(/^[a-z]{1,5}\{([a-z._]{1,4}(=|!=|=~|!~)("[^"]{0,6}"|[a-z]{0,4}),?){0,4}\}?$/),
        ),
        (t) =>
          onlyInputErrors(() => {
            parseSelector(t);
            parseSelector(t, { ingest: true });
          }),
      ),
  },
  {
    name: 'time ranges',
    property: () =>
      fc.property(fc.tuple(fc.string({ maxLength: 30 }), fc.string({ maxLength: 30 })), ([a, b]) =>
        onlyInputErrors(() => parseTimeRange(a, b, Date.now())),
      ),
  },
];
