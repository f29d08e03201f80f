import type { Regression } from '../../store';
import { webhookBody } from './detect';

const regression = (type: string): Regression => ({
  id: 'r1',
  service: 'api',
  type,
  unit: 'count',
  function: 'cache.fill',
  measure: 'self',
  kind: 'window',
  baseline: { query: '{service_name="api"}', from: 0, until: 60_000, profiles: 10, value: 0.1 },
  candidate: { query: '{service_name="api"}', from: 60_000, until: 120_000, profiles: 10, value: 0.2 },
  effect: 0.1,
  relative: 1,
  ci: [0.05, 0.15],
  p: 0.001,
  q: 0.002,
  firstSeen: 0,
  lastSeen: 0,
  runs: 1,
  status: 'open',
});

const text = (r: Regression, kind?: 'cost' | 'gauge') =>
  (webhookBody('slack', r, 'http://ui', kind) as { text: string }).text;

test("a webhook words a regression by the type's kind in the data, not its name", () => {
  expect(text(regression('cpu'))).toContain('(cpu, slower)');
  expect(text(regression('inuse_space'))).toContain('(inuse_space, more memory held)');
  // Pushed with aggregationType=average: the detection says gauge whatever the name.
  expect(text(regression('live'), 'gauge')).toContain('(live, more memory held)');
  expect(text(regression('live'), 'cost')).toContain('(live, slower)');
});
