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
import { CompareError } from './compare-client';

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
    throw new CompareError(`cannot read the budgets file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  parseBudgetsYaml(text, path);
  return parse(text) as unknown;
}

export async function fetchBudgetVerdicts(r: {
  server: string; budgets: unknown; candidate: { query: string; from: number; until: number }; baseline?: { query: string; from: number; until: number };
  headers: Record<string, string>; timeoutMs: number;
}): Promise<BudgetVerdicts> {
  const url = `${r.server.replace(/\/$/, '')}/api/v1/budgets/evaluate`;
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json', ...r.headers },
      body: JSON.stringify({ budgets: r.budgets, candidate: r.candidate, ...(r.baseline ? { baseline: r.baseline } : {}) }),
      signal: AbortSignal.timeout(r.timeoutMs),
    });
  } catch (err) {
    const why = (err as Error).name === 'TimeoutError' ? `no answer within ${r.timeoutMs / 1000} s` : (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).message;
    throw new CompareError(`cannot reach the Flamewatch server at ${r.server} (${why}); check --server`);
  }
  const text = await res.text();
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    body = undefined;
  }
  if (!res.ok) {
    const message = (body as { error?: unknown } | undefined)?.error;
    throw new CompareError(`the server refused the budgets: ${res.status} ${typeof message === 'string' ? message : text.slice(0, 200)}${res.status === 401 || res.status === 403 ? ' (check --token and --tenant)' : ''}`);
  }
  const verdict = (body as { verdict?: unknown } | undefined)?.verdict;
  if (verdict !== 'pass' && verdict !== 'fail' && verdict !== 'inconclusive') throw new CompareError(`${r.server} answered without a budgets verdict; is it a Flamewatch server?`);
  return body as BudgetVerdicts;
}
