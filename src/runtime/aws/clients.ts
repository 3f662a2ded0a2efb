/**
 * The AWS SDK clients and adapters the handlers and the task build from their environment. Created
 * once per execution environment (at init), reused by every invocation.
 */
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { KMSClient } from '@aws-sdk/client-kms';
import { Logger } from '@aws-lambda-powertools/logger';
import { EnvelopeCipher } from '../../adapters/envelope-cipher.ts';
import { EventBridgePublisher } from '../../adapters/eventbridge-publisher.ts';
import { KmsDataKeys } from '../../adapters/kms-data-keys.ts';
import type { Mapping } from '../../pipeline/mapping.ts';
import type { FieldCipher } from '../../stages/ports.ts';
import { Env, type EnvSource, hasSensitiveColumns, requireEnv, SERVICE_NAME } from './config.ts';

export function stageLogger(stage: string): Logger {
  return new Logger({ serviceName: SERVICE_NAME, persistentKeys: { stage } });
}

/** PutEvents to the stack's bus. Adaptive retries back off when the account's PutEvents quota throttles. */
export function publisherFromEnv(env: EnvSource): EventBridgePublisher {
  return new EventBridgePublisher(
    new EventBridgeClient({ retryMode: 'adaptive', maxAttempts: 5 }),
    requireEnv(env, Env.eventBusName),
  );
}

export function dynamoClient(): DynamoDBClient {
  return new DynamoDBClient({ maxAttempts: 5 });
}

/** The envelope cipher when the mapping has sensitive columns (and then the key must be configured). */
export function cipherFromEnv(env: EnvSource, mapping: Mapping): FieldCipher | undefined {
  if (!hasSensitiveColumns(mapping)) return undefined;
  return new EnvelopeCipher(new KmsDataKeys(new KMSClient({}), requireEnv(env, Env.fieldKeyArn)));
}
