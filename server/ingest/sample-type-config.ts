import { InputError } from '../../profile/errors';
import type { Profile } from '../../profile/model';

interface SampleTypeEntry {
  units?: string;
  'display-name'?: string;
}

const NAME = /^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$/;

/**
 * Applies the `sample_type_config` part Pyroscope SDKs send beside a pprof:
 * a JSON object from sample type to `{ units, display-name }`, renaming types
 * and units as the SDK asks. Malformed JSON is a 400.
 */
export function applySampleTypeConfig(profile: Profile, json: Uint8Array): Profile {
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
  const sampleTypes = profile.sampleTypes.map((t) => {
    const entry = Object.prototype.hasOwnProperty.call(entries, t.type) ? entries[t.type] : undefined;
    if (!entry || typeof entry !== 'object') return t;
    const type =
      typeof entry['display-name'] === 'string' && NAME.test(entry['display-name'])
        ? entry['display-name']
        : t.type;
    const unit = typeof entry.units === 'string' && NAME.test(entry.units) ? entry.units : t.unit;
    return { type, unit };
  });
  return { ...profile, sampleTypes };
}
