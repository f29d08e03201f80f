/**
 * `flamewatch push` end to end: the built CLI as a child process against a
 * local HTTP server that answers like the ingest API. Run `npm run build`
 * first (test/run.sh does).
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { collapsePerfScript, formatFolded } from '../profile/perf-script';
import { corpusFile, generatedCorpus } from './helpers/corpus';

const root = path.resolve(__dirname, '..');
const bin = path.join(root, 'bin', 'flamewatch.js');
// Real profiles of the generated corpus (test/tools/make-corpus.sh).
const goHeap = corpusFile(generatedCorpus, 'pprof/go-heap.pb.gz');
const rawPprof = corpusFile(generatedCorpus, 'pprof/nodejs-heap.pb');
const perfScript = corpusFile(generatedCorpus, 'perf/perf-c-busy.txt');
const foldedFile = corpusFile(generatedCorpus, 'perf/expected/perf-c-busy-perf-stackcollapse-default.txt');

/** One request as the server saw it. */
interface Received {
  method: string;
  path: string;
  /** The raw query string, without "?". */
  query: string;
  params: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

type Answer = { status: number; json: unknown; delayMs?: number };

let server: http.Server;
let serverUrl: string;
let received: Received[] = [];
let answer: (request: Received, index: number) => Answer;
let inFlight = 0;
let maxInFlight = 0;
let tmp: string;

beforeAll(async () => {
  if (!fs.existsSync(path.join(root, 'dist', 'cli', 'push.js')))
    throw new Error('dist/ is not built: run `npm run build`');
  server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const request: Received = {
        method: req.method ?? '',
        path: url.pathname,
        query: (req.url ?? '').split('?')[1] ?? '',
        params: url.searchParams,
        headers: req.headers,
        body: Buffer.concat(chunks),
      };
      received.push(request);
      const { status, json, delayMs } = answer(request, received.length - 1);
      setTimeout(() => {
        inFlight--;
        res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(json));
      }, delayMs ?? 0);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  serverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  received = [];
  maxInFlight = 0;
  answer = () => ({ status: 200, json: { samples: 42 } });
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'flamewatch-push-'));
});

