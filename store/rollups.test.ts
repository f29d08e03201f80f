import { planRange, ROLLUP_TIERS, stackSumsQuery } from './rollups';

const M = 60_000;
const H = 3_600_000;
const T0 = Date.UTC(2030, 0, 1); // a whole hour
const show = (from: number, until: number) =>
  planRange({ from: T0 + from, until: T0 + until }).map((s) => [s.tier?.column ?? 'raw', s.from - T0, s.until - T0]);

describe('planRange', () => {
  it('reads whole hours, then whole minutes, then raw profiles at the ragged edges', () => {
    expect(show(-90 * M - 500, 2 * H + 3 * M + 7)).toEqual([
      ['raw', -90 * M - 500, -90 * M],
      ['minute', -90 * M, -H],
      ['hour', -H, 2 * H],
      ['minute', 2 * H, 2 * H + 3 * M],
      ['raw', 2 * H + 3 * M, 2 * H + 3 * M + 7],
    ]);
  });

  it('leaves out empty pieces, and uses raw profiles alone for less than a whole minute', () => {
    expect(show(0, H)).toEqual([['hour', 0, H]]);
    expect(show(M, 3 * M)).toEqual([['minute', M, 3 * M]]);
    expect(show(1, M - 1)).toEqual([['raw', 1, M - 1]]);
    expect(show(1, M + 1)).toEqual([['raw', 1, M + 1]]); // no whole minute inside
    expect(show(30 * M, 90 * M)).toEqual([['minute', 30 * M, 90 * M]]); // no whole hour inside
  });

  it('covers the range exactly: pieces adjoin, in order', () => {
    for (const [from, until] of [[-7 * H - 1, 5 * H + 59 * M + 59_999], [17, 18], [0, 24 * H * 7]]) {
      const plan = planRange({ from: T0 + from, until: T0 + until });
      expect(plan[0].from).toBe(T0 + from);
      expect(plan[plan.length - 1].until).toBe(T0 + until);
      for (let i = 1; i < plan.length; i++) expect(plan[i].from).toBe(plan[i - 1].until);
      for (const s of plan) if (s.tier) expect([s.from % s.tier.ms, s.until % s.tier.ms]).toEqual([0, 0]);
    }
  });

  it('puts every value in a parameter, never in the SQL', () => {
    const params: Record<string, string | number | string[]> = {};
    const sql = stackSumsQuery('db', {
      tenant: "t'x", service: 'svc', type: 'cpu', range: { from: T0 - 90 * M - 1, until: T0 + 2 * H + 1 },
      matchers: [{ name: 'instance', op: '=~', value: "a'|b" }],
    }, params, ROLLUP_TIERS);
    expect(sql).not.toMatch(/t'x|a'\|b|svc|\d{10,}/);
    expect(sql).toMatch(/FROM db\.profiles_1h[\s\S]*series IN \(SELECT series FROM db\.series/);
    expect(Object.values(params)).toEqual(expect.arrayContaining(["t'x", 'svc', '^(?:a\'|b)$', T0 - 90 * M - 1]));
  });

  it('reads raw profiles alone when the range holds no whole hour', () => {
    for (const [from, until] of [[0, M], [30 * M, 90 * M + 1], [-1, H - 1]]) {
      const sql = stackSumsQuery('db', { tenant: 't', service: 's', type: 'cpu', range: { from: T0 + from, until: T0 + until }, matchers: [] }, {});
      expect(sql).not.toMatch(/profiles_1|UNION/);
    }
    const sql = stackSumsQuery('db', { tenant: 't', service: 's', type: 'cpu', range: { from: T0 - 1, until: T0 + H + 1 }, matchers: [] }, {});
    expect(sql).toMatch(/db\.profiles_1h/);
  });

  it('is the raw query alone without tiers', () => {
    const sql = stackSumsQuery('db', { tenant: 't', service: 's', type: 'cpu', range: { from: 0, until: 7 * 24 * H }, matchers: [] }, {}, []);
    expect(sql).not.toMatch(/profiles_1|UNION/);
  });
});
