/**
 * `flamewatch push`: sends profile files to a server's Pyroscope-compatible
 * `/ingest`, several at a time, and says which ones failed and why.
 */
import { Command, InvalidArgumentError, Option } from 'commander';
import { PROFILE_FORMATS, type ProfileFormat } from '../profile/format';
import { isProcessId, isWorkText } from '../server/ingest/params';
import { expandPaths, type ProfileFile } from './push/files';
import { appName, checkServiceName, ingestUrl, parseLabels, type LabelList } from './push/ingest-query';
import { NotAProfileError, readPayload, type Payload } from './push/payload';
import { createProgress, summarize, type FileOutcome, type PushProgress } from './push/progress';
import { upload, type RetryPolicy } from './push/upload';

/** The options as commander hands them over. */
interface PushOptions {
  server?: string;
  service?: string;
  labels?: string[];
  format?: ProfileFormat;
  type: string;
  units: string;
  sampleRate?: number;
  work?: number;
  process?: string;
  from?: string;
  until?: string;
  tenant?: string;
  token?: string;
  concurrency: number;
  retries: number;
  retryDelay: number;
  timeout: number;
  quiet?: boolean;
}

/** The options checked and combined, as every upload uses them. */
interface PushSettings {
  server: string;
  service: string;
  labels: LabelList;
  format?: ProfileFormat;
  type: string;
  units: string;
  sampleRate?: number;
  work?: number;
  process?: string;
  from?: string;
  until?: string;
  headers: Record<string, string>;
  retry: RetryPolicy;
}

/** The `push` command, for cli/main.ts to add to the program. */
export function pushCommand(): Command {
  return new Command('push')
    .description(
      'Send profile files (pprof, folded stacks, perf script) to a Flamewatch or Pyroscope server.',
    )
    .argument(
      '<paths...>',
      'profile files, or directories to search recursively (hidden entries are skipped)',
    )
    .addOption(
      new Option('--server <url>', 'server base URL, e.g. http://localhost:4040').env('FLAMEWATCH_SERVER'),
    )
    .option('--service <name>', 'service (application) name the profiles belong to')
    .option(
      '--labels <k=v,...>',
      'labels for every profile; repeatable; quote a value containing commas: k="a,b"',
      collect,
    )
    .addOption(
      new Option('--format <format>', 'format of every file, instead of detecting each').choices(
        PROFILE_FORMATS,
      ),
    )
    .option(
      '--type <type>',
      'profile type of folded and perf script files (pprof files name their own)',
      'cpu',
    )
    .option(
      '--units <units>',
      'what one count of a folded or perf script file is; perf counts are sample periods when perf printed them (nanoseconds for cpu-clock)',
      'samples',
    )
    .option(
      '--sample-rate <hz>',
      'sampling rate of folded and perf script files, to turn samples into time',
      positiveInteger,
    )
    .option(
      '--work <n>',
      "work units (requests served, benchmark iterations) done during each profile's interval",
      workUnits,
    )
    .option(
      '--process <id>',
      'an id of the process (instance) that wrote the profiles, e.g. host:pid:start',
      processId,
    )
    .option(
      '--from <unix-s>',
      "start of the profiles' time range in unix seconds (default: the server decides)",
      unixTime,
    )
    .option('--until <unix-s>', 'end of the time range in unix seconds', unixTime)
    .option('--tenant <id>', 'tenant, sent as X-Scope-OrgID')
    .addOption(
      new Option('--token <token>', 'bearer token, sent as Authorization: Bearer').env('FLAMEWATCH_TOKEN'),
    )
    .option('--concurrency <n>', 'files uploaded at once', positiveInteger, 4)
    .option('--retries <n>', 'retries of an upload after a 5xx, 429 or network error', nonNegativeInteger, 2)
    .option(
      '--retry-delay <ms>',
      'delay before the first retry, doubled for each next one',
      nonNegativeInteger,
      500,
    )
    .option('--timeout <s>', 'time allowed for one upload', positiveInteger, 60)
    .option('-q, --quiet', 'print no progress and no line per file, only the summary and failures')
    .action(async (paths: string[], options: PushOptions) => {
      process.exitCode = await runPush(paths, checkOptions(options));
    });
}

