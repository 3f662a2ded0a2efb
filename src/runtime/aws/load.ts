/**
 * Load Lambda: a batch of `transform` events from the load queue -> the load stage (BatchWriteItem in
 * 25s through DynamoItemWriter, sensitive values decrypted with the envelope cipher) -> `data-loaded`
 * / `row-failed` events put to the bus.
 *
 * Rows DynamoDB left unprocessed after the writer's own retries (throttling) are not reported as
 * `row-failed`: the stage answers them `retry`, their messages are reported failed, so SQS redelivers them and the
 * rows are retried rather than quarantined. An item DynamoDB refuses (a validation error) fails its
 * own row with DynamoDB's reason, found by bisecting its batch; the rest of the batch is written.
 * Writes are in the mapping's write mode (keyed puts, updates or conditional inserts), so a
 * redelivered row leaves one item and stays loaded.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { DynamoItemWriter } from '../../adapters/dynamodb-writer.ts';
import { type PipelineDefinition, writeRateShare } from '../../pipeline/definition.ts';
import { keyAttributes, writeModeOf } from '../../pipeline/mapping.ts';
import { WriteRateLimiter } from '../../adapters/write-rate.ts';
import { loadStage } from '../../stages/load.ts';
import type { EventPublisher, FieldCipher, ItemWriter } from '../../stages/ports.ts';
import { cipherFromEnv, dynamoClient, publisherFromEnv, stageLogger } from './clients.ts';
import { Env, type EnvSource, pipelineFromEnv, requireEnv } from './config.ts';
import { metricsOf, ruleOf } from './metrics.ts';
import { type SqsBatchHandler, type SqsStageDeps, sqsStageHandler } from './sqs-batch.ts';

export interface LoadDeps extends SqsStageDeps {
  definition: PipelineDefinition;
  writer: ItemWriter;
  publisher: EventPublisher;
  cipher?: FieldCipher;
  logger: Logger;
}

export function createLoadHandler(deps: LoadDeps): SqsBatchHandler {
  const { definition, writer } = deps;
  const stage = loadStage({
    source: definition.source,
    mappingFor: async () => definition.mapping,
    writer,
    ...(deps.cipher ? { cipher: deps.cipher } : {}),
  });
  return sqsStageHandler(stage, deps);
}

export function loadDepsFromEnv(env: EnvSource): LoadDeps {
  const definition = pipelineFromEnv(env);
  const cipher = cipherFromEnv(env, definition.mapping);
  const share = writeRateShare(definition.writes, definition.delivery.load.concurrency);
  return {
    definition,
    writer: new DynamoItemWriter({
      client: dynamoClient(),
      tableName: requireEnv(env, Env.tableName),
      key: keyAttributes(definition.mapping),
      mode: writeModeOf(definition.mapping),
      concurrency: 4,
      // Each concurrent instance of this function paces itself to its share of the table's rate.
      ...(share === undefined ? {} : { rate: new WriteRateLimiter({ perSecond: share }) }),
    }),
    publisher: publisherFromEnv(env),
    ...(cipher ? { cipher } : {}),
    logger: stageLogger('load'),
    metrics: { emf: metricsOf(definition), delivery: ruleOf(definition, 'load') },
  };
}
