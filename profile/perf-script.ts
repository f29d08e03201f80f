/**
 * `perf script` text → folded stacks, a drop-in for Brendan Gregg's
 * stackcollapse-perf.pl (FlameGraph). Pure code: no I/O.
 *
 * Compatibility is the point, so this follows the Perl script even where it
 * is surprising; each such place says so. Its regular expressions are done as
 * scans and `indexOf` calls with the same results (backtracking included),
 * with the exact regex kept for frame lines the fast path cannot decide.
 *
 * The Perl script works on bytes: decode input and encode output as `latin1`
 * to get its bytes for any input (UTF-8 passes through untouched). Character
 * classes here are ASCII, as Perl's are on byte strings.
 */

/** Options of stackcollapse-perf.pl that change the folded output. */
export interface CollapseOptions {
  /** `--pid`: root frame `comm-pid` (pid `?` when perf printed only a tid). */
  pid?: boolean;
  /** `--tid`: root frame `comm-pid/tid`; wins over `pid`. */
  tid?: boolean;
  /** `--kernel`: `_[k]` on frames of kernel modules (`[...]`, `*vmlinux`). */
  kernel?: boolean;
  /** `--jit`: `_[j]` on frames from `/tmp/perf-<pid>.map` (JIT symbol maps). */
  jit?: boolean;
  /** `--all`: both `kernel` and `jit`. */
  all?: boolean;
  /** `--addrs`: unknown symbols as `[module <address>]`, not `[module]`. */
  addrs?: boolean;
  /**
   * `--event-filter`: keep only samples of this event. When absent or empty
   * the first event seen is kept, as in Perl: cycles plus instructions mislead.
   */
  eventFilter?: string;
  /** Called with each diagnostic the Perl script would print on stderr. */
  onWarning?: (message: string) => void;
}

const SPACE = 32;
const TAB = 9;
const CR = 13;
const HASH = 35;
const SLASH = 47;
const OPEN_PAREN = 40;
const COLON = 58;
const UPPER_L = 76;
const OPEN_BRACKET = 91;

