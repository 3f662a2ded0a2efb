/**
 * The pipeline's metrics on AWS: the names, units and dimensions of metric-names.ts, written by
 * Powertools Metrics in CloudWatch's Embedded Metric Format (one JSON line on stdout per dimension
 * set, which CloudWatch Logs turns into metrics; no PutMetricData call, no extra latency).
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { ETL_METRICS, EXTRACT_STAGE, type MetricDefinition } from '../../pipeline/metric-names.ts';
import { type PipelineDefinition, ruleOfTarget } from '../../pipeline/definition.ts';
import type { InputOutcome } from '../../stages/contract.ts';
import { countOutcomes } from '../../stages/outcome-counts.ts';
import { SERVICE_NAME } from './config.ts';

/** Which rule delivers to which target: the dimensions of what a handler receives. */
export interface TargetOfRule {
  rule: string;
  target: string;
}

/** A batch a stage handled: how many inputs, and how long it took (its outputs put included). */
export interface HandledBatch {
  stage: string;
  size: number;
  seconds: number;
}

export class EtlMetrics {
  private readonly metrics: Metrics;

  constructor(namespace: string) {
    this.metrics = new Metrics({ namespace, serviceName: SERVICE_NAME });
  }

  /**
   * A batch a handler took, and what its stage made of it; with the rule that delivered it, the
   * target's events in and out too (the extract trigger's batches come from S3, through no rule).
   */
  recordBatch(batch: HandledBatch, outcomes: Iterable<InputOutcome>, delivery?: TargetOfRule): void {
    const { byOutcome, retriesByReason, outputs } = countOutcomes(outcomes);
    if (delivery) {
      this.publish({ rule: delivery.rule, target: delivery.target }, [
        [ETL_METRICS.targetEventsIn, batch.size],
      ]);
      if (outputs > 0) this.publish({ target: delivery.target }, [[ETL_METRICS.targetEventsOut, outputs]]);
    }
    this.publish({ stage: batch.stage }, [[ETL_METRICS.stageBatchSeconds, batch.seconds]]);
    for (const [outcome, n] of byOutcome)
      this.publish({ stage: batch.stage, outcome }, [[ETL_METRICS.stageInputs, n]]);
    for (const [reason, n] of retriesByReason)
      this.publish({ stage: batch.stage, reason }, [[ETL_METRICS.stageRetries, n]]);
  }

  /**
   * An extract task's file: its rows are the stage's inputs, done when the bus took them, failed
   * when they became `row-failed`; the task's run time is its one "batch".
   */
  recordExtraction(rows: { extracted: number; failed: number }, seconds: number): void {
    const stage = EXTRACT_STAGE;
    this.publish({ stage }, [[ETL_METRICS.stageBatchSeconds, seconds]]);
    this.publish({ stage, outcome: 'done' }, [[ETL_METRICS.stageInputs, rows.extracted]]);
    if (rows.failed > 0) this.publish({ stage, outcome: 'failed' }, [[ETL_METRICS.stageInputs, rows.failed]]);
  }

  /** One EMF document: these metrics under these dimensions (plus `service`). */
  private publish(dimensions: Record<string, string>, values: [MetricDefinition, number][]): void {
    // One dimension set per document: `service` (a default dimension) and these.
    for (const [name, value] of Object.entries(dimensions)) this.metrics.addDimension(name, value);
    for (const [metric, value] of values) this.metrics.addMetric(metric.name, MetricUnit[metric.unit], value);
    this.metrics.publishStoredMetrics();
  }
}

export function metricsOf(definition: PipelineDefinition): EtlMetrics {
  return new EtlMetrics(definition.metricsNamespace);
}

/** The rule of the definition that delivers to this target. */
export function ruleOf(definition: PipelineDefinition, target: string): TargetOfRule {
  const rule = ruleOfTarget(definition, target);
  if (rule === undefined) throw new Error(`no rule of the definition targets ${target}`);
  return { rule, target };
}
