/**
 * The flame graph model the renderer draws: nodes in flat typed arrays,
 * grouped by depth and ordered left to right inside a depth, so drawing a
 * zoomed window is a binary search per row. Built from the server's level
 * payload (flame graphs), from a pre-order tree (diffs, sandwich halves).
 */
import type { DiffPayload, FlamePayload } from '../api';

export interface DiffValues {
  leftTotal: Float64Array;
  leftSelf: Float64Array;
  rightTotal: Float64Array;
  rightSelf: Float64Array;
  /** Side totals: the root's values. */
  L: number;
  R: number;
  mode: 'relative' | 'absolute';
}

export interface FlameModel {
  names: string[];
  /** Each name's file, parallel to `names`, when the profiles said ('' unknown). */
  files?: string[];
  count: number;
  /** Nodes at depth d are [levelStart[d], levelStart[d + 1]). */
  levelStart: Int32Array;
  depth: Int32Array;
  name: Int32Array;
  parent: Int32Array;
  firstChild: Int32Array;
  childCount: Int32Array;
  /** Layout in value units: node n spans [x[n], x[n] + w[n]); the root starts at 0. */
  x: Float64Array;
  w: Float64Array;
  /** Values shown in tooltips and tables (for a diff: the comparison side). */
  total: Float64Array;
  self: Float64Array;
  unit: string;
  diff?: DiffValues;
  nodes: { total: number; shown: number };
}

export function levels(m: FlameModel): number {
  return m.levelStart.length - 1;
}

/** From `/api/v1/flamegraph`: levels of `[offset, total, self, nameIndex]` groups. */
export function fromFlamePayload(p: FlamePayload): FlameModel {
  let count = 0;
  for (const row of p.levels) count += row.length / 4;
  const m = alloc(p.names, count, p.levels.length, p.unit, p.nodes);
  let n = 0;
  for (let d = 0; d < p.levels.length; d++) {
    m.levelStart[d] = n;
    const row = p.levels[d];
    let cursor = 0;
    for (let i = 0; i < row.length; i += 4, n++) {
      const x = cursor + row[i];
      m.x[n] = x;
      m.w[n] = m.total[n] = row[i + 1];
      m.self[n] = row[i + 2];
      m.name[n] = row[i + 3];
      m.depth[n] = d;
      cursor = x + row[i + 1];
    }
  }
  m.levelStart[p.levels.length] = n;
  linkParents(m);
  if (p.files) m.files = p.files;
  return m;
}

/** A tree given in pre-order (parents before children, children left to right) with a depth per node. */
export interface Preorder {
  names: string[];
  name: ArrayLike<number>;
  depth: ArrayLike<number>;
  total: ArrayLike<number>;
  self: ArrayLike<number>;
  /** Layout width per node; defaults to total. */
  width?: ArrayLike<number>;
}

export function fromPreorder(
  t: Preorder,
  unit: string,
  nodes?: { total: number; shown: number },
): { model: FlameModel; order: Int32Array } {
  const count = t.name.length;
  let maxDepth = 0;
  for (let i = 0; i < count; i++) if (t.depth[i] > maxDepth) maxDepth = t.depth[i];
  const levelCount = count === 0 ? 0 : maxDepth + 1;
  const m = alloc(t.names, count, levelCount, unit, nodes ?? { total: count, shown: count });
  // Counting sort by depth keeps pre-order (left to right) inside each depth.
  const perLevel = new Int32Array(levelCount + 1);
  for (let i = 0; i < count; i++) perLevel[t.depth[i] + 1]++;
  for (let d = 0; d < levelCount; d++) perLevel[d + 1] += perLevel[d];
  m.levelStart.set(perLevel);
  const next = perLevel.slice(0, levelCount);
  const order = new Int32Array(count); // pre-order index -> model index
  const cursor = new Float64Array(levelCount + 1);
  const lastAt = new Int32Array(levelCount + 1);
  const width = t.width ?? t.total;
  for (let i = 0; i < count; i++) {
    const d = t.depth[i];
    const n = next[d]++;
    order[i] = n;
    m.x[n] = cursor[d];
    cursor[d] += width[i];
    cursor[d + 1] = m.x[n];
    m.w[n] = width[i];
    m.total[n] = t.total[i];
    m.self[n] = t.self[i];
    m.name[n] = t.name[i];
    m.depth[n] = d;
    m.parent[n] = d === 0 ? -1 : lastAt[d - 1];
    lastAt[d] = n;
  }
  linkChildren(m);
  return { model: m, order };
}

/**
 * From `/api/v1/diff`. Widths: `relative` gives each side equal weight
 * (a node's width is the mean of its two shares), so a small baseline is not
 * drowned by a big comparison; `absolute` sums raw values.
 */