afterEach(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** Runs `flamewatch push` with a clean environment (no FLAMEWATCH_* from the caller) plus `env`. */
function push(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('FLAMEWATCH_')));
  return new Promise((resolve) => {
    // Asynchronous on purpose: the server answering lives in this process.
    execFile(
      'node',
      [bin, 'push', ...args],
      { cwd: root, env: { ...base, ...env } },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

/** Writes a file under the test's temporary directory and returns its path. */
function write(relative: string, content: string | Buffer): string {
  const file = path.join(tmp, relative);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, content);
  return file;
}

const sortedLines = (text: string | Buffer): string[] =>
  String(text)
    .split('\n')
    .filter((l) => l !== '')
    .sort();

describe('flamewatch push', () => {
  it('sends a gzip pprof file unchanged, with labels, time range, tenant and token', async () => {
    const run = await push([
      '--server',
      serverUrl,
      '--service',
      'checkout',
      '--labels',
      'env=prod,region=eu-west-1',
      '--from',
      '1700000000',
      '--until',
      '1700000010',
      '--tenant',
      'acme',
      '--token',
      's3cret',
      goHeap,
    ]);
    expect(run.stderr).toBe(`ok      ${goHeap} (pprof, ${kib(goHeap)}, 42 samples) [1/1]\n`);
    expect(run.code).toBe(0);
    expect(received).toHaveLength(1);
    const [request] = received;
    expect(request.method).toBe('POST');
    expect(request.path).toBe('/ingest');
    expect(request.query).toBe(
      'name=checkout%7Benv%3Dprod%2Cregion%3Deu-west-1%7D&from=1700000000&until=1700000010&format=pprof',
    );
    expect(request.params.get('name')).toBe('checkout{env=prod,region=eu-west-1}');
    expect(request.headers['content-type']).toBe('application/octet-stream');
    expect(request.headers['x-scope-orgid']).toBe('acme');
    expect(request.headers.authorization).toBe('Bearer s3cret');
    expect(request.body.equals(fs.readFileSync(goHeap))).toBe(true);
    expect(run.stdout).toMatch(
      new RegExp(`^pushed 1 of 1 file \\(${kib(goHeap)}, 42 samples\\) in \\d+ ms\\n$`),
    );
  });

  it('sends a raw protobuf pprof file unchanged, without type, units or time range', async () => {
    const run = await push(['--server', serverUrl, '--service', 'api', rawPprof]);
    expect(run.code).toBe(0);
    expect(received[0].query).toBe('name=api&format=pprof');
    expect(received[0].body.equals(fs.readFileSync(rawPprof))).toBe(true);
  });

  it('sends a folded file as text with the profile type in the name and the units', async () => {
    const run = await push([
      '--server',
      serverUrl,
      '--service',
      'checkout',
      '--labels',
      'env=prod',
      '--type',
      'alloc_space',
      '--units',
      'bytes',
      '--sample-rate',
      '99',
      foldedFile,
    ]);
    expect(run.code).toBe(0);
    const [request] = received;
    expect(request.params.get('name')).toBe('checkout.alloc_space{env=prod}');
    expect(request.query).toBe(
      'name=checkout.alloc_space%7Benv%3Dprod%7D&format=folded&sampleRate=99&units=bytes',
    );
    expect(request.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(request.body.equals(fs.readFileSync(foldedFile))).toBe(true);
  });

  it('sends --work and --process with every file, pprof and folded', async () => {
    const run = await push([
      '--server',
      serverUrl,
      '--service',
      'bench',
      '--work',
      '1200',
      '--process',
      'ci-7:4242:lx3k',
      goHeap,
      foldedFile,
    ]);
    expect(run.code).toBe(0);
    expect(received).toHaveLength(2);
    for (const r of received) {
      expect(r.params.get('work')).toBe('1200');
      expect(r.params.get('process')).toBe('ci-7:4242:lx3k');
    }
    expect(received.map((r) => r.params.get('format')).sort()).toEqual(['folded', 'pprof']);
  });

  it('refuses a --work that is not a number ≥ 0 and an empty --process, sending nothing', async () => {
    for (const work of ['-1', 'lots', 'Infinity']) {
      const run = await push(['--server', serverUrl, '--service', 'svc', `--work=${work}`, goHeap]);
      expect(run.code).toBe(1);
      expect(run.stderr).toContain("option '--work <n>' argument");
    }
    const empty = await push(['--server', serverUrl, '--service', 'svc', '--process=', goHeap]);
    expect(empty.code).toBe(1);
    expect(empty.stderr).toContain("option '--process <id>' argument '' is invalid");
    expect(received).toHaveLength(0);
  });

  it('quotes label values the selector syntax needs quoted, and escapes their quotes and backslashes', async () => {
    const run = await push([
      '--server',
      serverUrl,
      '--service',
      'checkout',
      '--labels',
      'msg="a,b",path=/x/y',
      '--labels',
      'q=say "hi" \\o/,empty=',
      foldedFile,
    ]);
    expect(run.code).toBe(0);
    expect(received[0].params.get('name')).toBe(
      'checkout.cpu{msg="a,b",path=/x/y,q="say \\"hi\\" \\\\o/",empty=""}',
    );
  });

  it('collapses a perf script file to the folded stacks of `flamewatch collapse` (perf-collapse.test.ts), and sends them as folded', async () => {
    const run = await push([
      '--server',
      serverUrl,
      '--service',
      'batch',
      '--from',
      '1700000000',
      '--until',
      '1700000060',
      perfScript,
    ]);
    expect(run.stderr).toContain(`ok      ${perfScript} (perf-script, `);
    expect(run.code).toBe(0);
    expect(received[0].query).toBe(
      'name=batch.cpu&from=1700000000&until=1700000060&format=folded&units=samples',
    );
    const stacks = sortedLines(received[0].body);
    expect(stacks.length).toBeGreaterThan(1);
    expect(stacks).toEqual(
      sortedLines(formatFolded(collapsePerfScript(fs.readFileSync(perfScript, 'latin1')))),
    );
  });

  it('gunzips a gzip folded file before sending it, since folded bodies travel as text', async () => {
    const folded = fs.readFileSync(foldedFile);
    const file = write('stacks.folded.gz', zlib.gzipSync(folded));
    const run = await push(['--server', serverUrl, '--service', 'batch', file]);
    expect(run.code).toBe(0);
    expect(received[0].params.get('format')).toBe('folded');
    expect(received[0].body.equals(folded)).toBe(true);
  });

  it('walks directories recursively, skipping hidden entries and files that are no profile', async () => {
    const pprof = write('svc/cpu.pb.gz', fs.readFileSync(goHeap));
    const folded = write('svc/deeper/stacks.txt', 'main;work 3\nmain;idle 1\n');
    write('svc/.cache/hidden.folded', 'hidden;stack 1\n');
    write('svc/.hidden.folded', 'hidden;stack 2\n');
    write('svc/README.md', '# not a profile\n');
    write('svc/empty.pb', '');
    const run = await push(['--server', serverUrl, '--service', 'svc', tmp]);
    expect(run.code).toBe(0);
    expect(received.map((r) => r.body.toString('latin1')).sort()).toEqual(
      [fs.readFileSync(pprof, 'latin1'), fs.readFileSync(folded, 'latin1')].sort(),
    );
    // Files finish in any order; the [n/4] counters follow completion.
    const withoutCounter = (text: string): string[] => sortedLines(text.replace(/ \[\d\/4\]$/gm, ''));
    expect(withoutCounter(run.stderr)).toEqual(
      withoutCounter(
        `ok      ${pprof} (pprof, ${kib(pprof)}, 42 samples)\n` +
          `ok      ${folded} (folded, 24 B, 42 samples)\n` +
          `skipped ${path.join(tmp, 'svc', 'README.md')}: not a pprof, folded or perf script profile (pass --format to send it anyway)\n` +
          `skipped ${path.join(tmp, 'svc', 'empty.pb')}: the file is empty\n`,
      ),
    );
    expect(run.stdout).toMatch(
      /^pushed 2 of 2 files \(.* KiB, 84 samples\) in \d+ ms; 2 skipped \(not profiles\)\n$/,
    );
  });

  it('exits 1 naming each failed file with the server error, and does not retry a 400', async () => {
    const good = write('good.folded', 'main;ok 1\n');
    const bad = write('bad.folded', 'main;bad 1\n');
    answer = (request) =>
      request.body.includes('bad')
        ? { status: 400, json: { error: 'label value too long' } }
        : { status: 200, json: {} };
    const run = await push(['--server', serverUrl, '--service', 'svc', '--concurrency', '1', good, bad]);
    expect(run.code).toBe(1);
    expect(received).toHaveLength(2);
    expect(run.stderr).toBe(
      `ok      ${good} (folded, 10 B) [1/2]\n` +
        `FAILED  ${bad}: HTTP 400: label value too long [2/2]\n` +
        `1 file failed:\n  ${bad}: HTTP 400: label value too long\n`,
    );
    expect(run.stdout).toMatch(/^pushed 1 of 2 files \(10 B\) in \d+ ms; 1 failed\n$/);
  });

  it('retries a 500 and a 429, then succeeds', async () => {
    const file = write('stacks.folded', 'main;work 5\n');
    answer = (_request, index) =>
      [
        { status: 500, json: { error: 'store busy' } },
        { status: 429, json: { error: 'slow down' } },
      ][index] ?? { status: 200, json: { samples: 5 } };
    const run = await push(['--server', serverUrl, '--service', 'svc', '--retry-delay', '10', file]);
    expect(run.code).toBe(0);
    expect(received).toHaveLength(3);
    expect(received.every((r) => r.body.equals(received[0].body))).toBe(true);
    expect(run.stderr).toMatch(
      new RegExp(
        `^retry   ${escape(file)}: HTTP 500: store busy; attempt 2 of 3 in \\d+ ms\\n` +
          `retry   ${escape(file)}: HTTP 429: slow down; attempt 3 of 3 in \\d+ ms\\n` +
          `ok      ${escape(file)} \\(folded, 12 B, 5 samples\\) \\[1/1\\]\\n$`,
      ),
    );
  });

  it('gives up after the retries and reports the last error', async () => {
    const file = write('stacks.folded', 'main;work 5\n');
    answer = () => ({ status: 503, json: { error: 'ingester unavailable' } });
    const run = await push([
      '--server',
      serverUrl,
      '--service',
      'svc',
      '--retries',
      '2',
      '--retry-delay',
      '5',
      '--quiet',
      file,
    ]);
    expect(run.code).toBe(1);
    expect(received).toHaveLength(3);
    expect(run.stderr).toBe(`1 file failed:\n  ${file}: HTTP 503: ingester unavailable\n`);
  });

  it('retries a refused connection and names the network error', async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((resolve) => closed.close(resolve));
    const run = await push([
      '--server',
      `http://127.0.0.1:${port}`,
      '--service',
      'svc',
      '--retries',
      '1',
      '--retry-delay',
      '5',
      goHeap,
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toContain(`retry   ${goHeap}: connect ECONNREFUSED 127.0.0.1:${port}; attempt 2 of 2`);
    expect(run.stderr).toContain(`1 file failed:\n  ${goHeap}: connect ECONNREFUSED 127.0.0.1:${port}\n`);
  });

  it('fails a named file that is missing or no profile, and still pushes the others', async () => {
    const notes = write('notes.txt', 'just some words\nand more\n');
    const missing = path.join(tmp, 'missing.pb.gz');
    const run = await push(['--server', serverUrl, '--service', 'svc', '--quiet', missing, notes, goHeap]);
    expect(run.code).toBe(1);
    expect(received).toHaveLength(1);
    expect(run.stderr).toBe(
      `2 files failed:\n  ${missing}: no such file or directory\n` +
        `  ${notes}: not a pprof, folded or perf script profile (pass --format to send it anyway)\n`,
    );
    expect(run.stdout).toMatch(/^pushed 1 of 3 files .*; 2 failed\n$/);
  });

  it('sends a file as the --format given, without detecting', async () => {
    const file = write('words.txt', 'just some words\n');
    const run = await push(['--server', serverUrl, '--service', 'svc', '--format', 'folded', file]);
    expect(run.code).toBe(0);
    expect(received[0].params.get('format')).toBe('folded');
    expect(received[0].body.toString()).toBe('just some words\n');
  });

  it('uploads at most --concurrency files at once', async () => {
    const files = [1, 2, 3, 4, 5, 6].map((i) => write(`p${i}.folded`, `main;f${i} ${i}\n`));
    answer = () => ({ status: 200, json: {}, delayMs: 100 });
    const run = await push(['--server', serverUrl, '--service', 'svc', '--concurrency', '2', ...files]);
    expect(run.code).toBe(0);
    expect(received).toHaveLength(6);
    expect(maxInFlight).toBe(2);
    // Lines come in completion order; the counter keeps counting.
    expect(
      run.stderr
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => l.replace(/.* \[/, '[')),
    ).toEqual(['[1/6]', '[2/6]', '[3/6]', '[4/6]', '[5/6]', '[6/6]']);
  });

  it('takes the server and token from FLAMEWATCH_SERVER and FLAMEWATCH_TOKEN', async () => {
    const run = await push(['--service', 'svc', '--quiet', goHeap], {
      FLAMEWATCH_SERVER: serverUrl,
      FLAMEWATCH_TOKEN: 'from-env',
    });
    expect(run.code).toBe(0);
    expect(run.stderr).toBe('');
    expect(received[0].headers.authorization).toBe('Bearer from-env');
    expect(received[0].headers['x-scope-orgid']).toBeUndefined();
  });

  it('refuses to start without a server, with a message saying how to give one', async () => {
    const run = await push(['--service', 'svc', goHeap]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(
      'flamewatch: --server is required (or set FLAMEWATCH_SERVER), e.g. --server http://localhost:4040\n',
    );
    expect(received).toHaveLength(0);
  });

  it('refuses bad labels and a time range that ends before it starts', async () => {
    const labels = await push(['--server', serverUrl, '--service', 'svc', '--labels', 'env', goHeap]);
    expect(labels.code).toBe(1);
    expect(labels.stderr).toBe('flamewatch: label "env" in --labels "env" has no value: write name=value\n');
    const times = await push([
      '--server',
      serverUrl,
      '--service',
      'svc',
      '--from',
      '20',
      '--until',
      '10',
      goHeap,
    ]);
    expect(times.stderr).toBe('flamewatch: --from 20 is after --until 10\n');
    expect(received).toHaveLength(0);
  });

  it('exits 1 when a directory holds no profile', async () => {
    write('empty-dir/README.md', 'nothing here\n');
    const run = await push([
      '--server',
      serverUrl,
      '--service',
      'svc',
      '--quiet',
      path.join(tmp, 'empty-dir'),
    ]);
    expect(run.code).toBe(1);
    expect(run.stderr).toBe(`no profile found in ${path.join(tmp, 'empty-dir')}\n`);
  });
});

/** The size as the CLI prints it, for files over 1 KiB. */
function kib(file: string): string {
  return `${(fs.statSync(file).size / 1024).toFixed(1)} KiB`;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
