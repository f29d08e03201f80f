/**
 * The one internal shape every format parses into. Store, query, diff and jobs
 * never see pprof bytes or perf text, only this.
 */

/** What a sample value measures, as pprof names it: `cpu`/`nanoseconds`, `alloc_space`/`bytes`. */
export interface ValueType {
  type: string;
  unit: string;
}

/** Label name → value. String labels only: they identify series. */
export type Labels = Record<string, string>;

/**
 * One stack and its values, one value per sample type of its profile.
 * `stack` is root first (the order of folded lines and flame graphs).
 */
export interface Sample {
  stack: readonly string[];
  /**
   * Where each frame's code lives, parallel to `stack` (pprof's Function.filename, perf's DSO): '' where unknown.
   * Absent when the importer knows no frame's. A frame is its name and its file: two `emit`s of two files are two
   * functions.
   */
  files?: readonly string[];
  /** Each frame's line (pprof's Line.line: for an inlined frame, its own), parallel to `stack`: 0 where unknown. */
  lines?: readonly number[];
  /** The stack's content id (profile/stack-id), when the importer computed it on the way. */
  stackId?: string;
  values: number[];
  /** String labels of this sample (pprof sample labels). */
  labels?: Labels;
  /** Numeric labels (pprof `num` labels), kept for export; they do not split series. */
  numLabels?: Record<string, number>;
}

/** A parsed profile: sample types and samples, with optional timing from the file itself. */
export interface Profile {
  sampleTypes: ValueType[];
  samples: Sample[];
  /** Start of the profile in ns since the epoch, when the file says. */
  timeNanos?: number;
  durationNanos?: number;
  periodType?: ValueType;
  period?: number;
}
