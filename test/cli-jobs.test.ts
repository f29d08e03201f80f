import { jobConcurrency } from '../cli/jobs';

test('FLAMEWATCH_JOB_CONCURRENCY is a whole number from 1, default 1; anything else is refused by name', () => {
  expect(jobConcurrency({})).toBe(1);
  expect(jobConcurrency({ FLAMEWATCH_JOB_CONCURRENCY: ' 4 ' })).toBe(4);
  for (const bad of ['0', '-1', '2.5', 'abc', '1e3', '99999']) {
    expect(() => jobConcurrency({ FLAMEWATCH_JOB_CONCURRENCY: bad })).toThrow(
      /^FLAMEWATCH_JOB_CONCURRENCY must be a whole number from 1 to 9999, not "/,
    );
  }
});
