/** The extract trigger Lambda: S3 notifications in SQS messages -> RunTask (a fake ECS) -> ecs-started. */
import type { RunTaskCommandInput, RunTaskCommandOutput } from '@aws-sdk/client-ecs';
import { describe, expect, it } from 'vitest';
import { definePipeline, DetailType } from '../../src/pipeline/definition.ts';
import { createExtractTriggerHandler, type TaskPlacement } from '../../src/runtime/aws/extract-trigger.ts';
import { runIdForObject } from '../../src/pipeline/run-id.ts';
import { CapturingPublisher, lambdaContext, REGION, silentLogger, sqsRecord } from './fixtures.ts';

const definition = definePipeline();
const placement: TaskPlacement = {
  cluster: 'arn:aws:ecs:eu-west-1:123456789012:cluster/etl',
  taskDefinition: 'arn:aws:ecs:eu-west-1:123456789012:task-definition/extract:3',
  containerName: 'extract',
  subnets: ['subnet-a', 'subnet-b'],
  securityGroups: ['sg-task'],
};

/** An S3 event notification as S3 sends it to SQS (keys URL-encoded, `+` for spaces). */
function s3Notification(
  objects: { bucket: string; key: string; eTag: string; versionId?: string }[],
): string {
  return JSON.stringify({
    Records: objects.map(({ bucket, key, eTag, versionId }) => ({
      eventVersion: '2.1',
      eventSource: 'aws:s3',
      awsRegion: REGION,
      eventTime: new Date().toISOString(),
      eventName: 'ObjectCreated:Put',
      userIdentity: { principalId: 'AWS:EXAMPLE' },
      requestParameters: { sourceIPAddress: '127.0.0.1' },
      responseElements: { 'x-amz-request-id': 'R', 'x-amz-id-2': 'I' },
      s3: {
        s3SchemaVersion: '1.0',
        configurationId: 'notification',
        bucket: { name: bucket, ownerIdentity: { principalId: 'OWNER' }, arn: `arn:aws:s3:::${bucket}` },
        object: {
          key,
          size: 182,
          eTag,
          ...(versionId ? { versionId } : {}),
          sequencer: '0062E99A88DC407460',
        },
      },
    })),
  });
}

const TEST_EVENT = JSON.stringify({
  Service: 'Amazon S3',
  Event: 's3:TestEvent',
  Time: '2024-01-01T00:00:00.000Z',
  Bucket: 'landing',
  RequestId: 'R',
  HostId: 'H',
});

class FakeEcs {
  readonly inputs: RunTaskCommandInput[] = [];

  constructor(private readonly failFor: (input: RunTaskCommandInput) => boolean = () => false) {}

  runTask = async (input: RunTaskCommandInput): Promise<RunTaskCommandOutput> => {
    this.inputs.push(input);
    if (this.failFor(input)) {
      return {
        $metadata: {},
        tasks: [],
        failures: [{ arn: placement.cluster, reason: 'RESOURCE:ENI', detail: 'no capacity' }],
      };
    }
    return {
      $metadata: {},
      tasks: [
        {
          taskArn: `arn:aws:ecs:eu-west-1:123456789012:task/etl/${this.inputs.length}`,
          lastStatus: 'PROVISIONING',
        },
      ],
      failures: [],
    };
  };
}

