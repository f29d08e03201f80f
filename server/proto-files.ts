/**
 * The repository's own .proto files (server/connect/proto, server/otlp/proto),
 * loaded with protobufjs at first use. They ship with the server (the
 * Dockerfile copies server/), so they are found from the source tree and
 * from dist/ alike.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as protobuf from 'protobufjs';

/** A Root of `files` in the repository's `dir` (e.g. `server/otlp/proto`), imports resolved within it. */
export function loadProtoRoot(dir: string, files: readonly string[]): protobuf.Root {
  let found: string | undefined;
  for (let up = __dirname; ; up = path.dirname(up)) {
    const candidate = path.join(up, dir);
    if (fs.existsSync(path.join(candidate, files[0]))) {
      found = candidate;
      break;
    }
    if (path.dirname(up) === up) throw new Error(`${dir} is missing from this installation`);
  }
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => path.join(found, path.basename(target));
  root.loadSync(files.map((f) => path.join(found, f)));
  root.resolveAll();
  return root;
}
