/** AWS event shapes and local stand-ins for the AWS runtime's tests. */
import { randomUUID } from 'node:crypto';
import { CreateTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Logger } from '@aws-lambda-powertools/logger';
import type { Context, SQSEvent, SQSRecord } from 'aws-lambda';
import { RUNS_TABLE_KEY } from '../../src/adapters/dynamodb-tally-store.ts';
import type { EventEnvelope, PutEventsEntry } from '../../src/pipeline/events.ts';
import type { EventPublisher } from '../../src/stages/ports.ts';

export const ACCOUNT = '123456789012';
export const REGION = 'eu-west-1';

/** What EventBridge delivers for a PutEvents entry. */
export function envelopeOf(entry: PutEventsEntry): EventEnvelope<unknown> {
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': entry.DetailType,
    source: entry.Source,
    account: ACCOUNT,
    time: new Date().toISOString(),
    region: REGION,
    resources: [],
    detail: JSON.parse(entry.Detail) as unknown,
  };
}

export function sqsRecord(body: string, messageId: string = randomUUID()): SQSRecord {
  return {
    messageId,
    receiptHandle: `receipt-${messageId}`,
    body,
    attributes: {
      ApproximateReceiveCount: '1',
      SentTimestamp: String(Date.now()),
      SenderId: 'AIDAEXAMPLE',
      ApproximateFirstReceiveTimestamp: String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: 'not-checked',
    eventSource: 'aws:sqs',
    eventSourceARN: `arn:aws:sqs:${REGION}:${ACCOUNT}:stage-queue`,
    awsRegion: REGION,
  };
}

/** An SQS event source batch whose message bodies are these (EventBridge events or raw text). */
export function sqsEvent(bodies: (EventEnvelope<unknown> | string)[]): SQSEvent {
  return { Records: bodies.map((b) => sqsRecord(typeof b === 'string' ? b : JSON.stringify(b))) };
}

export function lambdaContext(name = 'stage'): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: name,
    functionVersion: '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${REGION}:${ACCOUNT}:function:${name}`,
    memoryLimitInMB: '512',
    awsRequestId: randomUUID(),
    logGroupName: `/aws/lambda/${name}`,
    logStreamName: 'stream',
    getRemainingTimeInMillis: () => 30_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

export function silentLogger(): Logger {
  return new Logger({ serviceName: 'test', logLevel: 'SILENT' });
}

/** Records every put; fails the calls `failWhen` picks. */
export class CapturingPublisher implements EventPublisher {
  readonly entries: PutEventsEntry[] = [];
  calls = 0;

  constructor(private readonly failWhen: (entries: PutEventsEntry[]) => boolean = () => false) {}

  async putEvents(entries: PutEventsEntry[]): Promise<void> {
    this.calls += 1;
    if (this.failWhen(entries)) throw new Error('PutEvents failed (test)');
    this.entries.push(...entries);
  }

  details<D = Record<string, unknown>>(detailType?: string): D[] {
    return this.entries
      .filter((e) => detailType === undefined || e.DetailType === detailType)
      .map((e) => JSON.parse(e.Detail) as D);
  }
}

export async function createRunsTable(client: DynamoDBClient, tableName: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: tableName,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: RUNS_TABLE_KEY.partitionKey, AttributeType: 'S' },
        { AttributeName: RUNS_TABLE_KEY.sortKey, AttributeType: 'S' },
      ],
      KeySchema: [
        { AttributeName: RUNS_TABLE_KEY.partitionKey, KeyType: 'HASH' },
        { AttributeName: RUNS_TABLE_KEY.sortKey, KeyType: 'RANGE' },
      ],
    }),
  );
}
