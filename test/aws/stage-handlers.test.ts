/**
 * The transform, load, observe and quarantine Lambda handlers, invoked in-process with SQS batches
 * whose bodies are EventBridge events, writing through the real DynamoDB client to dynalite.
 */
import { keySchemaOf } from '../../src/pipeline/mapping.ts';
import {
  type BatchWriteItemCommand,
  type DynamoDBClient,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import type { SQSRecord } from 'aws-lambda';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DynamoTallyStore, RUNS_TABLE_KEY } from '../../src/adapters/dynamodb-tally-store.ts';
import { DynamoItemWriter } from '../../src/adapters/dynamodb-writer.ts';
import { EnvelopeCipher } from '../../src/adapters/envelope-cipher.ts';
import { KmsDataKeys } from '../../src/adapters/kms-data-keys.ts';
import { definePipeline, DetailType, Status } from '../../src/pipeline/definition.ts';
import { entry, type PutEventsEntry, type RowLoadedDetail } from '../../src/pipeline/events.ts';
import { SEED_MAPPING } from '../../src/pipeline/mapping.ts';
import { createLoadHandler } from '../../src/runtime/aws/load.ts';
import { createObserveHandler } from '../../src/runtime/aws/observe.ts';
import { createQuarantineHandler, QUARANTINE_ID } from '../../src/runtime/aws/quarantine.ts';
import { createTransformHandler } from '../../src/runtime/aws/transform.ts';
import { ensureTable, type LocalDynamo, startDynalite } from '../../src/runtime/local/dynalite.ts';
import type { Item, ItemWriter } from '../../src/stages/ports.ts';
import { type FakeKms, startFakeKms } from './fake-kms.ts';
import {
  CapturingPublisher,
  createRunsTable,
  envelopeOf,
  lambdaContext,
  silentLogger,
  sqsEvent,
} from './fixtures.ts';

const definition = definePipeline();
const { source } = definition;
const HEADERS = 'ID,HouseNum,Street,Town,Zip';

const extracted = (run: string, row: number, data: string): PutEventsEntry =>
  entry(source, DetailType.rowExtracted, { status: Status.extracted, headers: HEADERS, data, run, row });
const transformed = (run: string, row: number, data: Record<string, string>): PutEventsEntry =>
  entry(source, DetailType.rowTransformed, { status: Status.transformed, data, run, row });
const seedRow = (row: number): Record<string, string> => ({
  ID: `id-${row}`,
  HouseNum: String(row),
  Street: 'Main Street',
  Town: 'Antrim',
  Zip: '22876',
});
const failedIds = (response: { batchItemFailures: { itemIdentifier: string }[] }): string[] =>
  response.batchItemFailures.map((f) => f.itemIdentifier).sort();

let dynamo: LocalDynamo;
const TABLE = 'TransformedData';
const RUNS = 'Runs';

beforeAll(async () => {
  dynamo = await startDynalite();
  await ensureTable(dynamo.client, TABLE, keySchemaOf(definition.mapping));
  await createRunsTable(dynamo.client, RUNS);
});
afterAll(async () => {
  await dynamo?.close();
});

/** A DynamoDB client that counts the commands sent through it. */
function countingClient(client: DynamoDBClient): { client: DynamoDBClient; sent: string[] } {
  const sent: string[] = [];
  const proxy = {
    send: (command: BatchWriteItemCommand) => {
      sent.push(command.constructor.name);
      return client.send(command);
    },
  } as unknown as DynamoDBClient;
  return { client: proxy, sent };
}

