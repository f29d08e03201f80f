/**
 * The pull-request report as markdown (notify/pr-report.ts): verdict lines,
 * tables and folded long lists, links to the compare page, and function
 * names — untrusted text — that cannot break out of their table cell.
 */
import {
  escapeCell,
  quantity,
  renderReport,
  text,
  verdictLine,
  type CompareAnswer,
  type WireFinding,
} from '../notify/pr-report';
import { DEFAULT_DETECT_OPTIONS } from '../profile/regression';

function finding(fn: string, effect: number, extra: Partial<WireFinding> = {}): WireFinding {
  return {
    function: fn,
    measure: 'total',
    baseline: 0.1,
    candidate: 0.1 + effect,
    effect,
    relative: effect / 0.1,
    ci: [effect - 0.01, effect + 0.01],
    self: { baseline: 0.1, candidate: 0.1 + effect },
    t: 5,
    df: 18,
    p: 1e-6,
    q: 1e-5,
    detectable: 0.01,
    processCv: 0.1,
    verdict: effect > 0 ? 'regression' : 'improvement',
    ...extra,
  };
}

function answer(extra: Partial<CompareAnswer> = {}): CompareAnswer {
  return {
    type: 'cpu',
    unit: 'samples',
    verdict: 'no_regression',
    kind: 'cost',
    normalisation: 'work',
    baseline: { n: 10, processes: 2, samples: 1000, work: 500, seconds: 100 },
    candidate: { n: 12, processes: 2, samples: 1300, work: 600, seconds: 120 },
    tested: 9,
    familyFdr: 0.005,
    regressions: [],
    improvements: [],
    inconclusive: [],
    explained: [],
    rate: undefined,
    perSecond: { baseline: 10, candidate: 10.8 },
    resolution: 0.2,
    options: DEFAULT_DETECT_OPTIONS,
    ...extra,
  };
}

const ctx = {
  service: 'bench',
  type: 'cpu',
  baseline: { query: 'bench{branch="main"}', from: 1_000_000, until: 2_000_000 },
  candidate: { query: 'bench{branch="pr-7"}', from: 1_500_000, until: 2_000_000 },
  uiUrl: 'https://flamewatch.example/',
};

