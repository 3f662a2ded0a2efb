/**
 * A stage on AWS, as one construct: the rule that feeds it, its encrypted queue and DLQ, its Lambda
 * consuming the queue, the Lambda's environment and grants, and the stage's alarms.
 *
 *   bus --rule--> queue (+ DLQ) --SQS event source--> Lambda --> (its grants: bus, tables, key)
 *
 * The event source reads batches of the definition's size and window, reports partial batch
 * failures and is capped at the definition's concurrency with MaximumConcurrency (the seed's
 * throttle of 2; reserved concurrency would throttle invocations and burn messages' receive counts
 * into the DLQ instead).
 */
import { Duration } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import type { IEventBus } from 'aws-cdk-lib/aws-events';
import type { IRole } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IQueue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import {
  MAX_STAGE_CONCURRENCY,
  MIN_STAGE_CONCURRENCY,
  type RuleDefinition,
  type TargetDelivery,
} from '../pipeline/definition.ts';
import { Env } from '../runtime/aws/config.ts';
import type { EtlAlarms } from './alarms.ts';
import { EtlFunction, type EtlHandlerProps } from './etl-function.ts';
import { ResourceGroup, ungroupedUniqueId } from './logical-ids.ts';
import { QueueTarget, visibilityTimeoutFor } from './queue-target.ts';

import type { WriteMode } from '../pipeline/mapping.ts';

/** The stack's resources that the stages' (and the extract task's) environment and grants refer to. */
export interface PipelineResources {
  /** The pipeline's bus. */
  readonly bus: IEventBus;
  /** The pipeline definition and the bus's name, as every producer's environment holds them. */
  readonly busEnvironment: Readonly<Record<string, string>>;
  /** The seed's TransformedData table: the loaded items. */
  readonly table: ITable;
  /** The observer's tally per run and the quarantined rows. */
  readonly runsTable: ITable;
  /** How the load stage writes items (the mapping's `write`): its grant on the table follows. */
  readonly writeMode: WriteMode;
  /**
   * Wraps the per-run data keys of sensitive fields.
   * @default none: no column of the mapping is sensitive
   */
  readonly fieldKey?: IKey;
}

/** The field key's ARN, for whoever generates or unwraps data keys (none without sensitive columns). */
export function fieldKeyEnvironment(fieldKey: IKey | undefined): Record<string, string> {
  return fieldKey ? { [Env.fieldKeyArn]: fieldKey.keyArn } : {};
}

/** Everything about one stage's function that is not delivery (which is the definition's). */
export interface StageSpec {
  readonly handler: EtlHandlerProps;
  /** The handler's configuration (names in `Env`). */
  readonly environment: (pipeline: PipelineResources) => Record<string, string>;
  /** Least privilege: each action the handler calls, on exactly the resource it calls it on. */
  readonly grant: (role: IRole, pipeline: PipelineResources) => void;
}

export interface StageFunctionProps {
  /** The stage's handler, environment and grants. */
  readonly spec: StageSpec;
  /** What the spec's environment and grants refer to. */
  readonly pipeline: PipelineResources;
  /** The rule that feeds the stage, with its exact pattern (the definition's, for the pipeline's stages). */
  readonly rule: Pick<RuleDefinition, 'name' | 'description' | 'eventPattern'>;
  /**
   * The bus the rule is on.
   * @default the account's default bus
   */
  readonly ruleBus?: IEventBus;
  /**
   * How events reach and are consumed by the handler: the definition's delivery for the stage.
   * `concurrency` must be 2 to 1000 (SQS event sources' MaximumConcurrency).
   */
  readonly delivery: TargetDelivery;
  /** Encrypts the stage's queue and DLQ. */
  readonly queueKey: IKey;
  /** Gets the stage's alarms: its rule's failures, its queue's age, its DLQ's depth. */
  readonly alarms: EtlAlarms;
  /** Of the handler's log group. */
  readonly logRetention: RetentionDays;
}

/**
 * One stage: rule -> queue + DLQ -> Lambda, with its grants and alarms. Its id names the function
 * (`<id>Function`) and the alarms; the rule's name names the rule and its queues.
 */
export class StageFunction extends ResourceGroup {
  /** The handler. */
  readonly fn: EtlFunction;
  /** The rule, the queue it delivers to, and the DLQ. */
  readonly delivery: QueueTarget;

  constructor(scope: Construct, id: string, props: StageFunctionProps) {
    super(scope, id);
    const { delivery, spec, pipeline } = props;
    this.fn = new EtlFunction(this, `${id}Function`, {
      ...spec.handler,
      environment: spec.environment(pipeline),
      logRetention: props.logRetention,
    });
    this.delivery = new QueueTarget(this, props.rule.name, {
      ...(props.ruleBus ? { bus: props.ruleBus } : {}),
      rule: props.rule,
      delivery,
      queueKey: props.queueKey,
      visibilityTimeout: visibilityTimeoutFor(spec.handler.timeout, delivery.maxBatchingWindowSeconds),
    });
    consumeQueue(this.fn.function, this.delivery.queue, delivery, props.rule.name);
    spec.grant(this.fn.role, pipeline);
    props.alarms.addRuleAlarms(id, this.delivery.rule, props.ruleBus?.eventBusName);
    props.alarms.addQueueAlarms(id, this.delivery.queue, this.delivery.deadLetterQueue);
  }
}

/**
 * The function consumes the queue: SqsEventSource's mapping and grant, with its construct id taken
 * from the queue's ungrouped path (see logical-ids.ts), reporting partial batch failures.
 */
export function consumeQueue(
  fn: IFunction,
  queue: IQueue,
  delivery: Pick<TargetDelivery, 'batchSize' | 'concurrency'> & { maxBatchingWindowSeconds?: number },
  name: string,
): void {
  if (delivery.concurrency < MIN_STAGE_CONCURRENCY || delivery.concurrency > MAX_STAGE_CONCURRENCY) {
    throw new Error(
      `${name}: SQS event sources take a maximum concurrency of ${MIN_STAGE_CONCURRENCY} to ${MAX_STAGE_CONCURRENCY}, not ${delivery.concurrency}`,
    );
  }
  const window = delivery.maxBatchingWindowSeconds ?? 0;
  fn.addEventSourceMapping(`SqsEventSource:${ungroupedUniqueId(queue)}`, {
    eventSourceArn: queue.queueArn,
    batchSize: delivery.batchSize,
    ...(window > 0 ? { maxBatchingWindow: Duration.seconds(window) } : {}),
    maxConcurrency: delivery.concurrency,
    reportBatchItemFailures: true,
  });
  queue.grantConsumeMessages(fn);
}