describe('transform handler', () => {
  it('transforms the batch and reports exactly the poisoned message', async () => {
    const publisher = new CapturingPublisher();
    const handler = createTransformHandler({ definition, publisher, logger: silentLogger() });
    const event = sqsEvent([
      envelopeOf(extracted('run-t', 1, '1,12,Main Street,Antrim,22876')),
      'not json at all',
      envelopeOf(extracted('run-t', 2, '2,23,"2nd Street, Upper",Glengormley,73495')),
      envelopeOf(extracted('run-t', 3, '3,45,Church Way')), // too few fields: a row-failed, not a message failure
    ]);
    const response = await handler(event, lambdaContext('transform'));
    expect(failedIds(response)).toEqual([event.Records[1]?.messageId]);
    expect(publisher.details(DetailType.rowTransformed)).toEqual([
      {
        status: 'transformed',
        run: 'run-t',
        row: 1,
        data: { ID: '1', HouseNum: '12', Street: 'Main Street', Town: 'Antrim', Zip: '22876' },
      },
      {
        status: 'transformed',
        run: 'run-t',
        row: 2,
        data: { ID: '2', HouseNum: '23', Street: '2nd Street, Upper', Town: 'Glengormley', Zip: '73495' },
      },
    ]);
    expect(publisher.details(DetailType.rowFailed)).toEqual([
      expect.objectContaining({ run: 'run-t', row: 3, stage: 'transform', status: 'failed' }),
    ]);
    expect(publisher.entries.every((e) => e.Source === source)).toBe(true);
  });

  it('reports an event of the wrong shape, and only it', async () => {
    const publisher = new CapturingPublisher();
    const handler = createTransformHandler({ definition, publisher, logger: silentLogger() });
    const wrong = envelopeOf(
      entry(source, DetailType.rowExtracted, { status: Status.extracted, run: 'r', row: 1 } as never),
    );
    const event = sqsEvent([wrong, envelopeOf(extracted('run-s', 1, '1,2,3,4,5'))]);
    expect(failedIds(await handler(event))).toEqual([event.Records[0]?.messageId]);
    expect(publisher.details(DetailType.rowTransformed)).toHaveLength(1);
  });

  it('maps a failed PutEvents request back to the messages of its entries only', async () => {
    // 12 rows: one request of 10 entries and one of 2; the second fails.
    const publisher = new CapturingPublisher((entries) =>
      entries.some((e) => (JSON.parse(e.Detail) as { row: number }).row === 11),
    );
    const handler = createTransformHandler({ definition, publisher, logger: silentLogger() });
    const event = sqsEvent(
      Array.from({ length: 12 }, (_, i) => envelopeOf(extracted('run-p', i + 1, `${i + 1},1,S,T,Z`))),
    );
    const response = await handler(event);
    expect(failedIds(response)).toEqual([event.Records[10]?.messageId, event.Records[11]?.messageId].sort());
    expect(publisher.entries).toHaveLength(10);
  });
});

