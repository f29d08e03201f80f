import { HOUR_MS, planRange, rolledHours, stackSumsQuery, wholeHours } from './rollups';

const M = 60_000;
const H = HOUR_MS;
const T0 = Date.UTC(2030, 0, 1); // a whole hour
const show = (from: number, until: number, rolled: (h: number) => boolean = () => true) =>
  planRange({ from: T0 + from, until: T0 + until }, rolled).map((s) => [
    s.rollup ? 'hours' : 'raw',
    s.from - T0,
    s.until - T0,
  ]);

describe('planRange', () => {
  it('reads whole hours from the rollup and the ragged edges from raw profiles', () => {
    expect(show(-90 * M - 500, 2 * H + 3 * M + 7)).toEqual([
      ['raw', -90 * M - 500, -H],
      ['hours', -H, 2 * H],
      ['raw', 2 * H, 2 * H + 3 * M + 7],
    ]);
  });

  it('reads an hour the rollup has not (or not fully) built from raw profiles, merging neighbours', () => {
    const built = new Set([T0, T0 + H, T0 + 3 * H]);
    expect(show(-1, 5 * H, (h) => built.has(h))).toEqual([
      ['raw', -1, 0],
      ['hours', 0, 2 * H],
      ['raw', 2 * H, 3 * H],
      ['hours', 3 * H, 4 * H],
      ['raw', 4 * H, 5 * H],
    ]);
    expect(show(0, 3 * H, () => false)).toEqual([['raw', 0, 3 * H]]);
  });

  it('uses raw profiles alone for a range holding no whole hour', () => {
    expect(show(0, H)).toEqual([['hours', 0, H]]);
    expect(show(1, M - 1)).toEqual([['raw', 1, M - 1]]);
    expect(show(30 * M, 90 * M)).toEqual([['raw', 30 * M, 90 * M]]);
    expect(wholeHours({ from: T0 + 1, until: T0 + H + 1 })).toBeUndefined();
    expect(wholeHours({ from: T0 - 1, until: T0 + H + 1 })).toEqual({ from: T0, until: T0 + H });
  });

  it('covers the range exactly: pieces adjoin, in order, hours on hour boundaries', () => {
    for (const [from, until] of [
      [-7 * H - 1, 5 * H + 59 * M + 59_999],
      [17, 18],
      [0, 24 * H * 7],
    ]) {
      const plan = planRange({ from: T0 + from, until: T0 + until }, (h) => (h / H) % 3 !== 0);
      expect(plan[0].from).toBe(T0 + from);
      expect(plan[plan.length - 1].until).toBe(T0 + until);
      for (let i = 1; i < plan.length; i++) {
        expect(plan[i].from).toBe(plan[i - 1].until);
        expect(plan[i].rollup).not.toBe(plan[i - 1].rollup);
      }
      for (const s of plan) if (s.rollup) expect([s.from % H, s.until % H]).toEqual([0, 0]);
    }
  });
});

describe('rolledHours', () => {
  it('takes an hour whose recorded count equals its raw count, including none and none', () => {
    const h = (n: number) => String(T0 / H + n);
    const rows = [
      { side: 'raw', h: h(0), n: '10' },
      { side: 'rollup', h: h(0), n: '10' }, // built
      { side: 'raw', h: h(1), n: '11' },
      { side: 'rollup', h: h(1), n: '10' }, // a late profile since
      { side: 'raw', h: h(2), n: '5' }, // never built
      { side: 'rollup', h: h(4), n: '3' }, // raw rows gone (TTL)
    ];
    expect([...rolledHours(rows, { from: T0, until: T0 + 5 * H })].map((x) => (x - T0) / H)).toEqual([0, 3]);
  });
});

describe('stackSumsQuery', () => {
  it('puts every value in a parameter, never in the SQL', () => {
    const params: Record<string, unknown> = {};
    const sql = stackSumsQuery(
      'db',
      {
        tenant: "t'x",
        service: 'svc',
        type: 'cpu',
        range: { from: T0 - 90 * M - 1, until: T0 + 2 * H + 1 },
        matchers: [{ name: 'instance', op: '=~', value: "a'|b" }],
      },
      params as never,
      new Set([T0, T0 + H]),
    );
    expect(sql).not.toMatch(/t'x|a'\|b|svc|\d{10,}/);
    expect(sql).toMatch(/FROM db\.profiles_1h[\s\S]*series IN \(SELECT series FROM db\.series/);
    expect(Object.values(params)).toEqual(
      expect.arrayContaining(["t'x", 'svc', "^(?:a'|b)$", T0 - 90 * M - 1]),
    );
  });

  it('is the raw query alone without up-to-date hours in the range', () => {
    const sel = {
      tenant: 't',
      service: 's',
      type: 'cpu',
      range: { from: T0 - 1, until: T0 + 2 * H + 1 },
      matchers: [],
    };
    for (const rolled of [undefined, new Set<number>(), new Set([T0 + 5 * H])]) {
      expect(stackSumsQuery('db', sel, {}, rolled)).not.toMatch(/profiles_1|UNION/);
    }
    expect(stackSumsQuery('db', sel, {}, new Set([T0 + H]))).toMatch(/db\.profiles_1h/);
  });
});
