/**
 * The long fuzz run: 100,000 cases per target (test/fuzz/targets.ts) over
 * every parser of untrusted input; CI runs a bounded number of the same.
 *
 *   npm run build && node dist/bench/fuzz.js [--runs 100000] [--only <text in the target's name>]
 */
import fc from 'fast-check';
import { TARGETS } from '../test/fuzz/targets';

const i = process.argv.indexOf('--runs');
const runs = i === -1 ? 100_000 : Number(process.argv[i + 1]);
const o = process.argv.indexOf('--only');
const only = o === -1 ? '' : process.argv[o + 1];
let failed = 0;
console.log('| target | cases | failures | seconds |');
console.log('| --- | --- | --- | --- |');
for (const target of TARGETS.filter((t) => t.name.includes(only))) {
  const t0 = performance.now();
  const result = fc.check(target.property(), { numRuns: runs });
  if (result.failed) failed++;
  console.log(
    `| ${target.name} | ${result.numRuns} | ${result.failed ? `1: ${String(result.counterexample).slice(0, 80)}` : 0} | ${((performance.now() - t0) / 1000).toFixed(1)} |`,
  );
}
process.exitCode = failed ? 1 : 0;
