/**
 * One EventBridge rule delivered the resilient way the seed's README asks for: to an encrypted SQS
 * queue, with a dead-letter queue for what cannot be delivered or consumed:
 *
 *   bus --rule (the definition's exact pattern)--> SQS queue --> (its consumer, see StageFunction)
 *                                     \--undeliverable--> DLQ <--after maxReceiveCount receives--/
 *
 * The queue and its DLQ accept SendMessage from this rule only (aws:SourceArn).
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
import { Queue, QueueEncryption, type QueueProps } from 'aws-cdk-lib/aws-sqs';
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

/** An encrypted, SSL-only queue. */
function encryptedQueue(scope: Construct, id: string, key: IKey, props: QueueProps): Queue {
  return new Queue(scope, id, {
    encryption: QueueEncryption.KMS,
    encryptionMasterKey: key,
    dataKeyReuse: Duration.hours(1),
    enforceSSL: true,
    ...props,
  });
}

/** A consumer's queue and dead-letter queue: how both are made, and what each is called. */
export interface QueuePairProps {
  /** The queue's construct id. */
  readonly queueId: string;
  /** The DLQ's construct id. */
  readonly deadLetterQueueId: string;
  /** Encrypts both. */
  readonly key: IKey;
  /** The queue's: see `visibilityTimeoutFor`. */
  readonly visibilityTimeout: Duration;
  /** Receives of a message before the queue moves it to the DLQ. */
  readonly maxReceiveCount: number;
}

/** A queue kept 4 days, and its DLQ kept 14 (time to look at what failed), both encrypted. */
export function queueWithDeadLetterQueue(
  scope: Construct,
  props: QueuePairProps,
): { queue: Queue; deadLetterQueue: Queue } {
  const deadLetterQueue = encryptedQueue(scope, props.deadLetterQueueId, props.key, {
    retentionPeriod: Duration.days(14),
  });
  const queue = encryptedQueue(scope, props.queueId, props.key, {
    retentionPeriod: Duration.days(4),
    visibilityTimeout: props.visibilityTimeout,
    deadLetterQueue: { queue: deadLetterQueue, maxReceiveCount: props.maxReceiveCount },
  });
  return { queue, deadLetterQueue };
}

/** A rule target that sends to a queue, with no permission of its own (see allowRuleToSend). */
class UnpermittedQueueTarget implements IRuleTarget {
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

/** The settings of the definition's TargetDelivery that the rule and the queues take. */
export type QueueDelivery = Pick<TargetDelivery, 'maxAttempts' | 'maxEventAgeSeconds' | 'maxReceiveCount'>;

export interface QueueTargetProps {
  /**
   * The bus the rule is on.
   * @default the account's default bus
   */
  readonly bus?: IEventBus;
  /** The rule: its description and exact EventBridge pattern (rendered verbatim). */
  readonly rule: Pick<RuleDefinition, 'description' | 'eventPattern'>;
  /** Retries and event age of the rule's target, receives before the queue dead-letters a message. */
  readonly delivery: QueueDelivery;
  /** Encrypts the queue and its DLQ. Its policy must let EventBridge use it. */
  readonly queueKey: IKey;
  /**
   * How long a received message stays invisible to other consumers: see `visibilityTimeoutFor`.
   */
  readonly visibilityTimeout: Duration;
}

/** A rule whose target is an encrypted queue, with a DLQ for both EventBridge and the queue. */
export class QueueTarget extends Construct {
  /** The rule, on the bus given (or the default bus), with the pattern given, verbatim. */
  readonly rule: Rule;
  /** What the rule delivers to; kept 4 days. */
  readonly queue: Queue;
  /** What EventBridge could not deliver and what the consumer failed too often; kept 14 days. */
  readonly deadLetterQueue: Queue;

  constructor(scope: Construct, id: string, props: QueueTargetProps) {
    super(scope, id);
    const { delivery } = props;
    ({ queue: this.queue, deadLetterQueue: this.deadLetterQueue } = queueWithDeadLetterQueue(this, {
      queueId: 'Queue',
      deadLetterQueueId: 'DeadLetterQueue',
      key: props.queueKey,
      visibilityTimeout: props.visibilityTimeout,
      maxReceiveCount: delivery.maxReceiveCount,
    }));
    this.rule = new Rule(this, 'Rule', {
      ...(props.bus ? { eventBus: props.bus } : {}),
      description: props.rule.description,
      eventPattern: toCdkEventPattern(props.rule.eventPattern),
    });
    this.rule.addTarget(
      new UnpermittedQueueTarget(
        this.queue,
        this.deadLetterQueue,
        delivery.maxEventAgeSeconds,
        delivery.maxAttempts,
      ),
    );
    allowRuleToSend(this.queue, this.rule);
    allowRuleToSend(this.deadLetterQueue, this.rule);
  }
}
