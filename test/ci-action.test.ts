/**
 * The GitHub Action (action.yml) and the README's example workflow agree: the
 * example passes only inputs the action declares, and the action runs the CLI
 * commands this repository builds.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parse } from 'yaml';

const root = path.resolve(__dirname, '..');

interface Action {
  inputs: Record<string, { required?: boolean; default?: string }>;
  runs: { using: string; steps: Array<{ run?: string; if?: string; env?: Record<string, string> }> };
}

test("the README example workflow uses only the action's inputs, and the action wraps ci record and ci compare", () => {
  const action = parse(fs.readFileSync(path.join(root, 'action.yml'), 'utf8')) as Action;
  expect(action.runs.using).toBe('composite');
  expect(Object.keys(action.inputs).sort()).toEqual([
    'baseline',
    'budgets',
    'candidate',
    'command',
    'fail-on',
    'flamewatch-token',
    'from',
    'github-token',
    'repeat',
    'server',
    'service',
    'status',
    'tenant',
    'type',
  ]);
  expect(action.inputs.server.required).toBe(true);
  expect(action.inputs['fail-on'].default).toBe('regression');
  const scripts = action.runs.steps.map((s) => s.run ?? '').join('\n');
  expect(scripts).toContain('bin/flamewatch.js" ci record');
  // repeat (one process a run: the detector needs several a side) goes to ci record, once by default.
  expect(action.inputs.repeat.default).toBe('1');
  expect(scripts).toContain('args+=(--repeat "$FW_REPEAT")');
  expect(scripts).toContain('bin/flamewatch.js" ci compare');
  // Inputs reach the scripts through env, never spliced into the shell text.
  expect(scripts).not.toMatch(/\$\{\{\s*inputs\./);

  const readme = fs.readFileSync(path.join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## CI: gate pull requests'));
  const workflow = parse(/```yaml\n([\s\S]*?)```/.exec(section)![1]) as {
    jobs: { perf: { steps: Array<{ uses?: string; with?: Record<string, unknown> }> } };
  };
  const step = workflow.jobs.perf.steps.find((s) => s.uses?.includes('flamewatch'))!;
  for (const input of Object.keys(step.with!)) expect(Object.keys(action.inputs)).toContain(input);
});
