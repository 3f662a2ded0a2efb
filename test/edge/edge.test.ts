import {
  BatchWriteItemCommand,
  TransactWriteItemsCommand,
  CreateTableCommand,
  DescribeTableCommand,
  GetItemCommand,
  PutItemCommand,
  ResourceNotFoundException,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import { EventBridgeServiceException, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RawResponse, rawRequest, startTestStack, type TestStack } from './support.ts';

/** One HTTP request to the edge, as a client that is not an SDK would send it (signed-looking). */
function raw(
  port: number,
  options: { method?: string; path?: string; headers?: Record<string, string>; body?: string },
): Promise<RawResponse> {
  return rawRequest(port, options);
}

describe('the edge: DynamoDB proxied to the embedded table, and routing of everything else', () => {
  let t: TestStack;
  beforeAll(async () => {
    t = await startTestStack();
  });
  afterAll(async () => t?.close());

  it("serves DynamoDB: the pipeline's table, item writes and reads, and DynamoDB's own exceptions", async () => {
    const table = await t.dynamodb.send(new DescribeTableCommand({ TableName: 'TransformedData' }));
    expect(table.Table?.KeySchema).toEqual([{ AttributeName: 'id', KeyType: 'HASH' }]);

    await t.dynamodb.send(
      new PutItemCommand({
        TableName: 'TransformedData',
        Item: { id: { S: 'edge-1' }, town: { S: 'Newry' } },
      }),
    );
    const got = await t.dynamodb.send(
      new GetItemCommand({ TableName: 'TransformedData', Key: { id: { S: 'edge-1' } } }),
    );
    expect(got.Item).toEqual({ id: { S: 'edge-1' }, town: { S: 'Newry' } });
    // The same item, read straight from the embedded DynamoDB: the edge proxies, it keeps nothing.
    const direct = await t.stack.pipeline.client.send(new ScanCommand({ TableName: 'TransformedData' }));
    expect(direct.Items).toContainEqual({ id: { S: 'edge-1' }, town: { S: 'Newry' } });

    const error = await t.dynamodb
      .send(new GetItemCommand({ TableName: 'NoSuchTable', Key: { id: { S: 'x' } } }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResourceNotFoundException);
  });

  it('describes a table with its item count, which the embedded DynamoDB leaves at 0', async () => {
    const table = 'Counted';
    await t.dynamodb.send(
      new CreateTableCommand({
        TableName: table,
        BillingMode: 'PAY_PER_REQUEST',
        AttributeDefinitions: [{ AttributeName: 'pk', AttributeType: 'S' }],
        KeySchema: [{ AttributeName: 'pk', KeyType: 'HASH' }],
      }),
    );
    for (let i = 0; i < 1_234; i += 25) {
      const batch = Array.from({ length: Math.min(25, 1_234 - i) }, (_, j) => ({
        PutRequest: { Item: { pk: { S: `item-${i + j}` }, n: { N: String(i + j) } } },
      }));
      await t.dynamodb.send(new BatchWriteItemCommand({ RequestItems: { [table]: batch } }));
    }
    const described = await t.dynamodb.send(new DescribeTableCommand({ TableName: table }));
    expect(described.Table?.ItemCount).toBe(1_234);
    expect(described.Table?.TableSizeBytes).toBeGreaterThan(0);
    // Straight from dynalite: the count the edge adds is not there.
    const raw = await t.stack.pipeline.client.send(new DescribeTableCommand({ TableName: table }));
    expect(raw.Table?.ItemCount).toBe(0);
  });

  it('says which DynamoDB operation the local table lacks, instead of an empty UnknownError', async () => {
    const error = await t.dynamodb
      .send(
        new TransactWriteItemsCommand({
          TransactItems: [{ Put: { TableName: 'TransformedData', Item: { id: { S: 'tx-1' } } } }],
        }),
      )
      .catch((e: unknown) => e as Error);
    expect(error).toMatchObject({ name: 'UnknownOperationException' });
    expect((error as Error).message).toMatch(
      /^TransactWriteItems is not supported by the local DynamoDB \(dynalite\); it serves BatchGetItem, BatchWriteItem, /,
    );
  });

  it('answers an unknown X-Amz-Target with an AWS JSON error, not a crash', async () => {
    const res = await raw(t.stack.edge.port, {
      headers: {
        'x-amz-target': 'NoSuchService_20990101.DoThing',
        'content-type': 'application/x-amz-json-1.0',
      },
      body: '{}',
    });
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toBe('application/x-amz-json-1.0');
    expect(res.headers['x-amzn-errortype']).toBe('UnknownOperationException');
    expect(JSON.parse(res.body)).toEqual({
      __type: 'UnknownOperationException',
      message:
        'The local endpoint does not serve NoSuchService_20990101; it serves S3, DynamoDB, EventBridge, SQS ' +
        '(X-Amz-Target DynamoDB_20120810.*, AWSEvents.* and AmazonSQS.*)',
    });
  });

  it('answers a Query-protocol request with its XML error', async () => {
    const res = await raw(t.stack.edge.port, {
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'Action=GetCallerIdentity&Version=2011-06-15',
    });
    expect(res.status).toBe(400);
    expect(res.body).toMatch(/<ErrorResponse><Error><Type>Sender<\/Type><Code>InvalidAction<\/Code>/);
  });

  it('answers a request body that is not JSON with a SerializationException', async () => {
    const res = await raw(t.stack.edge.port, {
      headers: { 'x-amz-target': 'AWSEvents.ListRules', 'content-type': 'application/x-amz-json-1.1' },
      body: '{"NamePrefix": ',
    });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toMatchObject({ __type: 'SerializationException' });
  });

  it('caps JSON request bodies (413) and keeps serving afterwards', async () => {
    const error = await t.events
      .send(
        new PutEventsCommand({
          Entries: [
            { Source: 'edge.test', DetailType: 'big', Detail: JSON.stringify({ x: 'y'.repeat(1_200_000) }) },
          ],
        }),
      )
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(EventBridgeServiceException);
    expect((error as EventBridgeServiceException).$metadata.httpStatusCode).toBe(413);

    const declared = await raw(t.stack.edge.port, {
      headers: {
        'x-amz-target': 'DynamoDB_20120810.PutItem',
        'content-type': 'application/x-amz-json-1.0',
        'content-length': String(64 * 1024 * 1024),
      },
    });
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body).__type).toMatch(/ValidationException$/);
    // The body was never read: the connection cannot carry another request.
    expect(declared.headers.connection).toBe('close');

    const after = await t.dynamodb.send(new DescribeTableCommand({ TableName: 'TransformedData' }));
    expect(after.Table?.TableName).toBe('TransformedData');
  });

  it("answers a DynamoDB body that is not a JSON object in DynamoDB's shape, keeping the connection (it was read whole)", async () => {
    const res = await raw(t.stack.edge.port, {
      headers: { 'x-amz-target': 'DynamoDB_20120810.PutItem', 'content-type': 'application/x-amz-json-1.0' },
      body: 'null',
    });
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body)).toEqual({
      __type: 'com.amazonaws.dynamodb.v20120810#SerializationException',
      message: 'Start of structure or map found where not expected',
    });
    expect(res.headers.connection).not.toBe('close');
  });

  it("tells scripts the stack's names at /_etl/health", async () => {
    const res = await raw(t.stack.edge.port, { method: 'GET', path: '/_etl/health' });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({
      status: 'ready',
      endpoint: t.stack.endpoint,
      bucket: 'landing-bucket',
      table: 'TransformedData',
      eventBus: t.stack.busName,
    });
  });
});
