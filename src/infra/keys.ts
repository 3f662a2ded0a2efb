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
