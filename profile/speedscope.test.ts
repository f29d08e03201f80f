import { encodeSpeedscope, speedscopeUnit } from './speedscope';

describe('encodeSpeedscope', () => {
  it('writes one sampled profile: shared frames once each, samples root first, weights summing to endValue', () => {
    const file = encodeSpeedscope(
      [
        { stack: ['main', 'parse', 'lex'], value: 5 },
        { stack: ['main', 'gc'], value: 3 },
        { stack: ['main', 'parse'], value: 0 },
        { stack: ['main', 'main'], value: 2 },
      ],
      'checkout cpu',
      'nanoseconds',
    );
    expect(file.$schema).toBe('https://www.speedscope.app/file-format-schema.json');
    expect(file.shared.frames).toEqual([
      { name: 'main' },
      { name: 'parse' },
      { name: 'lex' },
      { name: 'gc' },
    ]);
    expect(file.profiles).toEqual([
      {
        type: 'sampled',
        name: 'checkout cpu',
        unit: 'nanoseconds',
        startValue: 0,
        endValue: 10,
        samples: [
          [0, 1, 2],
          [0, 3],
          [0, 0],
        ],
        weights: [5, 3, 2],
      },
    ]);
  });

  it('maps the units speedscope knows and calls every other "none"', () => {
    expect(
      ['nanoseconds', 'microseconds', 'milliseconds', 'seconds', 'bytes', 'samples', 'count', ''].map(
        speedscopeUnit,
      ),
    ).toEqual(['nanoseconds', 'microseconds', 'milliseconds', 'seconds', 'bytes', 'none', 'none', 'none']);
  });

  it('writes an empty profile for no stacks', () => {
    const file = encodeSpeedscope([], 'idle cpu', 'samples');
    expect(file.shared.frames).toEqual([]);
    expect(file.profiles[0]).toMatchObject({ unit: 'none', endValue: 0, samples: [], weights: [] });
  });
});