/** Perl's `\s` on byte strings: space, \t, \n, \v, \f, \r. */
function isSpace(c: number): boolean {
  return c === SPACE || (c >= TAB && c <= CR);
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

/** Perl's `\w` on byte strings: [A-Za-z0-9_]. */
function isWord(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || isDigit(c) || c === 95;
}

/** Bounds the frame-name cache (about 200 bytes an entry) on inputs with endless distinct lines. */
const MAX_CACHED_LINES = 1 << 17;

/** The exact frame-line expression, for the lines the fast path leaves undecided. */
const FRAME_LINE = /^[ \t\n\v\f\r]*(\w+)[ \t\n\v\f\r]*(.+) \((.*)\)/s;

/**
 * Collapses `perf script` output, fed in chunks of any size (a chunk may end
 * anywhere inside a line), into folded stacks.
 *
 * Contract, as stackcollapse-perf.pl: a sample is counted when the blank line
 * that ends it is read, so a last sample with no blank line after it is
 * dropped; the count is the sample's period when perf printed one, else 1.
 */
export class PerfScriptCollapser {
  private readonly kernel: boolean;
  private readonly jit: boolean;
  private eventFilter: string;
  private eventDefaulted = false;
  private filterWarned = false;

  /** The unfinished last line of the previous chunk. */
  private partial = '';
  /** Root frame of the sample being read; undefined between samples and for filtered ones. */
  private processName: string | undefined = undefined;
  private isJava = false;
  private period = 1;
  /** Frame ids of the current sample, leaf first as perf prints them. */
  private readonly frames: number[] = [];
  /** Frame name by id; ids keep samples as small integers until the end. */
  private readonly names: string[] = [];
  private readonly idByName = new Map<string, number>();
  /** Frame ids by frame line less its address, for non-Java and Java processes. */
  private readonly idsByRest = new Map<string, number[]>();
  private readonly javaIdsByRest = new Map<string, number[]>();
  /** Counts so far, as a tree of frame ids under each root (process) name. */
  private readonly roots = new Map<string, StackNode>();

  /** A collapser with stackcollapse-perf.pl's `options`; nothing read yet. */
  constructor(private readonly options: CollapseOptions = {}) {
    this.kernel = options.kernel === true || options.all === true;
    this.jit = options.jit === true || options.all === true;
    this.eventFilter = options.eventFilter ?? '';
  }

  private warn(message: string): void {
    this.options.onWarning?.(message);
  }

  /** Feeds the next piece of text; returns nothing (see `end`). */
  push(chunk: string): void {
    let start = 0;
    let newline = chunk.indexOf('\n');
    if (this.partial !== '') {
      if (newline < 0) {
        this.partial += chunk;
        return;
      }
      const joined = this.partial + chunk.slice(0, newline);
      this.partial = '';
      this.line(joined, 0, joined.length);
      start = newline + 1;
      newline = chunk.indexOf('\n', start);
    }
    // Lines are read in place (offsets into the chunk) to spare a string per line.
    while (newline >= 0) {
      this.line(chunk, start, newline);
      start = newline + 1;
      newline = chunk.indexOf('\n', start);
    }
    if (start < chunk.length) this.partial = chunk.slice(start);
  }

  /**
   * Reads a last line that had no newline, as at the end of each of several
   * input files (Perl reads them as one stream of lines, so a sample may go
   * on into the next file, but a line does not). Returns nothing.
   */
  endFile(): void {
    const last = this.partial;
    this.partial = '';
    if (last !== '') this.line(last, 0, last.length);
  }

  /**
   * Ends the input (see `endFile`); returns folded stack (root first,
   * `;`-separated, the root being the process) → summed count so far.
   */
  end(): Map<string, number> {
    this.endFile();
    const stacks = new Map<string, number>();
    const pending: { node: StackNode; stack: string }[] = [];
    for (const [name, node] of this.roots) pending.push({ node, stack: name });
    for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
      const { node, stack } = next;
      // Sum, not set: a process name may hold a ";" and so equal another's stack.
      if (node.counted) stacks.set(stack, (stacks.get(stack) ?? 0) + node.count);
      if (node.children === undefined) continue;
      for (const [id, child] of node.children)
        pending.push({ node: child, stack: stack + ';' + this.names[id] });
    }
    return stacks;
  }

  private line(text: string, start: number, end: number): void {
    if (start === end) {
      this.endSample();
      return;
    }
    const first = text.charCodeAt(start);
    if (first === HASH) return;
    if (!isSpace(first) && this.header(text.slice(start, end))) return;
    if (!this.frame(text, start, end)) this.warn(`Unrecognized line: ${text.slice(start, end)}`);
  }

  private endSample(): void {
    const name = this.processName;
    if (name === undefined) return;
    let node = this.roots.get(name);
    if (node === undefined) this.roots.set(name, (node = new StackNode()));
    const frames = this.frames;
    for (let i = frames.length - 1; i >= 0; i--) node = node.child(frames[i]);
    node.count += this.period;
    node.counted = true;
    frames.length = 0;
    this.processName = undefined;
  }

  /**
   * A sample header such as `java 24636/25607 [000] 4794564.109216: 100 cycles:`.
   * Returns false when the line is not one (Perl then tries it as a frame).
   */
  private header(line: string): boolean {
    // Perl: /^(\S.+?)\s+(\d+)\/*(\d+)*\s+/ — the command is the shortest prefix
    // of two or more characters followed by whitespace, a number, optionally
    // slashes and a second number, and whitespace.
    const n = line.length;
    let i = 2;
    for (;;) {
      while (i < n && !isSpace(line.charCodeAt(i))) i++;
      if (i >= n) return false;
      const commEnd = i;
      while (i < n && isSpace(line.charCodeAt(i))) i++;
      const firstStart = i;
      while (i < n && isDigit(line.charCodeAt(i))) i++;
      if (i === firstStart) continue;
      const firstEnd = i;
      let secondStart = i;
      while (i < n && line.charCodeAt(i) === SLASH) i++;
      if (i > firstEnd) {
        secondStart = i;
        while (i < n && isDigit(line.charCodeAt(i))) i++;
      }
      if (i < n && isSpace(line.charCodeAt(i))) {
        this.startSample(line, commEnd, line.slice(firstStart, firstEnd), line.slice(secondStart, i));
        return true;
      }
      // Backtracking into the digits cannot succeed; the command must grow past them.
    }
  }

  private startSample(line: string, commEnd: number, first: string, second: string): void {
    const event = eventOf(line);
    let period = '';
    if (event !== undefined) {
      if (this.eventFilter === '') {
        this.eventFilter = event.name;
        this.eventDefaulted = true;
      } else if (event.name !== this.eventFilter) {
        if (this.eventDefaulted && !this.filterWarned) {
          this.warn(`Filtering for events of type: ${event.name}`);
          this.filterWarned = true;
        }
        // Perl skips the header but leaves the previous sample's state alone.
        return;
      }
      period = event.period;
    }
    // Perl tests truthiness, so a period of "0" counts as 1 and a tid of "0"
    // as absent (the header then shows only a tid and the pid is unknown).
    this.period = period === '' || period === '0' ? 1 : Number(period);
    let pid = first;
    let tid = second;
    if (tid === '' || tid === '0') {
      tid = pid;
      pid = '?';
    }
    let name = line.slice(0, commEnd);
    if (this.options.tid === true) name += '-' + pid + '/' + tid;
    else if (this.options.pid === true) name += '-' + pid;
    if (name.includes(' ')) name = name.replaceAll(' ', '_');
    this.processName = name;
    this.isJava = name.startsWith('java');
  }

  /** A stack frame line such as `ffffffff8103ce3b native_safe_halt+0x6 ([kernel.kallsyms])`. */
  private frame(text: string, start: number, end: number): boolean {
    // Perl: /^\s*(\w+)\s*(.+) \((.*)\)/ — the module is inside the last " (" that
    // has a ")" after it, up to the last ")" of the line.
    let i = start;
    while (i < end && isSpace(text.charCodeAt(i))) i++;
    const pcStart = i;
    while (i < end && isWord(text.charCodeAt(i))) i++;
    if (i === pcStart) return false;
    const pcEnd = i;
    while (i < end && isSpace(text.charCodeAt(i))) i++;
    // What follows the address repeats from sample to sample, so its frame
    // ids are remembered: this lookup is most of the work for most lines.
    const rest = text.slice(i, end);
    const cache = this.isJava ? this.javaIdsByRest : this.idsByRest;
    let ids = cache.get(rest);
    if (ids === undefined) {
      const close = rest.lastIndexOf(')');
      const open = close >= 2 ? rest.lastIndexOf(' (', close - 2) : -1;
      if (open <= 0) return this.frameByRegex(text.slice(start, end));
      if (this.processName === undefined) return true;
      const pc = text.slice(pcStart, pcEnd);
      ids = this.idsOf(this.namesOf(pc, rest.slice(0, open), rest.slice(open + 2, close)));
      // With --addrs an unknown symbol's name holds the address, which varies.
      const cacheable = !(this.options.addrs === true && rest.includes('[unknown]'));
      if (cacheable && cache.size < MAX_CACHED_LINES) cache.set(rest, ids);
    } else if (this.processName === undefined) {
      return true;
    }
    for (let k = 0; k < ids.length; k++) this.frames.push(ids[k]);
    return true;
  }

  /** Lines such as `7f00 (mod)` need the regex's backtracking into the address. */
  private frameByRegex(line: string): boolean {
    const m = FRAME_LINE.exec(line);
    if (m !== null && this.processName !== undefined)
      this.frames.push(...this.idsOf(this.namesOf(m[1], m[2], m[3])));
    return m !== null;
  }

  private idsOf(names: string[]): number[] {
    return names.map((name) => {
      let id = this.idByName.get(name);
      if (id === undefined) this.idByName.set(name, (id = this.names.push(name) - 1));
      return id;
    });
  }

  /** The frame names of one perf frame line, leaf first; none when Perl skips the line. */
  private namesOf(pc: string, symbol: string, module: string): string[] {
    // Newer perf prints symbol offsets (`func+0x1c`); they would split stacks.
    const plus = symbol.lastIndexOf('+0x');
    if (plus >= 0 && plus + 3 < symbol.length && isLowerHexFrom(symbol, plus + 3)) {
      symbol = symbol.slice(0, plus);
    }
    if (symbol === '' || symbol.charCodeAt(0) === OPEN_PAREN) return [];
    if (!symbol.includes('->')) return [this.frameName(symbol, module, pc, false)];
    // `outer->inlined->...`: Perl's split drops trailing empty names, keeps leading ones.
    const split = symbol.split('->');
    let count = split.length;
    while (count > 0 && split[count - 1] === '') count--;
    const names: string[] = [];
    for (let k = count - 1; k >= 0; k--) names.push(this.frameName(split[k], module, pc, k > 0));
    return names;
  }

  private frameName(func: string, module: string, pc: string, inlined: boolean): string {
    if (func === '[unknown]') {
      const known = module !== '[unknown]';
      const name = known ? module.slice(module.lastIndexOf('/') + 1) : 'unknown';
      func = this.options.addrs === true ? '[' + name + ' <' + pc + '>]' : '[' + name + ']';
    }
    if (func.includes(';')) func = func.replaceAll(';', ':');
    if (!isGoMethod(func)) func = withoutArguments(func);
    if (func.includes('"')) func = func.replaceAll('"', '');
    if (func.includes("'")) func = func.replaceAll("'", '');
    if (this.isJava && func.charCodeAt(0) === UPPER_L && func.includes('/')) func = func.slice(1);
    if (inlined) {
      if (!func.includes('_[i]')) func += '_[i]';
    } else if (this.kernel && isKernelModule(module)) {
      func += '_[k]';
    } else if (this.jit && isJitMap(module)) {
      if (!func.includes('_[j]')) func += '_[j]';
    }
    return func;
  }
}