describe('load handler', () => {
  it('writes the batch to DynamoDB and reports exactly the poisoned message', async () => {
    const publisher = new CapturingPublisher();
    const writer = new DynamoItemWriter({ client: dynamo.client, tableName: TABLE, key: 'id' });
    const handler = createLoadHandler({ definition, writer, publisher, logger: silentLogger() });
    const event = sqsEvent([
      envelopeOf(transformed('run-l', 1, seedRow(1))),
      '{"version":"0","id":"x","detail-type":"transform","source":"s"}', // no detail
      envelopeOf(transformed('run-l', 2, seedRow(2))),
      envelopeOf(transformed('run-l', 3, { ...seedRow(3), ID: '' })), // empty key: row-failed
    ]);
    const response = await handler(event, lambdaContext('load'));
    expect(failedIds(response)).toEqual([event.Records[1]?.messageId]);
    const items = await dynamo.client.send(new ScanCommand({ TableName: TABLE }));
    const ids = (items.Items ?? []).map((i) => i.id?.S);
    expect(ids).toEqual(expect.arrayContaining(['id-1', 'id-2']));
    expect(items.Items?.find((i) => i.id?.S === 'id-1')).toEqual({
      id: { S: 'id-1' },
      house_number: { S: '1' },
      street_address: { S: 'Main Street' },
      town: { S: 'Antrim' },
      zip: { S: '22876' },
    });
    expect(publisher.details<RowLoadedDetail>(DetailType.rowLoaded).map((d) => [d.row, d.key])).toEqual([
      [1, 'id-1'],
      [2, 'id-2'],
    ]);
    expect(publisher.details(DetailType.rowFailed)).toEqual([
      expect.objectContaining({ run: 'run-l', row: 3, stage: 'load', reason: 'key value is empty' }),
    ]);
  });

  it('writes 100 rows in 4 BatchWriteItem calls, not row by row', async () => {
    const counting = countingClient(dynamo.client);
    const writer = new DynamoItemWriter({ client: counting.client, tableName: TABLE, key: 'id' });
    const publisher = new CapturingPublisher();
    const handler = createLoadHandler({ definition, writer, publisher, logger: silentLogger() });
    const event = sqsEvent(
      Array.from({ length: 100 }, (_, i) => envelopeOf(transformed('run-100', i + 1, seedRow(1000 + i)))),
    );
    expect(failedIds(await handler(event))).toEqual([]);
    expect(counting.sent).toEqual(Array(4).fill('BatchWriteItemCommand'));
    expect(publisher.details(DetailType.rowLoaded)).toHaveLength(100);
  });

  it('sends rows DynamoDB left unprocessed back to the queue instead of quarantining them', async () => {
    const inner = new DynamoItemWriter({ client: dynamo.client, tableName: TABLE, key: 'id' });
    const throttled: ItemWriter = {
      async writeItems(items: Item[]) {
        const ok = items.filter((i) => i.id && 'S' in i.id && i.id.S !== 'id-2');
        await inner.writeItems(ok);
        return items
          .filter((i) => !ok.includes(i))
          .map((item) => ({ item, reason: 'DynamoDB left the item unprocessed' }));
      },
    };
    const publisher = new CapturingPublisher();
    const handler = createLoadHandler({ definition, writer: throttled, publisher, logger: silentLogger() });
    const event = sqsEvent([1, 2, 3].map((row) => envelopeOf(transformed('run-u', row, seedRow(row)))));
    expect(failedIds(await handler(event))).toEqual([event.Records[1]?.messageId]);
    expect(publisher.details(DetailType.rowFailed)).toEqual([]);
    expect(publisher.details<RowLoadedDetail>(DetailType.rowLoaded).map((d) => d.row)).toEqual([1, 3]);
  });

  it('retries the whole batch when DynamoDB itself fails', async () => {
    const down: ItemWriter = {
      writeItems: () => Promise.reject(new Error('connect ECONNREFUSED')),
    };
    const publisher = new CapturingPublisher();
    const handler = createLoadHandler({ definition, writer: down, publisher, logger: silentLogger() });
    const event = sqsEvent([1, 2].map((row) => envelopeOf(transformed('run-d', row, seedRow(row)))));
    expect(failedIds(await handler(event))).toEqual(event.Records.map((r) => r.messageId).sort());
    expect(publisher.entries).toEqual([]);
  });

  describe('with a sensitive column', () => {
    let kms: FakeKms;
    let kmsClient: KMSClient;
    beforeAll(async () => {
      kms = await startFakeKms();
      kmsClient = new KMSClient({
        endpoint: kms.endpoint,
        region: 'eu-west-1',
        credentials: { accessKeyId: 't', secretAccessKey: 't' },
      });
    });
    afterAll(async () => {
      kmsClient?.destroy();
      await kms?.close();
    });

    it('decrypts the value for the item and keeps it out of the data-loaded event', async () => {
      const mapping = {
        ...SEED_MAPPING,
        columns: {
          ...SEED_MAPPING.columns,
          Street: { attribute: 'street_address', type: 'string' as const, sensitive: true },
        },
      };
      const sensitiveDefinition = definePipeline({ mapping });
      const extractSide = new EnvelopeCipher(new KmsDataKeys(kmsClient, kms.keyId));
      const ciphertext = await extractSide.encrypt('run-k', '7 Secret Street');
      const publisher = new CapturingPublisher();
      const handler = createLoadHandler({
        definition: sensitiveDefinition,
        writer: new DynamoItemWriter({ client: dynamo.client, tableName: TABLE, key: 'id' }),
        publisher,
        cipher: new EnvelopeCipher(new KmsDataKeys(kmsClient, kms.keyId)),
        logger: silentLogger(),
      });
      const event = sqsEvent([
        envelopeOf(transformed('run-k', 1, { ...seedRow(1), ID: 'secret-1', Street: ciphertext })),
      ]);
      expect(failedIds(await handler(event))).toEqual([]);
      const items = await dynamo.client.send(new ScanCommand({ TableName: TABLE }));
      expect(items.Items?.find((i) => i.id?.S === 'secret-1')?.street_address).toEqual({
        S: '7 Secret Street',
      });
      const [loaded] = publisher.details<RowLoadedDetail>(DetailType.rowLoaded);
      expect(loaded?.data.street_address).toBe('[sensitive]');
      expect(JSON.stringify(publisher.entries)).not.toContain('Secret');
    });
  });
});

