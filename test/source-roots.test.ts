/**
 * Reading source for the line view (server/source.ts): files are found by
 * their path's trailing segments under the operator's roots and nowhere
 * else; names from profiles are attacker-controlled.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseSourceRoots, readSource, rootsFor } from '../server/source';

let tmp: string;
let root: string;

beforeAll(() => {
  tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'fw-roots-')));
  root = path.join(tmp, 'root');
  fs.mkdirSync(path.join(root, 'src'), { recursive: true });
  fs.writeFileSync(
    path.join(root, 'src', 'orders.js'),
    Array.from({ length: 20 }, (_, i) => `line ${i + 1}`).join('\n'),
  );
  fs.writeFileSync(path.join(tmp, 'secret.txt'), 'outside\n');
  fs.symlinkSync(path.join(tmp, 'secret.txt'), path.join(root, 'src', 'link.js'));
  fs.writeFileSync(path.join(root, 'src', 'blob.js'), Buffer.from([1, 0, 2]));
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('finds a file by its trailing segments and answers the lines with a few around them', async () => {
  const roots = rootsFor(await parseSourceRoots(root), 'any');
  const a = await readSource(roots, '/deploy/releases/v7/src/orders.js', [10]);
  expect(a).toEqual({
    lines: [7, 8, 9, 10, 11, 12, 13].map((line) => ({ line, text: `line ${line}` })),
  });
  expect(await readSource(roots, 'file:///elsewhere/src/orders.js', [1, 20])).toEqual({
    lines: [1, 2, 3, 4, 17, 18, 19, 20].map((line) => ({ line, text: `line ${line}` })),
  });
});

test('never reads outside a root, a runtime module, or a binary', async () => {
  const roots = rootsFor(await parseSourceRoots(root), 'any');
  expect(await readSource([], '/src/orders.js', [1])).toEqual({
    missing: expect.stringMatching(/no source roots/),
  });
  expect(await readSource(roots, '../secret.txt', [1])).toEqual({
    missing: expect.stringMatching(/climbs out/),
  });
  expect(await readSource(roots, `${tmp}/secret.txt`, [1])).toEqual({
    missing: 'not found under the source roots',
  });
  // A symlink inside the root to a file outside it.
  expect(await readSource(roots, '/app/src/link.js', [1])).toEqual({
    missing: 'not found under the source roots',
  });
  expect(await readSource(roots, 'node:internal/streams/readable', [1])).toEqual({
    missing: expect.stringMatching(/built into the runtime/),
  });
  expect(await readSource(roots, '/x/src/blob.js', [1])).toEqual({ missing: 'not a text file' });
  // A dot file (.env, .git/config) is never read, even inside a root.
  fs.writeFileSync(path.join(root, 'src', '.env'), 'SECRET=1\n');
  expect(await readSource(roots, '/app/src/.env', [1])).toEqual({ missing: 'a hidden file or directory' });
  // A FIFO is not a file: never opened (it would block a thread).
  execFileSync('mkfifo', [path.join(root, 'src', 'pipe.js')]);
  expect(await readSource(roots, '/app/src/pipe.js', [1])).toEqual({
    missing: 'not found under the source roots',
  });
});

test('roots per tenant; a root that is not a directory is refused by name', async () => {
  const parsed = await parseSourceRoots(`acme=${root}${path.delimiter}${path.join(root, 'src')}`);
  expect(rootsFor(parsed, 'acme')).toEqual([root, path.join(root, 'src')]);
  expect(rootsFor(parsed, 'other')).toEqual([path.join(root, 'src')]);
  await expect(parseSourceRoots(path.join(tmp, 'nosuch'))).rejects.toThrow(
    /FLAMEWATCH_SOURCE_ROOTS: ".*nosuch" is not a readable directory/,
  );
});
