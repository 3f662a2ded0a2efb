/**
 * The stack's KMS keys: each rotates yearly and is retained when the stack goes (data encrypted
 * under it may outlive the stack: a backup, a message in flight, a log).
 */
import { RemovalPolicy } from 'aws-cdk-lib';
import { Effect, PolicyStatement, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import type { Construct } from 'constructs';

export interface EtlKeyProps {
  /** What the key encrypts. */
  readonly description: string;
  /**
   * An AWS service that encrypts or decrypts with the key on the stack's behalf (EventBridge sending
   * to encrypted queues, CloudWatch publishing to an encrypted topic), granted in the key policy.
   * @default no service: only the account's principals, through IAM
   */
  readonly serviceUse?: {
    /** The statement's Sid: why the service may use the key. */
    readonly sid: string;
    /** The service principal, e.g. `events.amazonaws.com`. */
    readonly service: string;
    /** Exactly the actions AWS documents for that service. */
    readonly actions: readonly string[];
  };
}

/** A rotating, retained key, usable by one AWS service when `serviceUse` says so. */
export function etlKey(scope: Construct, id: string, props: EtlKeyProps): Key {
  const key = new Key(scope, id, {
    description: props.description,
    enableKeyRotation: true,
    removalPolicy: RemovalPolicy.RETAIN,
  });
  const use = props.serviceUse;
  if (use) {
    key.addToResourcePolicy(
      new PolicyStatement({
        sid: use.sid,
        effect: Effect.ALLOW,
        principals: [new ServicePrincipal(use.service)],
        actions: [...use.actions],
        resources: ['*'],
      }),
    );
  }
  return key;
}

/**
 * Encrypts every SQS queue and DLQ. EventBridge sends to the encrypted stage queues and DLQs: the
 * key policy AWS documents for AWS services that send to SSE-KMS queues, exactly (no condition: SQS
 * calls KMS for the sender, and AWS documents no aws:SourceArn/aws:SourceAccount condition for this
 * path; one that does not hold makes every delivery, and every dead-lettering, fail):
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html#compatibility-with-aws-services
 * Which queue EventBridge may send to is decided by each queue's policy (aws:SourceArn = its rule).
 * S3's statement for the ObjectCreated queue is added by aws-s3-notifications' SqsDestination.
 */
export function queueKey(scope: Construct, id: string): Key {
  return etlKey(scope, id, {
    description: 'eventbridge-etl: encryption at rest of every SQS queue and DLQ',
    serviceUse: {
      sid: 'AllowEventBridgeToSendToEncryptedQueues',
      service: 'events.amazonaws.com',
      actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
    },
  });
}

/** Wraps the per-run data keys of sensitive fields: the task generates them, only load unwraps them. */
export function fieldKey(scope: Construct, id: string): Key {
  return etlKey(scope, id, {
    description: 'eventbridge-etl: wraps the per-run data keys of sensitive fields in events',
  });
}
