/**
 * Budgets files (valid, invalid with each error at its line) and the
 * evaluator's verdicts on per-observation values.
 */
import { BudgetFileError, judgeAbsolute, judgeGrowth, overallVerdict, parseBudgetsYaml, parseLimit, type Budget } from './budgets';
import { rng } from '../test/helpers/synthetic-profiles';

const VALID = `# budgets for the order book
version: 1
defaults:
  service: orders
  owner: "@matching"
budgets:
  - name: match-orders-share
    function: matchOrders
    measure: total
    share: 35%
  - name: json-parse-self
    function: /^JSON\\.parse/
    measure: self
    share: 2%
    severity: warn
  - name: cpu
    rate: 0.5 cores
    selector: '{env="prod"}'
  - name: per-order
    perRequest: 40 us
    counter: orders
  - name: heap
    type: inuse_space
    rate: 200 MB
  - name: no-slower
    growth: 5%
    function: matchOrders
`;

test('a valid file: defaults, regexes, units and severities', () => {
  const b = parseBudgetsYaml(VALID);
  expect(b.map((x) => [x.name, x.kind, x.max])).toEqual([
    ['match-orders-share', 'share', 0.35], ['json-parse-self', 'share', 0.02], ['cpu', 'rate', 0.5e9],
    ['per-order', 'perRequest', 40_000], ['heap', 'rate', 200e6], ['no-slower', 'growth', 0.05],
  ]);
  expect(b[0]).toMatchObject({ service: 'orders', type: 'cpu', owner: '@matching', severity: 'block', function: { name: 'matchOrders', regex: false, measure: 'total' } });
  expect(b[1]).toMatchObject({ severity: 'warn', function: { name: '^JSON\\.parse', regex: true, measure: 'self' } });
  expect(b[2].selector).toBe('{env="prod"}');
  expect(b[3].counter).toBe('orders');
});

function problems(text: string): string {
  try {
    parseBudgetsYaml(text, 'f.yaml');
  } catch (err) {
    expect(err).toBeInstanceOf(BudgetFileError);
    return (err as Error).message;
  }
  throw new Error('parsed');
}

test('each error names its line', () => {
  const msg = problems(`budgets:
  - name: a
    service: s
    function: f
    share: 135%
  - name: b
    service: s
    rate: 3 parsecs
  - name: c
    service: s
    colour: red
    growth: 5%
  - name: a
    service: s
    share: 1%
    rate: 1
  - name: d
    service: s
    severity: fatal
    growth: 1%
`);
  expect(msg).toContain('line 5:12: budgets[0].share: a share of 135% is over the whole profile');
  expect(msg).toContain('line 8:11: budgets[1].rate: unknown unit "parsecs"');
  expect(msg).toContain('line 11:13: budgets[2].colour: unknown field');
  expect(msg).toContain('line 19:15: budgets[4].severity: must be one of warn, block');
  expect(msg).toContain('line 13:5: budgets[3]: has 2 limits (share, rate)');
  expect(msg.indexOf('line 5:')).toBeLessThan(msg.indexOf('line 8:'));
  const semantic = problems(`budgets:
  - name: a
    service: s
    share: 1%
  - name: a
    service: s
    share: 1%
    rate: 1
  - name: e
    function: /(/
    share: 1%
`);
  expect(semantic).toContain('line 4:12: budgets[0].share: a share limit needs a function');
  expect(semantic).toContain('line 5:11: budgets[1].name: budget "a" is named twice');
  expect(semantic).toContain('line 5:5: budgets[1]: has 2 limits (share, rate)');
  expect(semantic).toContain('line 9:5: budgets[2]: needs a service');
  expect(semantic).toContain('line 10:15: budgets[2].function: not a regular expression');
  expect(problems('budgets: [\n  {name: a,\n')).toMatch(/line 3/);
  expect(problems('- just a list')).toContain('must be object');
});

test('limits in words', () => {
  expect(parseLimit('rate', '200 ms/s')).toBe(200e6);
  expect(parseLimit('rate', '40 MB/s', 'alloc_space')).toBe(40e6);
  expect(parseLimit('perRequest', '2 KiB', 'alloc_space')).toBe(2048);
  expect(parseLimit('share', 0.35)).toBe(0.35);
  expect(() => parseLimit('rate', '1 cores', 'alloc_space')).toThrow(/not a time/);
  expect(() => parseLimit('growth', '5 ms')).toThrow(/percentage/);
  expect(() => parseLimit('perRequest', '5 ms/s')).toThrow(/per request/);
});

const budget = (max: number, extra: Partial<Budget> = {}): Budget => ({
  name: 'b', service: 's', type: 'cpu', selector: '', owner: '', severity: 'block', kind: 'share', function: { name: 'f', regex: false, measure: 'total' }, max, maxText: String(max), ...extra,
});

function normal(r: () => number, mean: number, sd: number, n: number): number[] {
  return Array.from({ length: n }, () => mean + sd * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()));
}

test('absolute verdicts: clearly over fails, clearly under passes, near the limit or too few is inconclusive with the observations it would need', () => {
  const r = rng(3);
  expect(judgeAbsolute(budget(0.35), normal(r, 0.40, 0.02, 20))).toMatchObject({ verdict: 'fail' });
  expect(judgeAbsolute(budget(0.35), normal(r, 0.30, 0.02, 20))).toMatchObject({ verdict: 'pass' });
  const near = judgeAbsolute(budget(0.35), normal(r, 0.352, 0.02, 10));
  expect(near.verdict).toBe('inconclusive');
  expect(near.needed).toBeGreaterThan(10);
  expect(judgeAbsolute(budget(0.35), [0.5, 0.5])).toMatchObject({ verdict: 'inconclusive', needed: 5 });
  // With the needed observations, the same spread decides.
  const more = judgeAbsolute(budget(0.35), normal(rng(4), 0.36, 0.02, 200));
  expect(more.verdict).toBe('fail');
  expect(more.confidence).toBeGreaterThan(0.95);
});

test('growth verdicts with Welch\'s t', () => {
  const r = rng(5);
  const g = budget(0.05, { kind: 'growth' });
  expect(judgeGrowth(g, normal(r, 0.1, 0.01, 30), normal(r, 0.12, 0.01, 30))).toMatchObject({ verdict: 'fail' });
  expect(judgeGrowth(g, normal(r, 0.1, 0.01, 30), normal(r, 0.1, 0.01, 30))).toMatchObject({ verdict: 'pass' });
  expect(judgeGrowth(g, normal(r, 0.1, 0.01, 30), normal(r, 0.105, 0.01, 30)).verdict).toBe('inconclusive');
});

test('the overall verdict: blocking budgets decide, warnings only report', () => {
  const warn = budget(1, { severity: 'warn' });
  const block = budget(1);
  expect(overallVerdict([{ budget: warn, verdict: 'fail' }, { budget: block, verdict: 'pass' }])).toBe('pass');
  expect(overallVerdict([{ budget: block, verdict: 'inconclusive' }, { budget: block, verdict: 'pass' }])).toBe('inconclusive');
  expect(overallVerdict([{ budget: block, verdict: 'inconclusive' }, { budget: block, verdict: 'fail' }])).toBe('fail');
});
