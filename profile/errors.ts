/**
 * Why an input was refused. The reason strings are stable: the HTTP layer maps
 * each to a status code and a `discarded_profiles{reason}` metric, as
 * Pyroscope's validation reasons do.
 */
export type InputErrorReason =
  | 'invalid_profile' // bytes that do not decode as the claimed format
  | 'empty_profile'
  | 'profile_size_limit' // body too large
  | 'decompression_limit' // gzip output too large or too compressible
  | 'unsupported_format'
  | 'invalid_selector'
  | 'invalid_time_range'
  | 'invalid_labels'
  | 'labels_limit' // more labels than the tenant's limit
  | 'label_length_limit' // a label name or value longer than the tenant's limit
  | 'invalid_parameter'
  | 'invalid_budgets' // a budgets file or body that does not validate
  | 'not_found';

/** An input a user sent that we refuse; `message` says what was wrong and what is allowed. */
export class InputError extends Error {
  constructor(
    readonly reason: InputErrorReason,
    message: string,
  ) {
    super(message);
    this.name = 'InputError';
  }
}
