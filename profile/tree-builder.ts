/**
 * Merges stacks into a call tree in flat typed arrays, for one or more sides
 * (a flame graph has one, a diff two). Node 0 is the root, named "total"; a
 * parent always precedes its children.
 */
import type { StackValue } from './tree';

export interface BuiltTree {
  names: string[];
  size: number;
  /** Per node: index into names, parent (-1 for the root), depth (0 for the root). */
  name: Int32Array;
  parent: Int32Array;
  depth: Int32Array;
  /** Per side, per node. */
  totals: Float64Array[];
  selfs: Float64Array[];
}

// Frame names as process-wide integers, remembered per frame array. The
// store hands out the same cached frame arrays query after query, so a
// stack's names are hashed once, not once per query: building a 100k-node
// tree then touches only integers. The table is dropped (and every
// remembered array with it, by generation) when it has grown past its bound,
// only between builds: a build runs synchronously, so no build sees two tables.
const GLOBAL_NAME_LIMIT = 2_000_000;
let globalNames = new Map<string, number>();
let generation = 0;
const stackIds = new WeakMap<readonly string[], { generation: number; ids: Int32Array }>();

function idsOf(stack: readonly string[]): Int32Array {
  const known = stackIds.get(stack);
  if (known && known.generation === generation) return known.ids;
  const ids = new Int32Array(stack.length);
  for (let i = 0; i < stack.length; i++) {
    let g = globalNames.get(stack[i]);
    if (g === undefined) globalNames.set(stack[i], (g = globalNames.size));
    ids[i] = g;
  }
  stackIds.set(stack, { generation, ids });
  return ids;
}

// Children are found through one open-addressing table keyed by (parent,
// name) rather than a Map per node, so a node costs no allocation.
export class TreeBuilder {
  private names = ['total'];
  // Process-wide name id -> this tree's name index (+1; 0 = not yet seen).
  private local: Int32Array = new Int32Array(1024);
  private size = 1;
  private name = new Int32Array(1024);
  private parent = new Int32Array(1024).fill(-1, 0, 1);
  private depth = new Int32Array(1024);
  // Per side: totals[side][node], selfs[side][node].
  private totals: Float64Array[];
  private selfs: Float64Array[];
  private slots = new Int32Array(2048).fill(-1);
  // The store hands both sides the same frame arrays for the stacks they
  // share (its frame cache): a stack seen before is found by identity, and
  // its frames need not be hashed again.
  private leafOf = new Map<readonly string[], number>();

  constructor(sides: number) {
    if (globalNames.size > GLOBAL_NAME_LIMIT) {
      globalNames = new Map();
      generation++;
    }
    this.totals = Array.from({ length: sides }, () => new Float64Array(1024));
    this.selfs = Array.from({ length: sides }, () => new Float64Array(1024));
  }

  /** Adds one side's stacks (side < the number of sides given to the constructor). */
  add(stacks: Iterable<StackValue>, side: number): void {
    for (const { stack, value } of stacks) {
      if (value === 0) continue;
      const known = this.leafOf.get(stack);
      if (known !== undefined) {
        this.addAlongPath(known, value, side);
        continue;
      }
      let node = 0;
      this.totals[side][0] += value;
      const ids = idsOf(stack);
      for (let i = 0; i < ids.length; i++) {
        const g = ids[i];
        if (g >= this.local.length) this.local = grown(this.local, g + 1);
        let n = this.local[g] - 1;
        if (n < 0) {
          n = this.names.length;
          this.names.push(stack[i]);
          this.local[g] = n + 1;
        }
        node = this.child(node, n);
        this.totals[side][node] += value;
      }
      this.selfs[side][node] += value;
      this.leafOf.set(stack, node);
    }
  }

  private addAlongPath(leaf: number, value: number, side: number): void {
    const total = this.totals[side];
    this.selfs[side][leaf] += value;
    for (let node = leaf; node !== -1; node = this.parent[node]) total[node] += value;
  }

  private child(parent: number, name: number): number {
    const mask = this.slots.length - 1;
    let h = hash(parent, name) & mask;
    for (let c = this.slots[h]; c !== -1; c = this.slots[h]) {
      if (this.parent[c] === parent && this.name[c] === name) return c;
      h = (h + 1) & mask;
    }
    if (this.size === this.name.length) this.grow();
    const c = this.size++;
    this.name[c] = name;
    this.parent[c] = parent;
    this.depth[c] = this.depth[parent] + 1;
    if (this.size * 2 > this.slots.length) this.rehash();
    else this.slots[h] = c;
    return c;
  }

  private grow(): void {
    const cap = this.name.length * 2;
    const more = <T extends Int32Array | Float64Array>(a: T): T => {
      const b = new (a.constructor as new (n: number) => T)(cap);
      b.set(a);
      return b;
    };
    this.name = more(this.name);
    this.parent = more(this.parent);
    this.depth = more(this.depth);
    this.totals = this.totals.map(more);
    this.selfs = this.selfs.map(more);
  }

  // Places every node but the root again, in a table twice as large.
  private rehash(): void {
    this.slots = new Int32Array(this.slots.length * 2).fill(-1);
    const mask = this.slots.length - 1;
    for (let c = 1; c < this.size; c++) {
      let h = hash(this.parent[c], this.name[c]) & mask;
      while (this.slots[h] !== -1) h = (h + 1) & mask;
      this.slots[h] = c;
    }
  }

  /** The tree so far, in arrays of exactly `size` nodes (views, not copies). */
  finish(): BuiltTree {
    const n = this.size;
    return {
      names: this.names,
      size: n,
      name: this.name.subarray(0, n),
      parent: this.parent.subarray(0, n),
      depth: this.depth.subarray(0, n),
      totals: this.totals.map((a) => a.subarray(0, n)),
      selfs: this.selfs.map((a) => a.subarray(0, n)),
    };
  }
}

function grown(a: Int32Array, min: number): Int32Array {
  const b = new Int32Array(Math.max(min, a.length * 2));
  b.set(a);
  return b;
}

function hash(parent: number, name: number): number {
  let h = Math.imul(parent, 0x9e3779b1) ^ Math.imul(name + 0x7f4a7c15, 0x85ebca6b);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return h ^ (h >>> 13);
}
