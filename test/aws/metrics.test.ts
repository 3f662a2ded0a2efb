/**
 * The pipeline's metrics on AWS: a handler run writes CloudWatch EMF documents (Powertools Metrics)
 * to stdout with the names, units and dimensions of metric-names.ts, under the definition's namespace.
 */
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { definePipeline, DetailType, Status } from '../../src/pipeline/definition.ts';
import { entry, type PutEventsEntry } from '../../src/pipeline/events.ts';
import { ETL_METRICS } from '../../src/pipeline/metric-names.ts';
import { SERVICE_NAME } from '../../src/runtime/aws/config.ts';
import { runExtractTask } from '../../src/runtime/aws/extract-task.ts';
import { createExtractTriggerHandler } from '../../src/runtime/aws/extract-trigger.ts';
import { loadDepsFromEnv } from '../../src/runtime/aws/load.ts';
import { metricsOf, ruleOf } from '../../src/runtime/aws/metrics.ts';
import { observeDepsFromEnv } from '../../src/runtime/aws/observe.ts';
import { quarantineDepsFromEnv } from '../../src/runtime/aws/quarantine.ts';
import { taskStoppedDepsFromEnv } from '../../src/runtime/aws/task-stopped.ts';
import { createTransformHandler, transformDepsFromEnv } from '../../src/runtime/aws/transform.ts';
import { extractTriggerDepsFromEnv } from '../../src/runtime/aws/extract-trigger.ts';
import {
  CapturingPublisher,
  envelopeOf,
  lambdaContext,
  silentLogger,
  sqsEvent,
  sqsRecord,
} from './fixtures.ts';

const definition = definePipeline();
const { source } = definition;

interface EmfDocument {
  _aws: {
    Timestamp: number;
    CloudWatchMetrics: {
      Namespace: string;
      Dimensions: string[][];
      Metrics: { Name: string; Unit: string }[];
    }[];
  };
  [key: string]: unknown;
}

/** One metric datapoint read back from an EMF document: its name, unit, value and dimensions. */
interface Datapoint {
  name: string;
  unit: string;
  value: unknown;
  dimensions: Record<string, unknown>;
  namespace: string;
}

let written: string[] = [];
beforeEach(() => {
  written = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    written.push(String(chunk));
    return true;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
});

/** Every datapoint of the EMF documents written to stdout. */
function datapoints(): Datapoint[] {
  const points: Datapoint[] = [];
  for (const line of written.join('').split('\n')) {
    if (!line.startsWith('{')) continue;
    const doc = JSON.parse(line) as EmfDocument;
    if (!doc._aws) continue;
    for (const directive of doc._aws.CloudWatchMetrics) {
      const [dimensionNames, ...others] = directive.Dimensions;
      expect(others).toEqual([]); // one dimension set per document: no aggregate under `service` alone
      const dimensions = Object.fromEntries((dimensionNames ?? []).map((d) => [d, doc[d]]));
      for (const metric of directive.Metrics)
        points.push({
          name: metric.Name,
          unit: metric.Unit,
          value: doc[metric.Name],
          dimensions,
          namespace: directive.Namespace,
        });
    }
  }
  return points;
}

const extracted = (run: string, row: number, data: string): PutEventsEntry =>
  entry(source, DetailType.rowExtracted, {
    status: Status.extracted,
    headers: 'ID,HouseNum,Street,Town,Zip',
    data,
    run,
    row,
  });

describe('EMF from the stage handlers', () => {
  it('writes the batch as events in and out, inputs per outcome, retries per reason and its duration', async () => {
    const publisher = new CapturingPublisher();
    const handler = createTransformHandler({
      definition,
      publisher,
      logger: silentLogger(),
      metrics: { emf: metricsOf(definition), delivery: ruleOf(definition, 'transform') },
    });
    await handler(
      sqsEvent([
        envelopeOf(extracted('run-m', 1, '1,12,Main Street,Antrim,22876')),
        envelopeOf(extracted('run-m', 2, '2,23,High Street,Larne,73495')),
        envelopeOf(extracted('run-m', 3, '3,45,Church Way')), // too few fields: failed
        'not json at all', // no event: retried as invalid
      ]),
      lambdaContext('transform'),
    );
    const points = datapoints();
    const service = SERVICE_NAME;
    expect(points.every((p) => p.namespace === definition.metricsNamespace)).toBe(true);
    const counts = points
      .filter((p) => p.name !== ETL_METRICS.stageBatchSeconds.name)
      .map(({ name, unit, value, dimensions }) => ({ name, unit, value, dimensions }));
    expect(counts).toEqual(
      expect.arrayContaining([
        {
          name: 'etl_target_events_in_total',
          unit: 'Count',
          value: 4,
          dimensions: { service, rule: 'transformRule', target: 'transform' },
        },
        // two transform events and one row-failed
        {
          name: 'etl_target_events_out_total',
          unit: 'Count',
          value: 3,
          dimensions: { service, target: 'transform' },
        },
        {
          name: 'etl_stage_inputs_total',
          unit: 'Count',
          value: 2,
          dimensions: { service, stage: 'transform', outcome: 'done' },
        },
        {
          name: 'etl_stage_inputs_total',
          unit: 'Count',
          value: 1,
          dimensions: { service, stage: 'transform', outcome: 'failed' },
        },
        {
          name: 'etl_stage_inputs_total',
          unit: 'Count',
          value: 1,
          dimensions: { service, stage: 'transform', outcome: 'retry' },
        },
        {
          name: 'etl_stage_retries_total',
          unit: 'Count',
          value: 1,
          dimensions: { service, stage: 'transform', reason: 'invalid' },
        },
      ]),
    );
    expect(counts).toHaveLength(6);
    const latency = points.filter((p) => p.name === 'etl_stage_batch_seconds');
    expect(latency).toEqual([
      expect.objectContaining({ unit: 'Seconds', dimensions: { service, stage: 'transform' } }),
    ]);
    expect(latency[0]?.value).toBeGreaterThanOrEqual(0);
  });

  it('is wired into every handler built from its environment', () => {
    const env = {
      EVENT_BUS_NAME: 'bus',
      TABLE_NAME: 'items',
      RUNS_TABLE_NAME: 'runs',
      CONTAINER_NAME: 'extract',
      CLUSTER_ARN: 'arn:aws:ecs:eu-west-1:123456789012:cluster/c',
      TASK_DEFINITION_ARN: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/t:1',
      SUBNET_IDS: 'subnet-1',
      SECURITY_GROUP_IDS: 'sg-1',
    };
    expect(transformDepsFromEnv(env).metrics?.delivery).toEqual({
      rule: 'transformRule',
      target: 'transform',
    });
    expect(loadDepsFromEnv(env).metrics?.delivery).toEqual({ rule: 'loadRule', target: 'load' });
    expect(observeDepsFromEnv(env).metrics?.delivery).toEqual({ rule: 'observeRule', target: 'observe' });
    expect(quarantineDepsFromEnv(env).metrics?.delivery).toEqual({ rule: 'errorRule', target: 'quarantine' });
    expect(taskStoppedDepsFromEnv(env).metrics?.delivery).toEqual({
      rule: 'TaskStopped',
      target: 'task-stopped',
    });
    expect(extractTriggerDepsFromEnv(env).metrics).toBeDefined();
  });
});