describe('observe handler', () => {
  it('logs every event, completes the run once, and tolerates a redelivered batch', async () => {
    const publisher = new CapturingPublisher();
    const logger = silentLogger();
    const info = vi.spyOn(logger, 'info');
    const tally = new DynamoTallyStore({ client: dynamo.client, tableName: RUNS });
    const handler = createObserveHandler({ definition, tally, publisher, logger });
    const run = 'run-o';
    const entries = [
      entry(source, DetailType.extractionStarted, {
        status: Status.started,
        run,
        file: 's3://landing/test_data.csv',
      }),
      extracted(run, 1, '1,12,Main Street,Antrim,22876'),
      extracted(run, 2, '2,23,2nd Street,Glengormley,73495'),
      entry(source, DetailType.extractionCompleted, {
        status: Status.completed,
        run,
        file: 's3://landing/test_data.csv',
        rows: 2,
      }),
      transformed(run, 1, seedRow(1)),
      entry(source, DetailType.rowLoaded, { status: Status.loaded, key: '1', data: {}, run, row: 1 }),
      entry(source, DetailType.rowFailed, {
        status: Status.failed,
        stage: 'transform',
        reason: 'bad',
        run,
        row: 2,
      }),
    ];
    const event = sqsEvent([...entries.map(envelopeOf), '[]']);
    const response = await handler(event, lambdaContext('observe'));
    expect(failedIds(response)).toEqual([event.Records.at(-1)?.messageId]);
    expect(info.mock.calls.filter(([message]) => message === 'event observed')).toHaveLength(entries.length);
    expect(publisher.details(DetailType.runCompleted)).toEqual([
      {
        status: 'completed',
        run,
        file: 's3://landing/test_data.csv',
        extracted: 2,
        transformed: 1,
        loaded: 1,
        failed: 1,
      },
    ]);
    await handler(sqsEvent(entries.map(envelopeOf)));
    expect(publisher.details(DetailType.runCompleted)).toHaveLength(1);
  });

  it('sends a run back to the queue when its run-completed cannot be put, and puts it on redelivery', async () => {
    const tally = new DynamoTallyStore({ client: dynamo.client, tableName: RUNS });
    const working = new CapturingPublisher();
    let down = true;
    const publisher = {
      putEvents: async (entries: PutEventsEntry[]) => {
        if (down) throw new Error('EventBridge is unavailable');
        await working.putEvents(entries);
      },
    };
    const handler = createObserveHandler({ definition, tally, publisher, logger: silentLogger() });
    const run = 'run-put-fails';
    const entries = [
      extracted(run, 1, '1,12,Main Street,Antrim,22876'),
      entry(source, DetailType.extractionCompleted, { status: Status.completed, run, file: 'f', rows: 1 }),
      entry(source, DetailType.rowLoaded, { status: Status.loaded, key: '1', data: {}, run, row: 1 }),
    ];
    const event = sqsEvent(entries.map(envelopeOf));
    // The run-completed is tagged to the run's first message: that one comes back, the rest are done.
    const first = event.Records[0] as SQSRecord;
    expect(failedIds(await handler(event))).toEqual([first.messageId]);
    expect((await tally.counts(run))?.completed).toBe(false);

    down = false;
    expect(failedIds(await handler({ Records: [first] }))).toEqual([]);
    expect(working.details(DetailType.runCompleted)).toMatchObject([{ run, loaded: 1 }]);
    expect((await tally.counts(run))?.completed).toBe(true);
  });

  it('retries the whole batch when the tally store fails', async () => {
    const tally = new DynamoTallyStore({ client: dynamo.client, tableName: 'no-such-table' });
    const handler = createObserveHandler({
      definition,
      tally,
      publisher: new CapturingPublisher(),
      logger: silentLogger(),
    });
    const event = sqsEvent([
      envelopeOf(extracted('run-x', 1, 'a,b,c,d,e')),
      envelopeOf(extracted('run-x', 2, 'a,b,c,d,e')),
    ]);
    expect(failedIds(await handler(event))).toEqual(event.Records.map((r) => r.messageId).sort());
  });
});

