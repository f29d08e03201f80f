/**
 * Budgets files (valid, invalid with each error at its line) and the
 * evaluator's verdicts on per-observation values.
 */
import {
  BudgetFileError,
  judgeAbsolute,
  judgeGrowth,
  judgeGrowthDetected,
  overallVerdict,
  parseBudgetsYaml,
  parseLimit,
  type Budget,
} from './budgets';
import { detect, summarize, type Observation } from './regression';
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
    ['match-orders-share', 'share', 0.35],
    ['json-parse-self', 'share', 0.02],
    ['cpu', 'rate', 0.5e9],
    ['per-order', 'perRequest', 40_000],
    ['heap', 'rate', 200e6],
    ['no-slower', 'growth', 0.05],
  ]);
  expect(b[0]).toMatchObject({
    service: 'orders',
    type: 'cpu',
    owner: '@matching',
    severity: 'block',
    function: { name: 'matchOrders', regex: false, measure: 'total' },
  });
  expect(b[1]).toMatchObject({
    severity: 'warn',
    function: { name: '^JSON\\.parse', regex: true, measure: 'self' },
  });
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
  name: 'b',
  service: 's',
  type: 'cpu',
  selector: '',
  owner: '',
  severity: 'block',
  kind: 'share',
  function: { name: 'f', regex: false, measure: 'total' },
  max,
  maxText: String(max),
  ...extra,
});

function normal(r: () => number, mean: number, sd: number, n: number): number[] {
  return Array.from(
    { length: n },
    () => mean + sd * Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r()),
  );
}

test('absolute verdicts: clearly over fails, clearly under passes, near the limit or too few is inconclusive with the observations it would need', () => {
  const r = rng(3);
  expect(judgeAbsolute(budget(0.35), normal(r, 0.4, 0.02, 20))).toMatchObject({ verdict: 'fail' });
  expect(judgeAbsolute(budget(0.35), normal(r, 0.3, 0.02, 20))).toMatchObject({ verdict: 'pass' });
  const near = judgeAbsolute(budget(0.35), normal(r, 0.352, 0.02, 10));
  expect(near.verdict).toBe('inconclusive');
  expect(near.needed).toBeGreaterThan(10);
  expect(judgeAbsolute(budget(0.35), [0.5, 0.5])).toMatchObject({ verdict: 'inconclusive', needed: 5 });
  // With the needed observations, the same spread decides.
  const more = judgeAbsolute(budget(0.35), normal(rng(4), 0.36, 0.02, 200));
  expect(more.verdict).toBe('fail');
  expect(more.confidence).toBeGreaterThan(0.95);
});

test("growth verdicts with Welch's t", () => {
  const r = rng(5);
  const g = budget(0.05, { kind: 'growth' });
  expect(judgeGrowth(g, normal(r, 0.1, 0.01, 30), normal(r, 0.12, 0.01, 30))).toMatchObject({
    verdict: 'fail',
  });
  expect(judgeGrowth(g, normal(r, 0.1, 0.01, 30), normal(r, 0.1, 0.01, 30))).toMatchObject({
    verdict: 'pass',
  });
  expect(judgeGrowth(g, normal(r, 0.1, 0.01, 30), normal(r, 0.105, 0.01, 30)).verdict).toBe('inconclusive');
});

test('the overall verdict: blocking budgets decide, warnings only report', () => {
  const warn = budget(1, { severity: 'warn' });
  const block = budget(1);
  expect(
    overallVerdict([
      { budget: warn, verdict: 'fail' },
      { budget: block, verdict: 'pass' },
    ]),
  ).toBe('pass');
  expect(
    overallVerdict([
      { budget: block, verdict: 'inconclusive' },
      { budget: block, verdict: 'pass' },
    ]),
  ).toBe('inconclusive');
  expect(
    overallVerdict([
      { budget: block, verdict: 'inconclusive' },
      { budget: block, verdict: 'fail' },
    ]),
  ).toBe('fail');
});

describe('growth judged by the regression detector', () => {
  // Four processes a side, 10 profiles each, work counted: db 25 % of the cost, render the rest, tiny 0.2 %
  // (under the detector's test floor). The candidate's db does 60 % more work per request; nothing else changes,
  // so db's share rises and render's falls, though render's cost per request did not move.
  const side = (tag: string, seed: number, db: number): Observation[] => {
    const random = rng(seed);
    return Array.from({ length: 40 }, (_, i) => {
      const pod = 1 + (0.03 * ((((i % 4) * 7919) % 5) - 2)) / 2;
      const work = 100;
      const v = (x: number) => x * work * pod * (1 + 0.02 * (random() - 0.5));
      const fns = { db: v(db), render: v(7.5), tiny: v(0.02) };
      const total = fns.db + fns.render + fns.tiny;
      const functions = new Map(Object.entries(fns).map(([k, x]) => [k, { self: x, total: x }]));
      functions.set('main', { self: 0, total });
      return { process: `${tag}${i % 4}`, total, seconds: 10, work, functions };
    });
  };
  const d = detect(summarize(side('b', 1, 2.5)), summarize(side('c', 2, 4)), {
    focus: ['db', 'render', 'tiny'],
  });
  const budget = (fn: string, max: number): Budget => ({
    name: fn,
    service: 's',
    type: 'cpu',
    selector: '',
    owner: '',
    severity: 'block',
    kind: 'growth',
    function: { name: fn, regex: false, measure: 'total' },
    max,
    maxText: `${max * 100}%`,
  });

  it('fails the function that grew, by its own cost, not its share', () => {
    const r = judgeGrowthDetected(budget('db', 0.1), d)!;
    expect(r.verdict).toBe('fail');
    expect(r.value).toBeCloseTo(0.6, 1);
    expect(r.reason).toContain('per unit of work, 4 and 4 processes');
  });

  it('passes a function whose share fell but whose cost did not move (a share budget would not)', () => {
    const r = judgeGrowthDetected(budget('render', 0.1), d)!;
    expect(r.verdict).toBe('pass');
    expect(Math.abs(r.value)).toBeLessThan(0.03);
  });

  it('estimates a function under the test floor when a budget names it, without adding it to the tests', () => {
    expect(d.focus?.map((f) => f.function).sort()).toEqual(['db', 'render', 'tiny']);
    expect(Math.abs(judgeGrowthDetected(budget('tiny', 0.5), d)!.value)).toBeLessThan(0.05);
    const without = detect(summarize(side('b', 1, 2.5)), summarize(side('c', 2, 4)));
    expect(without.tested).toBe(d.tested);
  });

  it('cannot tell with too few profiles, and says so', () => {
    const few = detect(summarize(side('b', 1, 2.5).slice(0, 3)), summarize(side('c', 2, 4)), {
      focus: ['db'],
    });
    expect(judgeGrowthDetected(budget('db', 0.1), few)).toMatchObject({
      verdict: 'inconclusive',
      reason: expect.stringContaining('the baseline has 3'),
    });
  });
});
