import type { Budget, BudgetResult, Verdict } from './budgets';
import { gateVerdict, type GateInput } from './gate';
import type { Detection, Finding } from './regression';

const budget = (name: string, severity: 'block' | 'warn'): Budget => ({
  name,
  service: 'orders',
  type: 'cpu',
  selector: '',
  owner: '',
  severity,
  kind: 'share',
  function: { name: 'matchOrders', regex: false, measure: 'total' },
  max: 0.35,
  maxText: '35%',
});
const result = (name: string, severity: 'block' | 'warn', verdict: Verdict): BudgetResult => ({
  budget: budget(name, severity),
  verdict,
  value: verdict === 'fail' ? 0.41 : 0.3,
  ci: [0.28, 0.32],
  confidence: 0.99,
  observations: 20,
  reason: verdict === 'inconclusive' ? 'too close to the limit to tell at 95 % confidence' : 'x',
});
const finding = (fn: string, relative: number): Finding =>
  ({
    function: fn,
    measure: 'total',
    baseline: 0.3,
    candidate: 0.3 * (1 + relative),
    relative,
    q: 0.001,
  }) as Finding;
const compared = (verdict: Detection['verdict'], regressions: Finding[] = [], reason?: string) => ({
  type: 'cpu',
  detection: { verdict, regressions, reason },
});

const cases: [string, Partial<GateInput>, Verdict, RegExp][] = [
  [
    'nothing to hold it to',
    { budgets: 0, comparing: false },
    'pass',
    /has no budgets and no baseline was given/,
  ],
  [
    'blocking budgets pass, no regression',
    { results: [result('a', 'block', 'pass')], detections: [compared('no_regression')] },
    'pass',
    /within every blocking budget, no regression/,
  ],
  [
    'a warn budget over its limit does not fail',
    { results: [result('w', 'warn', 'fail')] },
    'pass',
    /within every blocking budget/,
  ],
  [
    'a blocking budget over its limit fails, named',
    { results: [result('a', 'block', 'fail')] },
    'fail',
    /^budget a: matchOrders total 41\.00 % over 35% \(99\.0 % sure\)$/,
  ],
  [
    'a regression fails, named',
    { detections: [compared('regression', [finding('matchOrders', 0.3)])] },
    'fail',
    /^regression in cpu: matchOrders total$/,
  ],
  [
    'the whole program regressed',
    { detections: [compared('regression', [{ ...finding('', 0.1), measure: 'rate' } as Finding])] },
    'fail',
    /the whole program rate/,
  ],
  [
    'a blocking budget that cannot tell',
    { results: [result('a', 'block', 'inconclusive')] },
    'inconclusive',
    /^budget a: too close to the limit/,
  ],
  [
    'a comparison short of data is not a pass',
    { detections: [compared('insufficient_data', [], 'needs at least 5 profiles on each side')] },
    'inconclusive',
    /^cpu: needs at least 5 profiles/,
  ],
  [
    'an undecided rise is not a pass',
    { detections: [compared('inconclusive', [], 'matchOrders rose +12 %')] },
    'inconclusive',
    /^cpu: matchOrders rose/,
  ],
  [
    'fail beats undecided',
    {
      results: [result('a', 'block', 'inconclusive'), result('b', 'block', 'fail')],
      detections: [compared('inconclusive', [], 'x')],
    },
    'fail',
    /^budget b:/,
  ],
];

test.each(cases)('%s', (_name, input, verdict, reason) => {
  const got = gateVerdict({
    service: 'orders',
    budgets: 1,
    comparing: true,
    results: [],
    detections: [],
    ...input,
  });
  expect(got.verdict).toBe(verdict);
  expect(got.reason).toMatch(reason);
  expect(got.found).toHaveLength(
    (input.detections ?? []).reduce((n, d) => n + d.detection.regressions.length, 0),
  );
});

test('a rise from nothing is listed with relative null (JSON has no Infinity)', () => {
  const got = gateVerdict({
    service: 'orders',
    budgets: 0,
    comparing: true,
    results: [],
    detections: [compared('regression', [finding('newThing', Infinity)])],
  });
  expect(got.found[0]).toMatchObject({ function: 'newThing', relative: null });
});