/** Pushes every file under `paths`; returns the exit code: 0 when all went, 1 when any failed or none was a profile. */
async function runPush(
  paths: readonly string[],
  settings: PushSettings & { concurrency: number; quiet: boolean },
): Promise<number> {
  const started = Date.now();
  const { files, unreadable } = await expandPaths(paths);
  const outcomes: Array<{ index: number; outcome: FileOutcome }> = [];
  const progress = createProgress({
    stream: process.stderr,
    quiet: settings.quiet,
    totalFiles: unreadable.length + files.length,
    totalBytes: files.reduce((sum, f) => sum + f.size, 0),
  });
  const record = (index: number, outcome: FileOutcome): void => {
    outcomes.push({ index, outcome });
    progress.finished(outcome);
  };
  unreadable.forEach((u, i) => record(i, { file: u.path, bytes: 0, status: 'failed', message: u.message }));
  await forEachLimited(files, settings.concurrency, async (file, i) => {
    record(unreadable.length + i, await pushFile(file, settings, progress));
  });
  progress.close();

  // Uploads finish in any order; the report follows the order of the arguments.
  const ordered = outcomes.sort((a, b) => a.index - b.index).map((o) => o.outcome);
  const { summary, failures } = summarize(ordered, Date.now() - started);
  process.stdout.write(`${summary}\n`);
  if (failures !== '') {
    process.stderr.write(failures);
    return 1;
  }
  if (!ordered.some((o) => o.status === 'ok')) {
    process.stderr.write(`no profile found in ${paths.join(', ')}\n`);
    return 1;
  }
  return 0;
}

/** Reads, converts and uploads one file; never throws. */
async function pushFile(
  file: ProfileFile,
  settings: PushSettings,
  progress: PushProgress,
): Promise<FileOutcome> {
  const base = { file: file.path, bytes: file.size };
  let payload: Payload;
  try {
    payload = await readPayload(file.path, settings.format);
  } catch (err) {
    const skip = err instanceof NotAProfileError && !file.explicit;
    return {
      ...base,
      status: skip ? 'skipped' : 'failed',
      message: err instanceof Error ? err.message : String(err),
    };
  }
  // Folded text carries no sample type, so it goes in the name; pprof names its own.
  const folded = payload.wireFormat === 'folded';
  const url = ingestUrl(settings.server, {
    name: appName(settings.service, settings.labels, folded ? settings.type : undefined),
    format: payload.wireFormat,
    from: settings.from,
    until: settings.until,
    units: folded ? settings.units : undefined,
    sampleRate: folded ? settings.sampleRate : undefined,
    work: settings.work,
    process: settings.process,
  });
  const result = await upload(
    { url, body: payload.body, contentType: payload.contentType, headers: settings.headers },
    settings.retry,
    (next, attempts, reason, delayMs) => progress.retrying(file.path, next, attempts, reason, delayMs),
  );
  if (!result.ok) return { ...base, status: 'failed', format: payload.format, message: result.message };
  return { ...base, status: 'ok', format: payload.format, samples: result.samples };
}

/** Checks what commander could not (required values, URL, names, time range); throws a message naming the option. */
function checkOptions(options: PushOptions): PushSettings & { concurrency: number; quiet: boolean } {
  if (options.server === undefined || options.server === '') {
    throw new Error('--server is required (or set FLAMEWATCH_SERVER), e.g. --server http://localhost:4040');
  }
  let url: URL;
  try {
    url = new URL(options.server);
  } catch {
    throw new Error(`--server "${options.server}" is not a URL; write it as http://host:port`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new Error(`--server "${options.server}" must be an http:// or https:// URL`);
  }
  if (options.service === undefined)
    throw new Error('--service is required: the name of the service the profiles belong to');
  checkServiceName(options.service);
  for (const [flag, value] of [
    ['--type', options.type],
    ['--units', options.units],
  ] as const) {
    if (!/^[A-Za-z0-9_]+$/.test(value))
      throw new Error(`${flag} "${value}" is not valid: use letters, digits and "_"`);
  }
  if (
    options.from !== undefined &&
    options.until !== undefined &&
    BigInt(options.from) > BigInt(options.until)
  ) {
    throw new Error(`--from ${options.from} is after --until ${options.until}`);
  }
  const headers: Record<string, string> = {};
  if (options.tenant !== undefined) headers['X-Scope-OrgID'] = options.tenant;
  if (options.token !== undefined && options.token !== '') headers.Authorization = `Bearer ${options.token}`;
  return {
    server: options.server,
    service: options.service,
    labels: parseLabels(options.labels ?? []),
    format: options.format,
    type: options.type,
    units: options.units,
    sampleRate: options.sampleRate,
    work: options.work,
    process: options.process,
    from: options.from,
    until: options.until,
    headers,
    retry: { retries: options.retries, baseDelayMs: options.retryDelay, timeoutMs: options.timeout * 1000 },
    concurrency: options.concurrency,
    quiet: options.quiet === true,
  };
}

/** Runs `fn` on every item, at most `limit` at a time. */
async function forEachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const index = next++;
      await fn(items[index], index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

function positiveInteger(value: string): number {
  const n = nonNegativeInteger(value);
  if (n === 0) throw new InvalidArgumentError('must be at least 1.');
  return n;
}

function nonNegativeInteger(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number.');
  return Number(value);
}

function workUnits(value: string): number {
  if (!isWorkText(value)) throw new InvalidArgumentError('must be a number ≥ 0, e.g. 1200.');
  return Number(value);
}

function processId(value: string): string {
  if (!isProcessId(value))
    throw new InvalidArgumentError('must be 1-256 characters without control characters.');
  return value;
}

function unixTime(value: string): string {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be unix time in seconds, e.g. 1718000000.');
  return value;
}
