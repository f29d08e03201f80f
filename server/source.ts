/**
 * The source beside a function's lines (`GET /api/v1/function-lines`), read
 * from directories the operator names (FLAMEWATCH_SOURCE_ROOTS) and nowhere
 * else, as `pprof -list` reads it with `-source_path`. A profile's file is a
 * path on the machine that ran the code (`/app/src/orders.js`), seldom the
 * server's: it is looked for under each root by its trailing segments,
 * longest first (`<root>/app/src/orders.js`, `<root>/src/orders.js`, ...).
 * File names come from pushed profiles, so they are attacker-controlled: a
 * candidate is used only when its real path (symlinks resolved) is inside a
 * root's real path, and it must be a small text file.
 */
import { constants as fsConstants } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Roots by tenant; `*` serves every tenant. */
export type SourceRoots = ReadonlyMap<string, readonly string[]>;

/** Lines of context shown around each line that has a cost. */
const CONTEXT = 3;
const MAX_LINES = 400;
const MAX_LINE_CHARS = 400;
const MAX_FILE_BYTES = 2 * 1024 * 1024;
const MAX_SEGMENTS = 12;

/**
 * FLAMEWATCH_SOURCE_ROOTS: directories separated by `:` (`;` on Windows), each for every tenant, or
 * `tenant=dir` for one. Each must exist; the answer holds real paths.
 */
export async function parseSourceRoots(text: string): Promise<SourceRoots> {
  const out = new Map<string, string[]>();
  for (const item of text
    .split(path.delimiter)
    .map((s) => s.trim())
    .filter(Boolean)) {
    const eq = item.indexOf('=');
    const [tenant, dir] =
      eq > 0 && !path.isAbsolute(item.slice(0, eq)) ? [item.slice(0, eq), item.slice(eq + 1)] : ['*', item];
    let real: string;
    try {
      real = await fs.realpath(path.resolve(dir));
      if (!(await fs.stat(real)).isDirectory()) throw new Error('not a directory');
    } catch (err) {
      throw new Error(
        `FLAMEWATCH_SOURCE_ROOTS: ${JSON.stringify(dir)} is not a readable directory (${(err as Error).message})`,
      );
    }
    out.set(tenant, [...(out.get(tenant) ?? []), real]);
  }
  return out;
}

export function rootsFor(roots: SourceRoots | undefined, tenant: string): readonly string[] {
  return roots ? [...(roots.get(tenant) ?? []), ...(roots.get('*') ?? [])] : [];
}

export type SourceAnswer = { lines: { line: number; text: string }[] } | { missing: string };

/** The text of `lines` (and a few around each) of `file`, found under `roots`; or why not. */
export async function readSource(
  roots: readonly string[],
  file: string,
  lines: readonly number[],
): Promise<SourceAnswer> {
  if (roots.length === 0) return { missing: 'the server has no source roots (FLAMEWATCH_SOURCE_ROOTS)' };
  let text: string;
  try {
    const found = await locate(roots, file);
    if ('missing' in found) return found;
    text = await readChecked(found.path);
  } catch (err) {
    // An unreadable file (permissions, a race with a deploy) is this file's problem, not the request's.
    return { missing: `not readable (${(err as NodeJS.ErrnoException).code ?? 'error'})` };
  }
  if (text.includes('\u0000')) return { missing: 'not a text file' };
  const all = text.split(/\r?\n/);
  const wanted = new Set<number>();
  for (const l of lines) {
    if (!(l > 0)) continue;
    for (let k = Math.max(1, l - CONTEXT); k <= Math.min(all.length, l + CONTEXT); k++) wanted.add(k);
  }
  const picked = [...wanted].sort((a, b) => a - b).slice(0, MAX_LINES);
  if (picked.length === 0) return { missing: 'the profiles give no line numbers for it' };
  return { lines: picked.map((line) => ({ line, text: all[line - 1].slice(0, MAX_LINE_CHARS) })) };
}

async function locate(
  roots: readonly string[],
  file: string,
): Promise<{ path: string } | { missing: string }> {
  let p = file;
  if (p.startsWith('file://')) {
    try {
      p = fileURLToPath(p);
    } catch {
      return { missing: 'not a file path' };
    }
  }
  if (!p || /^[a-z]+:(?![\\/])/i.test(p)) return { missing: 'a module built into the runtime, not a file' };
  const segments = p.split(/[\\/]+/).filter((s) => s && s !== '.');
  if (segments.some((s) => s === '..')) return { missing: 'a path that climbs out of its directory' };
  // Dot files and directories (.env, .git/config, .npmrc) are never source a profile points at, and may be secrets.
  if (segments.some((s) => s.startsWith('.'))) return { missing: 'a hidden file or directory' };
  const tails = segments.slice(-MAX_SEGMENTS);
  for (const root of roots) {
    for (let i = 0; i < tails.length; i++) {
      const candidate = path.join(root, ...tails.slice(i));
      let real: string;
      try {
        real = await fs.realpath(candidate);
      } catch {
        continue;
      }
      if (real !== root && !real.startsWith(root + path.sep)) continue;
      const st = await fs.stat(real).catch(() => undefined);
      if (!st?.isFile()) continue;
      if (st.size > MAX_FILE_BYTES) return { missing: `larger than ${MAX_FILE_BYTES / 1024 / 1024} MiB` };
      return { path: real };
    }
  }
  return { missing: 'not found under the source roots' };
}

/**
 * Reads a located file through one handle: opened without following a last-component symlink and without
 * blocking (a FIFO swapped in since `locate` looked must not hang a thread), checked to be a regular file of
 * at most the size limit, and read no further than that.
 */
async function readChecked(file: string): Promise<string> {
  const handle = await fs.open(file, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW | fsConstants.O_NONBLOCK);
  try {
    const st = await handle.stat();
    if (!st.isFile() || st.size > MAX_FILE_BYTES)
      throw Object.assign(new Error('not a small regular file'), { code: 'EINVAL' });
    const buf = Buffer.alloc(Math.min(st.size, MAX_FILE_BYTES));
    const { bytesRead } = await handle.read(buf, 0, buf.length, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}
