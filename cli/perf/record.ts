import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { PerfScriptCollapser } from '../../profile/perf-script';

/** What to record: one process, or every CPU. */
export type PerfTarget = { pid: number } | { allCpus: true };

/** A refusal from perf itself, with what to do about it. */
export class PerfError extends Error {}

/** Reads `perf --version`; throws PerfError saying how to install perf when it is missing. */
export async function checkPerf(): Promise<string> {
  const { code, stdout, stderr, error } = await runPerf(['--version']);
  if (error && (error as NodeJS.ErrnoException).code === 'ENOENT') {
    throw new PerfError(
      'perf is not installed: on Debian install linux-perf (apt-get install linux-perf), on Ubuntu linux-tools-$(uname -r)',
    );
  }
  if (code !== 0) throw new PerfError(`perf --version failed: ${(stderr || stdout).trim()}`);
  return stdout.trim();
}

function runPerf(
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string; error?: Error }> {
  return new Promise((resolve) => {
    const child = spawn('perf', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', (error) => resolve({ code: null, stdout, stderr, error }));
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function paranoid(): string {
  try {
    return fs.readFileSync('/proc/sys/kernel/perf_event_paranoid', 'utf8').trim();
  } catch {
    return 'unknown';
  }
}

/** How a window ended: recorded (and the target lives on), recorded its last, or the target was already gone. */
export type WindowOutcome = 'recorded' | 'last' | 'gone';

/**
 * Records one window into `file` with `perf record -F <hz> -g -e cpu-clock`
 * (a software clock: works in VMs without a PMU; each sample's period is
 * nanoseconds of CPU).
 */
export async function recordWindow(
  target: PerfTarget,
  seconds: number,
  hz: number,
  file: string,
): Promise<WindowOutcome> {
  fs.rmSync(file, { force: true });
  const who = 'pid' in target ? ['-p', String(target.pid)] : ['-a'];
  const { code, stderr, error } = await runPerf([
    'record',
    '-F',
    String(hz),
    '-g',
    '-e',
    'cpu-clock',
    '-o',
    file,
    ...who,
    '--',
    'sleep',
    String(seconds),
  ]);
  if (error) throw new PerfError(`cannot run perf: ${error.message}`);
  if (code !== 0) {
    if (/perf_event_paranoid|Permission denied|not permitted|EACCES|EPERM/i.test(stderr)) {
      throw new PerfError(
        `perf is not permitted to record here (kernel.perf_event_paranoid is ${paranoid()}): run as root, grant CAP_PERFMON, or lower it with sysctl kernel.perf_event_paranoid=1`,
      );
    }
    if ('pid' in target && !processExists(target.pid)) return fs.existsSync(file) ? 'last' : 'gone';
    throw new PerfError(`perf record failed (exit ${code}): ${lastLines(stderr)}`);
  }
  return 'pid' in target && !processExists(target.pid) ? 'last' : 'recorded';
}

/** `perf script` of a recording, collapsed to folded stacks as stackcollapse-perf.pl would. */
export function collapseRecording(file: string): Promise<Map<string, number>> {
  return new Promise((resolve, reject) => {
    const collapser = new PerfScriptCollapser();
    const child = spawn('perf', ['script', '-i', file], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    // latin1 both ways keeps symbol bytes exact (see profile/perf-script.ts).
    child.stdout.on('data', (d: Buffer) => collapser.push(d.toString('latin1')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', (err) => reject(new PerfError(`cannot run perf script: ${err.message}`)));
    child.once('close', (code) => {
      if (code !== 0) reject(new PerfError(`perf script failed (exit ${code}): ${lastLines(stderr)}`));
      else resolve(collapser.end());
    });
  });
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function lastLines(text: string): string {
  return text.trim().split('\n').slice(-3).join(' | ');
}
