/**
 * The local stack's metrics, in the Prometheus text format (`GET /_etl/metrics` on `etl up`'s edge):
 * what each target took and gave, how each stage settled its inputs, retries by reason, dead
 * letters, queue depth and handler latency. Counted per delivered batch, never per event, so that
 * a million-row run pays for a few thousand increments.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { InputOutcome } from '../../stages/contract.ts';

export class LocalMetrics {
  readonly registry = new Registry();

  private readonly delivered = new Counter({
    name: 'etl_target_events_in_total',
    help: 'Events delivered to a target by its rule (redeliveries included)',
    labelNames: ['rule', 'target'] as const,
    registers: [this.registry],
  });

  private readonly emitted = new Counter({
    name: 'etl_target_events_out_total',
    help: "Events a target's stage put on the bus",
    labelNames: ['target'] as const,
    registers: [this.registry],
  });

  private readonly settled = new Counter({
    name: 'etl_stage_inputs_total',
    help: 'Inputs a stage settled: done (loaded, transformed, observed...), failed (a row-failed event), or retry',
    labelNames: ['stage', 'outcome'] as const,
    registers: [this.registry],
  });

  private readonly retries = new Counter({
    name: 'etl_stage_retries_total',
    help: 'Inputs a stage handed back to be delivered again, by reason',
    labelNames: ['stage', 'reason'] as const,
    registers: [this.registry],
  });

  private readonly deadLettered = new Counter({
    name: 'etl_dead_lettered_events_total',
    help: "Events that exhausted their target's retries and went to its dead-letter queue",
    labelNames: ['target'] as const,
    registers: [this.registry],
  });

  private readonly latency = new Histogram({
    name: 'etl_stage_batch_seconds',
    help: 'Time a stage took to handle a delivered batch, outputs put included',
    labelNames: ['stage'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  /**
   * @param depth events queued or in flight per target, read when the metrics are collected
   * @param deadLetters events in each target's dead-letter queue now
   */
  constructor(depth: () => Record<string, number>, deadLetters: () => Promise<Record<string, number>>) {
    new Gauge({
      name: 'etl_target_queue_depth',
      help: 'Events queued, in flight or waiting for a retry, per target',
      labelNames: ['target'] as const,
      registers: [this.registry],
      collect() {
        for (const [target, n] of Object.entries(depth())) this.set({ target }, n);
      },
    });
    new Gauge({
      name: 'etl_dlq_events',
      help: "Events in each target's dead-letter queue",
      labelNames: ['target'] as const,
      registers: [this.registry],
      async collect() {
        for (const [target, n] of Object.entries(await deadLetters())) this.set({ target }, n);
      },
    });
  }

  /** One delivered batch of a target and what its stage made of it. */
  recordBatch(
    batch: { rule: string; target: string; stage: string; size: number; seconds: number },
    outcomes: Iterable<InputOutcome>,
  ): void {
    this.delivered.inc({ rule: batch.rule, target: batch.target }, batch.size);
    this.latency.observe({ stage: batch.stage }, batch.seconds);
    const byOutcome = new Map<string, number>();
    const byReason = new Map<string, number>();
    let outputs = 0;
    for (const outcome of outcomes) {
      byOutcome.set(outcome.status, (byOutcome.get(outcome.status) ?? 0) + 1);
      if (outcome.status === 'retry') byReason.set(outcome.reason, (byReason.get(outcome.reason) ?? 0) + 1);
      else outputs += outcome.outputs.length;
    }
    for (const [outcome, n] of byOutcome) this.settled.inc({ stage: batch.stage, outcome }, n);
    for (const [reason, n] of byReason) this.retries.inc({ stage: batch.stage, reason }, n);
    if (outputs > 0) this.emitted.inc({ target: batch.target }, outputs);
  }

  recordDeadLetter(target: string): void {
    this.deadLettered.inc({ target });
  }

  /** The Prometheus text exposition, and its content type. */
  async exposition(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}
