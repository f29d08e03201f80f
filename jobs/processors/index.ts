import type { Processors } from '../../profile/jobs';
import type { Store } from '../../store';

/** What processors are built from: the one store of the process, and its log. */
export interface ProcessorDeps {
  store: Store;
  log: (msg: string) => void;
}

/**
 * Every processor by job name, built once per process (`flamewatch serve`
 * without Redis, `flamewatch worker` with it). A processor loads from the
 * store, calls pure code in `profile/`, stores its result under a
 * deterministic key, and is registered here under the name jobs are
 * enqueued with. None yet: regression detection adds the first.
 */
export function processors(_deps: ProcessorDeps): Processors {
  return {};
}
