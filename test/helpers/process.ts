import { spawn, type ChildProcess } from 'node:child_process';
import * as path from 'node:path';

export const cli = path.resolve(__dirname, '..', '..', 'bin', 'flamewatch.js');

export interface Started {
  proc: ChildProcess;
  match: RegExpExecArray;
  /** Everything it printed so far (stdout and stderr). */
  output: () => string;
}

/** Starts `node <args>` and resolves once its output matches `ready`; rejects if it exits first. */
export function startNode(args: string[], ready: RegExp, env: Record<string, string> = {}): Promise<Started> {
  const proc = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const onData = (d: Buffer) => {
      output += d.toString();
      const match = ready.exec(output);
      if (match) resolve({ proc, match, output: () => output });
    };
    proc.stdout!.on('data', onData);
    proc.stderr!.on('data', onData);
    proc.once('exit', (code) => reject(new Error(`node ${args.join(' ')} exited with ${code}: ${output}`)));
  });
}

/**
 * Runs `node <args>` to its end; resolves with its stdout when it exits 0, else rejects with `what`, the code
 * and its stderr. Asynchronous: a server under test in this process must keep answering meanwhile.
 */
export function runNode(args: string[], env: Record<string, string>, what: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c));
    child.stderr.on('data', (c: Buffer) => (err += c));
    child.on('exit', (code) =>
      code === 0 ? resolve(out) : reject(new Error(`${what} exited ${code}: ${err}`)),
    );
  });
}

/** `flamewatch serve` on an ephemeral port; resolves with its URL. */
export async function startServe(
  args: string[],
  env: Record<string, string> = {},
): Promise<Started & { url: string }> {
  const started = await startNode(
    [cli, 'serve', '--port', '0', ...args],
    /listening on (http:\/\/[\d.]+:\d+)/,
    env,
  );
  return { ...started, url: started.match[1] };
}