describe('extract trigger handler', () => {
  it('runs the extract task with the object in its container environment, then puts ecs-started', async () => {
    const ecs = new FakeEcs();
    const publisher = new CapturingPublisher();
    const handler = createExtractTriggerHandler({
      definition,
      runTask: ecs.runTask,
      publisher,
      placement,
      logger: silentLogger(),
    });
    const record = sqsRecord(
      s3Notification([{ bucket: 'landing', key: 'in+2024/test+data%2C+v1.csv', eTag: 'abc123' }]),
    );
    const response = await handler({ Records: [record] }, lambdaContext('extract-trigger'));
    expect(response.batchItemFailures).toEqual([]);
    const run = runIdForObject('landing', 'in 2024/test data, v1.csv', 'abc123');
    expect(ecs.inputs).toEqual([
      {
        cluster: placement.cluster,
        taskDefinition: placement.taskDefinition,
        launchType: 'FARGATE',
        count: 1,
        networkConfiguration: {
          awsvpcConfiguration: {
            subnets: ['subnet-a', 'subnet-b'],
            securityGroups: ['sg-task'],
            assignPublicIp: 'DISABLED',
          },
        },
        overrides: {
          containerOverrides: [
            {
              name: 'extract',
              environment: [
                { name: 'S3_BUCKET_NAME', value: 'landing' },
                { name: 'S3_OBJECT_KEY', value: 'in 2024/test data, v1.csv' },
                { name: 'S3_OBJECT_ETAG', value: 'abc123' },
              ],
            },
          ],
        },
        clientToken: `${record.messageId}:0`,
        startedBy: run,
      },
    ]);
    expect(publisher.entries.map((e) => [e.Source, e.DetailType])).toEqual([
      [definition.source, DetailType.taskStarted],
    ]);
    expect(publisher.details()[0]).toMatchObject({
      status: 'success',
      run,
      file: 's3://landing/in 2024/test data, v1.csv',
      data: { tasks: [{ taskArn: 'arn:aws:ecs:eu-west-1:123456789012:task/etl/1' }], failures: [] },
    });
  });

  it('in a versioned bucket, runs the announced version, and the same content uploaded again is a new run', async () => {
    const ecs = new FakeEcs();
    const handler = createExtractTriggerHandler({
      definition,
      runTask: ecs.runTask,
      publisher: new CapturingPublisher(),
      placement,
      logger: silentLogger(),
    });
    const upload = (versionId: string) =>
      sqsRecord(s3Notification([{ bucket: 'landing', key: 'same.csv', eTag: 'abc123', versionId }]));
    const first = upload('v1');
    await handler({ Records: [first, upload('v2'), first] }, lambdaContext('extract-trigger'));
    const runs = ecs.inputs.map((input) => input.startedBy);
    expect(runs).toEqual([
      runIdForObject('landing', 'same.csv', 'abc123', 'v1'),
      runIdForObject('landing', 'same.csv', 'abc123', 'v2'),
      runIdForObject('landing', 'same.csv', 'abc123', 'v1'),
    ]);
    expect(runs[0]).not.toBe(runs[1]);
    expect(ecs.inputs[1]?.overrides?.containerOverrides?.[0]?.environment).toContainEqual({
      name: 'S3_OBJECT_VERSION_ID',
      value: 'v2',
    });
  });

  it('skips the s3:TestEvent S3 sends when the notification is configured', async () => {
    const ecs = new FakeEcs();
    const publisher = new CapturingPublisher();
    const handler = createExtractTriggerHandler({
      definition,
      runTask: ecs.runTask,
      publisher,
      placement,
      logger: silentLogger(),
    });
    const response = await handler({ Records: [sqsRecord(TEST_EVENT)] });
    expect(response.batchItemFailures).toEqual([]);
    expect(ecs.inputs).toEqual([]);
    expect(publisher.entries).toEqual([]);
  });

  it('reports exactly the messages whose task could not be started or whose body is not a notification', async () => {
    const ecs = new FakeEcs(
      (input) => input.overrides?.containerOverrides?.[0]?.environment?.[1]?.value === 'b.csv',
    );
    const publisher = new CapturingPublisher();
    const handler = createExtractTriggerHandler({
      definition,
      runTask: ecs.runTask,
      publisher,
      placement,
      logger: silentLogger(),
    });
    const records = [
      sqsRecord(s3Notification([{ bucket: 'landing', key: 'a.csv', eTag: 'e1' }])),
      sqsRecord(s3Notification([{ bucket: 'landing', key: 'b.csv', eTag: 'e2' }])),
      sqsRecord('{"not": "a notification"'),
      sqsRecord(s3Notification([{ bucket: 'landing', key: 'c.csv', eTag: 'e3' }])),
    ];
    const response = await handler({ Records: records });
    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(
      [records[1]?.messageId, records[2]?.messageId].sort(),
    );
    expect(publisher.details().map((d) => d.file)).toEqual(['s3://landing/a.csv', 's3://landing/c.csv']);
  });

  it('reports the message when ecs-started cannot be put, and its retry reuses the RunTask client token', async () => {
    const ecs = new FakeEcs();
    let fail = true;
    const publisher = new CapturingPublisher(() => fail);
    const handler = createExtractTriggerHandler({
      definition,
      runTask: ecs.runTask,
      publisher,
      placement,
      logger: silentLogger(),
    });
    const record = sqsRecord(s3Notification([{ bucket: 'landing', key: 'a.csv', eTag: 'e1' }]));
    expect((await handler({ Records: [record] })).batchItemFailures).toEqual([
      { itemIdentifier: record.messageId },
    ]);
    fail = false;
    expect((await handler({ Records: [record] })).batchItemFailures).toEqual([]);
    expect(ecs.inputs.map((i) => i.clientToken)).toEqual([`${record.messageId}:0`, `${record.messageId}:0`]);
  });
});
