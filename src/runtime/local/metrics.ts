/**
 * The local stack's metrics, in the Prometheus text format (`GET /_etl/metrics` on `etl up`'s edge):
 * what each target took and gave, how each stage settled its inputs, retries by reason, dead
 * letters, queue depth and handler latency. Counted per delivered batch, never per event, so that
 * a million-row run pays for a few thousand increments.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import {
  BATCH_SECONDS_BUCKETS,
  ETL_METRICS,
  EXTRACT_STAGE,
  type MetricDefinition,
} from '../../pipeline/metric-names.ts';
import type { InputOutcome } from '../../stages/contract.ts';
import { countOutcomes } from '../../stages/outcome-counts.ts';

/** prom-client's name, help and label names of one of the pipeline's metrics. */
function described<const M extends MetricDefinition>(
  metric: M,
): { name: M['name']; help: string; labelNames: M['labels'] } {
  return { name: metric.name, help: metric.help, labelNames: metric.labels };
}

export interface MetricsSnapshot {
  /** Inputs settled per stage since the start, by outcome. */
  stages: Record<string, { done: number; failed: number; retry: number }>;
  /** Inputs handed back for another delivery, per stage. */
  retries: Record<string, number>;
  /** Events dead-lettered since the start, per target. */
  deadLettered: Record<string, number>;
  /** Events in each target's dead-letter queue now. */
  dlq: Record<string, number>;
}

export class LocalMetrics {
  readonly registry = new Registry();

  private readonly delivered = new Counter({
    ...described(ETL_METRICS.targetEventsIn),
    registers: [this.registry],
  });

  private readonly emitted = new Counter({
    ...described(ETL_METRICS.targetEventsOut),
    registers: [this.registry],
  });

  private readonly settled = new Counter({
    ...described(ETL_METRICS.stageInputs),
    registers: [this.registry],
  });

  private readonly retries = new Counter({
    ...described(ETL_METRICS.stageRetries),
    registers: [this.registry],
  });

  private readonly deadLettered = new Counter({
    ...described(ETL_METRICS.deadLettered),
    registers: [this.registry],
  });

  private readonly latency = new Histogram({
    ...described(ETL_METRICS.stageBatchSeconds),
    buckets: BATCH_SECONDS_BUCKETS,
    registers: [this.registry],
  });

  /**
   * @param depth events queued or in flight per target, read when the metrics are collected
   * @param deadLetters events in each target's dead-letter queue now
   */
  constructor(
    depth: () => Record<string, number>,
    private readonly deadLetters: () => Promise<Record<string, number>>,
  ) {
    new Gauge({
      ...described(ETL_METRICS.targetQueueDepth),
      registers: [this.registry],
      collect() {
        for (const [target, n] of Object.entries(depth())) this.set({ target }, n);
      },
    });
    new Gauge({
      ...described(ETL_METRICS.dlqEvents),
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
    const { byOutcome, retriesByReason, outputs } = countOutcomes(outcomes);
    for (const [outcome, n] of byOutcome) this.settled.inc({ stage: batch.stage, outcome }, n);
    for (const [reason, n] of retriesByReason) this.retries.inc({ stage: batch.stage, reason }, n);
    if (outputs > 0) this.emitted.inc({ target: batch.target }, outputs);
  }

  /** A file's extraction: its rows are the extract stage's inputs, its run time the stage's batch. */
  recordExtraction(rows: { extracted: number; failed: number }, seconds: number): void {
    const stage = EXTRACT_STAGE;
    this.latency.observe({ stage }, seconds);
    this.settled.inc({ stage, outcome: 'done' }, rows.extracted);
    if (rows.failed > 0) this.settled.inc({ stage, outcome: 'failed' }, rows.failed);
  }

  recordDeadLetter(target: string): void {
    this.deadLettered.inc({ target });
  }

  /**
   * The counters as numbers, read from the same registry as the exposition (the dashboard): inputs
   * each stage settled by outcome, retries by stage, events dead-lettered and in each DLQ per target.
   */
  async snapshot(): Promise<MetricsSnapshot> {
    const stages: MetricsSnapshot['stages'] = {};
    for (const { labels, value } of (await this.settled.get()).values) {
      const stage = String(labels.stage);
      const counts = (stages[stage] ??= { done: 0, failed: 0, retry: 0 });
      const outcome = String(labels.outcome);
      if (outcome === 'done' || outcome === 'failed' || outcome === 'retry') counts[outcome] += value;
    }
    const retries: Record<string, number> = {};
    for (const { labels, value } of (await this.retries.get()).values) {
      const stage = String(labels.stage);
      retries[stage] = (retries[stage] ?? 0) + value;
    }
    const deadLettered: Record<string, number> = {};
    for (const { labels, value } of (await this.deadLettered.get()).values)
      deadLettered[String(labels.target)] = value;
    return { stages, retries, deadLettered, dlq: await this.deadLetters() };
  }

  /** The Prometheus text exposition, and its content type. */
  async exposition(): Promise<{ contentType: string; text: string }> {
    return { contentType: this.registry.contentType, text: await this.registry.metrics() };
  }
}
