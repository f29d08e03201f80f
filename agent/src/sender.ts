import * as http from 'node:http';
import * as https from 'node:https';
import * as os from 'node:os';
import type { PendingProfile } from './buffer';

/** What became of one push. */
export type PushResult =
  | { outcome: 'ok' }
  /** Worth trying again later: the server is down, slow, overloaded (5xx, 429, 408) or answered garbage. */
  | {
      outcome: 'retry';
      reason: string;
      retryAfterMs?: number;
      /** The HTTP status, when the server answered. */ status?: number;
    }
  /** The server refused this profile (other 4xx): retrying will not help. */
  | { outcome: 'reject'; status: number; reason: string };

export interface Destination {
  server: string;
  /** `service{label="value",...}`, Pyroscope's application name. */
  name: string;
  sampleRate: number;
  /** This process, as processId() names it: sent with every push. */
  process: string;
  authToken?: string;
  tenant?: string;
  timeoutMs: number;
}

/** Quotes label values so any text survives the selector syntax. */
export function ingestName(service: string, labels: Record<string, string>): string {
  const parts = Object.entries(labels)
    .filter(([k]) => /^[A-Za-z_][A-Za-z0-9_.\-/]*$/.test(k))
    .map(([k, v]) => `${k}=${JSON.stringify(String(v))}`);
  return parts.length ? `${service}{${parts.join(',')}}` : service;
}

/**
 * This process as `<hostname>:<pid>:<start time, ms since the epoch, base 36>`:
 * a restart with the same pid is another process.
 */
export function processId(): string {
  let host = '';
  try {
    host = os
      .hostname()
      .replace(/[\p{Cc}:]/gu, '_')
      .slice(0, 200);
  } catch {
    // no hostname: the pid and start time still tell processes apart on one machine
  }
  host ||= 'unknown';
  return `${host}:${process.pid}:${Math.round(performance.timeOrigin).toString(36)}`;
}

/**
 * POSTs one gzipped pprof to /ingest. Never throws: every failure is a
 * result. With `holdProcess` false the socket does not keep the host's
 * process alive (a push in flight never delays its exit).
 */
export function push(dest: Destination, p: PendingProfile, holdProcess: boolean): Promise<PushResult> {
  return new Promise((resolve) => {
    let settled = false;
    const done = (r: PushResult) => {
      if (!settled) {
        settled = true;
        resolve(r);
      }
    };
    try {
      const url = new URL('/ingest', dest.server);
      url.searchParams.set('name', dest.name);
      url.searchParams.set('from', String(p.from));
      url.searchParams.set('until', String(p.until));
      url.searchParams.set('format', 'pprof');
      url.searchParams.set('spyName', 'nodespy');
      url.searchParams.set('sampleRate', String(dest.sampleRate));
      // Flamewatch's own parameters; Pyroscope ignores them.
      if (p.work !== undefined) url.searchParams.set('work', String(p.work));
      url.searchParams.set('process', dest.process);
      const headers: http.OutgoingHttpHeaders = {
        'content-type': 'application/octet-stream',
        'content-length': p.body.length,
        'user-agent': 'flamewatch-agent-node',
      };
      if (dest.authToken) headers.authorization = `Bearer ${dest.authToken}`;
      if (dest.tenant) headers['x-scope-orgid'] = dest.tenant;
      const transport = url.protocol === 'https:' ? https : http;
      const req = transport.request(
        url,
        { method: 'POST', headers, agent: false, timeout: dest.timeoutMs },
        (res) => {
          const status = res.statusCode ?? 0;
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            if (size < 4096) chunks.push(c);
            size += c.length;
          });
          res.on('error', (err) => done({ outcome: 'retry', reason: err.message }));
          res.on('end', () => {
            const body = Buffer.concat(chunks).toString('utf8').slice(0, 300);
            if (status >= 200 && status < 300) done({ outcome: 'ok' });
            else if (status === 429 || status === 408 || status >= 500 || status < 200) {
              const retryAfter = Number(res.headers['retry-after']);
              done({
                outcome: 'retry',
                reason: `HTTP ${status}`,
                status,
                retryAfterMs: Number.isFinite(retryAfter) && retryAfter >= 0 ? retryAfter * 1000 : undefined,
              });
            } else done({ outcome: 'reject', status, reason: `HTTP ${status}: ${errorText(body)}` });
          });
        },
      );
      req.on('socket', (socket) => {
        if (!holdProcess) socket.unref();
      });
      req.on('timeout', () => {
        req.destroy(new Error(`no answer within ${dest.timeoutMs} ms`));
      });
      req.on('error', (err) => done({ outcome: 'retry', reason: err.message }));
      req.end(p.body);
    } catch (err) {
      done({ outcome: 'retry', reason: (err as Error).message });
    }
  });
}

function errorText(body: string): string {
  try {
    const parsed = JSON.parse(body) as { error?: unknown };
    if (typeof parsed.error === 'string') return parsed.error;
  } catch {
    // not JSON: show the text
  }
  return body;
}
