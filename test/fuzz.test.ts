import fc from 'fast-check';
import { TARGETS } from './fuzz/targets';

// A bounded run in CI; `node dist/bench/fuzz.js` runs 100,000 cases per target.
const RUNS = Number(process.env.FUZZ_RUNS ?? 1500);

describe('fuzzing the parsers of untrusted input: only clean InputErrors, no crash, no hang', () => {
  // Every run of RUNS or a failure: a time cap that passed quietly after fewer runs would test less than it says.
  it.each(TARGETS.map((t) => [t.name, t] as const))(
    '%s',
    (_name, target) => {
      fc.assert(target.property(), {
        numRuns: RUNS,
        seed: 42,
        interruptAfterTimeLimit: 60_000,
        markInterruptAsFailure: true,
      });
    },
    90_000,
  );
});