describe('quarantine handler', () => {
  it('keeps each failed row as an item of its run, once, queryable by run', async () => {
    const handler = createQuarantineHandler({
      writer: new DynamoItemWriter({ client: dynamo.client, tableName: RUNS, key: QUARANTINE_ID }),
      logger: silentLogger(),
    });
    const failed = (run: string, row: number, stage: 'transform' | 'load', column?: string): PutEventsEntry =>
      entry(source, DetailType.rowFailed, {
        status: Status.failed,
        stage,
        reason: `${stage} said no`,
        run,
        row,
        ...(column ? { column } : {}),
      });
    const duplicate = envelopeOf(failed('run-q', 7, 'load'));
    const event = sqsEvent([
      envelopeOf(failed('run-q', 3, 'transform', 'Zip')),
      duplicate,
      duplicate,
      envelopeOf(failed('run-other', 3, 'transform')), // same row and stage, another run
      envelopeOf(extracted('run-q', 9, 'x')), // not a row-failed event
    ]);
    const response = await handler(event, lambdaContext('quarantine'));
    expect(failedIds(response)).toEqual([event.Records[4]?.messageId]);
    const result = await dynamo.client.send(
      new QueryCommand({
        TableName: RUNS,
        KeyConditionExpression: '#run = :run AND begins_with(#sk, :failed)',
        ExpressionAttributeNames: { '#run': RUNS_TABLE_KEY.partitionKey, '#sk': RUNS_TABLE_KEY.sortKey },
        ExpressionAttributeValues: { ':run': { S: 'run-q' }, ':failed': { S: 'failed#' } },
      }),
    );
    expect(result.Items?.map((i) => [i.sk?.S, i.reason?.S, i.column?.S])).toEqual([
      ['failed#0000000003#transform', 'transform said no', 'Zip'],
      ['failed#0000000007#load', 'load said no', undefined],
    ]);
    expect(result.Items?.[1]?.eventId).toEqual({ S: duplicate.id });
    const other = await dynamo.client.send(
      new QueryCommand({
        TableName: RUNS,
        KeyConditionExpression: '#run = :run',
        ExpressionAttributeNames: { '#run': RUNS_TABLE_KEY.partitionKey },
        ExpressionAttributeValues: { ':run': { S: 'run-other' } },
      }),
    );
    expect(other.Items).toHaveLength(1);
  });
});