export function fromDiffPayload(p: DiffPayload, mode: 'relative' | 'absolute'): FlameModel {
  const t = p.tree;
  const count = t.name.length;
  const L = p.left.total;
  const R = p.right.total;
  const width = new Float64Array(count);
  for (let i = 0; i < count; i++) {
    width[i] =
      mode === 'absolute'
        ? t.leftTotal[i] + t.rightTotal[i]
        : (L > 0 ? t.leftTotal[i] / L : 0) + (R > 0 ? t.rightTotal[i] / R : 0);
  }
  const { model, order } = fromPreorder(
    { names: p.names, name: t.name, depth: t.depth, total: t.rightTotal, self: t.rightSelf, width },
    p.unit,
    p.nodes,
  );
  const diff: DiffValues = {
    leftTotal: new Float64Array(count),
    leftSelf: new Float64Array(count),
    rightTotal: new Float64Array(count),
    rightSelf: new Float64Array(count),
    L,
    R,
    mode,
  };
  for (let i = 0; i < count; i++) {
    const n = order[i];
    diff.leftTotal[n] = t.leftTotal[i];
    diff.leftSelf[n] = t.leftSelf[i];
    diff.rightTotal[n] = t.rightTotal[i];
    diff.rightSelf[n] = t.rightSelf[i];
  }
  model.diff = diff;
  if (p.files) model.files = p.files;
  return model;
}

function alloc(
  names: string[],
  count: number,
  levelCount: number,
  unit: string,
  nodes: { total: number; shown: number },
): FlameModel {
  return {
    names,
    count,
    unit,
    nodes,
    levelStart: new Int32Array(levelCount + 1),
    depth: new Int32Array(count),
    name: new Int32Array(count),
    parent: new Int32Array(count),
    firstChild: new Int32Array(count).fill(-1),
    childCount: new Int32Array(count),
    x: new Float64Array(count),
    w: new Float64Array(count),
    total: new Float64Array(count),
    self: new Float64Array(count),
  };
}

/** Parents by sweeping each row against the one above: both are sorted by x, children nest in parents, widths are > 0. */
function linkParents(m: FlameModel): void {
  if (m.count > 0) m.parent[0] = -1;
  for (let d = 1; d < levels(m); d++) {
    let p = m.levelStart[d - 1];
    const pEnd = m.levelStart[d];
    for (let c = m.levelStart[d]; c < m.levelStart[d + 1]; c++) {
      while (p + 1 < pEnd && m.x[p + 1] <= m.x[c]) p++;
      m.parent[c] = p;
    }
  }
  linkChildren(m);
}

/** Children of a node are contiguous in the row below: record where they start and how many. */
function linkChildren(m: FlameModel): void {
  for (let c = 1; c < m.count; c++) {
    const p = m.parent[c];
    if (m.firstChild[p] === -1) m.firstChild[p] = c;
    m.childCount[p]++;
  }
}

/** Frame names from the root's child down to `node`. */
export function pathOf(m: FlameModel, node: number): string[] {
  const out: string[] = [];
  for (let n = node; n > 0; n = m.parent[n]) out.push(m.names[m.name[n]]);
  return out.reverse();
}

/** The node at a path of names, or the deepest prefix found (0, the root, for none). */
export function nodeAt(m: FlameModel, path: string[]): number {
  let node = 0;
  for (const frame of path) {
    let found = -1;
    for (let c = m.firstChild[node], end = c + m.childCount[node]; c !== -1 && c < end; c++) {
      if (m.names[m.name[c]] === frame) {
        found = c;
        break;
      }
    }
    if (found === -1) break;
    node = found;
  }
  return node;
}

/**
 * Search: a case-insensitive substring, or a regular expression written
 * `/like this/`. Returns a flag per name index; an invalid regex matches nothing.
 */
export function matchNames(names: string[], query: string): { match: Uint8Array; error?: string } {
  const match = new Uint8Array(names.length);
  if (!query) return { match };
  let test: (s: string) => boolean;
  const re = /^\/(.+)\/([a-z]*)$/.exec(query);
  if (re) {
    try {
      const r = new RegExp(re[1], re[2].includes('i') ? 'i' : '');
      test = (s) => r.test(s);
    } catch (err) {
      return { match, error: `invalid regular expression: ${(err as Error).message}` };
    }
  } else {
    const needle = query.toLowerCase();
    test = (s) => s.toLowerCase().includes(needle);
  }
  for (let i = 0; i < names.length; i++) if (test(names[i])) match[i] = 1;
  return { match };
}

/**
 * The share of the root's value under matched nodes, counting a matched
 * node's subtree once even when matched descendants sit inside it.
 */
export function matchedValue(m: FlameModel, nameMatch: Uint8Array, value: ArrayLike<number>): number {
  const covered = new Uint8Array(m.count);
  let sum = 0;
  for (let n = 1; n < m.count; n++) {
    if (covered[m.parent[n]]) covered[n] = 1;
    else if (nameMatch[m.name[n]]) {
      covered[n] = 1;
      sum += value[n];
    }
  }
  return sum;
}
