import type { State } from './state';

/** What views get from the shell: the current state and a way to change it (which re-renders and updates the URL). */
export interface App {
  readonly state: State;
  /** `push` adds a history entry (navigation); otherwise the URL is replaced (typing, sorting). */
  update(patch: Partial<State>, opts?: { push?: boolean }): void;
}

/** The state keys whose change means new data must be fetched. */
export const DATA_KEYS = [
  'service',
  'type',
  'labels',
  'from',
  'until',
  'maxNodes',
  'left',
  'right',
  'lfrom',
  'luntil',
  'rfrom',
  'runtil',
] as const;

export function dataChanged(a: State | undefined, b: State): boolean {
  return !a || DATA_KEYS.some((k) => a[k] !== b[k]);
}
