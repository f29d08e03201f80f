/** Turns the paths given to `flamewatch push` into the list of files to send. */
import type { Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';

/** A file to push, named as the user will recognise it (the argument joined with the path below it). */
export interface ProfileFile {
  path: string;
  size: number;
  /**
   * True when the user named this file itself; false when it was found in a
   * directory, where files that are no profile are skipped instead of failing.
   */
  explicit: boolean;
}

/** A path given on the command line that could not be read. */
export interface UnreadablePath {
  path: string;
  message: string;
}

/**
 * The files under `paths`, in argument order and, inside a directory, in name
 * order. Directories are walked recursively, skipping hidden entries (names
 * starting with "."); symbolic links are followed, each directory entered
 * once. A file reached twice is listed once.
 */
export async function expandPaths(
  paths: readonly string[],
): Promise<{ files: ProfileFile[]; unreadable: UnreadablePath[] }> {
  const files: ProfileFile[] = [];
  const unreadable: UnreadablePath[] = [];
  const seen = new Set<string>();
  for (const arg of paths) {
    let stat: Stats;
    try {
      stat = await fs.stat(arg);
    } catch (err) {
      unreadable.push({ path: arg, message: systemMessage(err) });
      continue;
    }
    if (stat.isDirectory()) {
      await walk(arg, files, unreadable, seen);
    } else if (!seen.has(identity(stat))) {
      seen.add(identity(stat));
      files.push({ path: arg, size: stat.size, explicit: true });
    }
  }
  return { files, unreadable };
}

async function walk(
  dir: string,
  files: ProfileFile[],
  unreadable: UnreadablePath[],
  seen: Set<string>,
): Promise<void> {
  let names: string[];
  try {
    const dirStat = await fs.stat(dir);
    // Inode identity rather than the path: a symbolic link back up the tree would otherwise loop forever.
    if (seen.has(identity(dirStat))) return;
    seen.add(identity(dirStat));
    names = (await fs.readdir(dir)).sort();
  } catch (err) {
    unreadable.push({ path: dir, message: systemMessage(err) });
    return;
  }
  for (const name of names) {
    if (name.startsWith('.')) continue;
    const full = path.join(dir, name);
    let stat: Stats;
    try {
      stat = await fs.stat(full);
    } catch (err) {
      unreadable.push({ path: full, message: systemMessage(err) });
      continue;
    }
    if (stat.isDirectory()) {
      await walk(full, files, unreadable, seen);
    } else if (stat.isFile() && !seen.has(identity(stat))) {
      seen.add(identity(stat));
      files.push({ path: full, size: stat.size, explicit: false });
    }
  }
}

function identity(stat: { dev: number; ino: number }): string {
  return `${stat.dev}:${stat.ino}`;
}

/** "no such file or directory" rather than the full `ENOENT: ..., stat 'x'` that repeats the path. */
function systemMessage(err: unknown): string {
  if (err instanceof Error && 'code' in err) {
    const code = String(err.code);
    const known: Record<string, string> = {
      ENOENT: 'no such file or directory',
      EACCES: 'permission denied',
      ENOTDIR: 'a path component is not a directory',
      ELOOP: 'too many symbolic links',
    };
    return known[code] ?? err.message;
  }
  return String(err);
}
