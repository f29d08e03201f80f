/**
 * A function's cost per source line: what `pprof -list` prints beside the
 * source, computed from stacks that kept their frames' files and lines
 * (StackValue), so it needs no source file on the server. A line's `self` is
 * the value of stacks whose leaf is the function at that line; its `total`
 * the value of stacks in which the function appears at that line, once per
 * stack however often it recurses there (as `pprof -lines` counts cum).
 */
import type { StackValue } from './tree';

export interface LineCost {
  line: number;
  self: number;
  total: number;
}

/** One file's lines of the function (the same name in two files is two functions). */
export interface FunctionLines {
  file: string;
  self: number;
  total: number;
  /** By line, ascending; line 0 is "unknown" (the profile said no line). */
  lines: LineCost[];
}

/**
 * The per-line cost of every function named `name` (in `file` only, when given), one entry per file, the
 * costliest first. Stacks without files and lines count under file '' and line 0.
 */
export function functionLines(stacks: Iterable<StackValue>, name: string, file?: string): FunctionLines[] {
  const byFile = new Map<string, { self: number; total: number; lines: Map<number, LineCost> }>();
  const entry = (f: string, line: number): LineCost => {
    let e = byFile.get(f);
    if (!e) byFile.set(f, (e = { self: 0, total: 0, lines: new Map() }));
    let l = e.lines.get(line);
    if (!l) e.lines.set(line, (l = { line, self: 0, total: 0 }));
    return l;
  };
  const seenLines = new Set<string>();
  const seenFiles = new Set<string>();
  for (const { stack, value, files, lines } of stacks) {
    if (value === 0 || stack.length === 0) continue;
    seenLines.clear();
    seenFiles.clear();
    for (let i = 0; i < stack.length; i++) {
      if (stack[i] !== name) continue;
      const f = files?.[i] ?? '';
      if (file !== undefined && f !== file) continue;
      const line = lines?.[i] ?? 0;
      const key = `${f}\u0000${line}`;
      const cost = entry(f, line);
      if (i === stack.length - 1) {
        cost.self += value;
        byFile.get(f)!.self += value;
      }
      if (!seenLines.has(key)) {
        seenLines.add(key);
        cost.total += value;
      }
      if (!seenFiles.has(f)) {
        seenFiles.add(f);
        byFile.get(f)!.total += value;
      }
    }
  }
  return [...byFile.entries()]
    .map(([f, e]) => ({
      file: f,
      self: e.self,
      total: e.total,
      lines: [...e.lines.values()].sort((a, b) => a.line - b.line),
    }))
    .sort((a, b) => b.total - a.total || b.self - a.self || (a.file < b.file ? -1 : 1));
}