/** One node of the counting tree: the stack that ends here, and its callees. */
class StackNode {
  count = 0;
  /** Whether a sample ended here: Perl prints a stack whose periods sum to 0. */
  counted = false;
  children: Map<number, StackNode> | undefined = undefined;

  /** The callee node for frame `id`, created on first use. */
  child(id: number): StackNode {
    const children = (this.children ??= new Map());
    let node = children.get(id);
    if (node === undefined) children.set(id, (node = new StackNode()));
    return node;
  }
}

function isLowerHexFrom(s: string, from: number): boolean {
  for (let i = from; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (!isDigit(c) && (c < 97 || c > 102)) return false;
  }
  return true;
}

/**
 * The event of a header: Perl's /:\s*(\d+)*\s+(\S+):\s*$/, i.e. the last word
 * (ending in `:`) preceded by `: ` and optionally a period, as in
 * `...: 235 cpu-clock:` or `...: cycles:`. Undefined when there is none.
 */
function eventOf(line: string): { name: string; period: string } | undefined {
  let i = line.length - 1;
  while (i >= 0 && isSpace(line.charCodeAt(i))) i--;
  if (i < 0 || line.charCodeAt(i) !== COLON) return undefined;
  const nameEnd = i;
  i--;
  while (i >= 0 && !isSpace(line.charCodeAt(i))) i--;
  const nameStart = i + 1;
  if (nameStart === nameEnd || i < 0) return undefined;
  while (i >= 0 && isSpace(line.charCodeAt(i))) i--;
  if (i < 0) return undefined;
  let period = '';
  if (isDigit(line.charCodeAt(i))) {
    const periodEnd = i + 1;
    while (i >= 0 && isDigit(line.charCodeAt(i))) i--;
    period = line.slice(i + 1, periodEnd);
    while (i >= 0 && isSpace(line.charCodeAt(i))) i--;
    if (i < 0) return undefined;
  }
  if (line.charCodeAt(i) !== COLON) return undefined;
  return { name: line.slice(nameStart, nameEnd), period };
}

