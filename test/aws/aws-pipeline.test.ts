/**
 * Every AWS entry point wired the way the stack wires them, in-process: an S3 notification in an SQS
 * message -> extract trigger -> (a fake ECS that runs the extract task with the RunTask overrides) ->
 * the definition's rules -> one queue per target with redelivery of batchItemFailures -> transform,
 * load, observe and quarantine handlers -> dynalite.
 */
import { keyAttributes, keySchemaOf } from '../../src/pipeline/mapping.ts';
import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { QueryCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import type { RunTaskCommandInput, RunTaskCommandOutput } from '@aws-sdk/client-ecs';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoTallyStore, RUNS_TABLE_KEY } from '../../src/adapters/dynamodb-tally-store.ts';
import { DynamoItemWriter } from '../../src/adapters/dynamodb-writer.ts';
import { definePipeline, DetailType } from '../../src/pipeline/definition.ts';
import { runIdForObject } from '../../src/pipeline/run-id.ts';
import { createExtractTriggerHandler } from '../../src/runtime/aws/extract-trigger.ts';
import { runExtractTask } from '../../src/runtime/aws/extract-task.ts';
import { createLoadHandler } from '../../src/runtime/aws/load.ts';
import { createObserveHandler } from '../../src/runtime/aws/observe.ts';
import { createQuarantineHandler, QUARANTINE_ID } from '../../src/runtime/aws/quarantine.ts';
import { createTransformHandler } from '../../src/runtime/aws/transform.ts';
import { ensureTable, type LocalDynamo, startDynalite } from '../../src/runtime/local/dynalite.ts';
import { RuledQueues } from '../support/aws-runtime.ts';
import { createRunsTable, silentLogger, sqsRecord } from './fixtures.ts';

const definition = definePipeline();
const TABLE = 'TransformedData';
const RUNS = 'Runs';
let dynamo: LocalDynamo;

beforeAll(async () => {
  dynamo = await startDynalite();
  await ensureTable(dynamo.client, TABLE, keySchemaOf(definition.mapping));
  await createRunsTable(dynamo.client, RUNS);
});
afterAll(async () => {
  await dynamo?.close();
});

function s3Notification(bucket: string, key: string, eTag: string): string {
  return JSON.stringify({
    Records: [
      {
        eventSource: 'aws:s3',
        eventName: 'ObjectCreated:Put',
        s3: {
          bucket: { name: bucket },
          object: { key: encodeURIComponent(key).replace(/%20/g, '+'), eTag, size: 1 },
        },
      },
    ],
  });
}

