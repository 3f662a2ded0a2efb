/**
 * The pipeline's queues through SQS: each target's queue and dead-letter queue listed, managed (not
 * changed from outside), the DLQ's letters received and deleted as messages, redriven with a move
 * task, and `etl dlq redrive` working while `etl up` holds the state directory.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  ListMessageMoveTasksCommand,
  ListQueuesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
  UnsupportedOperation,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DeadLetterStore } from '../../src/runtime/local/dead-letters.ts';
import { etl } from '../support/cli.ts';
import { fiveAttempts } from '../support/definitions.ts';
import { eventually, SEED_SOURCE, startTestStack, type TestStack } from './support.ts';

const ARN = 'arn:aws:sqs:us-east-1:000000000000';

describe("the pipeline's queues and dead-letter queues over SQS", () => {
  let t: TestStack;
  let sqs: SQSClient;
  let base: string;
  beforeAll(async () => {
    // 5 attempts, so that a poison event is dead-lettered within the test.
    t = await startTestStack({ definition: fiveAttempts() });
    sqs = new SQSClient({
      endpoint: t.stack.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'k', secretAccessKey: 's' },
      maxAttempts: 1,
    });
    base = `http://127.0.0.1:${t.stack.edge.port}/000000000000`;
  });
  afterAll(async () => {
    sqs?.destroy();
    await t?.close();
  });

  /** Puts events the transform stage cannot take: each is retried 5 times, then dead-lettered. */
  const poison = async (count: number): Promise<string[]> => {
    const result = await t.events.send(
      new PutEventsCommand({
        Entries: Array.from({ length: count }, (_, i) => ({
          Source: SEED_SOURCE,
          DetailType: 's3RecordExtraction',
          Detail: JSON.stringify({ status: 'extracted', run: 'poison', row: i + 1 }),
        })),
      }),
    );
    expect(result.FailedEntryCount).toBe(0);
    return (result.Entries ?? []).map((e) => e.EventId as string);
  };

  const depth = async (name: string): Promise<[number, number]> => {
    const { Attributes = {} } = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: `${base}/${name}`,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    return [
      Number(Attributes.ApproximateNumberOfMessages),
      Number(Attributes.ApproximateNumberOfMessagesNotVisible),
    ];
  };

  it('lists each target queue and its DLQ, with its ARN and redrive policy', async () => {
    const { QueueUrls } = await sqs.send(new ListQueuesCommand({}));
    for (const target of ['transform', 'load', 'observe', 'quarantine']) {
      expect(QueueUrls).toContain(`${base}/${target}`);
      expect(QueueUrls).toContain(`${base}/${target}-dlq`);
    }
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: `${base}/transform`, AttributeNames: ['All'] }),
    );
    expect(Attributes).toMatchObject({
      QueueArn: `${ARN}:transform`,
      ApproximateNumberOfMessages: '0',
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: `${ARN}:transform-dlq`, maxReceiveCount: 5 }),
    });
    expect((await sqs.send(new GetQueueUrlCommand({ QueueName: 'load-dlq' }))).QueueUrl).toBe(
      `${base}/load-dlq`,
    );
    // CreateQueue of a pipeline queue's name is that queue (CreateQueue is idempotent).
    expect((await sqs.send(new CreateQueueCommand({ QueueName: 'load' }))).QueueUrl).toBe(`${base}/load`);
  });

  it('refuses to change, delete, send to or consume the pipeline queues, saying why', async () => {
    const attempts: [string, Promise<unknown>][] = [
      ['SendMessage', sqs.send(new SendMessageCommand({ QueueUrl: `${base}/transform`, MessageBody: '{}' }))],
      ['DeleteQueue', sqs.send(new DeleteQueueCommand({ QueueUrl: `${base}/transform-dlq` }))],
      [
        'SetQueueAttributes',
        sqs.send(
          new SetQueueAttributesCommand({ QueueUrl: `${base}/load`, Attributes: { VisibilityTimeout: '1' } }),
        ),
      ],
      ['ReceiveMessage', sqs.send(new ReceiveMessageCommand({ QueueUrl: `${base}/load` }))],
      ['SendMessage', sqs.send(new SendMessageCommand({ QueueUrl: `${base}/load-dlq`, MessageBody: '{}' }))],
    ];
    for (const [operation, attempt] of attempts) {
      const error = await attempt.then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(error, operation).toBeInstanceOf(UnsupportedOperation);
      expect(error?.message).toMatch(new RegExp(`^${operation} is not offered on \\S+, the pipeline's`));
    }
    expect((await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'transform' }))).QueueUrls).toEqual([
      `${base}/transform`,
      `${base}/transform-dlq`,
    ]);
  });

  it("receives a DLQ's letters as the events EventBridge would have left there, and deletes them", async () => {
    const [id] = await poison(1);
    await eventually(
      () => depth('transform-dlq'),
      ([visible]) => visible === 1,
      'the dead letter',
    );
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: `${base}/transform-dlq`,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['ApproximateReceiveCount'],
      }),
    );
    expect(Messages).toHaveLength(1);
    const [letter] = Messages;
    expect(JSON.parse(letter?.Body ?? '')).toMatchObject({
      id,
      source: SEED_SOURCE,
      'detail-type': 's3RecordExtraction',
      detail: { run: 'poison', row: 1 },
    });
    expect(letter?.MessageAttributes?.ERROR_MESSAGE?.StringValue).toMatch(/after 5 attempts/);
    expect(letter?.MessageAttributes?.RETRY_ATTEMPTS?.StringValue).toBe('5');
    expect(letter?.MessageAttributes?.RULE_ARN?.StringValue).toBe(
      'arn:aws:events:us-east-1:000000000000:rule/eventbridge-etl/transformRule',
    );
    expect(letter?.Attributes?.ApproximateReceiveCount).toBe('1');
    expect(await depth('transform-dlq')).toEqual([0, 1]);

    await sqs.send(
      new DeleteMessageCommand({ QueueUrl: `${base}/transform-dlq`, ReceiptHandle: letter?.ReceiptHandle }),
    );
    expect(await depth('transform-dlq')).toEqual([0, 0]);
    const file = join(t.stateDir, 'dlq', 'transform.ndjson');
    expect(existsSync(file) ? readFileSync(file, 'utf8') : '').toBe('');
    const listed = await etl(['dlq', '--state-dir', t.stateDir]);
    expect(listed.stdout).toContain('0 dead-lettered events');
  });

  it('redrives a DLQ into its target with StartMessageMoveTask, and reports the task', async () => {
    await poison(2);
    await eventually(
      () => depth('transform-dlq'),
      ([visible]) => visible === 2,
      'the dead letters',
    );
    const { TaskHandle } = await sqs.send(
      new StartMessageMoveTaskCommand({ SourceArn: `${ARN}:transform-dlq` }),
    );
    expect(TaskHandle).toBeTruthy();
    const wrongDestination = await sqs
      .send(
        new StartMessageMoveTaskCommand({ SourceArn: `${ARN}:load-dlq`, DestinationArn: `${ARN}:transform` }),
      )
      .catch((e: unknown) => e as Error);
    expect(wrongDestination).toMatchObject({ name: 'InvalidParameterValue' });
    const { Results = [] } = await eventually(
      () => sqs.send(new ListMessageMoveTasksCommand({ SourceArn: `${ARN}:transform-dlq` })),
      (r) => r.Results?.[0]?.Status !== 'RUNNING',
      'the move task',
      60_000,
    );
    expect(Results[0]).toMatchObject({
      Status: 'COMPLETED',
      SourceArn: `${ARN}:transform-dlq`,
      ApproximateNumberOfMessagesMoved: 2,
      ApproximateNumberOfMessagesToMove: 2,
    });
    // Still poison: delivered again, failed again, back in the DLQ.
    expect(await depth('transform-dlq')).toEqual([2, 0]);
  });

  it('etl dlq redrive, while etl up holds the state directory, redrives through the stack', async () => {
    await eventually(
      () => depth('transform-dlq'),
      ([visible]) => visible === 2,
      'the dead letters',
    );
    const text = await etl(['dlq', 'redrive', '--state-dir', t.stateDir]);
    expect(text.stderr).toBe('');
    expect(text).toMatchObject({ code: 1, stdout: 'transform: 2 redriven, 2 dead-lettered again\n' });
    const json = await etl(['dlq', 'redrive', '--json', '--state-dir', t.stateDir]);
    expect(json.code).toBe(1);
    expect(JSON.parse(json.stdout)).toEqual({ targets: { transform: { redriven: 2, deadAgain: 2 } } });
    const none = await etl(['dlq', 'redrive', '--target', 'load', '--state-dir', t.stateDir]);
    expect(none).toMatchObject({ code: 0, stdout: 'no dead-lettered events\n' });
  }, 120_000);

  it("deletes a batch of a DLQ's letters in one removal of the queue file", async () => {
    await eventually(
      () => depth('transform-dlq'),
      ([visible]) => visible === 2,
      'the dead letters',
    );
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: `${base}/transform-dlq`, MaxNumberOfMessages: 10 }),
    );
    expect(Messages).toHaveLength(2);
    const removals = vi.spyOn(DeadLetterStore.prototype, 'remove');
    try {
      const result = await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: `${base}/transform-dlq`,
          Entries: [
            ...Messages.map((m, i) => ({ Id: `m${i}`, ReceiptHandle: m.ReceiptHandle })),
            { Id: 'bad', ReceiptHandle: 'not-a-handle' },
          ],
        }),
      );
      expect(result.Successful?.map((e) => e.Id)).toEqual(['m0', 'm1']);
      expect(result.Failed?.map((e) => [e.Id, e.Code])).toEqual([['bad', 'ReceiptHandleIsInvalid']]);
      expect(removals).toHaveBeenCalledTimes(1);
      expect(removals.mock.calls[0]?.[1].size).toBe(2);
    } finally {
      removals.mockRestore();
    }
    expect(await depth('transform-dlq')).toEqual([0, 0]);
  });

  it('etl dlq redrive through the stack takes the letters a redrive cut short left behind', async () => {
    expect(await depth('transform-dlq')).toEqual([0, 0]);
    const leftover = {
      time: '2026-01-01T00:00:00.000Z',
      target: 'transform',
      event: {
        version: '0',
        id: 'left-behind',
        'detail-type': 's3RecordExtraction',
        source: SEED_SOURCE,
        account: '000000000000',
        time: '2026-01-01T00:00:00Z',
        region: 'us-east-1',
        resources: [],
        detail: { status: 'extracted', run: 'poison', row: 9 },
      },
      attempts: 5,
      reason: 'Error: boom (after 5 attempts)',
    };
    writeFileSync(join(t.stateDir, 'dlq', 'transform.1000.redriving'), `${JSON.stringify(leftover)}\n`);
    const text = await etl(['dlq', 'redrive', '--state-dir', t.stateDir]);
    expect(text.stderr).toBe('');
    expect(text).toMatchObject({ code: 1, stdout: 'transform: 1 redriven, 1 dead-lettered again\n' });
    expect(existsSync(join(t.stateDir, 'dlq', 'transform.1000.redriving'))).toBe(false);
  }, 120_000);
});
