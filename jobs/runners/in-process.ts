import { randomUUID } from 'node:crypto';
import { Cron } from 'croner';
import fastq from 'fastq';
import {
  checkJobId,
  QueueUnavailableError,
  UnrecoverableJobError,
  type EnqueueOptions,
  type Every,
  type FailedJob,
  type JobCounts,
  type Processor,
} from '../../profile/jobs';
import {
  backoffDelay,
  checkEvery,
  KEEP_COMPLETED_MS,
  KEEP_FAILED_MS,
  messageOf,
  newestFailures,
  settingsOf,
  type JobRunner,
  type RunnerOptions,
  type Settings,
} from './common';

interface Task {
  id: string;
  payload: unknown;
  attempt: number;
}

/** One job name: its processor, its concurrency-limited queue and what it remembers of its ids. */
interface Lane {
  name: string;
  processor: Processor<never>;
  queue: fastq.queueAsPromised<Task, void>;
  /** Jobs not finished, by id. */
  live: Map<string, 'waiting' | 'active' | 'delayed'>;
  /** Completed ids and when, oldest first (a Map keeps insertion order). */
  completed: Map<string, number>;
  /** The dead-letter list, oldest first. */
  failed: Map<string, FailedJob>;
}

interface Schedule {
  key: string;
  stop(): void;
}

/**
 * Runs the processors inside this process, with BullMQ's semantics kept
 * where a single process can keep them: a fastq queue per job name
 * (`concurrency` at once), ids remembered while waiting, running, completed
 * (bounded, a day) or failed (bounded, a week), retries after
 * exponential backoff timers, schedules on timers (`every.ms`) or croner
 * (`every.cron`, UTC). Nothing survives the process: waiting and delayed jobs
 * are dropped at `close()`, which is fine because every job can be derived
 * again from ClickHouse (design decision 2).
 */
export class InProcessRunner implements JobRunner {
  readonly transport = 'in-process';
  private readonly settings: Settings;
  private readonly lanes = new Map<string, Lane>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly schedules = new Map<string, Schedule>();
  private readonly running = new Set<Promise<void>>();
  private closed = false;

  constructor(opts: RunnerOptions) {
    this.settings = settingsOf(opts);
    for (const [name, processor] of Object.entries(opts.processors)) {
      const queue = fastq.promise((task: Task) => this.run(name, task), this.settings.concurrency);
      queue.pause();
      this.lanes.set(name, {
        name,
        processor,
        queue,
        live: new Map(),
        completed: new Map(),
        failed: new Map(),
      });
    }
  }

  async start(): Promise<void> {
    if (this.closed) throw new Error('the job runner is closed');
    for (const lane of this.lanes.values()) lane.queue.resume();
  }

  async enqueue(
    name: string,
    payload: unknown,
    opts: EnqueueOptions = {},
  ): Promise<{ id: string; added: boolean }> {
    const lane = this.lane(name);
    if (opts.jobId !== undefined) checkJobId(opts.jobId);
    this.open();
    const id = opts.jobId ?? randomUUID();
    if (this.known(lane, id)) return { id, added: false };
    // Payloads cross a process boundary under BullMQ; copying them through JSON here keeps processors honest.
    const task: Task = { id, payload: JSON.parse(JSON.stringify(payload ?? null)), attempt: 1 };
    if (opts.delayMs !== undefined && opts.delayMs > 0) {
      lane.live.set(id, 'delayed');
      this.later(opts.delayMs, () => this.push(lane, task));
    } else {
      this.push(lane, task);
    }
    return { id, added: true };
  }

  async schedule(id: string, name: string, payload: unknown, every: Every): Promise<void> {
    this.open();
    checkJobId(id);
    const lane = this.lane(name);
    checkEvery(every);
    const key = JSON.stringify([name, payload, every]);
    const existing = this.schedules.get(id);
    if (existing?.key === key) return;
    existing?.stop();
    let last: string | undefined;
    // A tick while the previous tick's job has not started yet adds nothing, as a BullMQ scheduler adds its next job only when one starts.
    const tick = () => {
      const state = last === undefined ? undefined : lane.live.get(last);
      if (state === 'waiting' || state === 'delayed') return;
      last = `${id}-${Date.now()}`;
      this.enqueue(name, payload, { jobId: last }).catch((err) =>
        this.settings.log(`schedule ${id}: ${messageOf(err)}`),
      );
    };
    if (every.ms !== undefined) {
      const timer = setInterval(tick, every.ms);
      timer.unref();
      tick();
      this.schedules.set(id, { key, stop: () => clearInterval(timer) });
    } else {
      const cron = new Cron(every.cron!, { timezone: 'UTC', unref: true }, tick);
      this.schedules.set(id, { key, stop: () => cron.stop() });
    }
  }

  async unschedule(id: string): Promise<void> {
    this.open();
    this.schedules.get(id)?.stop();
    this.schedules.delete(id);
  }

