/**
 * What `flamewatch push` tells the user while it works: a progress bar
 * redrawn in place on a terminal, one line per file otherwise (logs, CI), or
 * nothing per file with --quiet. The summary at the end is the same for all.
 */
import type { ProfileFormat } from '../../profile/format';

/** How one file ended. */
export interface FileOutcome {
  file: string;
  /** Size of the file on disk. */
  bytes: number;
  status: 'ok' | 'failed' | 'skipped';
  format?: ProfileFormat;
  samples?: number;
  /** Why it failed or was skipped. */
  message?: string;
}

/** Receives the events of a push run. */
export interface PushProgress {
  retrying(file: string, nextAttempt: number, attempts: number, reason: string, delayMs: number): void;
  finished(outcome: FileOutcome): void;
  /** Ends the display (leaves the bar's last state on its own line). */
  close(): void;
}

/** What the progress display needs to know up front. */
export interface ProgressOptions {
  stream: NodeJS.WriteStream;
  quiet: boolean;
  totalFiles: number;
  totalBytes: number;
}

/** A bar when `stream` is a terminal, lines when it is not, nothing per file when quiet. */
export function createProgress(options: ProgressOptions): PushProgress {
  if (options.quiet) return { retrying: () => undefined, finished: () => undefined, close: () => undefined };
  return options.stream.isTTY ? new ProgressBar(options) : new ProgressLines(options);
}

/** Plain lines, one per event, for logs. */
class ProgressLines implements PushProgress {
  private done = 0;

  constructor(private readonly options: ProgressOptions) {}

  retrying(file: string, nextAttempt: number, attempts: number, reason: string, delayMs: number): void {
    this.options.stream.write(
      `retry   ${file}: ${reason}; attempt ${nextAttempt} of ${attempts} in ${formatDuration(delayMs)}\n`,
    );
  }

  finished(outcome: FileOutcome): void {
    this.done++;
    this.options.stream.write(`${describeOutcome(outcome)} [${this.done}/${this.options.totalFiles}]\n`);
  }

  close(): void {}
}

/** How often the bar may be redrawn: more is flicker and wasted writes. */
const REDRAW_MS = 100;

/** One status line redrawn in place; failures and retries print above it. */
class ProgressBar implements PushProgress {
  private done = 0;
  private doneBytes = 0;
  private failed = 0;
  private skipped = 0;
  private readonly started = Date.now();
  private lastDraw = 0;
  // Keeps the elapsed time moving during a long upload, and draws what throttling held back.
  private readonly ticker: NodeJS.Timeout;

  constructor(private readonly options: ProgressOptions) {
    this.ticker = setInterval(() => this.draw(), REDRAW_MS);
    this.ticker.unref();
    this.draw();
  }

  retrying(file: string, nextAttempt: number, attempts: number, reason: string, delayMs: number): void {
    this.above(
      `retry   ${file}: ${reason}; attempt ${nextAttempt} of ${attempts} in ${formatDuration(delayMs)}`,
    );
  }

  finished(outcome: FileOutcome): void {
    this.done++;
    this.doneBytes += outcome.bytes;
    if (outcome.status === 'failed') {
      this.failed++;
      this.above(describeOutcome(outcome));
      return;
    }
    if (outcome.status === 'skipped') this.skipped++;
    if (Date.now() - this.lastDraw >= REDRAW_MS) this.draw();
  }

  close(): void {
    clearInterval(this.ticker);
    this.draw();
    this.options.stream.write('\n');
  }

  /** Prints a line where the bar is, then the bar again below it. */
  private above(line: string): void {
    this.options.stream.write(`\r\x1b[K${line}\n`);
    this.draw();
  }

  private draw(): void {
    const { stream, totalFiles, totalBytes } = this.options;
    const counts = [
      `${this.done}/${totalFiles} files`,
      `${formatBytes(this.doneBytes)}/${formatBytes(totalBytes)}`,
      ...(this.failed > 0 ? [`${this.failed} failed`] : []),
      ...(this.skipped > 0 ? [`${this.skipped} skipped`] : []),
      formatClock(Date.now() - this.started),
    ].join('  ');
    const width = stream.columns || 80; // 0 on a terminal that never said its size
    // The bar takes what the counts leave, within reason; on a narrow terminal it goes.
    const barWidth = Math.min(40, width - counts.length - 4);
    const fraction = totalBytes > 0 ? this.doneBytes / totalBytes : this.done / Math.max(1, totalFiles);
    const filled = Math.round(fraction * Math.max(0, barWidth));
    const bar = barWidth >= 10 ? `[${'#'.repeat(filled)}${'-'.repeat(barWidth - filled)}] ` : '';
    stream.write(`\r\x1b[K${(bar + counts).slice(0, width - 1)}`);
    this.lastDraw = Date.now();
  }
}

/** `ok      file (pprof, 1.2 KiB, 359 samples)`, `FAILED  file: why`, `skipped file: why`. */
function describeOutcome(outcome: FileOutcome): string {
  if (outcome.status === 'ok') {
    const details = [...(outcome.format === undefined ? [] : [outcome.format]), formatBytes(outcome.bytes)];
    if (outcome.samples !== undefined) details.push(`${formatCount(outcome.samples)} samples`);
    return `ok      ${outcome.file} (${details.join(', ')})`;
  }
  return `${outcome.status === 'failed' ? 'FAILED ' : 'skipped'} ${outcome.file}: ${outcome.message ?? 'no reason given'}`;
}

/**
 * The closing lines: one for stdout (`pushed 3 of 4 files (12.0 KiB, 1,234
 * samples) in 0.4 s; 1 failed`) and, when files failed, a list of them with
 * the reasons for stderr, each failed file on its own line.
 */
export function summarize(
  outcomes: readonly FileOutcome[],
  elapsedMs: number,
): { summary: string; failures: string } {
  const ok = outcomes.filter((o) => o.status === 'ok');
  const failed = outcomes.filter((o) => o.status === 'failed');
  const skipped = outcomes.filter((o) => o.status === 'skipped');
  const withSamples = ok.filter((o) => o.samples !== undefined);
  const details = [formatBytes(ok.reduce((sum, o) => sum + o.bytes, 0))];
  if (withSamples.length > 0)
    details.push(`${formatCount(withSamples.reduce((sum, o) => sum + (o.samples ?? 0), 0))} samples`);
  const tried = ok.length + failed.length;
  let summary = `pushed ${ok.length} of ${tried} ${tried === 1 ? 'file' : 'files'} (${details.join(', ')}) in ${formatDuration(elapsedMs)}`;
  if (failed.length > 0) summary += `; ${failed.length} failed`;
  if (skipped.length > 0) summary += `; ${skipped.length} skipped (not profiles)`;
  const failures =
    failed.length === 0
      ? ''
      : `${failed.length} ${failed.length === 1 ? 'file' : 'files'} failed:\n` +
        failed.map((o) => `  ${o.file}: ${o.message ?? 'no reason given'}\n`).join('');
  return { summary, failures };
}

/** 1,234 */
function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** 512 B, 12.3 KiB, 4.0 MiB, 1.2 GiB */
function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value.toFixed(1)} ${units[unit]}`;
}

/** 350 ms, 1.2 s, 75 s */
function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`;
}

/** 0:04, 12:30 for the bar's elapsed time */
function formatClock(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  return `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`;
}
