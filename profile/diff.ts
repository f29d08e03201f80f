/**
 * Diffs of two selections: the baseline (left) and the comparison (right)
 * merged into one call tree whose nodes carry both sides' values, and the
 * per-function comparison beside it.
 */
import type { StackValue } from './tree';
import { TreeBuilder } from './tree-builder';

/**
 * Both sides' stacks merged into one tree, in typed arrays of `size` nodes.
 * Node 0 is the root, named "total"; a parent always precedes its children.
 * A node on one side only has 0 on the other.
 */
export interface DiffTree {
  names: string[];
  size: number;
  /** The nodes in pre-order (depth-first, root first), children ordered by name. */
  order: Int32Array;
  /** Per node: index into names, parent (-1 for the root), depth (0 for the root). */
  name: Int32Array;
  parent: Int32Array;
  depth: Int32Array;
  leftTotal: Float64Array;
  leftSelf: Float64Array;
  rightTotal: Float64Array;
  rightSelf: Float64Array;
}

/** Merges both sides into one tree; the root's totals are the sums of each side's values. */
export function buildDiffTree(left: Iterable<StackValue>, right: Iterable<StackValue>): DiffTree {
  const builder = new TreeBuilder(2);
  builder.add(left, 0);
  builder.add(right, 1);
  const t = builder.finish();
  return {
    names: t.names,
    size: t.size,
    order: preOrder(t.names, t.parent, t.name),
    name: t.name,
    parent: t.parent,
    depth: t.depth,
    leftTotal: t.totals[0],
    leftSelf: t.selfs[0],
    rightTotal: t.totals[1],
    rightSelf: t.selfs[1],
  };
}

/**
 * The diff tree payload: nodes in pre-order (depth-first, root first,
 * children ordered by name), one column per field, each `name` an index into
 * `names`.
 */
export interface DiffGraph {
  names: string[];
  tree: {
    name: number[];
    depth: number[];
    leftTotal: number[];
    leftSelf: number[];
    rightTotal: number[];
    rightSelf: number[];
  };
  /** Nodes in the merged tree, and in this payload. */
  nodes: { total: number; shown: number };
}

/**
 * Lays the tree out in pre-order, keeping at most `maxNodes` nodes (0: all):
 * those with the largest share of either side's total, `max(leftTotal/L,
 * rightTotal/R)`, never a node whose parent was dropped. A dropped node's
 * value stays in its ancestors' totals. The root always stays.
 */
export function diffGraph(tree: DiffTree, maxNodes = 0): DiffGraph {
  const { size, order, name, depth, leftTotal, leftSelf, rightTotal, rightSelf } = tree;

  // A child's share never exceeds its parent's, so the largest shares form a
  // connected tree. Ties at the threshold are taken in pre-order until the
  // budget is spent, which reaches a parent before its children.
  let score: Float64Array | undefined;
  let threshold = -Infinity;
  let tieBudget = Infinity;
  if (maxNodes > 0 && size > maxNodes) {
    score = shares(tree);
    const k = maxNodes - 1; // besides the root
    if (k === 0) {
      threshold = Infinity;
      tieBudget = 0;
    } else {
      threshold = score.slice(1).sort()[size - 1 - k];
      let above = 0;
      for (let i = 1; i < size; i++) if (score[i] > threshold) above++;
      tieBudget = k - above;
    }
  }

  const out: DiffGraph = {
    names: [],
    tree: { name: [], depth: [], leftTotal: [], leftSelf: [], rightTotal: [], rightSelf: [] },
    nodes: { total: size, shown: 0 },
  };
  const t = out.tree;
  const nameMap = new Int32Array(tree.names.length).fill(-1);
  let droppedDepth = Infinity; // inside a dropped subtree while deeper than this
  for (let i = 0; i < size; i++) {
    const node = order[i];
    if (depth[node] > droppedDepth) continue;
    droppedDepth = Infinity;
    if (score !== undefined && node !== 0) {
      const s = score[node];
      if (s < threshold || (s === threshold && tieBudget === 0)) {
        droppedDepth = depth[node];
        continue;
      }
      if (s === threshold) tieBudget--;
    }
    let n = nameMap[name[node]];
    if (n === -1) {
      n = nameMap[name[node]] = out.names.length;
      out.names.push(tree.names[name[node]]);
    }
    t.name.push(n);
    t.depth.push(depth[node]);
    t.leftTotal.push(leftTotal[node]);
    t.leftSelf.push(leftSelf[node]);
    t.rightTotal.push(rightTotal[node]);
    t.rightSelf.push(rightSelf[node]);
  }
  out.nodes.shown = t.name.length;
  return out;
}

/** Each node's largest share of a side's total; a side whose total is 0 gives 0. */
function shares(tree: DiffTree): Float64Array {
  const { size, leftTotal, rightTotal } = tree;
  const l = leftTotal[0];
  const r = rightTotal[0];
  const score = new Float64Array(size);
  for (let i = 0; i < size; i++)
    score[i] = Math.max(l > 0 ? leftTotal[i] / l : 0, r > 0 ? rightTotal[i] / r : 0);
  return score;
}

