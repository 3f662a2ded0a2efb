/** The environment contract between the stack and the deployed code. */
import { describe, expect, it } from 'vitest';
import { DynamoItemWriter } from '../../src/adapters/dynamodb-writer.ts';
import { EnvelopeCipher } from '../../src/adapters/envelope-cipher.ts';
import { definePipeline, writeRateShare } from '../../src/pipeline/definition.ts';
import { SEED_MAPPING } from '../../src/pipeline/mapping.ts';
import { ConfigError, Env, pipelineEnvironment, pipelineFromEnv } from '../../src/runtime/aws/config.ts';
import { extractTaskDepsFromEnv } from '../../src/runtime/aws/extract-task.ts';
import { extractTriggerDepsFromEnv } from '../../src/runtime/aws/extract-trigger.ts';
import { loadDepsFromEnv } from '../../src/runtime/aws/load.ts';
import { observeDepsFromEnv } from '../../src/runtime/aws/observe.ts';
import { quarantineDepsFromEnv } from '../../src/runtime/aws/quarantine.ts';
import { transformDepsFromEnv } from '../../src/runtime/aws/transform.ts';
import { silentLogger } from './fixtures.ts';

const sensitiveMapping = {
  ...SEED_MAPPING,
  columns: { ...SEED_MAPPING.columns, Zip: { attribute: 'zip', type: 'string' as const, sensitive: true } },
};

describe('the pipeline definition through the environment', () => {
  it('arrives as the stack synthesized it', () => {
    const definition = definePipeline({ source: 'acme.etl', busName: 'acme-bus', mapping: sensitiveMapping });
    const env = pipelineEnvironment(definition);
    expect(env).toEqual({
      [Env.eventBusName]: 'acme-bus',
      [Env.pipelineSource]: 'acme.etl',
      [Env.pipelineMapping]: JSON.stringify(sensitiveMapping),
      [Env.pipelineConcurrency]: '2',
    });
    const received = pipelineFromEnv(env);
    expect(received.source).toBe('acme.etl');
    expect(received.busName).toBe('acme-bus');
    expect(received.mapping).toEqual(sensitiveMapping);
    expect(received.rules).toEqual(definition.rules);
  });

  it('carries the stage concurrency and the table write rate, and each load instance takes its share', () => {
    const definition = definePipeline({ concurrency: 4, maxWritesPerSecond: 100 });
    const env = pipelineEnvironment(definition);
    expect(env).toMatchObject({ [Env.pipelineConcurrency]: '4', [Env.maxWritesPerSecond]: '100' });
    const received = pipelineFromEnv(env);
    expect(received.delivery.load.concurrency).toBe(4);
    expect(received.writes).toEqual({ maxWritesPerSecond: 100 });
    expect(writeRateShare(received.writes, received.delivery.load.concurrency)).toBe(25);
    expect(() => pipelineFromEnv({ ...env, [Env.maxWritesPerSecond]: 'fast' })).toThrow(
      new ConfigError(`${Env.maxWritesPerSecond} is not a whole number: fast`),
    );
    expect(() => pipelineFromEnv({ ...env, [Env.pipelineConcurrency]: '1' })).toThrow(
      /concurrency must be a whole number from 2 to 1000/,
    );
  });

  it('is the default definition when the environment carries none', () => {
    expect(pipelineFromEnv({})).toEqual(definePipeline());
  });

  it('refuses a mapping that is not one, naming the variable', () => {
    expect(() => pipelineFromEnv({ [Env.pipelineMapping]: '{nope' })).toThrow(ConfigError);
    expect(() =>
      pipelineFromEnv({ [Env.pipelineMapping]: JSON.stringify({ key: 'id', columns: {} }) }),
    ).toThrow(/PIPELINE_MAPPING/);
  });
});

describe('handlers wired from the environment', () => {
  const base = { [Env.eventBusName]: 'bus', ...pipelineEnvironment(definePipeline()) };

  it('name the first missing variable', () => {
    expect(() => transformDepsFromEnv({})).toThrow('EVENT_BUS_NAME is not set');
    expect(() => loadDepsFromEnv(base)).toThrow('TABLE_NAME is not set');
    expect(() => observeDepsFromEnv(base)).toThrow('RUNS_TABLE_NAME is not set');
    expect(() => quarantineDepsFromEnv({})).toThrow('RUNS_TABLE_NAME is not set');
    expect(() => extractTriggerDepsFromEnv(base)).toThrow('CLUSTER_ARN is not set');
  });

  it('need the field key only when the mapping has sensitive columns', () => {
    const sensitive = {
      ...base,
      ...pipelineEnvironment(definePipeline({ mapping: sensitiveMapping })),
      [Env.tableName]: 'T',
    };
    expect(() => loadDepsFromEnv(sensitive)).toThrow('FIELD_KEY_ARN is not set');
    const load = loadDepsFromEnv({ ...sensitive, [Env.fieldKeyArn]: 'arn:aws:kms:eu-west-1:1:key/k' });
    expect(load.cipher).toBeInstanceOf(EnvelopeCipher);
    expect(load.writer).toBeInstanceOf(DynamoItemWriter);
    expect(loadDepsFromEnv({ ...base, [Env.tableName]: 'T' }).cipher).toBeUndefined();
    const task = extractTaskDepsFromEnv(
      { ...sensitive, [Env.fieldKeyArn]: 'arn:aws:kms:eu-west-1:1:key/k' },
      silentLogger(),
    );
    expect(task.cipher).toBeInstanceOf(EnvelopeCipher);
  });

  it('read the task placement for RunTask', () => {
    const deps = extractTriggerDepsFromEnv({
      ...base,
      [Env.clusterArn]: 'arn:cluster',
      [Env.taskDefinitionArn]: 'arn:td:1',
      [Env.containerName]: 'extract',
      [Env.subnetIds]: 'subnet-a, subnet-b',
      [Env.securityGroupIds]: 'sg-1',
    });
    expect(deps.placement).toEqual({
      cluster: 'arn:cluster',
      taskDefinition: 'arn:td:1',
      containerName: 'extract',
      subnets: ['subnet-a', 'subnet-b'],
      securityGroups: ['sg-1'],
    });
  });

  it('rejects a PutEvents concurrency that is not a positive integer', () => {
    expect(() => extractTaskDepsFromEnv({ ...base, [Env.maxPutsInFlight]: '0' }, silentLogger())).toThrow(
      ConfigError,
    );
    expect(
      extractTaskDepsFromEnv({ ...base, [Env.maxPutsInFlight]: '16' }, silentLogger()).maxPutsInFlight,
    ).toBe(16);
  });
});
