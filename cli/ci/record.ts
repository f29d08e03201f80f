/**
 * `flamewatch ci record -- <command>`: runs a benchmark with the Node.js agent
 * preloaded (NODE_OPTIONS `--require @flamewatch/agent/register`) and its
 * FLAMEWATCH_* settings, so every Node process the command starts pushes
 * labelled profiles. The agent pushes its last profile when a process's event
 * loop empties; the command's exit code is passed through. A benchmark that
 * calls `require('@flamewatch/agent').countWork(iterations)` sends its
 * iterations as the work of each CPU profile (FLAMEWATCH_WORK, kept from the
 * caller's environment, chooses what else counts).
 *
 * `--repeat N` runs the command N times, one after another: each run is its
 * own process (the agent names each in its pushes), and the process is the
 * regression detector's unit of replication, so one run a side can never be
 * decided. Repeating stops at the first run that fails, whose code is passed
 * through.
 */
import { spawn } from 'node:child_process';
import { constants } from 'node:os';

export interface RecordSettings {
  command: string[];
  server?: string;
  service?: string;
  /** Labels, in order; later ones win over earlier ones of the same name. */
  labels: ReadonlyArray<readonly [string, string]>;
  tenant?: string;
  token?: string;
  /** Seconds between the agent's pushes. */
  interval?: number;
}

/** The most runs `--repeat` allows. */
export const MAX_REPEAT = 100;

/** The environment the command runs in: the agent preloaded, its settings, the caller's own variables kept. */
export function recordEnv(
  base: NodeJS.ProcessEnv,
  s: Omit<RecordSettings, 'command'>,
  registerPath: string,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  // NODE_OPTIONS reads double-quoted values, so a path with spaces survives.
  const preload = `--require ${JSON.stringify(registerPath)}`;
  env.NODE_OPTIONS = base.NODE_OPTIONS ? `${base.NODE_OPTIONS} ${preload}` : preload;
  if (s.server !== undefined) env.FLAMEWATCH_SERVER = s.server;
  if (s.service !== undefined) env.FLAMEWATCH_SERVICE = s.service;
  if (s.tenant !== undefined) env.FLAMEWATCH_TENANT = s.tenant;
  if (s.token !== undefined) env.FLAMEWATCH_TOKEN = s.token;
  // A benchmark is profiled all its life, a push every 10 s unless asked otherwise: the agent's duty cycle (it
  // records a window of each interval) suits services that run for days, not a run that lasts a minute.
  const interval = s.interval !== undefined ? String(s.interval) : (base.FLAMEWATCH_INTERVAL ?? '10');
  env.FLAMEWATCH_INTERVAL = interval;
  env.FLAMEWATCH_PROFILE_SECONDS = base.FLAMEWATCH_PROFILE_SECONDS ?? interval;
  const merged = new Map<string, string>();
  for (const pair of (base.FLAMEWATCH_LABELS ?? '').split(',')) {
    const eq = pair.indexOf('=');
    if (eq > 0) merged.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
  }
  for (const [k, v] of s.labels) merged.set(k, v);
  for (const [k, v] of merged) {
    if (v.includes(','))
      throw new Error(`label ${k}="${v}": the agent's FLAMEWATCH_LABELS cannot carry a comma in a value`);
  }
  if (merged.size > 0) env.FLAMEWATCH_LABELS = [...merged].map(([k, v]) => `${k}=${v}`).join(',');
  return env;
}

/** The agent's preload file, resolved from this installation. */
export function agentRegisterPath(): string {
  try {
    return require.resolve('@flamewatch/agent/register');
  } catch {
    throw new Error(
      'cannot find @flamewatch/agent (its register.js): install it beside flamewatch, npm install @flamewatch/agent',
    );
  }
}

/** Runs the command to its end and returns its exit code (128 + the signal number when a signal ended it). */
export function runRecorded(s: RecordSettings, env: NodeJS.ProcessEnv): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(s.command[0], s.command.slice(1), { env, stdio: 'inherit' });
    const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
    const onInt = forward('SIGINT');
    const onTerm = forward('SIGTERM');
    process.on('SIGINT', onInt);
    process.on('SIGTERM', onTerm);
    const done = () => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
    };
    child.once('error', (err) => {
      done();
      reject(new Error(`cannot run ${s.command[0]}: ${err.message}`));
    });
    child.once('exit', (code, signal) => {
      done();
      resolve(code ?? 128 + signalNumber(signal));
    });
  });
}

/**
 * Runs the command `repeat` times, one run after the other, each its own
 * process; stops after the first run that exits non-zero and returns its
 * code, else 0. A SIGINT or SIGTERM (forwarded to the running command)
 * starts no further run: if runs remained, the code is 128 + its number.
 */
export async function runRepeated(
  s: RecordSettings,
  env: NodeJS.ProcessEnv,
  repeat: number,
  log: (message: string) => void = () => undefined,
  run: (s: RecordSettings, env: NodeJS.ProcessEnv) => Promise<number> = runRecorded,
): Promise<number> {
  if (!Number.isInteger(repeat) || repeat < 1 || repeat > MAX_REPEAT)
    throw new Error(`--repeat must be a whole number from 1 to ${MAX_REPEAT}, not ${repeat}`);
  // A SIGINT or SIGTERM (forwarded to the running command by runRecorded) ends the repeating too, even
  // when the command handles it and exits 0. Listening here also keeps the signal from killing this
  // process between two runs.
  let stopped: NodeJS.Signals | undefined;
  const onInt = () => (stopped ??= 'SIGINT');
  const onTerm = () => (stopped ??= 'SIGTERM');
  process.on('SIGINT', onInt);
  process.on('SIGTERM', onTerm);
  try {
    for (let i = 1; i <= repeat; i++) {
      if (stopped !== undefined) {
        log(`flamewatch ci record: ${stopped} received; not repeating`);
        return 128 + signalNumber(stopped);
      }
      if (repeat > 1) log(`flamewatch ci record: run ${i} of ${repeat}`);
      const code = await run(s, env);
      if (code !== 0) {
        if (i < repeat) log(`flamewatch ci record: run ${i} of ${repeat} exited ${code}; not repeating`);
        return code;
      }
    }
    return 0;
  } finally {
    process.off('SIGINT', onInt);
    process.off('SIGTERM', onTerm);
  }
}

function signalNumber(signal: NodeJS.Signals | null): number {
  return signal ? (constants.signals[signal] ?? 1) : 1;
}
