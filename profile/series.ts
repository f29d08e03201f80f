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
  /**
   * The samples that carried span labels (SPAN_LABELS: a profile, span or trace id, one value per request), one
   * entry per sample with a value: its stack, those labels and its value. Kept beside the series, never part of
   * its labels: an id per request would make a series per request.
   */
  spans?: { stackIds: string[]; labels: Labels[]; values: number[] };
}

/**
 * Sample labels that identify one request, not a series: Pyroscope's span profiles (`profile_id`, `span_id`,
 * `span_name` stays a label), OpenTelemetry's ids, Datadog's `span id` and `local root span id`.
 */
export const SPAN_LABELS: ReadonlySet<string> = new Set([
  'profile_id',
  'span_id',
  'trace_id',
  'span id',
  'local root span id',
  'trace id',
]);

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
  const groups = new Map<
    string,
    { labels: Labels; sums: number[][]; spans?: { stack: number; labels: Labels; values: number[] }[] }
  >();
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
    const { series: labels, span } = splitLabels(sample.labels);
    const key = labelKey(labels);
    let group = groups.get(key);
    if (!group) groups.set(key, (group = newGroup(labels)));
    for (let t = 0; t < nTypes; t++) {
      const v = sample.values[t];
      if (v) group.sums[t][i] = (group.sums[t][i] ?? 0) + v;
    }
    if (span) (group.spans ??= []).push({ stack: i, labels: span, values: sample.values });
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
      const one: Series = { type: profile.sampleTypes[t], labels: group.labels, stackIds, values, total };
      if (group.spans) {
        const spans: NonNullable<Series['spans']> = { stackIds: [], labels: [], values: [] };
        for (const sp of group.spans) {
          const v = sp.values[t];
          if (!v) continue;
          spans.stackIds.push(ids[sp.stack]);
          spans.labels.push(sp.labels);
          spans.values.push(v);
        }
        if (spans.values.length > 0) one.spans = spans;
      }
      series.push(one);
    }
  }
  return { series, stacks, samples: profile.samples.length };
}

/** A sample's labels parted into the series' and the span's (SPAN_LABELS). */
function splitLabels(labels: Labels | undefined): { series: Labels | undefined; span?: Labels } {
  if (!labels) return { series: labels };
  let span: Labels | undefined;
  let series: Labels | undefined;
  for (const k in labels) {
    if (!SPAN_LABELS.has(k)) continue;
    span ??= {};
    span[k] = labels[k];
  }
  if (!span) return { series: labels };
  series = {};
  for (const k in labels) if (!SPAN_LABELS.has(k)) series[k] = labels[k];
  return { series, span };
}
