import { Queue, UnrecoverableError, Worker, type Job, type JobsOptions } from 'bullmq';
import { Redis } from 'ioredis';
import {
  checkJobId,
  QueueUnavailableError,
  UnrecoverableJobError,
  type EnqueueOptions,
  type Every,
  type FailedJob,
  type JobCounts,
  type Processor,
  type Processors,
} from '../../profile/jobs';
import {
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

export type BullmqRole = 'all' | 'enqueue-only' | 'worker';

export interface BullmqRunnerOptions extends RunnerOptions {
  redisUrl: string;
  /** `enqueue-only` (the server), `worker` (`flamewatch worker`), or both in one process. */
  role: BullmqRole;
  /** Prefix of every Redis key. Default `flamewatch`. */
  prefix?: string;
  /** How long a queue call waits for Redis before failing with QueueUnavailableError. Default 5000 ms. */
  timeoutMs?: number;
}

/**
 * The processors on BullMQ: one queue per job name (the queue is named as
 * the job), job schedulers (`upsertJobScheduler`) for schedules, custom job
 * ids for deduplication, `attempts` with exponential backoff, BullMQ's
 * `UnrecoverableError` for `UnrecoverableJobError`, and the failed set as the
 * dead-letter view. Workers (role `worker` or `all`) run `concurrency` jobs
 * per name in this process; run as many worker processes as you like.
 *
 * Queue calls never wait on a Redis that is down: the producer connection has
 * no offline queue, and a call made while it is not connected (or that takes
 * longer than `timeoutMs`) rejects with QueueUnavailableError.
 */
export class BullmqRunner implements JobRunner {
  readonly transport: string;
  private readonly settings: Settings;
  private readonly processors: Processors;
  private readonly role: BullmqRole;
  private readonly prefix: string;
  private readonly timeoutMs: number;
  private readonly where: string;
  private readonly redisUrl: string;
  /** The connection queue calls use: fails fast instead of queueing commands while Redis is away. */
  private readonly producer: Redis;
  /** Why Redis cannot be used now; undefined while connected. */
  private down: string | undefined = 'not connected yet';
  private everConnected = false;
  /** Whether the current outage has been logged (once per outage, not once per reconnection attempt). */
  private reported = false;
  private readonly queues = new Map<string, Queue>();
  private readonly workers: Worker[] = [];
  private workerRedis?: Redis;
  private closed = false;
  private closing?: Promise<void>;

  constructor(opts: BullmqRunnerOptions) {
    this.settings = settingsOf(opts);
    this.processors = opts.processors;
    this.role = opts.role;
    this.prefix = opts.prefix ?? 'flamewatch';
    this.timeoutMs = opts.timeoutMs ?? 5000;
    this.redisUrl = opts.redisUrl;
    this.where = `Redis at ${opts.redisUrl.replace(/\/\/[^@/]*@/, '//***@')}`;
    this.transport = `BullMQ on ${this.where}`;
    this.producer = new Redis(opts.redisUrl, {
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      connectTimeout: this.timeoutMs,
      retryStrategy: (times) => Math.min(times * 500, 5000),
    });
    this.producer.on('ready', () => {
      if (this.reported) this.settings.log(`jobs: ${this.where} is back`);
      this.everConnected = true;
      this.reported = false;
      this.down = undefined;
    });
    this.producer.on('error', (err: Error) =>
      this.lost(messageOf(err) || (err as NodeJS.ErrnoException).code || 'connection error'),
    );
    this.producer.on('close', () => this.lost('connection closed'));
    for (const name of Object.keys(this.processors)) {
      const queue = new Queue(name, {
        connection: this.producer,
        prefix: this.prefix,
        defaultJobOptions: this.jobOptions(),
      });
      // The producer's own 'error' handler above logs Redis trouble once; the queues repeat it.
      queue.on('error', () => undefined);
      this.queues.set(name, queue);
    }
  }

  async start(): Promise<void> {
    if (this.closed) throw new Error('the job runner is closed');
    if (this.role === 'enqueue-only' || this.workers.length > 0) return;
    // Workers block on Redis: their connection retries every command forever (BullMQ's requirement).
    const connection = new Redis(this.redisUrl, {
      maxRetriesPerRequest: null,
      retryStrategy: (times) => Math.min(times * 500, 5000),
    });
    connection.on('error', () => undefined);
    this.workerRedis = connection;
    for (const [name, processor] of Object.entries(this.processors)) {
      const worker = new Worker(name, (job: Job) => this.process(name, processor, job), {
        connection,
        prefix: this.prefix,
        concurrency: this.settings.concurrency,
        removeOnComplete: { count: this.settings.keepCompleted, age: KEEP_COMPLETED_MS / 1000 },
        removeOnFail: { count: this.settings.keepFailed, age: KEEP_FAILED_MS / 1000 },
      });
      worker.on('failed', (job, err) => {
        if (job)
          this.settings.log(
            `job ${job.id} (${name}) attempt ${job.attemptsMade}/${this.settings.attempts} failed: ${err.message}`,
          );
      });
      // Connection errors come here while Redis is away; the producer already says so once.
      worker.on('error', (err) => {
        if (this.down === undefined) this.settings.log(`jobs: worker ${name}: ${err.message}`);
      });
      this.workers.push(worker);
    }
  }

  async enqueue(
    name: string,
    payload: unknown,
    opts: EnqueueOptions = {},
  ): Promise<{ id: string; added: boolean }> {
    const queue = this.queue(name);
    if (opts.jobId !== undefined) checkJobId(opts.jobId);
    return this.call(async () => {
      // BullMQ answers an existing id with that job, not an error: the stored creation time tells which.
      const timestamp = Date.now();
      const job = await queue.add(name, payload ?? null, {
        jobId: opts.jobId,
        delay: opts.delayMs,
        timestamp,
      });
      const id = job.id!;
      if (opts.jobId === undefined) return { id, added: true };
      const stored = await this.producer.hget(queue.toKey(id), 'timestamp');
      return { id, added: stored === null || Number(stored) === timestamp };
    });
  }

  async schedule(id: string, name: string, payload: unknown, every: Every): Promise<void> {
    checkJobId(id);
    const queue = this.queue(name);
    checkEvery(every);
    const repeat = every.ms !== undefined ? { every: every.ms } : { pattern: every.cron!, tz: 'UTC' };
    await this.call(async () => {
      // A schedule id names one schedule: moving it to another job name removes it from the old queue.
      for (const [other, q] of this.queues) if (other !== name) await q.removeJobScheduler(id);
      await queue.upsertJobScheduler(id, repeat, { name, data: payload ?? null, opts: this.jobOptions() });
    });
  }

  async unschedule(id: string): Promise<void> {
    await this.call(async () => {
      for (const q of this.queues.values()) await q.removeJobScheduler(id);
    });
  }

  async failed(limit = 50): Promise<FailedJob[]> {
    return this.call(async () => {
      const lists = await Promise.all(
        [...this.queues].map(async ([name, q]) =>
          (await q.getFailed(0, limit - 1)).map((job): FailedJob => ({
            id: job.id!,
            name,
            payload: job.data,
            error: job.failedReason,
            attempts: job.attemptsMade,
            failedAt: job.finishedOn ?? job.timestamp,
          })),
        ),
      );
      return newestFailures(lists, limit);
    });
  }

  async retry(jobId: string): Promise<boolean> {
    return this.call(async () => {
      for (const q of this.queues.values()) {
        const job = await q.getJob(jobId);
        if (job && (await job.isFailed())) {
          await job.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true });
          return true;
        }
      }
      return false;
    });
  }

  async counts(): Promise<Record<string, JobCounts>> {
    return this.call(async () => {
      const out: Record<string, JobCounts> = {};
      for (const [name, q] of this.queues) {
        const c = await q.getJobCounts('waiting', 'active', 'completed', 'failed', 'delayed');
        out[name] = {
          waiting: c.waiting ?? 0,
          active: c.active ?? 0,
          completed: c.completed ?? 0,
          failed: c.failed ?? 0,
          delayed: c.delayed ?? 0,
        };
      }
      return out;
    });
  }

  /** Closes the workers (each waits for its running jobs), then the queues and connections. */
  close(): Promise<void> {
    this.closed = true;
    this.closing ??= (async () => {
      await Promise.allSettled(this.workers.map((w) => w.close()));
      await Promise.allSettled([...this.queues.values()].map((q) => q.close()));
      this.workerRedis?.disconnect();
      this.producer.disconnect();
    })();
    return this.closing;
  }

  private jobOptions(): JobsOptions {
    const { attempts, backoffMs, keepCompleted, keepFailed } = this.settings;
    return {
      attempts,
      backoff: { type: 'exponential', delay: backoffMs },
      removeOnComplete: { count: keepCompleted, age: KEEP_COMPLETED_MS / 1000 },
      removeOnFail: { count: keepFailed, age: KEEP_FAILED_MS / 1000 },
    };
  }

  private queue(name: string): Queue {
    const queue = this.queues.get(name);
    if (queue === undefined)
      throw new TypeError(
        `no processor for jobs named ${JSON.stringify(name)}; known: ${[...this.queues.keys()].join(', ') || 'none'}`,
      );
    return queue;
  }

  private async process(name: string, processor: Processor<never>, job: Job): Promise<unknown> {
    const log = (msg: string) => {
      this.settings.log(`job ${job.id} (${name}): ${msg}`);
      job.log(msg).catch(() => undefined);
    };
    try {
      return await processor(job.data as never, { id: job.id!, attempt: job.attemptsMade + 1, log });
    } catch (err) {
      if (err instanceof UnrecoverableJobError) throw new UnrecoverableError(err.message);
      throw err;
    }
  }

  private lost(why: string): void {
    if (this.closed) return;
    this.down = why;
    if (this.reported) return;
    this.reported = true;
    this.settings.log(
      `jobs: ${this.where} is unreachable (${why}); queue calls fail with 503 until it is back`,
    );
  }

  /**
   * Runs a queue call on a connected producer, within `timeoutMs`. Before the
   * first connection it waits for it (up to `timeoutMs`); after a loss it
   * fails at once.
   */
  private async call<T>(op: () => Promise<T>): Promise<T> {
    if (this.closed) throw new QueueUnavailableError('the job runner is closed');
    if (this.producer.status !== 'ready' && !this.everConnected && !this.reported)
      await this.firstConnection();
    if (this.producer.status !== 'ready')
      throw new QueueUnavailableError(`${this.where}: ${this.down ?? this.producer.status}`);
    const running = op();
    running.catch(() => undefined);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new QueueUnavailableError(`${this.where} did not answer within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
    });
    try {
      return await Promise.race([running, timeout]);
    } catch (err) {
      throw this.classify(err);
    } finally {
      clearTimeout(timer);
    }
  }

  private firstConnection(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.producer.off('ready', done);
        this.producer.off('error', done);
        resolve();
      };
      const timer = setTimeout(done, this.timeoutMs);
      this.producer.once('ready', done);
      this.producer.once('error', done);
    });
  }

  /** Connection failures become QueueUnavailableError; anything else (a refused command) passes unchanged. */
  private classify(err: unknown): unknown {
    if (err instanceof QueueUnavailableError || !(err instanceof Error)) return err;
    const code = (err as NodeJS.ErrnoException).code;
    const transient =
      err.name === 'MaxRetriesPerRequestError' ||
      (code !== undefined &&
        [
          'ECONNREFUSED',
          'ECONNRESET',
          'EPIPE',
          'ETIMEDOUT',
          'EHOSTUNREACH',
          'ENOTFOUND',
          'EAI_AGAIN',
        ].includes(code)) ||
      /Connection is closed|Stream isn't writeable|connect ETIMEDOUT/i.test(err.message);
    return transient ? new QueueUnavailableError(`${this.where}: ${err.message}`) : err;
  }
}
