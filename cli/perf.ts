import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Command, InvalidArgumentError } from 'commander';
import { formatFolded, mergeV8Tiers } from '../profile/perf-script';
import { checkPerf, collapseRecording, PerfError, type PerfTarget, recordWindow } from './perf/record';
import { appName, checkServiceName, ingestUrl, parseLabels } from './push/ingest-query';
import { upload } from './push/upload';

interface PerfFlags {
  server: string;
  service?: string;
  labels: string[];
  pid?: number;
  allCpus?: boolean;
  window: number;
  frequency: number;
  windows?: number;
  tenant?: string;
  token?: string;
  quiet?: boolean;
  keepTiers?: boolean;
}

function positive(what: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`${what} must be a positive number`);
    return n;
  };
}

/**
 * `flamewatch perf`: Linux perf as a collector. Records a process, every CPU
 * or a command in windows (`perf record -F 99 -g`), collapses each window with
 * the same converter as `flamewatch collapse`, merges V8's compilation tiers
 * (mergeV8Tiers; `--keep-tiers` keeps them), and pushes it as folded stacks
 * with its time range and labels (service, host, and the user's).
 */
export function perfCommand(): Command {
  return new Command('perf')
    .description(
      'profile a process (--pid), every CPU (--all-cpus) or a command (-- cmd) with Linux perf, pushing each window',
    )
    .argument('[command...]', 'a command to run and profile until it exits')
    .option('--server <url>', 'Flamewatch server', process.env.FLAMEWATCH_SERVER ?? 'http://127.0.0.1:4040')
    .option(
      '--service <name>',
      'service name (default: the process or command name, or "host" with --all-cpus)',
    )
    .option(
      '--labels <k=v,...>',
      'labels for every window (repeatable)',
      (v: string, prev: string[]) => [...prev, v],
      [] as string[],
    )
    .option('-p, --pid <pid>', 'process to profile', positive('pid'))
    .option('-a, --all-cpus', 'profile every CPU (the whole host)')
    .option('--window <seconds>', 'length of one pushed window', positive('window'), 10)
    .option('-F, --frequency <hz>', 'samples per second per CPU', positive('frequency'), 99)
    .option('--windows <n>', 'stop after this many windows', positive('windows'))
    .option('--tenant <id>', 'X-Scope-OrgID', process.env.FLAMEWATCH_TENANT)
    .option('--token <token>', 'Authorization: Bearer token', process.env.FLAMEWATCH_TOKEN)
    .option(
      '--keep-tiers',
      "keep V8's compilation tier in JavaScript frames (JS:*fib optimised, JS:^fib baseline, JS:~fib interpreted) instead of one frame per function",
    )
    .option('-q, --quiet', 'no line per window')
    .action(async (command: string[], flags: PerfFlags) => {
      const modes = [flags.pid !== undefined, flags.allCpus === true, command.length > 0].filter(
        Boolean,
      ).length;
      if (modes !== 1) throw new Error('give exactly one of --pid <pid>, --all-cpus, or -- <command>');
      try {
        await checkPerf();
      } catch (err) {
        if (err instanceof PerfError) throw new Error(err.message);
        throw err;
      }
      const child =
        command.length > 0 ? spawn(command[0], command.slice(1), { stdio: 'inherit' }) : undefined;
      const target: PerfTarget =
        child?.pid !== undefined
          ? { pid: child.pid }
          : flags.pid !== undefined
            ? { pid: flags.pid }
            : { allCpus: true };
      const service = flags.service ?? defaultService(target, command);
      checkServiceName(service);
      const labels = [...parseLabels(flags.labels), ['host', os.hostname()] as const];
      const exitCode = await collect(target, service, labels, flags, child);
      process.exitCode = exitCode;
    });
}

function defaultService(target: PerfTarget, command: string[]): string {
  if (command.length > 0) return path.basename(command[0]);
  if ('pid' in target) {
    try {
      return fs.readFileSync(`/proc/${target.pid}/comm`, 'utf8').trim() || 'process';
    } catch {
      throw new Error(`no process with pid ${target.pid}`);
    }
  }
  return 'host';
}

async function collect(
  target: PerfTarget,
  service: string,
  labels: ReturnType<typeof parseLabels>,
  flags: PerfFlags,
  child?: ChildProcess,
): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'flamewatch-perf-'));
  // Two recordings in turn: window n+1 records while window n is collapsed
  // and pushed, so no time goes unrecorded between windows.
  const files = [path.join(dir, 'a.data'), path.join(dir, 'b.data')];
  let stopping = false;
  const stop = () => {
    stopping = true;
  };
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const childExit = child
    ? new Promise<number>((r) => child.once('exit', (code, signal) => r(code ?? (signal ? 128 : 1))))
    : undefined;
  const headers: Record<string, string> = {};
  if (flags.tenant) headers['X-Scope-OrgID'] = flags.tenant;
  if (flags.token) headers.Authorization = `Bearer ${flags.token}`;
  const log = (line: string) => {
    if (!flags.quiet) process.stderr.write(`flamewatch perf: ${line}\n`);
  };
  let failures = 0;

  const pushWindow = async (n: number, file: string, from: number, until: number): Promise<void> => {
    const collapsed = await collapseRecording(file);
    const stacks = flags.keepTiers ? collapsed : mergeV8Tiers(collapsed);
    if (stacks.size === 0) {
      log(`window ${n}: no samples (the target was idle)`);
      return;
    }
    let cpuNanos = 0;
    for (const v of stacks.values()) cpuNanos += v;
    const url = ingestUrl(flags.server, {
      name: appName(service, labels, 'cpu'),
      format: 'folded',
      from: String(from),
      until: String(until),
      units: 'nanoseconds',
      sampleRate: flags.frequency,
    });
    const body = Buffer.from(formatFolded(stacks), 'latin1');
    const result = await upload(
      { url, body, contentType: 'text/plain', headers },
      { retries: 2, baseDelayMs: 500, timeoutMs: 30_000 },
      () => undefined,
    );
    if (result.ok)
      log(`window ${n}: ${stacks.size} stacks, ${(cpuNanos / 1e6).toFixed(0)} ms of CPU, pushed`);
    else {
      failures++;
      log(`window ${n}: push failed: ${result.message}`);
    }
  };

  let previous: Promise<void> = Promise.resolve();
  try {
    for (let n = 1; !stopping && (flags.windows === undefined || n <= flags.windows); n++) {
      const file = files[n % 2];
      const from = Date.now();
      const outcome = await recordWindow(target, flags.window, flags.frequency, file);
      const until = Date.now();
      await previous; // its file is recorded into next
      if (outcome === 'gone') break;
      previous = pushWindow(n, file, from, until);
      if (outcome === 'last') break;
    }
    await previous;
  } catch (err) {
    if (err instanceof PerfError) throw new Error(err.message);
    throw err;
  } finally {
    await previous.catch(() => undefined);
    fs.rmSync(dir, { recursive: true, force: true });
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
  if (child && childExit) {
    if (child.exitCode === null) child.kill('SIGTERM');
    return childExit;
  }
  return failures > 0 ? 1 : 0;
}
