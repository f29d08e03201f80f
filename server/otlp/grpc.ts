/**
 * OTLP profiles over gRPC: `opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export` on a
 * port of its own (OTLP's is 4317), served by @grpc/grpc-js. Off unless `FLAMEWATCH_OTLP_GRPC` names an
 * address. The messages are the same as OTLP/HTTP's (./route.ts does the work: exportOtlp); this file only
 * carries them. Message compression (gzip) is gRPC's own and grpc-js undoes it within the receive limit.
 *
 * Auth is the ingest scope, as on `/ingest`: the call's `authorization` metadata (Bearer, or Basic with the
 * token as password) and `x-scope-orgid`, as an OpenTelemetry collector's `headers` setting sends them.
 */
import type * as grpc from '@grpc/grpc-js';
import type { AuthHeaders } from '../auth';
import { statusOf } from '../errors';
import { grpcCode } from './route';

export const EXPORT_PATH = '/opentelemetry.proto.collector.profiles.v1development.ProfilesService/Export';

/** Stores one encoded ExportProfilesServiceRequest for the caller its headers name; the encoded response. */
export type OtlpExport = (headers: AuthHeaders, body: Buffer) => Promise<Buffer>;

export interface OtlpGrpcOptions {
  /** `host:port` to listen on (port 0: any free port). */
  address: string;
  exporter: OtlpExport;
  /** The largest message taken, after gRPC's decompression. */
  maxMessageBytes: number;
  log?: (msg: string) => void;
}

export interface OtlpGrpcServer {
  port: number;
  /** Stops taking calls and waits for those under way (forcing them after `graceMs`). */
  close(graceMs?: number): Promise<void>;
}

/** The address `FLAMEWATCH_OTLP_GRPC` gives: a port (on the server's host) or `host:port`. */
export function grpcAddress(setting: string, host: string): string {
  const value = setting.trim();
  const address = /^\d+$/.test(value) ? `${host.includes(':') ? `[${host}]` : host}:${value}` : value;
  const port = Number(/:(\d+)$/.exec(address)?.[1]);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new Error(
      `FLAMEWATCH_OTLP_GRPC must be a port or host:port (OTLP's gRPC port is 4317), not ${JSON.stringify(setting)}`,
    );
  return address;
}

const identity = (b: Buffer) => b;

export async function startOtlpGrpc(o: OtlpGrpcOptions): Promise<OtlpGrpcServer> {
  // Loaded only when the port is asked for: the command and the HTTP server start without it.
  const g = require('@grpc/grpc-js') as typeof import('@grpc/grpc-js');
  const server = new g.Server({
    'grpc.max_receive_message_length': o.maxMessageBytes,
    'grpc.max_send_message_length': 1 << 20,
  });
  const service: grpc.ServiceDefinition = {
    Export: {
      path: EXPORT_PATH,
      requestStream: false,
      responseStream: false,
      // The bytes go to exportOtlp as they came: a message that does not decode is its INVALID_ARGUMENT.
      requestSerialize: identity,
      requestDeserialize: identity,
      responseSerialize: identity,
      responseDeserialize: identity,
    },
  };
  const first = (md: grpc.Metadata, key: string): string | undefined => {
    const v = md.get(key)[0];
    return typeof v === 'string' ? v : undefined;
  };
  server.addService(service, {
    Export: (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) => {
      const headers: AuthHeaders = {
        authorization: first(call.metadata, 'authorization'),
        'x-scope-orgid': first(call.metadata, 'x-scope-orgid'),
      };
      o.exporter(headers, call.request).then(
        (answer) => callback(null, answer),
        (err: unknown) => {
          const status = statusOf(err);
          if (status >= 500 && status !== 503) o.log?.(`otlp grpc: ${(err as Error)?.stack ?? String(err)}`);
          callback({
            code: grpcCode(status),
            details: status < 500 || status === 503 ? (err as Error).message : 'internal error',
          });
        },
      );
    },
  });
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(o.address, g.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(new Error(`OTLP gRPC cannot listen on ${o.address}: ${err.message}`)) : resolve(p),
    ),
  );
  return {
    port,
    close: (graceMs = 5000) =>
      new Promise<void>((resolve) => {
        const force = setTimeout(() => server.forceShutdown(), graceMs);
        force.unref();
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      }),
  };
}
