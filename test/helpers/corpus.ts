import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * The shared folder beside the repository (CI clones main with shared/ next
 * to it), or FLAMEWATCH_SHARED. Found from test/helpers and, compiled for the
 * benchmarks, from dist/test/helpers.
 */
export const sharedDir =
  process.env.FLAMEWATCH_SHARED ??
  [path.resolve(__dirname, '..', '..', '..', 'shared'), path.resolve(__dirname, '..', '..', '..', '..', 'shared')].find((d) => fs.existsSync(d)) ??
  path.resolve(__dirname, '..', '..', '..', 'shared');
export const corpusDir = path.join(sharedDir, 'corpus');

if (!fs.existsSync(corpusDir)) {
  throw new Error(`the shared corpus is not at ${corpusDir}; set FLAMEWATCH_SHARED to the shared/ folder`);
}

/** Files of one corpus folder matching a pattern, sorted. */
export function corpusFiles(dir: string, pattern: RegExp): string[] {
  return fs
    .readdirSync(path.join(corpusDir, dir))
    .filter((f) => pattern.test(f))
    .sort()
    .map((f) => path.join(corpusDir, dir, f));
}

/** What google/pprof's parser reads from a corpus profile (`<name>.expected.json`). */
export interface Expected {
  samples: number;
  sampleTypes: { type: string; unit: string; total: number; functions: Record<string, { flat: number; cum: number }> }[];
}

export const toolsDir = path.resolve(__dirname, '..', '..', '.tools');
