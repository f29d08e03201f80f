/**
 * The parser of `flamewatch.budgets.yaml` (and of `PUT /api/v1/budgets`'s
 * JSON body): schema first, then the meaning of each field, every problem
 * named with its line (YAML) or path (JSON).
 */
import { isMap, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { InputError } from '../errors';
import { parseLimit, type Budget, type FunctionMatcher, type Severity } from './model';
import { validateBudgets } from './schema';

/** One problem in a budgets file, at a line when it came from YAML. */
export interface BudgetProblem {
  line?: number;
  column?: number;
  path: string;
  message: string;
}

export class BudgetFileError extends InputError {
  constructor(
    readonly problems: BudgetProblem[],
    file = 'budgets',
  ) {
    super(
      'invalid_budgets',
      `${file}: ${problems.length} problem${problems.length === 1 ? '' : 's'}:\n${problems.map((p) => `  ${p.line !== undefined ? `line ${p.line}${p.column ? `:${p.column}` : ''}: ` : ''}${p.path ? `${p.path}: ` : ''}${p.message}`).join('\n')}`,
    );
    this.name = 'BudgetFileError';
  }
}

/** Parses a budgets file's YAML (or JSON) text; throws BudgetFileError naming each problem's line. */
export function parseBudgetsYaml(
  text: string,
  file = 'flamewatch.budgets.yaml',
  fallbackService?: string,
): Budget[] {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const at = (offset: number | undefined) => (offset === undefined ? {} : lineCounter.linePos(offset));
  if (doc.errors.length > 0) {
    throw new BudgetFileError(
      doc.errors.map((e) => ({ ...pos(at(e.pos[0])), path: '', message: e.message.split('\n')[0] })),
      file,
    );
  }
  const value = doc.toJS() as unknown;
  const nodeAt = (path: (string | number)[]): Node | undefined => {
    for (let i = path.length; i >= 0; i--) {
      const n = doc.getIn(path.slice(0, i), true) as Node | undefined;
      if (n && typeof n === 'object' && 'range' in n && n.range) return n;
    }
    return undefined;
  };
  return budgetsFrom(
    value,
    file,
    (path) => pos(at(nodeAt(path)?.range?.[0])),
    isMap(doc.contents) || isSeq(doc.contents),
    fallbackService,
  );
}

/** Budgets from an already parsed value (the API's JSON body); problems carry paths, not lines. */
export function budgetsFromJson(value: unknown, file = 'body', fallbackService?: string): Budget[] {
  return budgetsFrom(value, file, () => ({}), true, fallbackService);
}

function pos(p: { line?: number; col?: number }): { line?: number; column?: number } {
  return p.line === undefined ? {} : { line: p.line, column: p.col };
}

type Where = (path: (string | number)[]) => { line?: number; column?: number };

function budgetsFrom(
  value: unknown,
  file: string,
  where: Where,
  structured: boolean,
  fallbackService?: string,
): Budget[] {
  if (!structured || value === null || typeof value !== 'object') {
    throw new BudgetFileError(
      [{ ...where([]), path: '', message: 'must be a mapping with a "budgets" list' }],
      file,
    );
  }
  const problems: BudgetProblem[] = [];
  // Budgets the schema refused are reported as such; the others still get the checks below, so one run names every problem.
  const refused = new Set<number>();
  if (!validateBudgets(value)) {
    for (const e of validateBudgets.errors ?? []) {
      const path = e.instancePath
        .split('/')
        .slice(1)
        .map((s) => (/^\d+$/.test(s) ? Number(s) : s.replace(/~1/g, '/').replace(/~0/g, '~')));
      const unknown =
        e.keyword === 'additionalProperties'
          ? String((e.params as { additionalProperty: string }).additionalProperty)
          : undefined;
      const target = unknown !== undefined ? [...path, unknown] : path;
      const message =
        unknown !== undefined
          ? 'unknown field (see GET /api/v1/budgets/schema)'
          : e.keyword === 'enum'
            ? `must be one of ${(e.params as { allowedValues: unknown[] }).allowedValues.join(', ')}`
            : (e.message ?? 'is invalid');
      problems.push({ ...where(target), path: dotted(target), message });
      if (path[0] === 'budgets' && typeof path[1] === 'number') refused.add(path[1]);
      else throw new BudgetFileError(problems, file);
    }
  }
  const v = value as { defaults?: Record<string, string>; budgets: Record<string, unknown>[] };
  const d = v.defaults ?? {};
  const budgets: Budget[] = [];
  const seen = new Set<string>();
  v.budgets.forEach((raw, i) => {
    if (refused.has(i)) return;
    const at = (key?: string) => ({
      ...where(key ? ['budgets', i, key] : ['budgets', i]),
      path: dotted(['budgets', i, ...(key ? [key] : [])]),
    });
    const b = raw as Record<string, string | number | undefined>;
    const name = String(b.name);
    if (seen.has(name)) problems.push({ ...at('name'), message: `budget "${name}" is named twice` });
    seen.add(name);
    const kinds = (['share', 'rate', 'perRequest', 'growth'] as const).filter((k) => b[k] !== undefined);
    if (kinds.length !== 1) {
      problems.push({
        ...at(),
        message:
          kinds.length === 0
            ? 'needs one limit: share, rate, perRequest or growth'
            : `has ${kinds.length} limits (${kinds.join(', ')}); write one budget per limit`,
      });
      return;
    }
    const kind = kinds[0];
    const service = (b.service as string | undefined) ?? d.service ?? fallbackService;
    if (!service) problems.push({ ...at(), message: 'needs a service (here or in defaults)' });
    const fnText = b.function as string | undefined;
    if (kind === 'share' && fnText === undefined)
      problems.push({ ...at('share'), message: 'a share limit needs a function' });
    if (
      (kind === 'rate' || kind === 'perRequest') &&
      (fnText !== undefined || b.measure !== undefined || b.file !== undefined)
    ) {
      problems.push({
        ...at('function'),
        message: `a ${kind} limit is on the whole profile; remove function, file and measure (or use share)`,
      });
    }
    if (b.file !== undefined && fnText === undefined && kind !== 'rate' && kind !== 'perRequest')
      problems.push({ ...at('file'), message: 'file narrows a function: name the function too' });
    if (kind !== 'perRequest' && b.counter !== undefined)
      problems.push({ ...at('counter'), message: 'counter is for perRequest limits' });
    let fn: FunctionMatcher | undefined;
    if (fnText !== undefined) {
      const regex = fnText.length > 2 && fnText.startsWith('/') && fnText.endsWith('/');
      const name = regex ? fnText.slice(1, -1) : fnText;
      if (regex) {
        try {
          new RegExp(name);
        } catch (err) {
          problems.push({
            ...at('function'),
            message: `not a regular expression: ${(err as Error).message}`,
          });
        }
      }
      const file = (b.file as string | undefined)?.trim();
      fn = {
        name,
        regex,
        measure: (b.measure as 'self' | 'total' | undefined) ?? 'total',
        ...(file ? { file } : {}),
      };
    }
    const type = (b.type as string | undefined) ?? d.type ?? 'cpu';
    let max: number;
    try {
      max = parseLimit(kind, b[kind]!, type);
    } catch (err) {
      problems.push({ ...at(kind), message: (err as Error).message });
      return;
    }
    const selector = ((b.selector as string | undefined) ?? d.selector ?? '').trim();
    if (selector && !/^\{.*\}$/s.test(selector))
      problems.push({ ...at('selector'), message: 'write label matchers in braces: {env="prod"}' });
    budgets.push({
      name,
      service: service ?? '',
      type,
      selector,
      owner: (b.owner as string | undefined) ?? d.owner ?? '',
      severity: (b.severity as Severity | undefined) ?? (d.severity as Severity | undefined) ?? 'block',
      ...(b.description !== undefined ? { description: String(b.description) } : {}),
      kind,
      ...(fn ? { function: fn } : {}),
      max,
      maxText: String(b[kind]),
      ...(kind === 'perRequest' ? { counter: (b.counter as string | undefined) ?? 'requests' } : {}),
    });
  });
  if (problems.length > 0)
    throw new BudgetFileError(
      problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0)),
      file,
    );
  return budgets;
}

function dotted(path: (string | number)[]): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : `${i ? '.' : ''}${p}`)).join('');
}
