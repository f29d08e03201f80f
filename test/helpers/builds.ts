/**
 * Runs a "build" of test/fixtures/two-builds.js (a small CPU-bound service
 * embedding the real agent) as one or more concurrent processes. The process
 * is the regression detector's unit of replication: a version seen in one
 * process (one label set) is never decided, so decisive tests run each version
 * as two or more processes, told apart by an `instance` label.
 */
import * as path from 'node:path';
import { runNode } from './process';

export interface BuildOptions {
  /** The Flamewatch server the agent pushes to. */
  server: string;
  service: string;
  version: string;
  /** How many times slower matchOrders is (SLOW_FACTOR). */
  slow: number;
  /** How long each process works (RUN_SECONDS); the agent pushes a profile a second. */
  seconds: number;
  /** One process per instance, run concurrently, each labelled `instance=<name>`. */
  instances: string[];
  /** More labels, `k=v,k=v`. */
  labels?: string;
  /** Node flags for the child, e.g. ['--no-turbo-inlining']. */
  nodeArgs?: string[];
}

/** Runs every instance of the build at once; resolves with each one's stdout once all exited 0. */
export function runBuild(o: BuildOptions): Promise<string[]> {
  return Promise.all(
    o.instances.map((instance) =>
      runNode(
        [...(o.nodeArgs ?? []), path.join(__dirname, '..', 'fixtures', 'two-builds.js')],
        {
          FLAMEWATCH_SERVER: o.server,
          FLAMEWATCH_SERVICE: o.service,
          FLAMEWATCH_LABELS: [
            `version=${o.version}`,
            `instance=${instance}`,
            ...(o.labels ? [o.labels] : []),
          ].join(','),
          FLAMEWATCH_INTERVAL: '1',
          FLAMEWATCH_HEAP: 'false',
          SLOW_FACTOR: String(o.slow),
          RUN_SECONDS: String(o.seconds),
        },
        `build ${o.version} instance ${instance}`,
      ),
    ),
  );
}
