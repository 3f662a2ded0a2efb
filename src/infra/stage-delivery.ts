/**
 * One rule of the pipeline definition, delivered the resilient way the seed's README asks for:
 *
 *   bus --rule (the definition's exact pattern)--> SQS queue --event source--> stage Lambda
 *                                     \--undeliverable--> DLQ <--after maxReceiveCount receives--/
 *
 * The queue accepts SendMessage from this rule only (aws:SourceArn); the event source reads batches
 * of the definition's size and window, reports partial batch failures and is capped at the
 * definition's concurrency with MaximumConcurrency (the seed's throttle of 2; reserved concurrency
 * would throttle invocations and burn messages' receive counts into the DLQ instead).
 */
import { Duration } from 'aws-cdk-lib';
import {
  type CfnRule,
  type EventPattern,
  type IEventBus,
  type IRuleTarget,
  Rule,
} from 'aws-cdk-lib/aws-events';
import { Effect, PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import type { IFunction } from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Queue, QueueEncryption } from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import type { RuleDefinition, TargetDelivery } from '../pipeline/definition.ts';

/** Lambda's advice: a visibility timeout of six times the function timeout plus the batching window. */
export function visibilityTimeoutFor(functionTimeout: Duration, batchingWindowSeconds: number): Duration {
  return Duration.seconds(functionTimeout.toSeconds() * 6 + batchingWindowSeconds);
}

const PATTERN_FIELDS: Record<string, keyof EventPattern> = {
  source: 'source',
  'detail-type': 'detailType',
  detail: 'detail',
  account: 'account',
  region: 'region',
  resources: 'resources',
  time: 'time',
  id: 'id',
  version: 'version',
};

/** The definition's raw EventBridge pattern as the CDK's EventPattern (which renders it back verbatim). */
export function toCdkEventPattern(pattern: Record<string, unknown>): EventPattern {
  const converted: Record<string, unknown> = {};
  for (const [field, value] of Object.entries(pattern)) {
    const name = PATTERN_FIELDS[field];
    if (!name) throw new Error(`event pattern field "${field}" is not an EventBridge event field`);
    converted[name] = value;
  }
  return converted as EventPattern;
}

/** An encrypted, SSL-only queue (for the DLQs: 14 days to look at what failed). */
export function encryptedQueue(
  scope: Construct,
  id: string,
  key: IKey,
  props: ConstructorParameters<typeof Queue>[2] = {},
): Queue {
  return new Queue(scope, id, {
    encryption: QueueEncryption.KMS,
    encryptionMasterKey: key,
    dataKeyReuse: Duration.hours(1),
    enforceSSL: true,
    ...props,
  });
}

/** A rule target that sends to a queue, with no permission of its own (see allowRuleToSend). */
class QueueTarget implements IRuleTarget {
  constructor(
    private readonly queue: Queue,
    private readonly deadLetterQueue: Queue,
    private readonly maxEventAgeSeconds: number,
    private readonly maxRetryAttempts: number,
  ) {}

  bind(): {
    arn: string;
    deadLetterConfig: CfnRule.DeadLetterConfigProperty;
    retryPolicy: CfnRule.RetryPolicyProperty;
  } {
    return {
      arn: this.queue.queueArn,
      // Events EventBridge cannot deliver (after its retries) go to the stage's DLQ too.
      deadLetterConfig: { arn: this.deadLetterQueue.queueArn },
      retryPolicy: {
        maximumEventAgeInSeconds: this.maxEventAgeSeconds,
        maximumRetryAttempts: this.maxRetryAttempts,
      },
    };
  }
}

/**
 * SendMessage for this rule only. (aws-events-targets' SqsQueue drops the aws:SourceArn condition
 * for KMS-encrypted queues, so the target above carries no permission and this grants it.)
 */
function allowRuleToSend(queue: Queue, rule: Rule): void {
  queue.addToResourcePolicy(
    new PolicyStatement({
      sid: 'AllowRuleToSend',
      effect: Effect.ALLOW,
      principals: [new ServicePrincipal('events.amazonaws.com')],
      actions: ['sqs:SendMessage'],
      resources: [queue.queueArn],
      conditions: { ArnEquals: { 'aws:SourceArn': rule.ruleArn } },
    }),
  );
}

export interface StageDeliveryProps {
  /** The bus the rule is on (the account's default bus when absent). */
  bus?: IEventBus;
  rule: Pick<RuleDefinition, 'name' | 'description' | 'eventPattern'>;
  delivery: TargetDelivery;
  consumer: IFunction;
  consumerTimeout: Duration;
  queueKey: IKey;
}

export class StageDelivery extends Construct {
  readonly rule: Rule;
  readonly queue: Queue;
  readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: StageDeliveryProps) {
    super(scope, id);
    const { delivery } = props;
    if (delivery.concurrency < 2 || delivery.concurrency > 1000) {
      throw new Error(
        `${props.rule.name}: SQS event sources take a maximum concurrency of 2 to 1000, not ${delivery.concurrency}`,
      );
    }
    this.deadLetterQueue = encryptedQueue(this, 'DeadLetterQueue', props.queueKey, {
      retentionPeriod: Duration.days(14),
    });
    this.queue = encryptedQueue(this, 'Queue', props.queueKey, {
      retentionPeriod: Duration.days(4),
      visibilityTimeout: visibilityTimeoutFor(props.consumerTimeout, delivery.maxBatchingWindowSeconds),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: delivery.maxReceiveCount },
    });
    this.rule = new Rule(this, 'Rule', {
      ...(props.bus ? { eventBus: props.bus } : {}),
      description: props.rule.description,
      eventPattern: toCdkEventPattern(props.rule.eventPattern),
    });
    this.rule.addTarget(
      new QueueTarget(this.queue, this.deadLetterQueue, delivery.maxEventAgeSeconds, delivery.maxAttempts),
    );
    allowRuleToSend(this.queue, this.rule);
    allowRuleToSend(this.deadLetterQueue, this.rule);
    props.consumer.addEventSource(
      new SqsEventSource(this.queue, {
        batchSize: delivery.batchSize,
        ...(delivery.maxBatchingWindowSeconds > 0
          ? { maxBatchingWindow: Duration.seconds(delivery.maxBatchingWindowSeconds) }
          : {}),
        maxConcurrency: delivery.concurrency,
        reportBatchItemFailures: true,
      }),
    );
  }
}
