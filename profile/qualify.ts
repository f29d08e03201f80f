/**
 * Telling functions of one name apart: a frame is its name and its file, and
 * where a view holds one name in several files (Node's many `emit`s) each is
 * shown with its file, `emit (events.js)`, `emit (stream.js)`; everywhere
 * else a name stays as it is. Views (flame graph, top, diff, folded export)
 * run their stacks through `qualifyNames` first; the detector and budgets
 * still know functions by name alone.
 */
import type { StackValue } from './tree';

export interface Qualified {
  /** The stack sets, in order, with colliding names qualified (stacks without one are the same objects). */
  sets: (readonly StackValue[])[];
  /** Each shown name's file, where the stacks said and it is one file ('' never stored). */
  fileOf: Map<string, string>;
  /** A qualified name's own name: `emit (events.js)` → `emit`. */
  ownName: Map<string, string>;
}

/**
 * Qualifies colliding names across all the sets together (a diff's two sides name a function alike). A frame
 * with no file ('' or a stack stored with names only) never makes a collision and is left as it is.
 */
export function qualifyNames(sets: readonly (readonly StackValue[])[]): Qualified {
  // A name's file, and a set only for the few names seen in a second file: this runs on every view's query.
  const fileByName = new Map<string, string>();
  const several = new Map<string, Set<string>>();
  for (const set of sets)
    for (const { stack, files } of set) {
      if (!files) continue;
      for (let i = 0; i < stack.length; i++) {
        const f = files[i];
        if (!f) continue;
        const first = fileByName.get(stack[i]);
        if (first === undefined) fileByName.set(stack[i], f);
        else if (first !== f) {
          const seen = several.get(stack[i]);
          if (seen) seen.add(f);
          else several.set(stack[i], new Set([first, f]));
        }
      }
    }
  const fileOf = new Map<string, string>();
  const ownName = new Map<string, string>();
  const shown = new Map<string, Map<string, string>>(); // name -> file -> shown name
  for (const [name, first] of fileByName) {
    const files = several.get(name);
    if (!files) {
      fileOf.set(name, first);
      continue;
    }
    const labels = shortest([...files]);
    const byFile = new Map<string, string>();
    for (const [file, label] of labels) {
      const q = `${name} (${label})`;
      byFile.set(file, q);
      fileOf.set(q, file);
      ownName.set(q, name);
    }
    shown.set(name, byFile);
  }
  if (shown.size === 0) return { sets: [...sets], fileOf, ownName };
  const out = sets.map((set) =>
    set.map((sv) => {
      const { stack, files } = sv;
      if (!files || !stack.some((n) => shown.has(n))) return sv;
      const renamed = stack.map((n, i) => shown.get(n)?.get(files[i]) ?? n);
      return { ...sv, stack: renamed };
    }),
  );
  return { sets: out, fileOf, ownName };
}

/** The fewest trailing path segments that tell each file apart: `events.js`, or `lib/events.js` beside `src/events.js`. */
function shortest(files: string[]): Map<string, string> {
  const parts = files.map((f) => f.split(/[\\/]/).filter(Boolean));
  const out = new Map<string, string>();
  for (let depth = 1; ; depth++) {
    const labels = parts.map((p) => p.slice(-depth).join('/') || '/');
    const unique = new Set(labels).size === labels.length;
    const longest = Math.max(...parts.map((p) => p.length));
    if (unique || depth >= longest) {
      files.forEach((f, i) => out.set(f, unique ? labels[i] : f));
      return out;
    }
  }
}
