import { definePipeline, type PipelineDefinition } from '../../src/pipeline/definition.ts';

/**
 * The definition with 5 attempts per event, for tests that need a poison event dead-lettered:
 * EventBridge's 185 attempts over the 15-minute event age would outlast a test.
 */
export function fiveAttempts(): PipelineDefinition {
  const definition = definePipeline();
  for (const delivery of Object.values(definition.delivery)) delivery.maxAttempts = 5;
  return definition;
}
