/**
 * The one pipeline definition. Event source, detail types, rules, stage delivery settings and the
 * column mapping live here and nowhere else; the local runtime and the CDK stack both read them.
 */
import { UserError } from './errors.ts';
import { SEED_MAPPING, type Mapping } from './mapping.ts';

export const DEFAULT_EVENT_SOURCE = 'cdkpatterns.the-eventbridge-etl';
export const DEFAULT_EVENT_BUS_NAME = 'eventbridge-etl';
/** The CloudWatch namespace of the pipeline's own metrics (metric-names.ts) on AWS. */
export const METRICS_NAMESPACE = 'EventBridgeETL';

/** Detail types: the seed's three, plus run lifecycle and error events. */
export const DetailType = {
  /** One per CSV row, put by extract (seed). */
  rowExtracted: 's3RecordExtraction',
  /** One per row, put by transform (seed). */
  rowTransformed: 'transform',
  /** One per row, put by load (seed). */
  rowLoaded: 'data-loaded',
  /** A row that could not be carried through; routed to the quarantine by the error rule. */
  rowFailed: 'row-failed',
  /** Put by the AWS extract trigger once the Fargate task is started (seed). */
  taskStarted: 'ecs-started',
  extractionStarted: 'extraction-started',
  /** Carries the run's row count, so the observer knows when every row is accounted for. */
  extractionCompleted: 'extraction-completed',
  /** A file that could not be read to its end (bad encoding, unterminated quote, ...). */
  extractionFailed: 'extraction-failed',
  /** Put by the observer once every extracted row was loaded or reported failed. */
  runCompleted: 'run-completed',
} as const;
export type DetailTypeName = (typeof DetailType)[keyof typeof DetailType];

/** `detail.status` values; the first three are the seed's. */
export const Status = {
  extracted: 'extracted',
  transformed: 'transformed',
  loaded: 'success',
  failed: 'failed',
  started: 'started',
  completed: 'completed',
} as const;

/** Stages that receive events from rules. */
export type TargetName = 'transform' | 'load' | 'observe' | 'quarantine';

/**
 * What the local SQS API calls a target's queue and its dead-letter queue. (On AWS CloudFormation
 * names them, from the rule's construct; the definition does not.) Read everywhere a name is needed.
 */
export function targetQueueNames(target: string): { queue: string; deadLetterQueue: string } {
  return { queue: target, deadLetterQueue: `${target}-dlq` };
}

/** The name of the definition's rule that delivers to `target` (each target has one). */
export function ruleOfTarget(
  definition: Pick<PipelineDefinition, 'rules'>,
  target: string,
): string | undefined {
  return definition.rules.find((r) => r.target === target)?.name;
}

export interface RuleDefinition {
  /** Rule name on the bus (the seed's construct ids). */
  name: string;
  description: string;
  eventPattern: Record<string, unknown>;
  target: TargetName;
}

/**
 * How a target consumes its queue. On AWS this is the SQS event source of its Lambda
 * (maximumConcurrency, batchSize, maxBatchingWindow); locally, the bus's delivery loop.
 */
export interface TargetDelivery {
  /** At most this many batches in flight: the seed's throttle of 2. */
  concurrency: number;
  /** Up to this many events per invocation. */
  batchSize: number;
  /** On AWS, how long SQS may wait to fill a batch larger than 10. */
  maxBatchingWindowSeconds: number;
  /**
   * Delivery attempts before an event goes to the target's dead-letter queue (EventBridge's
   * MaximumRetryAttempts; the local bus's retry limit). The event age below usually ends retries first.
   */
  maxAttempts: number;
  /** How long an event may keep being retried (EventBridge's MaximumEventAgeInSeconds). */
  maxEventAgeSeconds: number;
  /** Retries wait a random time up to min(retryMaxDelayMs, retryBaseDelayMs x 2^attempt). */
  retryBaseDelayMs: number;
  retryMaxDelayMs: number;
  /**
   * On AWS, receives of a message before SQS moves it to the DLQ (maxReceiveCount). Lambda retries
   * come a visibility timeout apart (minutes), so a few span a long outage.
   */
  maxReceiveCount: number;
}

/**
 * How long a failing event is retried before it is dead-lettered: long enough to ride out a table
 * outage of minutes (EventBridge's own default is 24 h), short enough that a run ends the same day.
 */
/**
 * EventBridge's RetryPolicy: at most (and by default) 185 retries, over at most (and by default) 24
 * hours. The limits PutTargets checks and a user target's defaults.
 */
export const EVENTBRIDGE_MAX_RETRY_ATTEMPTS = 185;
export const EVENTBRIDGE_MAX_EVENT_AGE_SECONDS = 86_400;

export const DEFAULT_MAX_EVENT_AGE_SECONDS = 15 * 60;

export interface PipelineDefinition {
  source: string;
  /** The custom event bus (the seed used the default bus; production wants its own). */
  busName: string;
  rules: RuleDefinition[];
  delivery: Record<TargetName, TargetDelivery>;
  mapping: Mapping;
  /** How the load stage writes to the table. */
  writes: TableWrites;
  /**
   * The CloudWatch namespace the handlers and the extract task write their metrics to, and the
   * stack's dashboard reads (the `service` dimension, the stack's bus name, tells stacks apart).
   */
  metricsNamespace: string;
}

export interface TableWrites {
  /**
   * Writes a second to the table, across all load batches in flight (for a provisioned-capacity
   * table: its write capacity units, for items up to 1 KB). Unlimited when absent.
   */
  maxWritesPerSecond?: number;
}

/** Rows per load invocation: a multiple of BatchWriteItem's 25. */
const LOAD_BATCH_SIZE = 100;