async function runUpload(csv: Buffer, key: string, eTag: string): Promise<RuledQueues> {
  const bus = new RuledQueues(definition);
  const logger = silentLogger();
  const tasks: Promise<unknown>[] = [];
  // The fake ECS "runs" the task: the container's environment is what RunTask's overrides say.
  const runTask = async (input: RunTaskCommandInput): Promise<RunTaskCommandOutput> => {
    const env = Object.fromEntries(
      (input.overrides?.containerOverrides?.[0]?.environment ?? []).map((kv) => [kv.name, kv.value]),
    );
    tasks.push(
      runExtractTask(
        { bucket: env.S3_BUCKET_NAME ?? '', key: env.S3_OBJECT_KEY ?? '', etag: env.S3_OBJECT_ETAG ?? '' },
        {
          definition,
          objects: async () => ({ body: Readable.from([csv]), etag: eTag }),
          publisher: bus,
          logger,
        },
      ),
    );
    return {
      $metadata: {},
      tasks: [{ taskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/etl/1' }],
      failures: [],
    };
  };
  const trigger = createExtractTriggerHandler({
    definition,
    runTask,
    publisher: bus,
    placement: {
      cluster: 'c',
      taskDefinition: 'td',
      containerName: 'extract',
      subnets: ['s'],
      securityGroups: ['g'],
    },
    logger,
  });
  const triggered = await trigger({ Records: [sqsRecord(s3Notification('landing', key, eTag))] });
  expect(triggered.batchItemFailures).toEqual([]);
  await Promise.all(tasks);
  await bus.drain({
    transform: createTransformHandler({ definition, publisher: bus, logger }),
    load: createLoadHandler({
      definition,
      writer: new DynamoItemWriter({
        client: dynamo.client,
        tableName: TABLE,
        key: keyAttributes(definition.mapping),
      }),
      publisher: bus,
      logger,
    }),
    observe: createObserveHandler({
      definition,
      tally: new DynamoTallyStore({ client: dynamo.client, tableName: RUNS }),
      publisher: bus,
      logger,
    }),
    quarantine: createQuarantineHandler({
      writer: new DynamoItemWriter({ client: dynamo.client, tableName: RUNS, key: QUARANTINE_ID }),
      logger,
    }),
  });
  return bus;
}

describe('the AWS handlers end to end', () => {
  it("carries the seed's sample from an S3 upload to its five items and a completed run", async () => {
    const bus = await runUpload(
      await readFile(new URL('../../data/test_data.csv', import.meta.url)),
      'test_data.csv',
      'e-sample',
    );
    const run = runIdForObject('landing', 'test_data.csv', 'e-sample');
    const items = (await dynamo.client.send(new ScanCommand({ TableName: TABLE }))).Items ?? [];
    expect(items.map((i) => unmarshall(i)).sort((a, b) => String(a.id).localeCompare(String(b.id)))).toEqual([
      { id: '1', house_number: '12', street_address: 'Main Street', town: 'Antrim', zip: '22876' },
      { id: '2', house_number: '23', street_address: '2nd Street', town: 'Glengormley', zip: '73495' },
      { id: '3', house_number: '45', street_address: 'Church Way', town: 'Ballymena', zip: '18649' },
      { id: '4', house_number: '67', street_address: 'Bangor Road', town: 'Carrickfergus', zip: '86492' },
      { id: '5', house_number: '89', street_address: 'Dublin Boulevard', town: 'Swords', zip: '72648' },
    ]);
    const taskStarted = bus.all.filter((e) => e.DetailType === DetailType.taskStarted);
    expect(taskStarted.map((e) => (JSON.parse(e.Detail) as { run: string }).run)).toEqual([run]);
    const completed = bus.all
      .filter((e) => e.DetailType === DetailType.runCompleted)
      .map((e) => JSON.parse(e.Detail) as unknown);
    expect(completed).toEqual([
      {
        status: 'completed',
        run,
        file: 's3://landing/test_data.csv',
        extracted: 5,
        transformed: 5,
        loaded: 5,
        failed: 0,
      },
    ]);
    expect(bus.deadLetters).toEqual([]);
  });

  it('quarantines a bad row, queryable in the runs table, and still completes the run', async () => {
    const csv = Buffer.from(
      'ID,HouseNum,Street,Town,Zip\r\n10,1,A Road,Town,1\r\n,2,No Id Lane,Town,2\r\n12,3,C Road\r\n',
    );
    const bus = await runUpload(csv, 'uploads/bad rows.csv', 'e-bad');
    const run = runIdForObject('landing', 'uploads/bad rows.csv', 'e-bad');
    const quarantined = await dynamo.client.send(
      new QueryCommand({
        TableName: RUNS,
        KeyConditionExpression: '#run = :run AND begins_with(#sk, :failed)',
        ExpressionAttributeNames: { '#run': RUNS_TABLE_KEY.partitionKey, '#sk': RUNS_TABLE_KEY.sortKey },
        ExpressionAttributeValues: { ':run': { S: run }, ':failed': { S: 'failed#' } },
      }),
    );
    expect(
      (quarantined.Items ?? []).map((i) => unmarshall(i)).map((i) => [i.row, i.stage, i.column]),
    ).toEqual([
      [2, 'transform', 'ID'],
      [3, 'transform', undefined],
    ]);
    const completed = bus.all
      .filter((e) => e.DetailType === DetailType.runCompleted)
      .map((e) => JSON.parse(e.Detail) as unknown);
    expect(completed).toEqual([
      {
        status: 'completed',
        run,
        file: 's3://landing/uploads/bad rows.csv',
        extracted: 3,
        transformed: 1,
        loaded: 1,
        failed: 2,
      },
    ]);
  });
});
