/**
 * The pipeline's metrics, defined once for both runtimes: the local stack serves them in the
 * Prometheus text format (`/_etl/metrics`, prom-client), the Lambda handlers and the extract task
 * write them in CloudWatch's Embedded Metric Format (Powertools Metrics), under the same names with
 * their labels as dimensions. What SQS already measures on AWS (queue and DLQ depth) is read from
 * SQS's own metrics there; `onAws` says where each metric comes from.
 */

/** CloudWatch units of the metrics (Prometheus carries the unit in the name). */
export type MetricUnitName = 'Count' | 'Seconds';

export interface MetricDefinition {
  /** The Prometheus metric name and the CloudWatch metric name. */
  readonly name: string;
  readonly help: string;
  /** Prometheus's kind; on CloudWatch every value is a datapoint of `unit`. */
  readonly kind: 'counter' | 'gauge' | 'histogram';
  readonly unit: MetricUnitName;
  /** Prometheus labels; on AWS the EMF dimensions (beside Powertools' `service`). */
  readonly labels: readonly string[];
  /** Where the AWS runtime's value comes from. */
  readonly onAws: string;
}

const emf = 'EMF from the Lambda handlers and the extract task';

export const ETL_METRICS = {
  targetEventsIn: {
    name: 'etl_target_events_in_total',
    help: 'Events delivered to a target by its rule (redeliveries included)',
    kind: 'counter',
    unit: 'Count',
    labels: ['rule', 'target'],
    onAws: emf,
  },
  targetEventsOut: {
    name: 'etl_target_events_out_total',
    help: "Events a target's stage put on the bus",
    kind: 'counter',
    unit: 'Count',
    labels: ['target'],
    onAws: emf,
  },
  stageInputs: {
    name: 'etl_stage_inputs_total',
    help: 'Inputs a stage settled: done (loaded, transformed, observed...), failed (a row-failed event), or retry',
    kind: 'counter',
    unit: 'Count',
    labels: ['stage', 'outcome'],
    onAws: emf,
  },
  stageRetries: {
    name: 'etl_stage_retries_total',
    help: 'Inputs a stage handed back to be delivered again, by reason',
    kind: 'counter',
    unit: 'Count',
    labels: ['stage', 'reason'],
    onAws: emf,
  },
  stageBatchSeconds: {
    name: 'etl_stage_batch_seconds',
    help: 'Time a stage took to handle a delivered batch, outputs put included',
    kind: 'histogram',
    unit: 'Seconds',
    labels: ['stage'],
    onAws: emf,
  },
  deadLettered: {
    name: 'etl_dead_lettered_events_total',
    help: "Events that exhausted their target's retries and went to its dead-letter queue",
    kind: 'counter',
    unit: 'Count',
    labels: ['target'],
    onAws: 'SQS moves them itself (maxReceiveCount): the DLQ depth below shows them',
  },
  targetQueueDepth: {
    name: 'etl_target_queue_depth',
    help: 'Events queued, in flight or waiting for a retry, per target',
    kind: 'gauge',
    unit: 'Count',
    labels: ['target'],
    onAws:
      "AWS/SQS ApproximateNumberOfMessagesVisible and ApproximateAgeOfOldestMessage of the target's queue",
  },
  dlqEvents: {
    name: 'etl_dlq_events',
    help: "Events in each target's dead-letter queue",
    kind: 'gauge',
    unit: 'Count',
    labels: ['target'],
    onAws: "AWS/SQS ApproximateNumberOfMessagesVisible of the target's dead-letter queue",
  },
} as const satisfies Record<string, MetricDefinition>;

/** Histogram buckets of `etl_stage_batch_seconds` (Prometheus; CloudWatch keeps percentiles itself). */
export const BATCH_SECONDS_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** The extract task's stage name in these metrics: its inputs are the file's rows. */
export const EXTRACT_STAGE = 'extract';
