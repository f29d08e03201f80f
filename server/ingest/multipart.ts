import busboy from 'busboy';
import { InputError } from '../../profile/errors';

/** The parts of a Pyroscope SDK upload: `profile` (pprof), optional `sample_type_config` (JSON). `prev_profile` is ignored. */
export interface MultipartProfile {
  profile: Buffer;
  sampleTypeConfig?: Buffer;
}

/** Parses an already size-checked multipart/form-data body. */
export function parseMultipart(body: Buffer, contentType: string): Promise<MultipartProfile> {
  return new Promise((resolve, reject) => {
    let bb: busboy.Busboy;
    try {
      bb = busboy({ headers: { 'content-type': contentType }, limits: { files: 8, fields: 16, parts: 16 } });
    } catch (err) {
      reject(new InputError('invalid_profile', `bad multipart body: ${(err as Error).message}`));
      return;
    }
    const parts = new Map<string, Buffer>();
    const pending: Promise<void>[] = [];
    bb.on('file', (name, stream) => {
      pending.push(
        new Promise<void>((done, fail) => {
          const chunks: Buffer[] = [];
          stream.on('data', (c: Buffer) => chunks.push(c));
          stream.on('end', () => {
            parts.set(name, Buffer.concat(chunks));
            done();
          });
          stream.on('error', fail);
        }),
      );
    });
    bb.on('field', (name, value) => parts.set(name, Buffer.from(value)));
    bb.on('error', (err) => reject(new InputError('invalid_profile', `bad multipart body: ${(err as Error).message}`)));
    bb.on('close', () => {
      Promise.all(pending).then(() => {
        const profile = parts.get('profile');
        if (!profile) {
          reject(new InputError('invalid_profile', `multipart body has no "profile" part (parts: ${[...parts.keys()].join(', ') || 'none'})`));
          return;
        }
        resolve({ profile, sampleTypeConfig: parts.get('sample_type_config') });
      }, reject);
    });
    bb.end(body);
  });
}
