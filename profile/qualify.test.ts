import { collisionDepths, qualifyNames, shownName } from './qualify';

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

test('a collision is one side’s own: a file that moved between builds is one function on both sides', () => {
  const before = [
    sv(['main', 'price'], ['/releases/v1/app.js', '/releases/v1/price.js'], 1),
    sv(['main', 'emit'], ['/releases/v1/app.js', '/node/events.js'], 1),
    sv(['main', 'emit'], ['/releases/v1/app.js', '/node/stream.js'], 1),
  ];
  const after = [
    sv(['main', 'price'], ['/releases/v2/app.js', '/releases/v2/price.js'], 1),
    // One emit left in this side: still shown with its file, as the other side needs.
    sv(['main', 'emit'], ['/releases/v2/app.js', '/node/events.js'], 1),
  ];
  const q = qualifyNames([before, after]);
  expect(q.sets.map((set) => set.map((s) => s.stack.join(';')))).toEqual([
    ['main;price', 'main;emit (events.js)', 'main;emit (stream.js)'],
    ['main;price', 'main;emit (events.js)'],
  ]);
  expect(q.fileOf.get('price')).toBe('/releases/v1/price.js');
  expect(q.fileOf.get('emit (stream.js)')).toBe('/node/stream.js');
});

test('collision depths: the most any side needs; a frame with no file keeps its name', () => {
  const depths = collisionDepths([
    new Map([['emit', new Set(['/a/lib/events.js', '/a/stream/events.js', ''])]]),
    new Map([['emit', new Set(['/a/events.js', '/b/other.js'])]]),
  ]);
  expect(depths.get('emit')).toBe(2);
  expect(shownName('emit', '/a/lib/events.js', depths)).toBe('emit (lib/events.js)');
  expect(shownName('emit', '/b/other.js', depths)).toBe('emit (/b/other.js)');
  expect(shownName('emit', '', depths)).toBe('emit');
  expect(shownName('tick', '/a/tick.js', depths)).toBe('tick');
});

test('the same stored stacks qualify to the same arrays query after query, and again when the collisions change', () => {
  const emitA = sv(['main', 'emit'], ['/app/server.js', '/lib/events.js'], 3);
  const emitB = sv(['main', 'emit'], ['/app/server.js', '/stream/events.js'], 5);
  const first = qualifyNames([[emitA, emitB]]);
  const again = qualifyNames([
    [
      { ...emitA, value: 7 },
      { ...emitB, value: 1 },
    ],
  ]);
  // The tree builder knows a frame array it has seen: the second query hands it the same ones.
  expect(again.sets[0][0].stack).toBe(first.sets[0][0].stack);
  expect(again.sets[0][1].stack).toBe(first.sets[0][1].stack);
  expect(again.sets[0].map((s) => s.value)).toEqual([7, 1]);
  expect(again.ownName).toEqual(first.ownName);
  expect(again.fileOf).toEqual(first.fileOf);
  // Alone, emitA collides with nothing: its name is plain again, not the memo of the query before.
  const alone = qualifyNames([[emitA]]);
  expect(alone.sets[0][0].stack).toEqual(['main', 'emit']);
  expect(alone.fileOf.get('emit')).toBe('/lib/events.js');
  // Beside another file, a stack's names take the depth this query needs, not the memo of the query before.
  const p = sv(['main', 'emit'], ['/app/server.js', '/app/x/lib/events.js'], 1);
  const q1 = qualifyNames([[p, sv(['main', 'emit'], ['/app/server.js', '/stream/events.js'], 1)]]);
  expect(q1.sets[0][0].stack[1]).toBe('emit (lib/events.js)');
  const q2 = qualifyNames([[p, sv(['main', 'emit'], ['/app/server.js', '/app/y/lib/events.js'], 1)]]);
  expect(q2.sets[0][0].stack[1]).toBe('emit (x/lib/events.js)');
  expect(qualifyNames([[p, emitB]]).sets[0][0].stack).toEqual(['main', 'emit (lib/events.js)']);
});