/** The load Lambda's timeout: a load batch's writes, paced to the write rate, must fit well inside it. */
export const LOAD_TIMEOUT_SECONDS = 60;

/**
 * The observer Lambda's timeout; also how long its claim on a run's completion lasts unconfirmed: an
 * observer that claimed and then died is past its timeout by then, and its batch (redelivered a
 * visibility timeout later, six times this) claims again.
 */
export const OBSERVE_TIMEOUT_SECONDS = 60;

/**
 * The least write rate these settings can run at: each of `concurrency` load instances must write a
 * whole batch within half the load timeout, or every attempt would time out on AWS.
 */
export function minWritesPerSecond(concurrency: number, loadBatchSize: number): number {
  return Math.ceil((concurrency * loadBatchSize) / (LOAD_TIMEOUT_SECONDS / 2));
}

/** AWS's range for an SQS event source's maximum concurrency, which the stage concurrency becomes. */
export const MIN_STAGE_CONCURRENCY = 2;
export const MAX_STAGE_CONCURRENCY = 1000;

/** A setting of the definition that is out of range. */
export class DefinitionError extends UserError {
  override readonly name = 'DefinitionError';

  constructor(
    readonly setting: 'concurrency' | 'maxWritesPerSecond',
    message: string,
  ) {
    super(message);
  }
}

/** The seed's throttle (LAMBDA_THROTTLE_SIZE). */
export const DEFAULT_STAGE_CONCURRENCY = 2;

export function pipelineRules(source: string): RuleDefinition[] {
  return [
    {
      name: 'transformRule',
      description: 'Data extracted from S3, Needs transformed',
      eventPattern: {
        source: [source],
        'detail-type': [DetailType.rowExtracted],
        detail: { status: [Status.extracted] },
      },
      target: 'transform',
    },
    {
      name: 'loadRule',
      description: 'Data transformed, Needs loaded into dynamodb',
      eventPattern: {
        source: [source],
        'detail-type': [DetailType.rowTransformed],
        detail: { status: [Status.transformed] },
      },
      target: 'load',
    },
    {
      name: 'observeRule',
      description: 'all events are caught here and logged centrally',
      eventPattern: { source: [source] },
      target: 'observe',
    },
    {
      name: 'errorRule',
      description: 'Rows that failed a stage are quarantined with their reason',
      eventPattern: {
        source: [source],
        'detail-type': [DetailType.rowFailed],
        detail: { status: [Status.failed] },
      },
      target: 'quarantine',
    },
  ];
}

export function definePipeline(
  options: {
    source?: string;
    busName?: string;
    concurrency?: number;
    mapping?: Mapping;
    maxEventAgeSeconds?: number;
    maxWritesPerSecond?: number;
  } = {},
): PipelineDefinition {
  const source = options.source ?? DEFAULT_EVENT_SOURCE;
  const concurrency = options.concurrency ?? DEFAULT_STAGE_CONCURRENCY;
  if (
    !Number.isInteger(concurrency) ||
    concurrency < MIN_STAGE_CONCURRENCY ||
    concurrency > MAX_STAGE_CONCURRENCY
  ) {
    throw new DefinitionError(
      'concurrency',
      `concurrency must be a whole number from ${MIN_STAGE_CONCURRENCY} to ${MAX_STAGE_CONCURRENCY} (an SQS event source's maximum concurrency), not ${concurrency}`,
    );
  }
  const { maxWritesPerSecond } = options;
  const least = minWritesPerSecond(concurrency, LOAD_BATCH_SIZE);
  if (
    maxWritesPerSecond !== undefined &&
    !(Number.isInteger(maxWritesPerSecond) && maxWritesPerSecond >= least)
  ) {
    throw new DefinitionError(
      'maxWritesPerSecond',
      `max writes per second must be a whole number of at least ${least} at concurrency ${concurrency} (each load batch of ${LOAD_BATCH_SIZE} rows must be written within ${LOAD_TIMEOUT_SECONDS / 2} s), not ${maxWritesPerSecond}; a lower concurrency allows a lower rate`,
    );
  }
  const delivery = (batchSize: number): TargetDelivery => ({
    concurrency,
    batchSize,
    maxBatchingWindowSeconds: batchSize > 10 ? 1 : 0,
    // EventBridge's default attempts; the age limit is what ends retries.
    maxAttempts: EVENTBRIDGE_MAX_RETRY_ATTEMPTS,
    maxEventAgeSeconds: options.maxEventAgeSeconds ?? DEFAULT_MAX_EVENT_AGE_SECONDS,
    retryBaseDelayMs: 100,
    // Full jitter under a 20 s cap: retries keep probing an outage without hammering a recovery.
    retryMaxDelayMs: 20_000,
    maxReceiveCount: 5,
  });
  return {
    source,
    busName: options.busName ?? DEFAULT_EVENT_BUS_NAME,
    rules: pipelineRules(source),
    delivery: {
      transform: delivery(100),
      load: delivery(LOAD_BATCH_SIZE),
      observe: delivery(500),
      quarantine: delivery(100),
    },
    mapping: options.mapping ?? SEED_MAPPING,
    writes: maxWritesPerSecond === undefined ? {} : { maxWritesPerSecond },
    metricsNamespace: METRICS_NAMESPACE,
  };
}

/**
 * The write rate each of `instances` concurrent writers may use so that together they stay within
 * the definition's (on AWS, each load Lambda instance paces itself; locally one writer paces all).
 */
export function writeRateShare(writes: TableWrites, instances: number): number | undefined {
  return writes.maxWritesPerSecond === undefined ? undefined : writes.maxWritesPerSecond / instances;
}
