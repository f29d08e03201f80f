/**
 * The schedule's false-alarm levels (jobs/processors/detect.ts `sweep`): the
 * sweep decides what each comparison tests at, and these tests read the
 * detect jobs it enqueues. The store answers only what the sweep asks (the
 * active series, the settings, the version history); the ClickHouse side of
 * those questions is tested with the regressions API.
 */
import type { DetectDeps } from '../jobs/processors/detect';
import { sweep } from '../jobs/processors/detect';
import type { DetectJob } from '../profile/detect-job';
import { DEFAULT_DETECT_OPTIONS, SCHEDULE_FDR_SHARE, scheduledFdr } from '../profile/regression';
import { DEFAULT_BASELINES, type BaselineConfig } from '../store/baselines';

const NOW = Date.UTC(2031, 2, 4, 12, 0, 0);

function deps(
  config: Partial<BaselineConfig>,
  versions: { value: string; first: number; last: number; profiles: number }[],
) {
  const jobs: DetectJob[] = [];
  const store = {
    stats: {
      activeSeries: async () => [
        { tenant: 't', service: 'shop', type: 'cpu', unit: 'nanoseconds', profiles: 100 },
      ],
      labelHistory: async () => versions,
    },
    baselines: { get: async () => ({ ...DEFAULT_BASELINES, ...config }) },
  };
  const queue = {
    enqueue: async (_name: string, payload: unknown) => {
      jobs.push(payload as DetectJob);
      return { id: String(jobs.length), added: true };
    },
  };
  return {
    jobs,
    deps: {
      store,
      queue,
      webhooks: [],
      publicUrl: 'http://x',
      sweepEveryMs: 300_000,
    } as unknown as DetectDeps,
  };
}

const byKind = (jobs: DetectJob[], kind: string) => jobs.filter((j) => j.kind === kind);

test('windows and selections test at the schedule’s share of the level; a settled version at half its own', async () => {
  expect(scheduledFdr()).toBeCloseTo(DEFAULT_DETECT_OPTIONS.fdr * SCHEDULE_FDR_SHARE, 12);
  expect(SCHEDULE_FDR_SHARE).toBeLessThan(1);
  const d = deps({ selections: [{ name: 'pr', baseline: '{branch="main"}', candidate: '{branch="pr"}' }] }, [
    { value: '1.0', first: NOW - 7_200_000, last: NOW - 3_600_000, profiles: 64 },
    // Its last profile over two sweeps ago: settled.
    { value: '1.1', first: NOW - 3_500_000, last: NOW - 900_000, profiles: 64 },
  ]);
  await sweep(d.deps, { now: NOW });
  const [window] = byKind(d.jobs, 'window');
  const [selection] = byKind(d.jobs, 'selection');
  const [version] = byKind(d.jobs, 'version');
  expect(window.options?.fdr).toBeCloseTo(scheduledFdr(), 12);
  expect(selection.options?.fdr).toBeCloseTo(scheduledFdr(), 12);
  expect(version.options?.fdr).toBeCloseTo(DEFAULT_DETECT_OPTIONS.fdr / 2, 12);
  // The type is compared with its unit, never summed with another's.
  expect(window.type).toBe('cpu:nanoseconds');
});

test('a configured level is the base the schedule takes its share of; a growing version spends by doublings', async () => {
  const d = deps({ fdr: 0.04 }, [
    { value: '1.0', first: NOW - 7_200_000, last: NOW - 3_600_000, profiles: 64 },
    // Still receiving profiles: 32 of them, the 4th doubling's look (log2 32 = 5, look 4).
    { value: '1.1', first: NOW - 600_000, last: NOW - 1_000, profiles: 32 },
  ]);
  await sweep(d.deps, { now: NOW });
  expect(byKind(d.jobs, 'window')[0].options?.fdr).toBeCloseTo(scheduledFdr(0.04), 12);
  expect(byKind(d.jobs, 'version')[0].options?.fdr).toBeCloseTo((0.02 * 6) / (Math.PI ** 2 * 16), 12);
});