/** Node ids depth-first from the root, children ordered by name as profile/tree.ts orders them. */
function preOrder(names: string[], parent: Int32Array, name: Int32Array): Int32Array {
  const size = parent.length;
  const rank = new Int32Array(names.length);
  const byName = Array.from(names.keys()).sort((a, b) => compareNames(names[a], names[b]));
  for (let i = 0; i < byName.length; i++) rank[byName[i]] = i;
  // Children of node p: kids[start[p]..start[p + 1]), sorted by name.
  const start = new Int32Array(size + 1);
  for (let c = 1; c < size; c++) start[parent[c] + 1]++;
  for (let i = 0; i < size; i++) start[i + 1] += start[i];
  const fill = start.slice(0, size);
  const kids = new Int32Array(Math.max(size - 1, 0));
  for (let c = 1; c < size; c++) kids[fill[parent[c]]++] = c;
  const byRank = (a: number, b: number) => rank[name[a]] - rank[name[b]];
  for (let p = 0; p < size; p++)
    if (start[p + 1] - start[p] > 1) kids.subarray(start[p], start[p + 1]).sort(byRank);

  const order = new Int32Array(size);
  const stack = new Int32Array(size);
  let top = 0;
  let next = 0;
  stack[top++] = 0;
  while (top > 0) {
    const node = stack[--top];
    order[next++] = node;
    for (let i = start[node + 1] - 1; i >= start[node]; i--) stack[top++] = kids[i]; // reversed: first by name pops first
  }
  return order;
}

function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** One function on both sides, as google/pprof's flat (`self`) and cum (`total`). */
export interface FunctionDiff {
  name: string;
  leftSelf: number;
  leftTotal: number;
  rightSelf: number;
  rightTotal: number;
}

/**
 * Self and total of every function on each side, as `topFunctions` gives
 * them for each side's stacks, sorted by the change of its total share,
 * |rightTotal/R − leftTotal/L| (L, R the sides' totals; a zero total gives
 * share 0), largest first, then by name. At most `limit` functions (0: all).
 */
export function diffFunctions(tree: DiffTree, limit = 0): FunctionDiff[] {
  const { names, size, order, name, depth, leftTotal, leftSelf, rightTotal, rightSelf } = tree;
  // Read off the full tree rather than the stacks: a function's total is the
  // sum over its outermost nodes (no ancestor of the same name), whose
  // subtrees hold each stack through it once, as pprof's cum counts it. This
  // walks nodes instead of hashing every frame of every stack again.
  const k = names.length;
  const [lSelf, lTotal, rSelf, rTotal] = [
    new Float64Array(k),
    new Float64Array(k),
    new Float64Array(k),
    new Float64Array(k),
  ];
  const present = new Uint8Array(k);
  const onPath = new Int32Array(k);
  const path = new Int32Array(size); // names of the current node's ancestors below the root, by depth - 1
  let pathLength = 0;
  for (let i = 1; i < size; i++) {
    const node = order[i];
    while (pathLength >= depth[node]) onPath[path[--pathLength]]--;
    const n = name[node];
    present[n] = 1;
    lSelf[n] += leftSelf[node];
    rSelf[n] += rightSelf[node];
    if (onPath[n] === 0) {
      lTotal[n] += leftTotal[node];
      rTotal[n] += rightTotal[node];
    }
    onPath[n]++;
    path[pathLength++] = n;
  }
  const l = leftTotal[0];
  const r = rightTotal[0];
  const all: { f: FunctionDiff; change: number }[] = [];
  for (let n = 0; n < k; n++) {
    if (!present[n]) continue;
    const change = Math.abs((r > 0 ? rTotal[n] / r : 0) - (l > 0 ? lTotal[n] / l : 0));
    all.push({
      f: {
        name: names[n],
        leftSelf: lSelf[n],
        leftTotal: lTotal[n],
        rightSelf: rSelf[n],
        rightTotal: rTotal[n],
      },
      change,
    });
  }
  all.sort((a, b) => b.change - a.change || compareNames(a.f.name, b.f.name));
  return (limit > 0 ? all.slice(0, limit) : all).map((x) => x.f);
}

/** The diff payload of GET /api/v1/diff, without its type and unit. */
export interface Diff extends DiffGraph {
  left: { total: number };
  right: { total: number };
  functions: FunctionDiff[];
}

/**
 * Diffs two sides' stacks: the merged tree pruned to `maxNodes` (0: all) and
 * the `limit` functions whose share changed most (0: all), computed from the
 * full tree, not the pruned one.
 */
export function diffProfiles(
  left: Iterable<StackValue>,
  right: Iterable<StackValue>,
  maxNodes = 0,
  limit = 0,
): Diff {
  const tree = buildDiffTree(left, right);
  return {
    left: { total: tree.leftTotal[0] },
    right: { total: tree.rightTotal[0] },
    ...diffGraph(tree, maxNodes),
    functions: diffFunctions(tree, limit),
  };
}
