/**
 * Transform Lambda: a batch of `s3RecordExtraction` events from the transform queue -> transformBatch
 * -> `transform` / `row-failed` events put to the bus. Only a message whose output could not be put
 * (or whose event is malformed) is reported failed.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import type { PipelineDefinition } from '../../pipeline/definition.ts';
import type { EventPublisher } from '../../stages/ports.ts';
import { transformBatch } from '../../stages/transform.ts';
import { publisherFromEnv, stageLogger } from './clients.ts';
import { type EnvSource, pipelineFromEnv } from './config.ts';
import { isRowExtracted } from '../../pipeline/events.ts';
import {
  type EventMessage,
  handleEventBatch,
  MessagesByRow,
  publishTagged,
  type SqsBatchHandler,
} from './sqs-batch.ts';

export interface TransformDeps {
  definition: PipelineDefinition;
  publisher: EventPublisher;
  logger: Logger;
}

export function createTransformHandler(deps: TransformDeps): SqsBatchHandler {
  const { definition, publisher, logger } = deps;
  return async (event, context) => {
    if (context) logger.addContext(context);
    return handleEventBatch(event, context, logger, async (messages: EventMessage[]) => {
      const failed: string[] = [];
      const byRow = new MessagesByRow();
      const details = [];
      for (const { messageId, event: e } of messages) {
        if (!isRowExtracted(e)) {
          logger.error('not an extracted row', { messageId, detailType: e['detail-type'] });
          failed.push(messageId);
          continue;
        }
        byRow.add(e.detail.run, e.detail.row, messageId);
        details.push(e.detail);
      }
      const entries = transformBatch(details, { source: definition.source, mapping: definition.mapping });
      const unpublished = await publishTagged(
        publisher,
        entries.map((entry) => ({ entry, messageIds: byRow.forEntry(entry) })),
        logger,
      );
      logger.debug('transformed', { rows: details.length, failed: failed.length + unpublished.size });
      return [...failed, ...unpublished];
    });
  };
}

export function transformDepsFromEnv(env: EnvSource): TransformDeps {
  return {
    definition: pipelineFromEnv(env),
    publisher: publisherFromEnv(env),
    logger: stageLogger('transform'),
  };
}
