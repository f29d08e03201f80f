import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { InputError, type InputErrorReason } from '../../profile/errors';
import type { KnownStacks } from '../../store/known-stacks';
import { HttpError } from '../errors';
import { type OtlpJob, type PreparedOtlp, prepareOtlp } from '../otlp/decode';
import { type IngestJob, type PreparedIngest, prepareIngest } from './prepare';

type Reply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: { input: boolean; reason?: InputErrorReason; message: string } };

/** A worker's jobs: a pushed body (prepareIngest), or an OTLP request of many profiles (prepareOtlp). */
export type WorkerJob = { kind: 'ingest'; job: IngestJob } | { kind: 'otlp'; job: OtlpJob };

interface Slot {
  worker: Worker;
  pending: Map<number, { resolve: (r: unknown) => void; reject: (e: unknown) => void }>;
}

// Running from dist/ the worker is the sibling .js; under jest (TypeScript
// sources) it is the built copy, which `npm test` makes first.
function workerScript(): string {
  const sibling = path.join(__dirname, 'decode-worker.js');
  if (fs.existsSync(sibling)) return sibling;
  const built = path.resolve(__dirname, '..', '..', 'dist', 'server', 'ingest', 'decode-worker.js');
  if (fs.existsSync(built)) return built;
  throw new Error(`ingest worker not found at ${sibling} or ${built}: run npm run build`);
}

/**
 * Decodes ingest bodies on worker threads, so the request thread only moves
 * bytes and the CPU-bound work (gunzip, pprof decode, hashing, serialising)
 * uses every core. Jobs go to the least busy worker; past `maxQueued`
 * in-flight jobs the server answers 429 rather than queueing without bound.
 * A worker that dies fails its jobs (500) and is replaced. With size 0 the
 * work runs inline, on the request thread.
 */
export class IngestPool {
  private readonly slots: Slot[] = [];
  private nextId = 0;
  private inFlight = 0;
  private closed = false;

  constructor(
    readonly size: number,
    private readonly known: KnownStacks,
    private readonly maxQueued = 1024,
    private readonly log: (msg: string) => void = () => undefined,
  ) {
    for (let i = 0; i < size; i++) this.slots.push(this.spawn());
  }

  private spawn(): Slot {
    const worker = new Worker(workerScript(), {
      workerData: { knownStacks: this.known.buffer },
      // A worker that runs out of heap is ended alone (its jobs get a 500), not the process.
      resourceLimits: { maxOldGenerationSizeMb: 2048 },
    });
    const slot: Slot = { worker, pending: new Map() };
    slot.worker.unref();
    slot.worker.on('message', (reply: Reply) => {
      const p = slot.pending.get(reply.id);
      if (!p) return;
      slot.pending.delete(reply.id);
      if (reply.ok) p.resolve(reply.result);
      else if (reply.error.input) p.reject(new InputError(reply.error.reason!, reply.error.message));
      else p.reject(new Error(reply.error.message));
    });
    const fail = (err: Error) => {
      for (const p of slot.pending.values()) p.reject(err);
      slot.pending.clear();
      if (this.closed) return;
      this.log(`ingest worker died (${err.message}); starting another`);
      this.slots[this.slots.indexOf(slot)] = this.spawn();
    };
    slot.worker.once('error', fail);
    slot.worker.once('exit', (code) => fail(new Error(`ingest worker exited with code ${code}`)));
    return slot;
  }

  /** Prepares one request's profile; rejects with InputError for bad input, HttpError(429) when saturated. */
  run(job: IngestJob): Promise<PreparedIngest> {
    return this.dispatch({ kind: 'ingest', job }, () =>
      prepareIngest(job, this.known),
    ) as Promise<PreparedIngest>;
  }

  /** Decodes and prepares an OTLP request's profiles (server/otlp/decode.ts); rejects as run() does. */
  runOtlp(job: OtlpJob): Promise<PreparedOtlp> {
    return this.dispatch({ kind: 'otlp', job }, async () =>
      prepareOtlp(job, this.known),
    ) as Promise<PreparedOtlp>;
  }

  private async dispatch(message: WorkerJob, inline: () => Promise<unknown>): Promise<unknown> {
    if (this.inFlight >= this.maxQueued) {
      throw new HttpError(
        429,
        `ingest is saturated (${this.inFlight} profiles in progress); retry later`,
        'ingest_saturated',
      );
    }
    this.inFlight++;
    try {
      if (this.slots.length === 0) return await inline();
      let slot = this.slots[0];
      for (const s of this.slots) if (s.pending.size < slot.pending.size) slot = s;
      const id = this.nextId++;
      return await new Promise<unknown>((resolve, reject) => {
        slot.pending.set(id, { resolve, reject });
        slot.worker.postMessage({ id, ...message });
      });
    } finally {
      this.inFlight--;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
