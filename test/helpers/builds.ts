/**
 * Runs a "build" of test/fixtures/two-builds.js (a small CPU-bound service
 * embedding the real agent) as one or more concurrent processes. The process
 * is the regression detector's unit of replication: a version seen in one
 * process (one label set) is never decided, so decisive tests run each version
 * as two or more processes, told apart by an `instance` label.
 */
import { spawn } from 'node:child_process';
import * as path from 'node:path';

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
    o.instances.map(
      (instance) =>
        new Promise<string>((resolve, reject) => {
          const labels = [
            `version=${o.version}`,
            `instance=${instance}`,
            ...(o.labels ? [o.labels] : []),
          ].join(',');
          const child = spawn(
            process.execPath,
            [...(o.nodeArgs ?? []), path.join(__dirname, '..', 'fixtures', 'two-builds.js')],
            {
              env: {
                ...process.env,
                FLAMEWATCH_SERVER: o.server,
                FLAMEWATCH_SERVICE: o.service,
                FLAMEWATCH_LABELS: labels,
                FLAMEWATCH_INTERVAL: '1',
                FLAMEWATCH_HEAP: 'false',
                SLOW_FACTOR: String(o.slow),
                RUN_SECONDS: String(o.seconds),
              },
              stdio: ['ignore', 'pipe', 'pipe'],
            },
          );
          let out = '';
          let err = '';
          child.stdout.on('data', (c: Buffer) => (out += c));
          child.stderr.on('data', (c: Buffer) => (err += c));
          child.on('exit', (code) =>
            code === 0
              ? resolve(out)
              : reject(new Error(`build ${o.version} instance ${instance} exited ${code}: ${err}`)),
          );
        }),
    ),
  );
}
