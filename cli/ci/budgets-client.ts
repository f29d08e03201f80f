/**
 * `ci check`'s side of budgets: reads and validates the budgets file here
 * (so a mistake is reported with its line before anything is sent), and asks
 * the server's `POST /api/v1/budgets/evaluate` for the verdicts on the
 * candidate selection.
 */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import type { BudgetAnswer } from '../../notify/pr-report';
import { parseBudgetsYaml } from '../../profile/budgets';
import { CompareError, requestJson } from './compare-client';

export interface BudgetVerdicts {
  verdict: 'pass' | 'fail' | 'inconclusive';
  budgets: BudgetAnswer[];
}

/** The file's value, after checking it parses into budgets (throws BudgetFileError naming lines, or a read error). */
export function readBudgetsFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new CompareError(
      `cannot read the budgets file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  parseBudgetsYaml(text, path);
  return parse(text) as unknown;
}

export async function fetchBudgetVerdicts(r: {
  server: string;
  budgets: unknown;
  candidate: { query: string; from: number; until: number };
  baseline?: { query: string; from: number; until: number };
  headers: Record<string, string>;
  timeoutMs: number;
}): Promise<BudgetVerdicts> {
  const body = await requestJson(
    r.server,
    `${r.server.replace(/\/$/, '')}/api/v1/budgets/evaluate`,
    {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...r.headers },
      body: JSON.stringify({
        budgets: r.budgets,
        candidate: r.candidate,
        ...(r.baseline ? { baseline: r.baseline } : {}),
      }),
    },
    r.timeoutMs,
    'the budgets',
  );
  const verdict = (body as { verdict?: unknown } | undefined)?.verdict;
  if (verdict !== 'pass' && verdict !== 'fail' && verdict !== 'inconclusive')
    throw new CompareError(`${r.server} answered without a budgets verdict; is it a Flamewatch server?`);
  return body as BudgetVerdicts;
}
