import type { Request } from 'express';
import { InputError } from '../../profile/errors';
import { parseSelector } from '../../profile/selector';
import { parseTimeRange, type TimeRange } from '../../profile/time-range';
import type { Selection } from '../../store/selection';

/** One string query parameter (repeated parameters are an error). */
export function param(req: Request, name: string): string | undefined {
  const v = req.query[name];
  if (v === undefined) return undefined;
  if (typeof v !== 'string')
    throw new InputError('invalid_parameter', `parameter ${name} must be given once`);
  return v;
}

export function required(req: Request, name: string, hint: string): string {
  const v = param(req, name);
  if (!v) throw new InputError('invalid_parameter', `parameter ${name} is required: ${hint}`);
  return v;
}

/** A whole number parameter within [min, max], or the default. */
export function intParam(req: Request, name: string, def: number, min: number, max: number): number {
  const text = param(req, name);
  if (text === undefined || text === '') return def;
  const n = Number(text);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new InputError(
      'invalid_parameter',
      `parameter ${name} must be a whole number from ${min} to ${max}, not ${JSON.stringify(text.slice(0, 40))}`,
    );
  }
  return n;
}

/** A parameter's name, or with a prefix its prefixed name (`from` → `leftFrom`). */
function named(prefix: string, name: string): string {
  return prefix === '' ? name : `${prefix}${name[0].toUpperCase()}${name.slice(1)}`;
}

/** `from` and `until`, or with a prefix `<prefix>From` and `<prefix>Until`. */
/** A number parameter within [min, max], or undefined when absent. */
export function numberParam(req: Request, name: string, min: number, max: number): number | undefined {
  const text = param(req, name);
  if (text === undefined || text === '') return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || n < min || n > max)
    throw new InputError('invalid_parameter', `parameter ${name} must be a number from ${min} to ${max}`);
  return n;
}

export function rangeOf(req: Request, defaultFrom = 'now-1h', prefix = ''): TimeRange {
  const names = { from: named(prefix, 'from'), until: named(prefix, 'until') };
  return parseTimeRange(param(req, names.from), param(req, names.until), Date.now(), defaultFrom, names);
}

/**
 * `query`, `type` (`cpu` or `cpu:nanoseconds`), `from`, `until` of a query
 * endpoint. With a prefix (a diff's sides), `<prefix>Query`, `<prefix>From`
 * and `<prefix>Until`; `type` is shared.
 */
export function selectionOf(req: Request, tenant: string, prefix = ''): Selection {
  const queryName = named(prefix, 'query');
  const selector = parseSelector(required(req, queryName, `${queryName}=<service>{label="value",...}`));
  const typeText = required(
    req,
    'type',
    'type=<profile type>; GET /api/v1/profile-types?service= lists them',
  );
  const colon = typeText.indexOf(':');
  const type = colon === -1 ? typeText : typeText.slice(0, colon);
  const unit = colon === -1 ? undefined : typeText.slice(colon + 1);
  return {
    tenant,
    service: selector.service,
    type,
    unit,
    range: rangeOf(req, 'now-1h', prefix),
    matchers: selector.matchers,
  };
}
