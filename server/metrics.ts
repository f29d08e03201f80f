import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

/** The server's Prometheus metrics, in a registry of its own (several apps may live in one test process). */
export class Metrics {
  readonly registry = new Registry();
  readonly ingestedProfiles = new Counter({
    name: 'flamewatch_ingested_profiles_total',
    help: 'Profiles stored, by format.',
    labelNames: ['format'],
    registers: [this.registry],
  });
  readonly ingestedSamples = new Counter({
    name: 'flamewatch_ingested_samples_total',
    help: 'Samples stored.',
    registers: [this.registry],
  });
  readonly ingestedBytes = new Counter({
    name: 'flamewatch_ingested_bytes_total',
    help: 'Request body bytes of stored profiles.',
    registers: [this.registry],
  });
  readonly discardedProfiles = new Counter({
    name: 'flamewatch_discarded_profiles_total',
    help: 'Profiles refused, by reason (the `reason` of the error answer).',
    labelNames: ['reason'],
    registers: [this.registry],
  });
  readonly unsymbolisedFrames = new Counter({
    name: 'flamewatch_otlp_unsymbolised_frames_total',
    help: 'Frames of stored OTLP profiles with no function name, shown as <module>+0x<address>.',
    registers: [this.registry],
  });
  readonly requestDuration = new Histogram({
    name: 'flamewatch_http_request_duration_seconds',
    help: 'HTTP request durations by route and status.',
    labelNames: ['route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
    registers: [this.registry],
  });

  constructor(ingestInFlight: () => number = () => 0) {
    collectDefaultMetrics({ register: this.registry });
    new Gauge({
      name: 'flamewatch_ingest_in_flight',
      help: 'Pushes being worked on (body, decode, write); at the in-flight limit new ones are refused with 429 ingest_saturated.',
      registers: [this.registry],
      collect() {
        this.set(ingestInFlight());
      },
    });
  }
}
