/**
 * The Connect protocol's unary calls (connectrpc.com/docs/protocol): a POST
 * whose body is one message, binary protobuf (`application/proto`, what
 * Grafana's backend sends) or its JSON mapping (`application/json`), the
 * answer in the same encoding; a failure is a JSON `{ code, message }` with
 * the HTTP status of its code. The messages are our own .proto files
 * (./proto), read with protobufjs: no hand-written varints.
 */
import type * as protobuf from 'protobufjs';
import { loadProtoRoot } from '../proto-files';

let root: protobuf.Root | undefined;

/** The Root holding every message of ./proto, loaded once. */
export function protoRoot(): protobuf.Root {
  root ??= loadProtoRoot('server/connect/proto', [
    'types.proto',
    'profile.proto',
    'querier.proto',
    'push.proto',
  ]);
  return root;
}

/** Connect error codes and their HTTP statuses (the protocol's table). */
export const CONNECT_STATUS = {
  invalid_argument: 400,
  unauthenticated: 401,
  permission_denied: 403,
  not_found: 404,
  resource_exhausted: 429,
  unimplemented: 501,
  internal: 500,
  unavailable: 503,
} as const;
export type ConnectCode = keyof typeof CONNECT_STATUS;

export class ConnectError extends Error {
  constructor(
    readonly code: ConnectCode,
    message: string,
  ) {
    super(message);
  }
}

export type Encoding = 'proto' | 'json';

/** The encoding a request's content type names; undefined for anything else (415). */
export function encodingOf(contentType: string | undefined): Encoding | undefined {
  const type = (contentType ?? '').split(';')[0].trim().toLowerCase();
  if (type === 'application/proto' || type === 'application/x-protobuf' || type === 'application/protobuf')
    return 'proto';
  if (type === 'application/json') return 'json';
  return undefined;
}

/** A request body as a plain object of `type` (camelCase fields; 64-bit integers as numbers). */
export function decodeMessage(
  type: protobuf.Type,
  body: Buffer,
  encoding: Encoding,
): Record<string, unknown> {
  try {
    const message =
      encoding === 'proto'
        ? type.decode(body)
        : type.fromObject(body.length ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {});
    return type.toObject(message, { longs: Number, enums: String, defaults: true, arrays: true });
  } catch (err) {
    throw new ConnectError(
      'invalid_argument',
      `the body is not a ${type.fullName.slice(1)}: ${(err as Error).message}`,
    );
  }
}

/** An answer object of `type` in the request's encoding. */
export function encodeMessage(
  type: protobuf.Type,
  value: Record<string, unknown>,
  encoding: Encoding,
): Buffer {
  const message = type.fromObject(value);
  if (encoding === 'proto') return Buffer.from(type.encode(message).finish());
  // proto3's JSON mapping: lowerCamelCase names (protobufjs' own), 64-bit integers as strings, enums by name.
  return Buffer.from(JSON.stringify(type.toObject(message, { longs: String, enums: String, arrays: true })));
}
