import { InputError } from './errors';
import type { Labels } from './model';

/** A label matcher, Prometheus style: `=`, `!=`, `=~` and `!~` (regexes fully anchored). */
export interface Matcher {
  name: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
}

/** `<service>{<matchers>}`: what a query selects. */
export interface Selector {
  service: string;
  matchers: Matcher[];
}

/** How many labels a series or selector may have, and how long their names and values may be. */
export interface LabelLimits {
  maxLabels: number;
  maxNameLength: number;
  maxValueLength: number;
}

/** The defaults (ingest may set others per tenant); the service name's length is fixed. */
export const LABEL_LIMITS = {
  maxLabels: 32,
  maxNameLength: 128,
  maxValueLength: 1024,
  maxServiceLength: 256,
};

const LABEL_NAME = /^[A-Za-z_][A-Za-z0-9_.\-/]*$/;
const SERVICE_LABELS = ['service_name', '__name__'];

class Scanner {
  pos = 0;
  constructor(readonly text: string) {}
  fail(what: string): never {
    throw new InputError(
      'invalid_selector',
      `${what} at position ${this.pos} of ${JSON.stringify(this.text.slice(0, 200))}`,
    );
  }
  skipSpace(): void {
    while (this.pos < this.text.length && /\s/.test(this.text[this.pos])) this.pos++;
  }
  peek(): string {
    return this.text[this.pos] ?? '';
  }
  labelName(): string {
    this.skipSpace();
    const start = this.pos;
    while (this.pos < this.text.length && !/[\s=!~,{}"]/.test(this.text[this.pos])) this.pos++;
    const name = this.text.slice(start, this.pos);
    if (!LABEL_NAME.test(name)) this.fail(`invalid label name ${JSON.stringify(name)}`);
    return name;
  }
  op(): Matcher['op'] {
    this.skipSpace();
    for (const op of ['!=', '=~', '!~', '='] as const) {
      if (this.text.startsWith(op, this.pos)) {
        this.pos += op.length;
        return op;
      }
    }
    return this.fail('expected one of = != =~ !~');
  }
  value(allowBare: boolean): string {
    this.skipSpace();
    const quote = this.peek();
    if (quote === '"' || quote === "'" || quote === '`') {
      this.pos++;
      let out = '';
      while (this.pos < this.text.length && this.text[this.pos] !== quote) {
        let ch = this.text[this.pos++];
        if (ch === '\\' && quote !== '`') {
          const esc = this.text[this.pos++];
          ch =
            esc === 'n'
              ? '\n'
              : esc === 't'
                ? '\t'
                : esc === undefined
                  ? this.fail('unterminated escape')
                  : esc;
        }
        out += ch;
      }
      if (this.pos >= this.text.length) this.fail('unterminated quoted value');
      this.pos++;
      return out;
    }
    if (!allowBare) this.fail('expected a quoted value');
    const start = this.pos;
    while (this.pos < this.text.length && this.text[this.pos] !== ',' && this.text[this.pos] !== '}')
      this.pos++;
    return this.text.slice(start, this.pos).trim();
  }
}

function checkLabel(name: string, value: string, limits: LabelLimits): void {
  if (name.length > limits.maxNameLength) {
    throw new InputError(
      'label_length_limit',
      `label name is ${name.length} characters; the limit is ${limits.maxNameLength}`,
    );
  }
  if (value.length > limits.maxValueLength) {
    throw new InputError(
      'label_length_limit',
      `value of label ${name.slice(0, 64)} is ${value.length} characters; the limit is ${limits.maxValueLength}`,
    );
  }
}

/** Checks a label set against the limits; throws InputError `labels_limit` (count) or `label_length_limit` (a name or value). */
export function checkLabels(labels: Labels, limits: LabelLimits = LABEL_LIMITS): void {
  const names = Object.keys(labels);
  if (names.length > limits.maxLabels) {
    throw new InputError('labels_limit', `${names.length} labels; the limit is ${limits.maxLabels}`);
  }
  for (const n of names) checkLabel(n, labels[n], limits);
}

/**
 * Parses `service{name="value", name=~"re.*", ...}` (the service may also be
 * given as a `service_name` matcher). With `ingest`, values may be bare as
 * Pyroscope clients send them (`app.cpu{env=prod,version=1.2}`) and only `=` is
 * allowed. Throws InputError('invalid_selector') saying where parsing failed.
 */
export function parseSelector(
  text: string,
  opts: {
    ingest?: boolean;
    requireService?: boolean;
    limits?: LabelLimits;
    /** The labels an `=` matcher of which names the service (default `service_name` and `__name__`). */
    serviceLabels?: readonly string[];
  } = {},
): Selector {
  const limits = opts.limits ?? LABEL_LIMITS;
  const s = new Scanner(text);
  const brace = text.indexOf('{');
  const service = (brace === -1 ? text : text.slice(0, brace)).trim();
  if (/[{}"=,]/.test(service)) s.fail('invalid service name');
  if (service.length > LABEL_LIMITS.maxServiceLength) {
    throw new InputError(
      'invalid_selector',
      `service name is ${service.length} characters; the limit is ${LABEL_LIMITS.maxServiceLength}`,
    );
  }
  const matchers: Matcher[] = [];
  if (brace !== -1) {
    s.pos = brace + 1;
    s.skipSpace();
    while (s.peek() !== '}') {
      if (s.pos >= text.length) s.fail('missing closing }');
      const name = s.labelName();
      const op = s.op();
      if (opts.ingest && op !== '=') s.fail('only = is allowed in an ingest name');
      const value = s.value(opts.ingest === true);
      checkLabel(name, value, limits);
      if (op === '=~' || op === '!~') checkRegex(value);
      matchers.push({ name, op, value });
      s.skipSpace();
      if (s.peek() === ',') {
        s.pos++;
        s.skipSpace();
      } else if (s.peek() !== '}') s.fail('expected , or }');
    }
    s.pos++;
    s.skipSpace();
    if (s.pos !== text.length) s.fail('unexpected text after }');
  }
  if (matchers.length > limits.maxLabels) {
    throw new InputError('labels_limit', `${matchers.length} labels; the limit is ${limits.maxLabels}`);
  }
  let svc = service;
  if (!svc) {
    const m = matchers.find((x) => (opts.serviceLabels ?? SERVICE_LABELS).includes(x.name) && x.op === '=');
    if (m) {
      svc = m.value;
      matchers.splice(matchers.indexOf(m), 1);
    }
  }
  if (!svc && opts.requireService !== false) {
    throw new InputError(
      'invalid_selector',
      `no service in ${JSON.stringify(text.slice(0, 200))}: write it as service{...} or {service_name="..."}`,
    );
  }
  return { service: svc, matchers };
}

// ClickHouse matches with RE2; JavaScript's parser catches most syntax errors
// early so a bad pattern is a 400 here rather than a failed query.
function checkRegex(pattern: string): void {
  try {
    new RegExp(pattern);
  } catch (err) {
    throw new InputError(
      'invalid_selector',
      `invalid regular expression ${JSON.stringify(pattern)}: ${(err as Error).message}`,
    );
  }
}

/** The labels of an ingest name (`=` matchers only), checked against the limits. */
export function selectorLabels(selector: Selector): Labels {
  const labels: Labels = {};
  for (const m of selector.matchers) labels[m.name] = m.value;
  return labels;
}

/**
 * Formats a service and labels as an ingest name (`app{k=v,k2="a,b"}`):
 * values are quoted when the syntax needs it (a comma, brace, `=`, quote,
 * backslash or space, or empty), with `"` and `\` backslash-escaped.
 */
export function formatSelector(service: string, labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) => `${k}=${formatLabelValue(v)}`);
  return parts.length ? `${service}{${parts.join(',')}}` : service;
}

function formatLabelValue(value: string): string {
  if (value !== '' && !/[,{}="\\\s]/.test(value)) return value;
  return `"${value.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/** Matchers back to selector text without the braces (`version="1.5",env!="dev"`): the UI's label field. */
export function formatMatchers(matchers: readonly Matcher[]): string {
  return matchers.map((m) => `${m.name}${m.op}"${m.value.replace(/[\\"]/g, (c) => `\\${c}`)}"`).join(',');
}