  async failed(limit = 50): Promise<FailedJob[]> {
    this.open();
    return newestFailures(
      [...this.lanes.values()].map((lane) => [
        ...this.prune(lane.failed, KEEP_FAILED_MS, (f) => f.failedAt).values(),
      ]),
      limit,
    );
  }

  async retry(jobId: string): Promise<boolean> {
    this.open();
    for (const lane of this.lanes.values()) {
      const job = lane.failed.get(jobId);
      if (job === undefined) continue;
      lane.failed.delete(jobId);
      this.push(lane, { id: jobId, payload: job.payload, attempt: 1 });
      return true;
    }
    return false;
  }

  async counts(): Promise<Record<string, JobCounts>> {
    this.open();
    const out: Record<string, JobCounts> = {};
    for (const lane of this.lanes.values()) {
      const states = [...lane.live.values()];
      out[lane.name] = {
        waiting: states.filter((s) => s === 'waiting').length,
        active: states.filter((s) => s === 'active').length,
        delayed: states.filter((s) => s === 'delayed').length,
        completed: this.prune(lane.completed, KEEP_COMPLETED_MS, (at) => at).size,
        failed: this.prune(lane.failed, KEEP_FAILED_MS, (f) => f.failedAt).size,
      };
    }
    return out;
  }

  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      for (const s of this.schedules.values()) s.stop();
      this.schedules.clear();
      for (const t of this.timers) clearTimeout(t);
      this.timers.clear();
      for (const lane of this.lanes.values()) lane.queue.pause();
    }
    await Promise.allSettled([...this.running]);
    for (const lane of this.lanes.values()) lane.queue.kill();
  }

  /** Queue calls on a closed runner fail as on an unreachable queue (the server is shutting down). */
  private open(): void {
    if (this.closed) throw new QueueUnavailableError('the in-process job runner is closed');
  }

  private lane(name: string): Lane {
    const lane = this.lanes.get(name);
    if (lane === undefined)
      throw new TypeError(
        `no processor for jobs named ${JSON.stringify(name)}; known: ${[...this.lanes.keys()].join(', ') || 'none'}`,
      );
    return lane;
  }

  /** Whether the id is waiting, running, delayed, recently completed or in the dead-letter list. */
  private known(lane: Lane, id: string): boolean {
    if (lane.live.has(id) || lane.failed.has(id)) return true;
    const at = lane.completed.get(id);
    return at !== undefined && Date.now() - at < KEEP_COMPLETED_MS;
  }

  private push(lane: Lane, task: Task): void {
    if (this.closed) return;
    lane.live.set(task.id, 'waiting');
    // Failures are handled in run(); the promise only says the task left the queue.
    lane.queue.push(task).catch(() => undefined);
  }

  private later(ms: number, fn: () => void): void {
    if (this.closed) return;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    this.timers.add(timer);
  }

  private run(name: string, task: Task): Promise<void> {
    const done = this.attempt(this.lanes.get(name)!, task).finally(() => this.running.delete(done));
    this.running.add(done);
    return done;
  }

  private async attempt(lane: Lane, task: Task): Promise<void> {
    const { log, attempts, backoffMs } = this.settings;
    lane.live.set(task.id, 'active');
    try {
      await lane.processor(task.payload as never, {
        id: task.id,
        attempt: task.attempt,
        log: (msg) => log(`job ${task.id} (${lane.name}): ${msg}`),
      });
      lane.live.delete(task.id);
      remember(lane.completed, task.id, Date.now(), this.settings.keepCompleted);
    } catch (err) {
      const message = messageOf(err);
      if (!(err instanceof UnrecoverableJobError) && task.attempt < attempts) {
        const delay = backoffDelay(backoffMs, task.attempt);
        log(
          `job ${task.id} (${lane.name}) attempt ${task.attempt}/${attempts} failed: ${message}; retrying in ${delay} ms`,
        );
        lane.live.set(task.id, 'delayed');
        this.later(delay, () => this.push(lane, { ...task, attempt: task.attempt + 1 }));
        return;
      }
      log(`job ${task.id} (${lane.name}) failed on attempt ${task.attempt}/${attempts}: ${message}`);
      lane.live.delete(task.id);
      const failed: FailedJob = {
        id: task.id,
        name: lane.name,
        payload: task.payload,
        error: message,
        attempts: task.attempt,
        failedAt: Date.now(),
      };
      remember(lane.failed, task.id, failed, this.settings.keepFailed);
    }
  }

  /** Drops entries older than `maxAgeMs` (they sit oldest first) and returns the map. */
  private prune<V>(map: Map<string, V>, maxAgeMs: number, timeOf: (v: V) => number): Map<string, V> {
    const cutoff = Date.now() - maxAgeMs;
    for (const [id, v] of map) {
      if (timeOf(v) >= cutoff) break;
      map.delete(id);
    }
    return map;
  }
}

/** Adds `id` as the newest entry and drops the oldest beyond `max`. */
function remember<V>(map: Map<string, V>, id: string, value: V, max: number): void {
  map.delete(id);
  map.set(id, value);
  while (map.size > max) map.delete(map.keys().next().value!);
}
