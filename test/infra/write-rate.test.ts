/**
 * `-c concurrency=N -c maxWritesPerSecond=N` reach the deployed functions: every stage's event source
 * takes the concurrency, and every function carries both settings, so the load Lambda paces itself
 * to its share of the write rate. Bundling is skipped, so a synth is fast.
 */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { describe, expect, it } from 'vitest';
import { definitionFromContext, FEATURE_FLAGS } from '../../src/infra/context.ts';
import { EventBridgeEtlStack } from '../../src/infra/stack.ts';
import { Env, pipelineFromEnv } from '../../src/runtime/aws/config.ts';
import { writeRateShare } from '../../src/pipeline/definition.ts';

describe('the write-rate settings in the stack', () => {
  it('reach every stage event source and the load function', () => {
    const context: Record<string, unknown> = { concurrency: '5', maxWritesPerSecond: '400' };
    const app = new App({ context: { ...FEATURE_FLAGS, 'aws:cdk:bundling-stacks': [] } });
    const definition = definitionFromContext((key) => context[key]);
    const stack = new EventBridgeEtlStack(app, 'Paced', { definition });
    const template = Template.fromStack(stack);

    const sources = Object.values(template.findResources('AWS::Lambda::EventSourceMapping')) as {
      Properties: { ScalingConfig?: { MaximumConcurrency?: number } };
    }[];
    const concurrencies = sources.map((s) => s.Properties.ScalingConfig?.MaximumConcurrency);
    // The four stages take the definition's; the extract trigger and task-stopped queues keep their own.
    expect(concurrencies.filter((c) => c === 5)).toHaveLength(4);

    const functions = Object.values(template.findResources('AWS::Lambda::Function')) as {
      Properties: { Environment?: { Variables?: Record<string, string> } };
    }[];
    const load = functions
      .map((f) => f.Properties.Environment?.Variables ?? {})
      .find((env) => env[Env.tableName] !== undefined && env[Env.pipelineMapping] !== undefined);
    expect(load).toMatchObject({ [Env.pipelineConcurrency]: '5', [Env.maxWritesPerSecond]: '400' });
    // What the load function builds from that environment: 400 writes a second shared by 5 instances.
    // (Variables holding references, the bus name, are left out: they resolve at deploy time.)
    const literal = Object.fromEntries(Object.entries(load ?? {}).filter(([, v]) => typeof v === 'string'));
    const deployed = pipelineFromEnv(literal);
    expect(writeRateShare(deployed.writes, deployed.delivery.load.concurrency)).toBe(80);
  });
});
