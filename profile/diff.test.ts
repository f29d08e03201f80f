import fc from 'fast-check';
import {
  buildDiffTree,
  diffFunctions,
  diffGraph,
  diffProfiles,
  type DiffGraph,
  type FunctionDiff,
} from './diff';
import { buildTree, topFunctions, type StackValue } from './tree';

/** Parses `a;b;c 5` lines into stacks. */
const folded = (text: string): StackValue[] =>
  text
    .trim()
    .split('\n')
    .map((line) => {
      const space = line.lastIndexOf(' ');
      const stack = line.slice(0, space).trim();
      return { stack: stack === '' ? [] : stack.split(';'), value: Number(line.slice(space + 1)) };
    });

/** Draws a payload one node per line, indented by depth: `name left total/self | right total/self`. */
function draw(g: DiffGraph): string[] {
  const t = g.tree;
  return t.name.map(
    (n, i) =>
      `${'  '.repeat(t.depth[i])}${g.names[n]} ${t.leftTotal[i]}/${t.leftSelf[i]} | ${t.rightTotal[i]}/${t.rightSelf[i]}`,
  );
}

const left = folded(`
  main;parse;lex 5
  main;parse 2
  main;gc 3
  main;encode;zlib 4
`);
const right = folded(`
  main;parse;lex 5
  main;parse 2
  main;gc 9
  main;serve 1
  main;encode;zlib 4
   4
`);

/** Each side of the merged tree has exactly buildTree's nodes (by path) and values. */
function expectSidesMatchBuildTree(l: StackValue[], r: StackValue[]): void {
  const tree = buildDiffTree(l, r);
  type Tree = { names: string[]; name: ArrayLike<number>; parent: ArrayLike<number> };
  const path = (t: Tree, n: number): string =>
    n <= 0 ? '' : `${path(t, t.parent[n])};${t.names[t.name[n]]}`;
  for (const [stacks, total, self] of [
    [l, tree.leftTotal, tree.leftSelf],
    [r, tree.rightTotal, tree.rightSelf],
  ] as const) {
    const one = buildTree(stacks);
    const ours = new Map<string, [number, number]>();
    for (let n = 0; n < tree.size; n++) if (total[n] !== 0) ours.set(path(tree, n), [total[n], self[n]]);
    expect(ours).toEqual(
      new Map(Array.from(one.name, (_, n) => [path(one, n), [one.total[n], one.self[n]]])),
    );
  }
}

describe('buildDiffTree and diffGraph', () => {
  it('merges both sides in pre-order, children by name, zero where a side lacks the node', () => {
    expect(draw(diffGraph(buildDiffTree(left, right)))).toEqual([
      'total 14/0 | 25/4',
      '  main 14/0 | 21/0',
      '    encode 4/0 | 4/0',
      '      zlib 4/4 | 4/4',
      '    gc 3/3 | 9/9',
      '    parse 7/2 | 7/2',
      '      lex 5/5 | 5/5',
      '    serve 0/0 | 1/1',
    ]);
  });

  it('has, per side, the same nodes and values as buildTree', () => {
    expectSidesMatchBuildTree(left, right);
  });

  it('stays exact past the initial capacity of its arrays and table', () => {
    const wide: StackValue[] = [];
    for (let i = 0; i < 3000; i++) wide.push({ stack: ['main', `f${i % 97}`, `g${i}`], value: 1 + (i % 5) });
    expectSidesMatchBuildTree(
      wide,
      wide.slice(1000).map((s) => ({ ...s, value: s.value * 2 })),
    );
  });

  it('keeps the nodes with the largest share of either side, the value of the dropped as a gap', () => {
    // Shares: main 100%, parse 50% (left), gc 36% (right), lex 36% (left, 5/14 just under 9/25).
    expect(draw(diffGraph(buildDiffTree(left, right), 4))).toEqual([
      'total 14/0 | 25/4',
      '  main 14/0 | 21/0',
      '    gc 3/3 | 9/9',
      '    parse 7/2 | 7/2',
    ]);
    // A node that is small on the left but large on the right stays.
    const small = folded('main;a 100\nmain;b 1');
    const big = folded('main;a 1\nmain;b 100');
    expect(draw(diffGraph(buildDiffTree(small, big), 4))).toEqual([
      'total 101/0 | 101/0',
      '  main 101/0 | 101/0',
      '    a 100/100 | 1/1',
      '    b 1/1 | 100/100',
    ]);
  });

  it('always keeps the root, and takes ties in pre-order so parents come before children', () => {
    const g = diffGraph(buildDiffTree(left, right), 1);
    expect(draw(g)).toEqual(['total 14/0 | 25/4']);
    expect(g.nodes).toEqual({ total: 8, shown: 1 });
    // a and b tie at every level; the budget goes to a's line first.
    const tied = folded('a;x 1\nb;y 1');
    expect(draw(diffGraph(buildDiffTree(tied, tied), 3))).toEqual([
      'total 2/0 | 2/0',
      '  a 1/0 | 1/0',
      '    x 1/1 | 1/1',
    ]);
  });

  it('counts a side whose total is zero as share 0', () => {
    const g = diffGraph(buildDiffTree([], folded('main;a 3\nmain;b 1')), 3);
    expect(draw(g)).toEqual(['total 0/0 | 4/0', '  main 0/0 | 4/0', '    a 0/0 | 3/3']);
  });

  it('keeps parents, consistent totals and at most maxNodes for any input', () => {
    const frame = fc.constantFrom('a', 'b', 'c', 'd', 'total');
    const stacks = fc.array(
      fc.record({ stack: fc.array(frame, { maxLength: 6 }), value: fc.integer({ min: 0, max: 50 }) }),
      { maxLength: 30 },
    );
    fc.assert(
      fc.property(stacks, stacks, fc.nat(40), (l, r, maxNodes) => {
        const g = diffGraph(buildDiffTree(l, r), maxNodes);
        const t = g.tree;
        expect(g.nodes.shown).toBe(maxNodes === 0 ? g.nodes.total : Math.min(maxNodes, g.nodes.total));
        expect(t.depth[0]).toBe(0);
        for (let i = 1; i < t.depth.length; i++) {
          expect(t.depth[i]).toBeGreaterThan(0);
          expect(t.depth[i]).toBeLessThanOrEqual(t.depth[i - 1] + 1);
        }
        // Every node's totals cover its children's, on both sides.
        for (let i = 0; i < t.depth.length; i++) {
          let leftKids = 0;
          let rightKids = 0;
          for (let j = i + 1; j < t.depth.length && t.depth[j] > t.depth[i]; j++) {
            if (t.depth[j] !== t.depth[i] + 1) continue;
            leftKids += t.leftTotal[j];
            rightKids += t.rightTotal[j];
          }
          expect(t.leftTotal[i]).toBeGreaterThanOrEqual(leftKids + t.leftSelf[i]);
          expect(t.rightTotal[i]).toBeGreaterThanOrEqual(rightKids + t.rightSelf[i]);
        }
      }),
      { numRuns: 300, seed: 7 },
    );
  });
});

