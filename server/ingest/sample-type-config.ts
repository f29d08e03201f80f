import { InputError } from '../../profile/errors';
import type { Profile } from '../../profile/model';

interface SampleTypeEntry {
  units?: string;
  'display-name'?: string;
  /** `average`: the type is a gauge (a level snapshot after snapshot, e.g. in-use memory), not a cost to add up. */
  aggregation?: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$/;

/**
 * Applies the `sample_type_config` part Pyroscope SDKs send beside a pprof:
 * a JSON object from sample type to `{ units, display-name, aggregation }`,
 * renaming types and units as the SDK asks, and naming the types it says are
 * averaged (gauges). Malformed JSON is a 400.
 */
export function applySampleTypeConfig(
  profile: Profile,
  json: Uint8Array,
): { profile: Profile; averaged: string[] } {
  let config: unknown;
  try {
    config = JSON.parse(new TextDecoder().decode(json));
  } catch (err) {
    throw new InputError('invalid_parameter', `sample_type_config is not JSON: ${(err as Error).message}`);
  }
  if (typeof config !== 'object' || config === null || Array.isArray(config)) {
    throw new InputError(
      'invalid_parameter',
      'sample_type_config must be a JSON object keyed by sample type',
    );
  }
  const entries = config as Record<string, SampleTypeEntry | undefined>;
  const averaged: string[] = [];
  const sampleTypes = profile.sampleTypes.map((t) => {
    const entry = Object.prototype.hasOwnProperty.call(entries, t.type) ? entries[t.type] : undefined;
    if (!entry || typeof entry !== 'object') return t;
    const type =
      typeof entry['display-name'] === 'string' && NAME.test(entry['display-name'])
        ? entry['display-name']
        : t.type;
    const unit = typeof entry.units === 'string' && NAME.test(entry.units) ? entry.units : t.unit;
    if (entry.aggregation === 'average') averaged.push(type);
    return { type, unit };
  });
  return { profile: { ...profile, sampleTypes }, averaged };
}
