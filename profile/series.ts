import type { Labels, Profile, Sample, ValueType } from './model';
import { stackId } from './stack-id';

/**
 * One stored unit: the samples of one pushed profile for one sample type and
 * one set of labels, aggregated by stack. What the store writes as one row.
 */
export interface Series {
  type: ValueType;
  /** Labels of the push merged with the samples' own string labels. */
  labels: Labels;
  stackIds: string[];
  values: number[];
  total: number;
}

/** Series of one profile plus, by id, a sample of every stack they reference (its frames read when needed). */
export interface SplitProfile {
  series: Series[];
  stacks: Map<string, Pick<Sample, 'stack' | 'files' | 'lines'>>;
  samples: number;
}

function labelKey(labels: Labels | undefined): string {
  if (!labels) return '';
  const keys = Object.keys(labels);
  if (keys.length === 0) return '';
  keys.sort();
  return JSON.stringify(keys.map((k) => [k, labels[k]]));
}

/**
 * Splits a profile into series: one per sample type and distinct sample label
 * set (as Pyroscope does), each with its values summed per stack. Labels of
 * the push win over sample labels of the same name. Zero values are dropped;
 * a series whose values are all zero is kept (its type still exists).
 */
export function splitProfile(profile: Profile, pushLabels: Labels): SplitProfile {
  // One map lookup per sample: stacks get a dense index, and each series sums
  // into an array by that index.
  const stacks = new Map<string, Pick<Sample, 'stack' | 'files' | 'lines'>>();
  const index = new Map<string, number>();
  const ids: string[] = [];
  const groups = new Map<string, { labels: Labels; sums: number[][] }>();
  const nTypes = profile.sampleTypes.length;
  const newGroup = (labels: Labels | undefined) => ({
    labels: { ...labels, ...pushLabels },
    sums: profile.sampleTypes.map((): number[] => []),
  });

  for (const sample of profile.samples) {
    const id = sample.stackId ?? stackId(sample.stack, sample.files, sample.lines);
    let i = index.get(id);
    if (i === undefined) {
      i = ids.length;
      index.set(id, i);
      ids.push(id);
      stacks.set(id, sample);
    }
    const key = labelKey(sample.labels);
    let group = groups.get(key);
    if (!group) groups.set(key, (group = newGroup(sample.labels)));
    for (let t = 0; t < nTypes; t++) {
      const v = sample.values[t];
      if (v) group.sums[t][i] = (group.sums[t][i] ?? 0) + v;
    }
  }
  if (groups.size === 0) groups.set('', newGroup(undefined));

  const series: Series[] = [];
  for (const group of groups.values()) {
    for (let t = 0; t < nTypes; t++) {
      const sums = group.sums[t];
      const stackIds: string[] = [];
      const values: number[] = [];
      let total = 0;
      for (let i = 0; i < sums.length; i++) {
        const v = sums[i];
        if (!v) continue;
        stackIds.push(ids[i]);
        values.push(v);
        total += v;
      }
      series.push({ type: profile.sampleTypes[t], labels: group.labels, stackIds, values, total });
    }
  }
  return { series, stacks, samples: profile.samples.length };
}
