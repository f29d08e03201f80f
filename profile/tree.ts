/**
 * Merged call trees built from (stack, value) pairs, and the views computed
 * from them: top functions and the columnar flame graph payload.
 */
import { TreeBuilder } from './tree-builder';

/** A stack (root first) and the value summed over it. */
export interface StackValue {
  stack: readonly string[];
  value: number;
  /** Each frame's file ('' unknown) and line (0 unknown), parallel to `stack`, when asked for and known (Sample). */
  files?: readonly string[];
  lines?: readonly number[];
}

/** One function's sums: `self` where it is the leaf, `total` where it appears (once per stack). */
export interface FunctionStat {
  name: string;
  self: number;
  total: number;
}

/**
 * Self and total per function, as google/pprof's flat and cum: self sums the
 * values of stacks whose leaf is the function, total those in which it appears
 * anywhere, counted once per stack even when recursive. Sorted by self, then
 * total, then name (descending values, ascending names) so the order is stable.
 */
export function topFunctions(stacks: Iterable<StackValue>): FunctionStat[] {
  const stats = new Map<string, FunctionStat>();
  const stat = (name: string): FunctionStat => {
    let s = stats.get(name);
    if (!s) stats.set(name, (s = { name, self: 0, total: 0 }));
    return s;
  };
  const seen = new Set<string>();
  for (const { stack, value } of stacks) {
    if (stack.length === 0 || value === 0) continue;
    stat(stack[stack.length - 1]).self += value;
    seen.clear();
    for (const frame of stack) {
      if (seen.has(frame)) continue;
      seen.add(frame);
      stat(frame).total += value;
    }
  }
  return Array.from(stats.values()).sort(
    (a, b) => b.self - a.self || b.total - a.total || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0),
  );
}

/** A merged call tree in flat arrays: node 0 is the root; children follow parents. */
export interface FlameTree {
  names: string[];
  /** Per node: index into names, parent node (-1 for the root), total, self. */
  name: ArrayLike<number>;
  parent: ArrayLike<number>;
  total: Float64Array;
  self: Float64Array;
  children: number[][];
}

/** Merges stacks into one tree whose root, named "total", holds the sum of every value. */
export function buildTree(stacks: Iterable<StackValue>): FlameTree {
  const builder = new TreeBuilder(1);
  builder.add(stacks, 0);
  const t = builder.finish();
  const children: number[][] = Array.from({ length: t.size }, () => []);
  for (let c = 1; c < t.size; c++) children[t.parent[c]].push(c);
  return { names: t.names, name: t.name, parent: t.parent, total: t.totals[0], self: t.selfs[0], children };
}

/**
 * The flame graph payload, level by level (the layout Pyroscope's flamebearer
 * uses, so tools that read one read the other). `levels[d]` lists the nodes at
 * depth d, left to right, as groups of four numbers:
 * `[offset, total, self, nameIndex]`, where offset is the gap in value units
 * between the end of the previous node of that level and this node's start.
 * Children are ordered by name, so the same data draws the same picture.
 */
export interface FlameGraph {
  names: string[];
  levels: number[][];
  total: number;
  maxSelf: number;
  /** Nodes in the tree before pruning, and in this payload. */
  nodes: { total: number; shown: number };
}

/**
 * Lays the tree out in levels, keeping at most `maxNodes` nodes (the largest
 * by total; a pruned node's value stays in its parent's total and shows as a
 * gap) and dropping nodes whose total is below `minValue`.
 */
export function flameGraph(tree: FlameTree, maxNodes = 0, minValue = 0): FlameGraph {
  const count = tree.name.length;
  let threshold = Math.max(minValue, 0);
  if (maxNodes > 0 && count > maxNodes) {
    const totals = tree.total.slice().sort((a, b) => b - a);
    threshold = Math.max(threshold, totals[maxNodes - 1]);
  }
  const levels: number[][] = [];
  const names: string[] = [];
  const nameMap = new Map<number, number>();
  let shown = 0;
  let maxSelf = 0;
  // Breadth-first over kept nodes, tracking each node's absolute start.
  let current: { node: number; start: number }[] = [{ node: 0, start: 0 }];
  while (current.length > 0) {
    const row: number[] = [];
    const next: { node: number; start: number }[] = [];
    let cursor = 0;
    for (const { node, start } of current) {
      if (shown >= (maxNodes > 0 ? maxNodes : Infinity)) break;
      shown++;
      let nameIdx = nameMap.get(tree.name[node]);
      if (nameIdx === undefined) {
        nameIdx = names.length;
        names.push(tree.names[tree.name[node]]);
        nameMap.set(tree.name[node], nameIdx);
      }
      row.push(start - cursor, tree.total[node], tree.self[node], nameIdx);
      cursor = start + tree.total[node];
      if (tree.self[node] > maxSelf) maxSelf = tree.self[node];
      const kids = tree.children[node]
        .filter((c) => tree.total[c] >= threshold && tree.total[c] > 0)
        .sort((a, b) => compareNames(tree.names[tree.name[a]], tree.names[tree.name[b]]));
      let childStart = start;
      for (const c of kids) {
        next.push({ node: c, start: childStart });
        childStart += tree.total[c];
      }
    }
    levels.push(row);
    current = next;
  }
  return { names, levels, total: tree.total[0], maxSelf, nodes: { total: count, shown } };
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
