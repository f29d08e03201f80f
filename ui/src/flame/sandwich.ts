/**
 * The sandwich view of one function: its callers above (who calls it, how
 * much of its total each path carries) and its callees below (what it spends
 * its time in), both merged over every place it appears. Built from the
 * loaded tree; recursion is counted once, at the outermost call.
 */
import { fromPreorder, type FlameModel } from './model';

interface TNode {
  name: number;
  total: number;
  self: number;
  kids: Map<number, TNode>;
}

const node = (name: number): TNode => ({ name, total: 0, self: 0, kids: new Map() });

function child(parent: TNode, name: number): TNode {
  let c = parent.kids.get(name);
  if (!c) parent.kids.set(name, (c = node(name)));
  return c;
}

function toModel(root: TNode, names: string[], unit: string): FlameModel {
  const name: number[] = [];
  const depth: number[] = [];
  const total: number[] = [];
  const self: number[] = [];
  const walk = (n: TNode, d: number): void => {
    name.push(n.name);
    depth.push(d);
    total.push(n.total);
    self.push(n.self);
    const kids = [...n.kids.values()].sort((a, b) =>
      names[a.name] < names[b.name] ? -1 : names[a.name] > names[b.name] ? 1 : 0,
    );
    for (const k of kids) walk(k, d + 1);
  };
  walk(root, 0);
  return fromPreorder({ names, name, depth, total, self }, unit).model;
}

/** Callers (root = the function, children = its callers, outward) and callees (root = the function). */
export function sandwich(
  m: FlameModel,
  fn: string,
): { callers: FlameModel; callees: FlameModel; total: number; self: number } | undefined {
  const target = m.names.indexOf(fn);
  if (target < 0) return undefined;
  const callers = node(target);
  const callees = node(target);
  const mapped = new Int32Array(m.count).fill(-1); // node -> index in calleeNodes
  const calleeNodes: TNode[] = [];
  const inside = new Uint8Array(m.count); // under an occurrence of fn
  let selfSum = 0;
  for (let n = 1; n < m.count; n++) {
    const p = m.parent[n];
    if (inside[p]) {
      inside[n] = 1;
      const c = child(calleeNodes[mapped[p]], m.name[n]);
      c.total += m.total[n];
      c.self += m.self[n];
      mapped[n] = calleeNodes.length;
      calleeNodes.push(c);
      if (m.name[n] === target) selfSum += m.self[n];
    } else if (m.name[n] === target) {
      inside[n] = 1;
      callees.total += m.total[n];
      callees.self += m.self[n];
      selfSum += m.self[n];
      mapped[n] = calleeNodes.length;
      calleeNodes.push(callees);
      // The caller path, outward, weighted by this occurrence's total.
      callers.total += m.total[n];
      let at = callers;
      for (let a = p; a > 0; a = m.parent[a]) {
        at = child(at, m.name[a]);
        at.total += m.total[n];
      }
      at.self += m.total[n];
    }
  }
  if (callees.total === 0) return undefined;
  if (callers.kids.size === 0) callers.self = callers.total;
  return {
    callers: toModel(callers, m.names, m.unit),
    callees: toModel(callees, m.names, m.unit),
    total: callees.total,
    self: selfSum,
  };
}
