import { buildTree, flameGraph, topFunctions } from './tree';

const stacks = [
  { stack: ['main', 'a', 'b'], value: 5 },
  { stack: ['main', 'a'], value: 2 },
  { stack: ['main', 'c', 'c', 'c'], value: 3 },
  { stack: ['main', 'b'], value: 1 },
  { stack: [], value: 4 },
];

describe('topFunctions', () => {
  it('sums self at the leaf and total once per stack, even when recursive', () => {
    expect(topFunctions(stacks)).toEqual([
      { name: 'b', self: 6, total: 6 },
      { name: 'c', self: 3, total: 3 },
      { name: 'a', self: 2, total: 7 },
      { name: 'main', self: 0, total: 11 },
    ]);
  });
});

/** Draws a payload as text, one line per level: `name:total/self` left to right, offsets as `_n`. */
function draw(g: ReturnType<typeof flameGraph>): string[] {
  return g.levels.map((row) => {
    const cells: string[] = [];
    for (let i = 0; i < row.length; i += 4)
      cells.push(`${row[i] ? `_${row[i]} ` : ''}${g.names[row[i + 3]]}:${row[i + 1]}/${row[i + 2]}`);
    return cells.join(' ');
  });
}

describe('flameGraph', () => {
  it('lays the merged tree out level by level, children by name, empty stacks in the root', () => {
    expect(draw(flameGraph(buildTree(stacks)))).toEqual([
      'total:15/4',
      'main:11/0',
      'a:7/2 b:1/1 c:3/0',
      'b:5/5 _3 c:3/0',
      '_8 c:3/3',
    ]);
  });

  it('keeps the largest nodes under maxNodes and drops those under minValue', () => {
    const g = flameGraph(buildTree(stacks), 3);
    expect(g.nodes).toEqual({ total: 8, shown: 3 });
    expect(draw(g)).toEqual(['total:15/4', 'main:11/0', 'a:7/2']);
    // b:1 is pruned; its value stays in main, as a gap after c.
    expect(draw(flameGraph(buildTree(stacks), 0, 3))).toEqual([
      'total:15/4',
      'main:11/0',
      'a:7/2 c:3/0',
      'b:5/5 _2 c:3/0',
      '_7 c:3/3',
    ]);
  });
});
