import * as fs from 'node:fs';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { InputError } from '../../profile/errors';
import { parseFolded } from '../../profile/folded';
import { PerfScriptCollapser } from '../../profile/perf-script';
import { decodePprof } from '../../profile/pprof';
import { otlpRoot, prepareOtlp } from '../../server/otlp/decode';
import { DEFAULT_LIMITS } from '../../server/ingest/limits';
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

/** A small valid OTLP profiles request (binary), for mutation: shared dictionary, inlined lines, a native frame, attributes, a link. */
const otlpRequest = (() => {
  const Request = otlpRoot().lookupType(
    'opentelemetry.proto.collector.profiles.v1development.ExportProfilesServiceRequest',
  );
  return Buffer.from(
    Request.encode(
      Request.fromObject({
        dictionary: {
          stringTable: [
            '',
            'samples',
            'count',
            'cpu',
            'nanoseconds',
            'main',
            'f',
            'lib.so',
            'service.name',
            'svc',
            'thread.name',
          ],
          mappingTable: [{}, { filenameStrindex: 7 }],
          functionTable: [{}, { nameStrindex: 5 }, { nameStrindex: 6 }],
          locationTable: [
            {},
            { lines: [{ functionIndex: 2 }, { functionIndex: 1 }] },
            { mappingIndex: 1, address: 4096 },
          ],
          stackTable: [{}, { locationIndices: [2, 1] }],
          linkTable: [{}, { traceId: Buffer.alloc(16, 1), spanId: Buffer.alloc(8, 2) }],
          attributeTable: [{}, { keyStrindex: 10, value: { stringValue: 'main' } }],
        },
        resourceProfiles: [
          {
            resource: { attributes: [{ key: 'service.name', value: { stringValueStrindex: 9 } }] },
            scopeProfiles: [
              {
                profiles: [
                  {
                    sampleType: { typeStrindex: 1, unitStrindex: 2 },
                    periodType: { typeStrindex: 3, unitStrindex: 4 },
                    period: 10_000_000,
                    timeUnixNano: 1_700_000_000_000_000_000,
                    attributeIndices: [1],
                    samples: [{ stackIndex: 1, values: [3], linkIndex: 1, attributeIndices: [1] }],
                  },
                ],
              },
            ],
          },
        ],
      }),
    ).finish(),
  );
})();

const mutatedOtlp = fc
  .tuple(
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 12 }),
    fc.option(fc.nat()),
    fc.uint8Array({ maxLength: 32 }),
  )
  .map(([flips, cut, splice]) => {
    const base = Buffer.from(otlpRequest);
    for (const [pos, value] of flips) base[pos % base.length] = value;
    const cutAt = cut === null ? base.length : cut % (base.length + 1);
    return Buffer.concat([base.subarray(0, cutAt), splice]);
  });

/** What an ingest worker is given for an OTLP request (server/otlp/decode.ts prepareOtlp). */
const otlpJob = (body: Uint8Array, json: boolean) => ({
  tenant: 'fuzz',
  body,
  json,
  received: 1_700_000_000_000,
  limits: DEFAULT_LIMITS,
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
    name: 'OTLP profiles, mutated requests (decode, convert, prepare the rows)',
    property: () => fc.property(mutatedOtlp, (b) => onlyInputErrors(() => prepareOtlp(otlpJob(b, false)))),
  },
  {
    name: 'OTLP profiles, JSON of any shape',
    property: () =>
      fc.property(fc.jsonValue({ maxDepth: 4 }), (v) =>
        onlyInputErrors(() => prepareOtlp(otlpJob(Buffer.from(JSON.stringify(v) ?? 'null'), true))),
      ),
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
