import { qualifyNames } from './qualify';

const sv = (stack: string[], files: string[] | undefined, value: number) => ({
  stack,
  ...(files ? { files } : {}),
  value,
});

test('a name in two files is shown with each file; one file, no file, or names only stay as they are', () => {
  const a = [
    sv(['main', 'emit'], ['/app/server.js', '/app/node_modules/lib/events.js'], 3),
    sv(['main', 'emit'], ['/app/server.js', '/app/node_modules/stream/events.js'], 5),
    sv(['main', 'tick'], ['/app/server.js', ''], 1),
  ];
  const b = [sv(['main', 'emit'], undefined, 2)];
  const q = qualifyNames([a, b]);
  // Base names collide (events.js twice): the shortest tail that tells them apart.
  expect(q.sets[0].map((s) => s.stack.join(';'))).toEqual([
    'main;emit (lib/events.js)',
    'main;emit (stream/events.js)',
    'main;tick',
  ]);
  expect(q.sets[1][0]).toBe(b[0]); // a stack with no files is the same object
  expect(q.sets[0][2]).toBe(a[2]);
  expect(q.fileOf.get('main')).toBe('/app/server.js');
  expect(q.fileOf.get('emit (lib/events.js)')).toBe('/app/node_modules/lib/events.js');
  expect(q.fileOf.has('tick')).toBe(false);
  expect(q.ownName.get('emit (stream/events.js)')).toBe('emit');
  expect(q.ownName.has('main')).toBe(false);
});

test('nothing to tell apart: the same sets back', () => {
  const a = [sv(['main', 'work'], ['a.js', 'b.js'], 1)];
  const q = qualifyNames([a]);
  expect(q.sets[0]).toBe(a);
  expect(q.ownName.size).toBe(0);
});
