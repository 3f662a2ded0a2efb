/**
 * Transform Lambda: a batch of `s3RecordExtraction` events from the transform queue -> the transform
 * stage -> `transform` / `row-failed` events put to the bus. Only a message whose output could not be
 * put (or whose event is malformed) is reported failed.
 */
import type { PipelineDefinition } from '../../pipeline/definition.ts';
import type { EventPublisher } from '../../stages/ports.ts';
import { transformStage } from '../../stages/transform.ts';
import type { Logger } from '@aws-lambda-powertools/logger';
import { publisherFromEnv, stageLogger } from './clients.ts';
import { type EnvSource, pipelineFromEnv } from './config.ts';
import { metricsOf, ruleOf } from './metrics.ts';
import { type SqsBatchHandler, type SqsStageDeps, sqsStageHandler } from './sqs-batch.ts';

export interface TransformDeps extends SqsStageDeps {
  definition: PipelineDefinition;
  publisher: EventPublisher;
  logger: Logger;
}

export function createTransformHandler(deps: TransformDeps): SqsBatchHandler {
  const { definition } = deps;
  const stage = transformStage({ source: definition.source, mappingFor: async () => definition.mapping });
  return sqsStageHandler(stage, deps);
}

export function transformDepsFromEnv(env: EnvSource): TransformDeps {
  const definition = pipelineFromEnv(env);
  return {
    definition,
    publisher: publisherFromEnv(env),
    logger: stageLogger('transform'),
    metrics: { emf: metricsOf(definition), delivery: ruleOf(definition, 'transform') },
  };
}
