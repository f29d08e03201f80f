/**
 * Telling functions of one name apart: a frame is its name and its file, and
 * where one side of a view holds one name in several files (Node's many
 * `emit`s) each is shown with its file, `emit (events.js)`, `emit
 * (stream.js)`; everywhere else a name stays as it is. A collision is one
 * set's (one side's) own: a function whose file moved between two builds
 * (`/releases/v1/app.js` → `/releases/v2/app.js`, a Go module's `@v1.2.3`
 * path) is one function on both sides, not one gone and one new. Views (flame
 * graph, top, diff, folded export) run their stacks through `qualifyNames`;
 * the detector labels its per-function statistics with `collisionDepths` and
 * `shownName` the same way (store/compare.ts).
 */
import type { StackValue } from './tree';

export interface Qualified {
  /** The stack sets, in order, with colliding names qualified (stacks without one are the same objects). */
  sets: (readonly StackValue[])[];
  /** Each shown name's file, where the stacks said (the first seen when a name's file moved between sets). */
  fileOf: Map<string, string>;
  /** A qualified name's own name: `emit (events.js)` → `emit`. */
  ownName: Map<string, string>;
}

/**
 * Names that one set holds in two or more files, each with the fewest trailing path segments that tell that
 * set's files of it apart (the most any set needs): `events.js`, or `lib/events.js` beside `stream/events.js`.
 * `sets` maps each name to the files ('' unknown: never a collision) one set saw it in.
 */
export function collisionDepths(
  sets: readonly ReadonlyMap<string, ReadonlySet<string>>[],
): Map<string, number> {
  const out = new Map<string, number>();
  for (const set of sets)
    for (const [name, files] of set) {
      const known = [...files].filter(Boolean);
      if (known.length < 2) continue;
      out.set(name, Math.max(out.get(name) ?? 1, depthOf(known)));
    }
  return out;
}

/** A frame's shown name: qualified by the last `depth` segments of its file when its name collides (a frame with no file never is). */
export function shownName(name: string, file: string, depths: ReadonlyMap<string, number>): string {
  const depth = depths.get(name);
  return depth === undefined || !file ? name : `${name} (${tail(file, depth)})`;
}

function segments(file: string): string[] {
  return file.split(/[\\/]/).filter(Boolean);
}

function tail(file: string, depth: number): string {
  const parts = segments(file);
  return depth >= parts.length ? file : parts.slice(-depth).join('/');
}

/** The fewest trailing segments that make the files' labels distinct (all of them when nothing shorter does). */
function depthOf(files: string[]): number {
  const parts = files.map(segments);
  const longest = Math.max(...parts.map((p) => p.length));
  for (let depth = 1; depth < longest; depth++) {
    if (new Set(files.map((f) => tail(f, depth))).size === files.length) return depth;
  }
  return longest;
}

/**
 * Qualifies the names that collide within a set, in every set alike (a diff's two sides name a function alike).
 * A frame with no file ('' or a stack stored with names only) never makes a collision and keeps its name.
 */
export function qualifyNames(sets: readonly (readonly StackValue[])[]): Qualified {
  // Per set, each name's files: one file by far the most often (a Map of one string), a set only for names seen in a second.
  const fileOf = new Map<string, string>();
  const perSet = sets.map((set) => {
    const first = new Map<string, string>();
    const several = new Map<string, Set<string>>();
    for (const { stack, files } of set) {
      if (!files) continue;
      for (let i = 0; i < stack.length; i++) {
        const f = files[i];
        if (!f) continue;
        const seen = first.get(stack[i]);
        if (seen === undefined) first.set(stack[i], f);
        else if (seen !== f) {
          const all = several.get(stack[i]);
          if (all) all.add(f);
          else several.set(stack[i], new Set([seen, f]));
        }
      }
    }
    for (const [name, f] of first) if (!fileOf.has(name)) fileOf.set(name, f);
    return { first, several };
  });
  const depths = collisionDepths(perSet.map((s) => s.several));
  const ownName = new Map<string, string>();
  if (depths.size === 0) return { sets: [...sets], fileOf, ownName };
  for (const name of depths.keys()) fileOf.delete(name);
  // A shown name per (file, name), made once: a fleet's view has tens of thousands of stacks through the same few
  // colliding frames (express's `handle`, `next`), and splitting a path for each of them took 250 ms a request
  // at 16k stacks (bench/query-fleet).
  const shownByFile = new Map<string, Map<string, string>>();
  const shownOf = (n: string, file: string): string => {
    if (!file || !depths.has(n)) return n;
    let byName = shownByFile.get(file);
    if (!byName) shownByFile.set(file, (byName = new Map()));
    let shown = byName.get(n);
    if (shown === undefined) {
      shown = shownName(n, file, depths);
      byName.set(n, shown);
      if (shown !== n && !ownName.has(shown)) {
        ownName.set(shown, n);
        fileOf.set(shown, file);
      }
    }
    return shown;
  };
  // Every shown name, once, in the order the stacks show them (the first file of a shown name is its file).
  for (const { first, several } of perSet)
    for (const name of depths.keys()) {
      const files = several.get(name) ?? (first.has(name) ? [first.get(name)!] : []);
      for (const f of files) shownOf(name, f);
    }
  const signature = [...depths].map(([n, d]) => `${d}\u0000${n}`).join('\u0001');
  const out = sets.map((set) =>
    set.map((sv) => {
      const { stack, files } = sv;
      if (!files) return sv;
      // The same qualified array for the same cached stack and collisions, query after query: the tree builder
      // knows an array it has seen (tree-builder idsOf), and a new one per request cost ~180 ms at 16k stacks.
      const memo = qualifiedStacks.get(stack);
      if (memo && memo.signature === signature && memo.files === files)
        return memo.stack === stack ? sv : { ...sv, stack: memo.stack };
      const shown = stack.some((n) => depths.has(n)) ? stack.map((n, i) => shownOf(n, files[i])) : stack;
      qualifiedStacks.set(stack, { signature, files, stack: shown });
      return shown === stack ? sv : { ...sv, stack: shown };
    }),
  );
  return { sets: out, fileOf, ownName };
}

/** Per stored frame array: its qualified form for one set of collisions (qualifyNames). */
const qualifiedStacks = new WeakMap<
  readonly string[],
  { signature: string; files: readonly string[]; stack: readonly string[] }
>();
