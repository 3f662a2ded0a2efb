/**
 * Observe Lambda: every event of the source (the seed's observer rule) from the observe queue ->
 * observeBatch over the runs table's tally -> one log line per event (the seed's "logged centrally")
 * and `run-completed` put to the bus once a run's rows are all loaded or failed.
 *
 * The tally is idempotent, so a redelivered batch is harmless; if the tally store fails, the whole
 * batch is retried. `run-completed` is put after the completion was claimed: should that put fail
 * after the publisher's retries, the claim is released and the run's messages are reported failed,
 * so their redelivery claims and puts it again (at least once, never lost).
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { DynamoTallyStore } from '../../adapters/dynamodb-tally-store.ts';
import type { PipelineDefinition } from '../../pipeline/definition.ts';
import { observeBatch } from '../../stages/observe.ts';
import type { EventPublisher, TallyStore } from '../../stages/ports.ts';
import { dynamoClient, publisherFromEnv, stageLogger } from './clients.ts';
import { Env, type EnvSource, pipelineFromEnv, requireEnv } from './config.ts';
import { handleEventBatch, type SqsBatchHandler } from './sqs-batch.ts';

export interface ObserveDeps {
  definition: PipelineDefinition;
  tally: TallyStore;
  publisher: EventPublisher;
  logger: Logger;
}

export function createObserveHandler(deps: ObserveDeps): SqsBatchHandler {
  const { definition, tally, publisher, logger } = deps;
  return async (event, context) => {
    if (context) logger.addContext(context);
    return handleEventBatch(event, context, logger, async (messages) => {
      const result = await observeBatch(
        messages.map((m) => m.event),
        { source: definition.source, tally },
      );
      for (const observed of result.observed) logger.info('event observed', { event: observed });
      for (const counts of result.completed) logger.info('run completed', { counts });
      if (result.events.length === 0) return [];
      try {
        await publisher.putEvents(result.events);
        return [];
      } catch (error) {
        const runs = new Set(result.completed.map((c) => c.run));
        logger.error('run-completed could not be put; its messages go back to the queue', {
          error: error as Error,
          runs: [...runs],
        });
        for (const run of runs) await tally.releaseCompletion(run);
        return messages
          .filter((m) => runs.has((m.event.detail as { run?: unknown } | null)?.run as string))
          .map((m) => m.messageId);
      }
    });
  };
}

export function observeDepsFromEnv(env: EnvSource): ObserveDeps {
  return {
    definition: pipelineFromEnv(env),
    tally: new DynamoTallyStore({ client: dynamoClient(), tableName: requireEnv(env, Env.runsTableName) }),
    publisher: publisherFromEnv(env),
    logger: stageLogger('observe'),
  };
}
