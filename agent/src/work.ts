import * as diagnostics from 'node:diagnostics_channel';

/**
 * What the agent counts as work: `http` (default) HTTP requests this process
 * serves plus countWork() calls, `manual` countWork() calls only, `off`
 * nothing (pushes carry no work).
 */
export type WorkMode = 'http' | 'manual' | 'off';

export const WORK_MODES: readonly WorkMode[] = ['http', 'manual', 'off'];

/**
 * Published by Node's http (and https) server for each request, before its
 * 'request' event (Node ≥ 14.17 / 15.1; this package needs 20). HTTP/2
 * servers do not publish it.
 */
const HTTP_REQUEST_START = 'http.server.request.start';

interface WorkCount {
  units: number;
  /** Meters counting requests; the channel is subscribed while there is one. */
  httpMeters: number;
  onRequest: () => void;
}

// One count per process, under a global symbol: a benchmark that requires
// another copy of this package (its own node_modules) than the one preloaded
// by `flamewatch ci record` still adds to the count the running agent sends,
// and two copies never both count a request.
const KEY = Symbol.for('flamewatch.agent.work');
const shared = globalThis as typeof globalThis & { [KEY]?: WorkCount };
const count: WorkCount = (shared[KEY] ??= {
  units: 0,
  httpMeters: 0,
  onRequest: () => {
    count.units++;
  },
});

/**
 * Adds `n` (default 1) units of work done by this process: benchmark
 * iterations, messages handled. The running agent sends the work of each
 * interval with its CPU and wall profile. Never throws: anything but a
 * finite number ≥ 0 is ignored.
 */
export function countWork(n = 1): void {
  if (typeof n === 'number' && n >= 0 && n !== Infinity) count.units += n;
}

/** The work of successive intervals, for one agent. */
export class WorkMeter {
  private last = count.units;
  private subscribed = false;

  constructor(readonly mode: WorkMode) {
    if (mode === 'http') {
      // Subscribed by name (not through a Channel object we would have to
      // keep), and only while an agent runs: close() unsubscribes, so the
      // channel goes back to having no subscriber and http publishes nothing.
      if (count.httpMeters++ === 0) diagnostics.subscribe(HTTP_REQUEST_START, count.onRequest);
      this.subscribed = true;
    }
  }

  /** The work since the previous call (or since the meter was made); undefined when the mode is off. */
  take(): number | undefined {
    const now = count.units;
    const work = now - this.last;
    this.last = now;
    return this.mode === 'off' ? undefined : work;
  }

  /** Stops counting requests. */
  close(): void {
    if (!this.subscribed) return;
    this.subscribed = false;
    if (--count.httpMeters === 0) diagnostics.unsubscribe(HTTP_REQUEST_START, count.onRequest);
  }
}
