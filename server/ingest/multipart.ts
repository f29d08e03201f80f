import busboy from 'busboy';
import { InputError } from '../../profile/errors';

/** The parts of a Pyroscope SDK upload: `profile` (pprof), optional `sample_type_config` (JSON). `prev_profile` is ignored. */
export interface MultipartProfile {
  profile: Uint8Array;
  sampleTypeConfig?: Uint8Array;
}

/** Parses an already size-checked multipart/form-data body. */
export function parseMultipart(body: Uint8Array, contentType: string): Promise<MultipartProfile> {
  return new Promise((resolve, reject) => {
    const fail = (err: unknown) =>
      reject(new InputError('invalid_profile', `bad multipart body: ${(err as Error).message}`));
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: { 'content-type': contentType }, limits: { files: 8, fields: 16, parts: 16 } });
    } catch (err) {
      fail(err);
      return;
    }
    const parts = new Map<string, Buffer[]>();
    bb.on('file', (name, stream) => {
      const chunks: Buffer[] = [];
      parts.set(name, chunks);
      stream.on('data', (c: Buffer) => chunks.push(c));
    });
    bb.on('field', (name, value) => parts.set(name, [Buffer.from(value)]));
    bb.on('error', fail);
    bb.on('close', () => {
      const part = (name: string) => {
        const chunks = parts.get(name);
        return chunks ? Buffer.concat(chunks) : undefined;
      };
      const profile = part('profile');
      if (!profile) {
        reject(
          new InputError(
            'invalid_profile',
            `multipart body has no "profile" part (parts: ${[...parts.keys()].join(', ') || 'none'})`,
          ),
        );
        return;
      }
      resolve({ profile, sampleTypeConfig: part('sample_type_config') });
    });
    bb.end(Buffer.from(body.buffer, body.byteOffset, body.byteLength));
  });
}