/** Go method names (`net/http.(*Client).Do`) keep their parentheses. */
function isGoMethod(func: string): boolean {
  const open = func.indexOf('.(');
  return open >= 0 && func.lastIndexOf(').') >= open + 2;
}

/** Drops C++/Java argument lists: everything from the first `(` not opening `(anonymous namespace)`. */
function withoutArguments(func: string): string {
  let open = func.indexOf('(');
  while (open >= 0 && func.startsWith('anonymous namespace)', open + 1)) open = func.indexOf('(', open + 1);
  return open >= 0 ? func.slice(0, open) : func;
}

function isKernelModule(module: string): boolean {
  return (module.charCodeAt(0) === OPEN_BRACKET || module.endsWith('vmlinux')) && !module.includes('unknown');
}

/** perf-map-agent and friends write JIT symbols to `/tmp/perf-<pid>.map`. */
function isJitMap(module: string): boolean {
  for (let at = module.indexOf('/tmp/perf-'); at >= 0; at = module.indexOf('/tmp/perf-', at + 1)) {
    let i = at + 10;
    while (i < module.length && isDigit(module.charCodeAt(i))) i++;
    if (i > at + 10 && module.startsWith('.map', i)) return true;
  }
  return false;
}

/**
 * Collapses a whole `perf script` text; returns folded stack → count, as
 * stackcollapse-perf.pl with the same options would print it.
 */
