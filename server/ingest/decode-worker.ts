import { parentPort, workerData } from 'node:worker_threads';
import { InputError } from '../../profile/errors';
import { KnownStacks } from '../../store/known-stacks';
import { prepareOtlp } from '../otlp/decode';
import type { WorkerJob } from './pool';
import { prepareIngest } from './prepare';

const known = new KnownStacks((workerData as { knownStacks: SharedArrayBuffer }).knownStacks);

/** An ingest worker thread: runs prepareIngest (or prepareOtlp) for the pool (pool.ts), one message per job. */
parentPort!.on('message', (msg: { id: number } & WorkerJob) => {
  (msg.kind === 'otlp'
    ? Promise.resolve().then(() => prepareOtlp(msg.job, known))
    : prepareIngest(msg.job, known)
  ).then(
    (result) => parentPort!.postMessage({ id: msg.id, ok: true, result }),
    (err: unknown) =>
      parentPort!.postMessage({
        id: msg.id,
        ok: false,
        error:
          err instanceof InputError
            ? { input: true, reason: err.reason, message: err.message }
            : { input: false, message: (err as Error)?.stack ?? String(err) },
      }),
  );
});
