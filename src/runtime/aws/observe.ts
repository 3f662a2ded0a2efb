/**
 * Observe Lambda: every event of the source (the seed's observer rule) from the observe queue ->
 * the observe stage over the runs table's tally -> one log line per event (the seed's "logged centrally")
 * and `run-completed` put to the bus once a run's rows are all loaded or failed.
 *
 * The tally is idempotent, so a redelivered batch is harmless; if the tally store fails, the whole
 * batch is retried. `run-completed` is put after the completion was claimed: should that put fail
 * after the publisher's retries, the claim is released and the message it was tagged to is reported
 * failed, so its redelivery claims and puts it again (at least once, never lost).
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { DynamoTallyStore } from '../../adapters/dynamodb-tally-store.ts';
import type { PipelineDefinition } from '../../pipeline/definition.ts';
import { observeStage } from '../../stages/observe.ts';
import type { EventPublisher, TallyStore } from '../../stages/ports.ts';
import { dynamoClient, publisherFromEnv, stageLogger } from './clients.ts';
import { Env, type EnvSource, pipelineFromEnv, requireEnv } from './config.ts';
import { metricsOf, ruleOf } from './metrics.ts';
import { type SqsBatchHandler, type SqsStageDeps, sqsStageHandler } from './sqs-batch.ts';

export interface ObserveDeps extends SqsStageDeps {
  definition: PipelineDefinition;
  tally: TallyStore;
  publisher: EventPublisher;
  logger: Logger;
}

export function createObserveHandler(deps: ObserveDeps): SqsBatchHandler {
  const { definition, tally, logger } = deps;
  const stage = observeStage({
    source: definition.source,
    tally,
    onObserved: (observed) => {
      for (const event of observed) logger.info('event observed', { event });
    },
    onCompleted: (counts) => logger.info('run completed', { counts }),
  });
  return sqsStageHandler(stage, deps);
}

export function observeDepsFromEnv(env: EnvSource): ObserveDeps {
  const definition = pipelineFromEnv(env);
  return {
    definition,
    tally: new DynamoTallyStore({ client: dynamoClient(), tableName: requireEnv(env, Env.runsTableName) }),
    publisher: publisherFromEnv(env),
    logger: stageLogger('observe'),
    metrics: { emf: metricsOf(definition), delivery: ruleOf(definition, 'observe') },
  };
}
