/**
 * Load Lambda: a batch of `transform` events from the load queue -> loadBatch (BatchWriteItem in
 * 25s through DynamoItemWriter, sensitive values decrypted with the envelope cipher) -> `data-loaded`
 * / `row-failed` events put to the bus.
 *
 * Rows DynamoDB left unprocessed after the writer's own retries (throttling) are not reported as
 * `row-failed`: their messages are reported failed instead, so SQS redelivers them later and the
 * rows are retried rather than quarantined. An item DynamoDB refuses (a validation error) fails its
 * own row with DynamoDB's reason, found by bisecting its batch; the rest of the batch is written.
 * Writes are keyed puts, so a redelivered row leaves one item.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { DynamoItemWriter } from '../../adapters/dynamodb-writer.ts';
import type { PipelineDefinition } from '../../pipeline/definition.ts';
import type { RowTransformedDetail } from '../../pipeline/events.ts';
import { loadBatch } from '../../stages/load.ts';
import type { EventPublisher, FieldCipher, ItemWriter } from '../../stages/ports.ts';
import { cipherFromEnv, dynamoClient, publisherFromEnv, stageLogger } from './clients.ts';
import { Env, type EnvSource, pipelineFromEnv, requireEnv } from './config.ts';
import { isRowTransformed } from '../../pipeline/events.ts';
import {
  handleEventBatch,
  MessagesByRow,
  publishTagged,
  type SqsBatchHandler,
  type TaggedEntry,
} from './sqs-batch.ts';

export interface LoadDeps {
  definition: PipelineDefinition;
  writer: ItemWriter;
  publisher: EventPublisher;
  cipher?: FieldCipher;
  logger: Logger;
}

export function createLoadHandler(deps: LoadDeps): SqsBatchHandler {
  const { definition, publisher, logger, writer } = deps;
  return async (event, context) => {
    if (context) logger.addContext(context);
    return handleEventBatch(event, context, logger, async (messages) => {
      const failed = new Set<string>();
      const byRow = new MessagesByRow();
      const details: RowTransformedDetail[] = [];
      for (const { messageId, event: e } of messages) {
        if (!isRowTransformed(e)) {
          logger.error('not a transformed row', { messageId, detailType: e['detail-type'] });
          failed.add(messageId);
          continue;
        }
        byRow.add(e.detail.run, e.detail.row, messageId);
        details.push(e.detail);
      }
      const { events, retry } = await loadBatch(details, {
        source: definition.source,
        mapping: definition.mapping,
        writer,
        ...(deps.cipher ? { cipher: deps.cipher } : {}),
      });
      // Rows the table left unwritten go back to the queue, to be retried rather than quarantined.
      for (const detail of retry) for (const id of byRow.forRow(detail.run, detail.row)) failed.add(id);
      const out: TaggedEntry[] = events.map((entry) => ({ entry, messageIds: byRow.forEntry(entry) }));
      for (const id of await publishTagged(publisher, out, logger)) failed.add(id);
      logger.debug('loaded', { rows: details.length, failedMessages: failed.size });
      return failed;
    });
  };
}

export function loadDepsFromEnv(env: EnvSource): LoadDeps {
  const definition = pipelineFromEnv(env);
  const cipher = cipherFromEnv(env, definition.mapping);
  return {
    definition,
    writer: new DynamoItemWriter({
      client: dynamoClient(),
      tableName: requireEnv(env, Env.tableName),
      key: definition.mapping.key,
      concurrency: 4,
    }),
    publisher: publisherFromEnv(env),
    ...(cipher ? { cipher } : {}),
    logger: stageLogger('load'),
  };
}