describe('diffFunctions', () => {
  it("joins each side's flat and cum by name, largest change of total share first", () => {
    // L = 14, R = 25; change of total share in points: parse −22, main −16, lex −15.7, gc +14.6, encode and zlib −12.6, serve +4.
    expect(diffFunctions(buildDiffTree(left, right)).map((f) => f.name)).toEqual([
      'parse',
      'main',
      'lex',
      'gc',
      'encode',
      'zlib',
      'serve',
    ]);
    const byName = new Map(diffFunctions(buildDiffTree(left, right)).map((f) => [f.name, f]));
    expect(byName.get('gc')).toEqual({ name: 'gc', leftSelf: 3, leftTotal: 3, rightSelf: 9, rightTotal: 9 });
    expect(byName.get('serve')).toEqual({
      name: 'serve',
      leftSelf: 0,
      leftTotal: 0,
      rightSelf: 1,
      rightTotal: 1,
    });
    for (const f of topFunctions(right))
      expect([byName.get(f.name)?.rightSelf, byName.get(f.name)?.rightTotal]).toEqual([f.self, f.total]);
  });

  it("gives each side exactly topFunctions' self and total, recursion counted once per stack", () => {
    const frame = fc.constantFrom('a', 'b', 'c', 'total');
    const stacks = fc.array(
      fc.record({ stack: fc.array(frame, { maxLength: 7 }), value: fc.integer({ min: 0, max: 50 }) }),
      { maxLength: 30 },
    );
    fc.assert(
      fc.property(stacks, stacks, (l, ownRight) => {
        const r = ownRight.concat(l.slice(0, 5)); // some frame arrays shared with the left, as the store's cache shares them
        const got = diffFunctions(buildDiffTree(l, r));
        const side = (pick: (f: FunctionDiff) => [number, number]) =>
          new Map(got.map((f) => [f.name, pick(f)] as const).filter(([, v]) => v[0] !== 0 || v[1] !== 0));
        const want = (stacks: StackValue[]) =>
          new Map(topFunctions(stacks).map((f) => [f.name, [f.self, f.total]] as const));
        expect(side((f) => [f.leftSelf, f.leftTotal])).toEqual(want(l));
        expect(side((f) => [f.rightSelf, f.rightTotal])).toEqual(want(r));
      }),
      { numRuns: 300, seed: 11 },
    );
  });

  it('orders equal changes by name and honours the limit', () => {
    const same = folded('b 1\na 1');
    expect(diffFunctions(buildDiffTree(same, same)).map((f) => f.name)).toEqual(['a', 'b']);
    expect(diffFunctions(buildDiffTree(left, right), 2).map((f) => f.name)).toEqual(['parse', 'main']);
  });
});

describe('diffProfiles', () => {
  it('returns both totals, the pruned tree and the functions of the full tree', () => {
    const d = diffProfiles(left, right, 2, 0);
    expect(d.left).toEqual({ total: 14 });
    expect(d.right).toEqual({ total: 25 });
    expect(d.nodes).toEqual({ total: 8, shown: 2 });
    expect(d.functions).toHaveLength(7);
  });
});
