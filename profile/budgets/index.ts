/**
 * Performance budgets: absolute limits a service's profiles must stay within,
 * whatever the baseline was. The model, its JSON Schema (published at
 * `GET /api/v1/budgets/schema`), the parser of `flamewatch.budgets.yaml`
 * (errors name the line) and the evaluator: per-observation values in, a
 * verdict with a confidence out. Pure: the store computes the observations.
 *
 * A budget limits one of:
 * - `share`: a function's (or a `/regex/`'s) self or total share of the profile total;
 * - `rate`: the total per instance-second (CPU: `0.5 cores`; allocations: `40 MB/s`),
 *   or for gauges (in-use types such as `inuse_space`, or a type pushed as averaged) the
 *   mean level per instance (`200 MB`);
 * - `perRequest`: the total per unit of a counter pushed as its own profile type
 *   (`requests`), e.g. `40 us` of CPU per request;
 * - `growth`: the relative change against a baseline of a function's cost as the
 *   regression detector estimates it (per unit of work or per size factor,
 *   processes as the unit of replication; judgeGrowthDetected), or of the
 *   whole program's cost per unit of work when no function is named, e.g.
 *   `5%`; a regex function, or no function without work counts, falls back to
 *   per-observation values (shares, the rate per second) with Welch's t.
 */
export * from './model';
export * from './schema';
export * from './parse';
export * from './judge';
