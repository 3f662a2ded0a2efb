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

export const CLUSTER_ARN = `arn:aws:ecs:${REGION}:${ACCOUNT}:cluster/TheEventBridgeETL-Cluster`;

/**
 * ECS's "Task State Change" event for an extract task that stopped (the shape of AWS's documented
 * sample): `exitCode` undefined means the container never exited (it never started).
 */
export function taskStoppedEvent(options: {
  run: string;
  exitCode?: number;
  stopCode?: string;
  stoppedReason?: string;
  containerReason?: string;
  clusterArn?: string;
  object?: { bucket: string; key: string; etag: string };
}): EventEnvelope<unknown> {
  const clusterArn = options.clusterArn ?? CLUSTER_ARN;
  const taskArn = `arn:aws:ecs:${REGION}:${ACCOUNT}:task/TheEventBridgeETL-Cluster/${randomUUID().replace(/-/g, '')}`;
  const object = options.object ?? { bucket: 'landing', key: 'uploads/test_data.csv', etag: 'abc123' };
  const now = new Date().toISOString();
  return {
    version: '0',
    id: randomUUID(),
    'detail-type': 'ECS Task State Change',
    source: 'aws.ecs',
    account: ACCOUNT,
    time: now,
    region: REGION,
    resources: [taskArn],
    detail: {
      attachments: [{ id: randomUUID(), type: 'eni', status: 'DELETED', details: [] }],
      availabilityZone: `${REGION}a`,
      clusterArn,
      containers: [
        {
          containerArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:container/${randomUUID()}`,
          lastStatus: 'STOPPED',
          name: 'extract',
          image: `${ACCOUNT}.dkr.ecr.${REGION}.amazonaws.com/cdk-assets:extract`,
          taskArn,
          ...(options.exitCode === undefined ? {} : { exitCode: options.exitCode }),
          ...(options.containerReason ? { reason: options.containerReason } : {}),
          networkInterfaces: [],
          cpu: '0',
        },
      ],
      cpu: '512',
      createdAt: now,
      desiredStatus: 'STOPPED',
      group: 'family:TheEventBridgeETLExtractTask',
      launchType: 'FARGATE',
      lastStatus: 'STOPPED',
      memory: '1024',
      overrides: {
        containerOverrides: [
          {
            name: 'extract',
            environment: [
              { name: 'S3_BUCKET_NAME', value: object.bucket },
              { name: 'S3_OBJECT_KEY', value: object.key },
              { name: 'S3_OBJECT_ETAG', value: object.etag },
            ],
          },
        ],
      },
      platformVersion: '1.4.0',
      startedBy: options.run,
      stopCode: options.stopCode ?? 'EssentialContainerExited',
      stoppedAt: now,
      stoppedReason: options.stoppedReason ?? 'Essential container in task exited',
      taskArn,
      taskDefinitionArn: `arn:aws:ecs:${REGION}:${ACCOUNT}:task-definition/TheEventBridgeETLExtractTask:1`,
      updatedAt: now,
      version: 5,
    },
  };
}
