/**
 * Reads a profile file and makes the body of its ingest request: pprof as it
 * is on disk (the server gunzips), folded as plain text, perf script
 * collapsed to folded here.
 */
import * as fs from 'node:fs/promises';
import { promisify } from 'node:util';
import * as zlib from 'node:zlib';
import { DETECT_PREFIX_BYTES, detectFormat, isGzip, type ProfileFormat } from '../../profile/format';
import { collapsePerfScript, formatFolded } from '../../profile/perf-script';
import type { WireFormat } from './ingest-query';

const gunzip = promisify(zlib.gunzip);

/**
 * The most text a folded or perf script file may hold after decompression:
 * a little under V8's limit on one string, which the conversion needs.
 */
const MAX_TEXT_BYTES = 500 * 1024 * 1024;

/** What to send for one file. */
export interface Payload {
  /** The format of the file's content. */
  format: ProfileFormat;
  /** The format of `body`: perf script goes out as folded. */
  wireFormat: WireFormat;
  body: Uint8Array;
  contentType: string;
}

/** The file is not (recognisably) a profile: pushed explicitly it fails, found in a directory it is skipped. */
export class NotAProfileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NotAProfileError';
  }
}

/**
 * Reads `file` and returns its ingest body. The format is `format` when
 * given, else detected from the content (after gunzipping a prefix of a gzip
 * file, since gzip may wrap folded text as well as pprof). Throws
 * NotAProfileError for an empty or unrecognised file, Error for an unreadable
 * or corrupt one.
 */
export async function readPayload(file: string, format?: ProfileFormat): Promise<Payload> {
  const bytes = await fs.readFile(file);
  if (bytes.length === 0) throw new NotAProfileError('the file is empty');
  const gzipped = isGzip(bytes);
  const detected =
    format ?? detectFormat(gzipped ? await gunzipPrefix(bytes, DETECT_PREFIX_BYTES) : bytes, file);
  if (detected === undefined) {
    throw new NotAProfileError(
      'not a pprof, folded or perf script profile (pass --format to send it anyway)',
    );
  }
  if (detected === 'pprof') {
    return { format: detected, wireFormat: 'pprof', body: bytes, contentType: 'application/octet-stream' };
  }
  // Folded bodies go out uncompressed: Pyroscope's ingest reads them as text.
  const text = gzipped ? await gunzipText(bytes) : bytes;
  const body = detected === 'folded' ? text : perfScriptToFolded(text);
  return { format: detected, wireFormat: 'folded', body, contentType: 'text/plain; charset=utf-8' };
}

/**
 * Collapses `perf script` output to folded text, as stackcollapse-perf.pl
 * does by default (counts are the sample periods perf printed, else 1 per
 * sample). Through latin1 both ways, so that any bytes, UTF-8 or not, come
 * out as they went in.
 */
function perfScriptToFolded(text: Buffer): Buffer {
  if (text.length > MAX_TEXT_BYTES) throw tooLarge(mib(text.length));
  return Buffer.from(formatFolded(collapsePerfScript(text.toString('latin1'))), 'latin1');
}

/** The first `limit` decompressed bytes of a gzip file, reading no further than needed. */
async function gunzipPrefix(bytes: Buffer, limit: number): Promise<Buffer> {
  const stream = zlib.createGunzip();
  stream.end(bytes);
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= limit) break; // leaving the loop destroys the stream
    }
  } catch (err) {
    // Damage after the prefix does not change what the prefix is; the upload will tell.
    if (size === 0) throw new Error(`not a valid gzip file: ${(err as Error).message}`);
  }
  return Buffer.concat(chunks).subarray(0, limit);
}

async function gunzipText(bytes: Buffer): Promise<Buffer> {
  try {
    return await gunzip(bytes, { maxOutputLength: MAX_TEXT_BYTES });
  } catch (err) {
    if (err instanceof RangeError) throw tooLarge(`over ${mib(MAX_TEXT_BYTES)} after decompression`);
    throw new Error(`not a valid gzip file: ${(err as Error).message}`);
  }
}

function tooLarge(size: string): Error {
  return new Error(
    `the text is ${size}; push converts at most ${mib(MAX_TEXT_BYTES)} of text per file: split it`,
  );
}

function mib(bytes: number): string {
  return `${Math.round(bytes / 1024 / 1024)} MiB`;
}
