/**
 * Load Lambda: a batch of `transform` events from the load queue -> loadBatch (BatchWriteItem in
 * 25s through DynamoItemWriter, sensitive values decrypted with the envelope cipher) -> `data-loaded`
 * / `row-failed` events put to the bus.
 *
 * Rows DynamoDB left unprocessed after the writer's own retries (throttling) are not reported as
 * `row-failed`: their messages are reported failed instead, so SQS redelivers them later and the
 * rows are retried rather than quarantined. Writes are keyed puts, so a redelivered row leaves one item.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { DynamoItemWriter } from '../../adapters/dynamodb-writer.ts';
import { DetailType, type PipelineDefinition } from '../../pipeline/definition.ts';
import type { PutEventsEntry, RowTransformedDetail } from '../../pipeline/events.ts';
import { loadBatch } from '../../stages/load.ts';
import type { EventPublisher, FieldCipher, Item, ItemWriter, WriteFailure } from '../../stages/ports.ts';
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

/** The reason the retry-later writer gives; never reaches an event. */
const RETRY_LATER = 'retry later: DynamoDB left the item unprocessed';

/** Marks the writer's failures so the handler can send their messages back to the queue. */
class RetryLaterWriter implements ItemWriter {
  constructor(private readonly inner: ItemWriter) {}

  async writeItems(items: Item[]): Promise<WriteFailure[]> {
    const failures = await this.inner.writeItems(items);
    return failures.map((f) => ({ item: f.item, reason: RETRY_LATER }));
  }
}

export function createLoadHandler(deps: LoadDeps): SqsBatchHandler {
  const { definition, publisher, logger } = deps;
  const writer = new RetryLaterWriter(deps.writer);
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
      const entries = await loadBatch(details, {
        source: definition.source,
        mapping: definition.mapping,
        writer,
        ...(deps.cipher ? { cipher: deps.cipher } : {}),
      });
      const out: TaggedEntry[] = [];
      for (const entry of entries) {
        const messageIds = byRow.forEntry(entry);
        if (isRetryLater(entry)) for (const id of messageIds) failed.add(id);
        else out.push({ entry, messageIds });
      }
      for (const id of await publishTagged(publisher, out, logger)) failed.add(id);
      logger.debug('loaded', { rows: details.length, failedMessages: failed.size });
      return failed;
    });
  };
}

function isRetryLater(entry: PutEventsEntry): boolean {
  if (entry.DetailType !== DetailType.rowFailed) return false;
  return (JSON.parse(entry.Detail) as { reason?: unknown }).reason === RETRY_LATER;
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