test('escapes pipes, backticks, HTML, line breaks, links and mentions in a function name', () => {
  const evil = 'a|b`c`<script>alert(1)</script>&\n| x | y |\r\n[link](http://x) @octocat **bold**';
  const cell = escapeCell(evil);
  expect(cell).not.toMatch(/[|`<>\n\r[\]()@*]/);
  expect(cell).toBe(
    'a&#124;b&#96;c&#96;&#60;script&#62;alert&#40;1&#41;&#60;&#47;script&#62;&#38; &#124; x &#124; y &#124; ' +
      '&#91;link&#93;&#40;http&#58;&#47;&#47;x&#41; &#64;octocat &#42;&#42;bold&#42;&#42;',
  );
  expect(escapeCell('x'.repeat(500))).toHaveLength(160);
  // A name that is a URL does not become a link (GitHub links bare http(s)://… and www.… text).
  for (const url of ['https://evil.example/login', 'www.evil.example', 'WWW.evil.example/x']) {
    const c = escapeCell(url);
    expect(c).not.toMatch(/https?:\/\/|www\./i);
  }
  expect(escapeCell('https://evil.example/login')).toBe('https&#58;&#47;&#47;evil.example&#47;login');
  // In a report, the row keeps its seven cells.
  const md = renderReport(answer({ verdict: 'regression', regressions: [finding(evil, 0.05)] }), ctx);
  const row = md.split('\n').find((l) => l.startsWith('| [a&#124;b'))!;
  expect(row.split('|')).toHaveLength(9);
  expect(md).not.toContain('<script>');
});

test('one verdict line for each verdict, with the reason when data is short', () => {
  expect(verdictLine(answer())).toBe('🟢 **No regression** (12 PR profiles against 10 baseline profiles).');
  expect(
    verdictLine(
      answer({
        verdict: 'insufficient_data',
        reason: 'needs at least 5 profiles on each side; the baseline has 3, the candidate 0',
      }),
    ),
  ).toBe(
    '⚪ **Insufficient data**: needs at least 5 profiles on each side; the baseline has 3, the candidate 0.',
  );
  expect(
    verdictLine(
      answer({ verdict: 'inconclusive', reason: 'db.query rose +12.0 % but the data cannot decide it yet' }),
    ),
  ).toBe('🟡 **Inconclusive**: db.query rose +12.0 % but the data cannot decide it yet.');
  const rate = finding('', 0.2, {
    measure: 'rate',
    baseline: 1,
    candidate: 1.2,
    effect: 0.2,
    relative: 0.2,
    ci: [0.15, 0.25],
    perWork: { baseline: 2e6, candidate: 2.4e6 },
  });
  expect(
    verdictLine(answer({ verdict: 'regression', regressions: [rate, finding('db.query', 0.05)], rate })),
  ).toBe(
    '🔴 **Regression**: the whole program costs +20.0 %; 1 function slower, worst db.query +5.00 pp (+50.0 %).',
  );
  expect(
    verdictLine(
      answer({
        verdict: 'regression',
        kind: 'gauge',
        normalisation: 'level',
        regressions: [finding('Buffer.alloc', 0.05)],
      }),
    ),
  ).toBe('🔴 **Regression**: 1 function holding more memory, worst Buffer.alloc +5.00 pp (+50.0 %).');
  const md = renderReport(answer({ verdict: 'regression', regressions: [rate], rate }), ctx);
  expect(md).toContain(
    'Whole program per unit of work: 2000000 → 2400000 samples (+20.0 %, 95 % CI +15.0 % to +25.0 %) (regression, q 1.0e-5)',
  );
  expect(md).toContain('(10 profiles from 2 processes)');
});

test('a table of the top findings, each linked to the compare page searching it, the rest folded', () => {
  const regressions = Array.from({ length: 13 }, (_, i) => finding(`fn${i}`, 0.05 - i * 0.001));
  const md = renderReport(
    answer({
      verdict: 'regression',
      regressions,
      improvements: [finding('render', -0.03, { relative: null })],
    }),
    ctx,
  );
  expect(md).toContain('### Regressions (13)');
  expect(md).toContain('<details><summary>3 more</summary>');
  expect(md.indexOf('| [fn9]')).toBeLessThan(md.indexOf('3 more'));
  expect(md.indexOf('| fn10 |')).toBeGreaterThan(md.indexOf('3 more'));
  expect(md).toContain(
    '| [fn0](https://flamewatch.example/?view=compare&service=bench&type=cpu%3Asamples&left=branch%3D%22main%22&right=branch%3D%22pr-7%22' +
      '&lfrom=1000000&luntil=2000000&rfrom=1500000&runtil=2000000&from=1000000&until=2000000&search=fn0) | total | 10.00 | 15.00 | +5.00 pp (+50.0 %) | +4.00 pp to +6.00 pp | 1.0e-5 |',
  );
  expect(md).toContain('### Improvements (1)');
  expect(md).toContain('-3.00 pp (new)');
  expect(md).toContain(
    '[Differential flame graph and full comparison](https://flamewatch.example/?view=compare&service=bench',
  );
  // Long lists stay within a comment's size: folded rows carry no links, past 50 the UI has them.
  const many = Array.from({ length: 400 }, (_, i) => finding(`fn${i}`.padEnd(150, 'x'), 0.05 - i * 0.0001));
  const long = renderReport(
    answer({
      verdict: 'regression',
      regressions: many,
      improvements: many.map((f) => ({ ...f, effect: -f.effect })),
      inconclusive: many,
      explained: many.map((f) => ({ ...f, explainedBy: 'fn0' })),
    }),
    ctx,
  );
  expect(long.length).toBeLessThan(65_536);
  expect(long).toContain('and 340 more in the [full comparison](https://flamewatch.example/?view=compare');
  // Without a UI address: no links.
  expect(
    renderReport(answer({ verdict: 'regression', regressions }), { ...ctx, uiUrl: undefined }),
  ).not.toContain('](');
});

test('without a work count the whole cost per second is reported, not judged; an undecided rise says what it would take', () => {
  const rate = finding('', 0.5, { measure: 'rate', verdict: 'unchanged', relative: 0.5 });
  const md = renderReport(
    answer({ normalisation: 'size', rate, perSecond: { baseline: 10, candidate: 15 } }),
    ctx,
  );
  expect(md).toContain(
    'Whole cost 10.0 → 15.0 samples/s per instance (+50.0 %): traffic moves it, so without a work count it is not judged.',
  );
  expect(md).toContain('robust per-process size factor');
  const rise = finding('db.query', 0.02, {
    verdict: 'inconclusive',
    neededProcesses: 6,
    neededObservations: 60,
  });
  const undecided = renderReport(
    answer({ verdict: 'inconclusive', reason: 'db.query rose', inconclusive: [rise] }),
    ctx,
  );
  expect(undecided.startsWith('🟡 **Inconclusive**')).toBe(true);
  expect(undecided).toContain(
    '| db.query | total | 10.00 | 12.00 | +2.00 pp (+20.0 %) | 60 profiles from 6 processes |',
  );
});

test('for a terminal: names as they are, without entities, markdown or control characters; aligned columns', () => {
  const name = 'Foo::bar(anonymous:L#26:C#34) <lambda> @x';
  // An escape sequence would rewrite the screen; a bidi override would reorder the rest of the line.
  const evil = `${name}\u001b[2J\u202e`;
  const out = renderReport(
    answer({ verdict: 'regression', regressions: [finding(evil, 0.05), finding('db.query', 0.02)] }),
    { ...ctx, candidateLabel: 'candidate' },
    text,
  );
  expect(out).toContain(`🔴 Regression: 2 functions slower, worst ${name}?[2J? +5.00 pp (+50.0 %).`);
  expect(out).not.toMatch(/&#|\*\*|<details>|<sub>|\u001b|\u202e|\| ---/);
  expect(out).toContain('against candidate bench{branch="pr-7"}');
  const table = out.split('\n').filter((l) => l.startsWith('function') || l.startsWith('db.query'));
  expect(table[0]).toMatch(/^function\s{2,}measure\s+baseline %\s+candidate %/);
  // Columns line up: each header's start is where its cells start.
  expect(table[1].indexOf('total')).toBe(table[0].indexOf('measure'));
  expect(out).toContain('Differential flame graph: https://flamewatch.example/?');
});

test('amounts in the units people read: cores for CPU per second, time and bytes scaled', () => {
  expect(quantity(1_892_673_240, 'nanoseconds', text, true)).toBe('1.89 cores');
  expect(quantity(41_200, 'nanoseconds')).toBe('41.2 µs');
  expect(quantity(1_000, 'milliseconds')).toBe('1.00 s');
  expect(quantity(3_100_000, 'bytes', text, true)).toBe('3.10 MB/s');
  expect(quantity(12, 'samples', text, true)).toBe('12.0 samples/s');
  const md = renderReport(
    answer({
      unit: 'nanoseconds',
      normalisation: 'size',
      perSecond: { baseline: 189_267_324, candidate: 193_680_308 },
      rate: finding('', 0.01, { measure: 'rate', verdict: 'none' as WireFinding['verdict'] }),
    }),
    ctx,
  );
  expect(md).toContain('Whole cost 0.189 → 0.194 cores per instance (+2.3 %)');
});
