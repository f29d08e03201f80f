/**
 * `perf script` → folded stacks throughput: `flamewatch collapse` (the built
 * CLI, end to end: process start, reading the file, writing the folded stacks
 * to /dev/null) side by side with Brendan Gregg's stackcollapse-perf.pl on the
 * same ~20 MB input (one corpus perf file repeated), the same number of runs
 * each, medians; then ours alone on ~100 MB. Checks first that both print the
 * same bytes. MB = 10^6 bytes. Then the commands' start alone (issue 19: under
 * 100 ms): `flamewatch --version` and `collapse` of an empty input beside
 * the Perl script on an empty input and bare `node -e 0` and `perl -e 0`.
 *
 *   git --git-dir=/work/.mirror/brendangregg+FlameGraph/repo show HEAD:stackcollapse-perf.pl > /tmp/stackcollapse-perf.pl
 *   npm run build && PEER_STACKCOLLAPSE=/tmp/stackcollapse-perf.pl node dist/bench/collapse.js \
 *     [--file perf-java-stacks-01.txt] [--runs 5] [--mode pid|tid|kernel|jit|all|addrs]
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { argText, median, repoDir, requireSharedCorpus } from './lib';

const peer = process.env.PEER_STACKCOLLAPSE;
if (peer === undefined || !fs.existsSync(peer)) {
  console.error(
    'set PEER_STACKCOLLAPSE to the path of stackcollapse-perf.pl (see the top of bench/collapse.ts)',
  );
  process.exit(1);
}
const corpusFile = argText('file', 'perf-java-stacks-01.txt');
const runs = Number(argText('runs', '5'));
const mode = argText('mode', '');
const flags = mode === '' ? [] : [`--${mode}`];
const outDir = path.join(repoDir, 'bench', 'out');
const cli = path.join(repoDir, 'bin', 'flamewatch.js');

/** `source` repeated to at least `bytes` bytes, written once into bench/out/. */
function repeated(source: string, bytes: number, name: string): string {
  const text = fs.readFileSync(source);
  const copies = Math.ceil(bytes / text.length);
  const target = path.join(outDir, name);
  if (!fs.existsSync(target) || fs.statSync(target).size !== copies * text.length) {
    fs.writeFileSync(target, Buffer.concat(Array.from({ length: copies }, () => text)));
  }
  return target;
}

interface Tool {
  name: string;
  command: string;
  args: (input: string) => string[];
}

const ours: Tool = {
  name: 'flamewatch collapse',
  command: process.execPath,
  args: (f) => [cli, 'collapse', ...flags, f],
};
const perl: Tool = { name: 'stackcollapse-perf.pl', command: 'perl', args: (f) => [peer, ...flags, f] };

/** Wall seconds of one run with stdout to `out` (a file descriptor). */
function timeOnce(tool: Tool, input: string, out: number): number {
  const start = process.hrtime.bigint();
  const run = spawnSync(tool.command, tool.args(input), { stdio: ['ignore', out, 'ignore'] });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  if (run.status !== 0) throw new Error(`${tool.name} exited with ${run.status ?? run.signal} on ${input}`);
  return seconds;
}

function outputOf(tool: Tool, input: string): Buffer {
  const file = path.join(outDir, `${tool === perl ? 'peer' : 'ours'}.folded`);
  const fd = fs.openSync(file, 'w');
  try {
    timeOnce(tool, input, fd);
  } finally {
    fs.closeSync(fd);
  }
  return fs.readFileSync(file);
}

/**
 * Median seconds of each tool over `n` runs, taken in turns (so that a busy
 * machine slows all alike), after one untimed run each that warms the page cache.
 */
function medianSeconds(tools: Tool[], input: string, n: number): number[] {
  const devNull = fs.openSync('/dev/null', 'w');
  try {
    for (const tool of tools) timeOnce(tool, input, devNull);
    const times = tools.map((): number[] => []);
    for (let run = 0; run < n; run++)
      tools.forEach((tool, i) => times[i].push(timeOnce(tool, input, devNull)));
    return times.map(median);
  } finally {
    fs.closeSync(devNull);
  }
}

fs.mkdirSync(outDir, { recursive: true });
const source = path.join(requireSharedCorpus(), 'perf', corpusFile);
const input20 = repeated(source, 20e6, `collapse-20mb-${corpusFile}`);
const input100 = repeated(input20, 100e6, `collapse-100mb-${corpusFile}`);
const mb20 = fs.statSync(input20).size / 1e6;
const mb100 = fs.statSync(input100).size / 1e6;

const expected = outputOf(perl, input20);
const same = outputOf(ours, input20).equals(expected);
const [perlSeconds, oursSeconds] = medianSeconds([perl, ours], input20, runs);
const bigRuns = Math.max(1, Math.ceil(runs / 2));
const [bigSeconds] = medianSeconds([ours], input100, bigRuns);

const row = (tool: string, mb: number, n: number, s: number, ratio: string): string =>
  `| ${tool} | ${mb.toFixed(1)} MB | ${n} | ${s.toFixed(3)} | ${(mb / s).toFixed(1)} | ${ratio} |`;
console.log(
  `Input: ${corpusFile} repeated; mode: ${mode === '' ? 'default' : mode}; node ${process.version}.`,
);
console.log(`Identical output on the ${mb20.toFixed(1)} MB input: ${same ? 'yes' : 'NO'}.\n`);
console.log('| tool | input | runs | median s | MB/s | vs perl |');
console.log('| --- | --- | --- | --- | --- | --- |');
console.log(row(perl.name, mb20, runs, perlSeconds, '1.00×'));
console.log(row(ours.name, mb20, runs, oursSeconds, `${(perlSeconds / oursSeconds).toFixed(2)}×`));
console.log(row(ours.name, mb100, bigRuns, bigSeconds, ''));

// Start: what a CI step or a user pays before any work (15 runs each, in turns).
const startRuns = 15;
const empty = path.join(outDir, 'empty.perf');
fs.writeFileSync(empty, '');
const starts: Tool[] = [
  { name: '`node -e 0` (Node itself)', command: process.execPath, args: () => ['-e', '0'] },
  { name: '`flamewatch --version`', command: process.execPath, args: () => [cli, '--version'] },
  {
    name: '`flamewatch collapse` (empty input)',
    command: process.execPath,
    args: (f) => [cli, 'collapse', f],
  },
  { name: '`perl -e 0` (Perl itself)', command: 'perl', args: () => ['-e', '0'] },
  { name: '`stackcollapse-perf.pl` (empty input)', command: 'perl', args: (f) => [peer, f] },
];
const startSeconds = medianSeconds(starts, empty, startRuns);
console.log(`\n| start (${startRuns} runs each, in turns) | median ms |`);
console.log('| --- | --- |');
starts.forEach((t, i) => console.log(`| ${t.name} | ${(startSeconds[i] * 1000).toFixed(0)} |`));
if (!same) process.exitCode = 1;