describe('EMF from the extract trigger and the extract task', () => {
  it('counts the trigger messages done and retried', async () => {
    const notification = (key: string): string =>
      JSON.stringify({
        Records: [
          {
            eventSource: 'aws:s3',
            eventName: 'ObjectCreated:Put',
            s3: { bucket: { name: 'landing' }, object: { key, eTag: 'abc' } },
          },
        ],
      });
    const handler = createExtractTriggerHandler({
      definition,
      runTask: async (input) =>
        input.overrides?.containerOverrides?.[0]?.environment?.some((e) => e.value === 'bad.csv')
          ? { failures: [{ reason: 'RESOURCE:MEMORY' }], $metadata: {} }
          : { tasks: [{ taskArn: 'arn:task' }], $metadata: {} },
      publisher: new CapturingPublisher(),
      placement: { cluster: 'c', taskDefinition: 't', containerName: 'x', subnets: [], securityGroups: [] },
      logger: silentLogger(),
      metrics: metricsOf(definition),
    });
    const response = await handler({
      Records: [sqsRecord(notification('good.csv')), sqsRecord(notification('bad.csv'))],
    });
    expect(response.batchItemFailures).toHaveLength(1);
    const inputs = datapoints().filter((p) => p.name === 'etl_stage_inputs_total');
    expect(inputs.map((p) => [p.dimensions.outcome, p.value])).toEqual([
      ['done', 1],
      ['retry', 1],
    ]);
    expect(inputs.every((p) => p.dimensions.stage === 'extract-trigger')).toBe(true);
  });

  it("counts the task's rows put and failed, and its run time", async () => {
    const lines = [
      JSON.stringify({ ID: '7', HouseNum: 3, Street: 'Quay', Town: 'Larne', Zip: 40001 }),
      '[1]', // not an object: this row fails, the file goes on
      JSON.stringify({ ID: '8', HouseNum: 4, Street: 'Quay', Town: 'Larne', Zip: 40001 }),
    ];
    await runExtractTask(
      { bucket: 'landing', key: 'rows.jsonl', etag: 'e1' },
      {
        definition,
        objects: async () => ({ body: Readable.from([`${lines.join('\n')}\n`]), etag: 'e1' }),
        publisher: new CapturingPublisher(),
        logger: silentLogger(),
        metrics: metricsOf(definition),
      },
    );
    const points = datapoints();
    expect(points.find((p) => p.name === 'etl_stage_batch_seconds')?.dimensions).toEqual({
      service: SERVICE_NAME,
      stage: 'extract',
    });
    expect(
      points
        .filter((p) => p.name === 'etl_stage_inputs_total')
        .map((p) => [p.dimensions.stage, p.dimensions.outcome, p.value]),
    ).toEqual([
      ['extract', 'done', 2],
      ['extract', 'failed', 1],
    ]);
  });

  it('counts the rows the bus took when the file fails half way', async () => {
    const csv = await readFile(new URL('../../data/test_data.csv', import.meta.url), 'utf8');
    await expect(
      runExtractTask(
        { bucket: 'landing', key: 'test_data.csv', etag: 'e1' },
        {
          definition,
          objects: async () => ({
            body: Readable.from([`${csv.trimEnd()}\n6,7,"unterminated\n`]),
            etag: 'e1',
          }),
          publisher: new CapturingPublisher(),
          logger: silentLogger(),
          metrics: metricsOf(definition),
        },
      ),
    ).rejects.toThrow();
    expect(
      datapoints()
        .filter((p) => p.name === 'etl_stage_inputs_total')
        .map((p) => [p.dimensions.outcome, p.value]),
    ).toEqual([['done', 5]]);
  });
});
