import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Server } from 'node:http';
import { createApp, type AppOptions } from '../../server/app';
import type { JobRunner } from '../../jobs/runner';
import { freePort } from './redis';
import { openStore, type Store } from '../../store';

export interface TestServer {
  url: string;
  store: Store;
  logs: string[];
  /** The app's OTLP Export, for a gRPC port of the test's own (server/otlp/grpc.ts). */
  otlpExport: import('../../server/otlp/grpc').OtlpExport;
  close(): Promise<void>;
}

// libchdb holds one data directory per process and jest reuses worker
// processes across files: every file in a process shares one directory and
// gets a database of its own.
const dataDir = path.join(os.tmpdir(), `flamewatch-jest-${process.pid}`);

/** A real server on an ephemeral port over embedded chDB, in a fresh database. */
export async function startServer(
  options: Omit<AppOptions, 'store'> = {},
  /** Builds the job runner from the store (it needs it) and the server's URL (for links); it is started, and closed with the server. */
  makeJobs?: (store: Store, url: string) => Promise<JobRunner>,
): Promise<TestServer> {
  const store = await openStore({
    dataDir,
    database: `t_${randomBytes(6).toString('hex')}`,
    retentionDays: 30,
  });
  const logs: string[] = [];
  // The port is chosen first so the jobs know the server's URL before it listens.
  const chosen = makeJobs ? await freePort() : 0;
  const jobs = makeJobs ? await makeJobs(store, `http://127.0.0.1:${chosen}`) : undefined;
  await jobs?.start();
  const { app, close, otlpExport } = createApp({
    ...options,
    store,
    log: (m) => logs.push(m),
    ...(jobs ? { jobs } : {}),
  });
  const server: Server = await new Promise((resolve) => {
    const s = app.listen(chosen, '127.0.0.1', () => resolve(s));
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    store,
    logs,
    otlpExport,
    async close() {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
      await close();
      await jobs?.close();
      await store.writer.drain();
      await store.client.command({ query: `DROP DATABASE IF EXISTS ${store.database}` });
    },
  };
}

/** POSTs a body to /ingest with the given query string; returns status and parsed JSON. */
export async function ingest(
  url: string,
  query: Record<string, string>,
  body: Uint8Array | string,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${url}/ingest?${new URLSearchParams(query)}`, { method: 'POST', body, headers });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** GETs a JSON API endpoint. */
export async function getJson<T = Record<string, unknown>>(
  url: string,
  pathAndQuery: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; json: T }> {
  const res = await fetch(url + pathAndQuery, { headers });
  return { status: res.status, json: (await res.json()) as T };
}
