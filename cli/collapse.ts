import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Command } from 'commander';
import { PerfScriptCollapser, foldedChunks, type CollapseOptions } from '../profile/perf-script';

/** The command's flags are the converter's options, as commander names them. */
type CollapseFlags = Omit<CollapseOptions, 'onWarning'>;

/** Big reads: per-chunk overhead is what remains once lines are cheap. */
const READ_CHUNK_BYTES = 1 << 20;

/**
 * `flamewatch collapse [options] [files...]`: `perf script` output (files in
 * order, or stdin) → folded stacks on stdout, as stackcollapse-perf.pl prints
 * them. Input is streamed; only the folded result is held in memory.
 */
export function collapseCommand(): Command {
  return new Command('collapse')
    .description('fold `perf script` output into stacks (a drop-in for stackcollapse-perf.pl)')
    .argument('[files...]', 'perf script output files, read in order; none or "-" reads stdin')
    .option('--pid', 'include the PID with process names')
    .option('--tid', 'include the TID and PID with process names')
    .option('--kernel', 'annotate kernel functions with _[k]')
    .option('--jit', 'annotate JIT functions with _[j]')
    .option('--all', 'all annotations (--kernel --jit)')
    .option('--addrs', 'include raw addresses where symbols cannot be found')
    .option('--event-filter <event>', 'keep only samples of this event (default: the first event seen)')
    .action(async (files: string[], flags: CollapseFlags) => {
      const options: CollapseOptions = {
        ...flags,
        onWarning: (message) => process.stderr.write(`${message}\n`),
      };
      const collapser = new PerfScriptCollapser(options);
      for (const file of files.length === 0 ? ['-'] : files) {
        for await (const chunk of readText(file)) collapser.push(chunk);
        collapser.endFile();
      }
      await writeFolded(collapser.end());
    });
}

/** The file's text (stdin for "-"), latin1-decoded so that every byte passes through unchanged. */
async function* readText(file: string): AsyncGenerator<string> {
  const stream =
    file === '-'
      ? process.stdin.setEncoding('latin1')
      : createReadStream(file, { encoding: 'latin1', highWaterMark: READ_CHUNK_BYTES });
  try {
    for await (const chunk of stream as AsyncIterable<string>) yield chunk;
  } catch (err) {
    throw new Error(`cannot read ${file === '-' ? 'stdin' : file}: ${describe(err)}`);
  }
}

async function writeFolded(stacks: ReadonlyMap<string, number>): Promise<void> {
  function* bytes(): Generator<Buffer> {
    for (const chunk of foldedChunks(stacks)) yield Buffer.from(chunk, 'latin1');
  }
  try {
    // pipeline waits for drain and surfaces write errors; stdout stays open.
    await pipeline(Readable.from(bytes()), process.stdout, { end: false });
  } catch (err) {
    // A reader that stopped early (`| head`) is not an error, as for any filter.
    if (codeOf(err) !== 'EPIPE') throw err;
  }
}

function codeOf(err: unknown): string | undefined {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

function describe(err: unknown): string {
  if (codeOf(err) === 'ENOENT') return 'no such file';
  if (codeOf(err) === 'EISDIR') return 'it is a directory';
  if (codeOf(err) === 'EACCES') return 'permission denied';
  return err instanceof Error ? err.message : String(err);
}
