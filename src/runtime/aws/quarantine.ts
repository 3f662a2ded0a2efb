/**
 * Quarantine Lambda: the error rule's `row-failed` events from the quarantine queue -> one item per
 * failed row in the runs table, beside the run's tally:
 *   run = <run id>, sk = "failed#<row, 10 digits>#<stage>", row, stage, reason, column?, eventId, time
 * Durable (point-in-time recovery) and queryable per run:
 *   aws dynamodb query --table-name <RunsTable> --key-condition-expression "#r = :run AND begins_with(sk, :f)"
 * Keyed by run, row and stage, so a redelivered event overwrites its own item.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { RUNS_TABLE_KEY } from '../../adapters/dynamodb-tally-store.ts';
import { DynamoItemWriter } from '../../adapters/dynamodb-writer.ts';
import type { EventEnvelope, RowFailedDetail } from '../../pipeline/events.ts';
import type { Item, ItemWriter } from '../../stages/ports.ts';
import { dynamoClient, stageLogger } from './clients.ts';
import { Env, type EnvSource, requireEnv } from './config.ts';
import { isRowFailed } from '../../pipeline/events.ts';
import { handleEventBatch, type SqsBatchHandler } from './sqs-batch.ts';

export const QUARANTINE_SK_PREFIX = 'failed#';
/** The attribute that identifies a quarantined row across runs (the writer deduplicates on it). */
export const QUARANTINE_ID = 'id';

export interface QuarantineDeps {
  /** Writes to the runs table, deduplicating on QUARANTINE_ID. */
  writer: ItemWriter;
  logger: Logger;
}

export function quarantineItem(event: EventEnvelope<RowFailedDetail>): Item {
  const d = event.detail;
  const sk = `${QUARANTINE_SK_PREFIX}${String(d.row).padStart(10, '0')}#${d.stage}`;
  const item: Item = {
    [RUNS_TABLE_KEY.partitionKey]: { S: d.run },
    [RUNS_TABLE_KEY.sortKey]: { S: sk },
    [QUARANTINE_ID]: { S: `${d.run}/${d.row}/${d.stage}` },
    row: { N: String(d.row) },
    stage: { S: d.stage },
    reason: { S: d.reason },
    eventId: { S: event.id },
    time: { S: event.time },
  };
  if (typeof d.column === 'string') item.column = { S: d.column };
  return item;
}

export function createQuarantineHandler(deps: QuarantineDeps): SqsBatchHandler {
  const { writer, logger } = deps;
  return async (event, context) => {
    if (context) logger.addContext(context);
    return handleEventBatch(event, context, logger, async (messages) => {
      const failed = new Set<string>();
      const items: Item[] = [];
      const messageOf = new Map<Item, string>();
      for (const { messageId, event: e } of messages) {
        if (!isRowFailed(e)) {
          logger.error('not a row-failed event', { messageId, detailType: e['detail-type'] });
          failed.add(messageId);
          continue;
        }
        const item = quarantineItem(e);
        items.push(item);
        messageOf.set(item, messageId);
        logger.warn('row quarantined', {
          run: e.detail.run,
          row: e.detail.row,
          stage: e.detail.stage,
          reason: e.detail.reason,
        });
      }
      for (const failure of await writer.writeItems(items)) {
        const id = messageOf.get(failure.item);
        if (id !== undefined) failed.add(id);
      }
      return failed;
    });
  };
}

export function quarantineDepsFromEnv(env: EnvSource): QuarantineDeps {
  return {
    writer: new DynamoItemWriter({
      client: dynamoClient(),
      tableName: requireEnv(env, Env.runsTableName),
      key: QUARANTINE_ID,
    }),
    logger: stageLogger('quarantine'),
  };
}