export function collapsePerfScript(text: string, options: CollapseOptions = {}): Map<string, number> {
  const collapser = new PerfScriptCollapser(options);
  collapser.push(text);
  return collapser.end();
}

/**
 * Folded-text lines (`root;...;leaf count\n`) sorted by stack in code-unit
 * order (Perl's byte order for latin1-decoded text), yielded in pieces of
 * about `chunkChars` characters so a large result is never one string.
 */
export function* foldedChunks(stacks: ReadonlyMap<string, number>, chunkChars = 1 << 20): Generator<string> {
  const keys = [...stacks.keys()].sort();
  let chunk = '';
  for (const key of keys) {
    chunk += key + ' ' + stacks.get(key) + '\n';
    if (chunk.length >= chunkChars) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk !== '') yield chunk;
}

/** The whole folded text of `stacks` as one string; see `foldedChunks`. */
export function formatFolded(stacks: ReadonlyMap<string, number>): string {
  let text = '';
  for (const chunk of foldedChunks(stacks)) text += chunk;
  return text;
}

// V8's perf map names a JIT'd JavaScript function with its tier: `JS:*fib` (TurboFan), `JS:+fib` (Maglev),
// `JS:^fib` (Sparkplug), `JS:~fib` (the interpreter); Node before 20 wrote `LazyCompile:*fib` and `Function:~fib`.
const V8_TIER = /(^|;)(JS|LazyCompile|Function|Script):[*+^~]/g;

/**
 * Folded stacks with V8's compilation tiers merged: one function is one frame (`JS:fib …`) whichever tier ran
 * it, as a profile of the same code under the agent shows it, so tiering up never looks like a change of code.
 * Stacks that become the same are summed. Not stackcollapse-perf.pl's behaviour: `flamewatch collapse` keeps
 * the tiers, `flamewatch perf` merges them unless asked to keep them.
 */
export function mergeV8Tiers(stacks: ReadonlyMap<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [stack, value] of stacks) {
    const merged = stack.includes(':') ? stack.replace(V8_TIER, '$1$2:') : stack;
    out.set(merged, (out.get(merged) ?? 0) + value);
  }
  return out;
}
