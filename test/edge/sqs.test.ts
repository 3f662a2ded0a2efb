/**
 * The SQS API of `etl up`, driven with @aws-sdk/client-sqs over HTTP (JSON protocol): the user's
 * queues with SQS's semantics and errors, and their survival across a restart.
 */
import { createHash } from 'node:crypto';
import {
  ChangeMessageVisibilityBatchCommand,
  ChangeMessageVisibilityCommand,
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteMessageCommand,
  DeleteQueueCommand,
  EmptyBatchRequest,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  InvalidAttributeName,
  ListDeadLetterSourceQueuesCommand,
  CancelMessageMoveTaskCommand,
  ListMessageMoveTasksCommand,
  ListQueuesCommand,
  ListQueueTagsCommand,
  MessageNotInflight,
  PurgeQueueCommand,
  PurgeQueueInProgress,
  QueueDoesNotExist,
  QueueNameExists,
  ReceiptHandleIsInvalid,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
  SQSClient,
  SQSServiceException,
  StartMessageMoveTaskCommand,
  TagQueueCommand,
  BatchEntryIdsNotDistinct,
  BatchRequestTooLong,
  TooManyEntriesInBatchRequest,
} from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestStack, type TestStack } from './support.ts';

const credentials = { accessKeyId: 'test-key', secretAccessKey: 'test-secret' };

function sqsClient(endpoint: string): SQSClient {
  return new SQSClient({ endpoint, region: 'us-east-1', credentials, maxAttempts: 1 });
}

async function failure(promise: Promise<unknown>): Promise<SQSServiceException> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(error instanceof SQSServiceException)) throw new Error(`expected an SQS error, got ${String(error)}`);
  return error;
}

describe('the SQS API of the local stack', () => {
  let t: TestStack;
  let sqs: SQSClient;
  beforeAll(async () => {
    t = await startTestStack();
    sqs = sqsClient(t.stack.endpoint);
  });
  afterAll(async () => {
    sqs?.destroy();
    await t?.close();
  });

  const create = async (name: string, attributes?: Record<string, string>): Promise<string> =>
    (await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }))).QueueUrl as string;

  it('creates queues with URLs of the host asked, finds, lists (prefix, pages) and deletes them', async () => {
    const url = await create('orders');
    expect(url).toBe(`http://127.0.0.1:${t.stack.edge.port}/000000000000/orders`);
    // CreateQueue again with the same attributes is the same queue; with others, QueueNameExists.
    expect(await create('orders')).toBe(url);
    const exists = await failure(create('orders', { VisibilityTimeout: '5' }));
    expect(exists).toBeInstanceOf(QueueNameExists);
    for (const name of ['orders-a', 'orders-b', 'orders-c']) await create(name);
    expect((await sqs.send(new GetQueueUrlCommand({ QueueName: 'orders-b' }))).QueueUrl).toBe(`${url}-b`);

    const prefixed = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'orders' }));
    expect(prefixed.QueueUrls).toEqual([url, `${url}-a`, `${url}-b`, `${url}-c`]);
    const first = await sqs.send(new ListQueuesCommand({ QueueNamePrefix: 'orders-', MaxResults: 2 }));
    expect(first.QueueUrls).toEqual([`${url}-a`, `${url}-b`]);
    const second = await sqs.send(
      new ListQueuesCommand({ QueueNamePrefix: 'orders-', MaxResults: 2, NextToken: first.NextToken }),
    );
    expect(second).toMatchObject({ QueueUrls: [`${url}-c`] });
    expect(second.NextToken).toBeUndefined();

    await sqs.send(new DeleteQueueCommand({ QueueUrl: `${url}-c` }));
    const gone = await failure(sqs.send(new GetQueueUrlCommand({ QueueName: 'orders-c' })));
    expect(gone).toBeInstanceOf(QueueDoesNotExist);
    expect(gone.message).toBe('The specified queue does not exist.');
    expect((gone as unknown as { Code: string }).Code).toBe('AWS.SimpleQueueService.NonExistentQueue');
    const send = await failure(sqs.send(new SendMessageCommand({ QueueUrl: `${url}-c`, MessageBody: 'x' })));
    expect(send).toBeInstanceOf(QueueDoesNotExist);
  });

  it("takes back queue URLs of any host (LocalStack's sqs.REGION.localhost.localstack.cloud too), by their path", async () => {
    const url = await create('any-host');
    const localstack = 'http://sqs.us-east-1.localhost.localstack.cloud:4566/000000000000/any-host';
    await sqs.send(new SendMessageCommand({ QueueUrl: localstack, MessageBody: 'via localstack url' }));
    expect((await sqs.send(new ReceiveMessageCommand({ QueueUrl: url }))).Messages?.[0]?.Body).toBe(
      'via localstack url',
    );
    const otherAccount = await failure(
      sqs.send(
        new SendMessageCommand({ QueueUrl: 'http://localhost:4566/111111111111/any-host', MessageBody: 'x' }),
      ),
    );
    expect(otherAccount).toBeInstanceOf(QueueDoesNotExist);
  });

  it('refuses FIFO queues and bad names and attributes with InvalidParameterValue', async () => {
    const fifo = await failure(create('jobs.fifo', { FifoQueue: 'true' }));
    expect(fifo.name).toBe('InvalidParameterValue');
    expect(fifo.message).toMatch(/FIFO queues \(jobs\.fifo\) are not offered by this local stack/);
    expect((await failure(create('bad name'))).name).toBe('InvalidParameterValue');
    const range = await failure(create('ranged', { VisibilityTimeout: '50000' }));
    expect(range.name).toBe('InvalidParameterValue');
    expect(range.message).toMatch(/VisibilityTimeout/);
    expect(await failure(create('unknown-attr', { Colour: 'red' }))).toBeInstanceOf(InvalidAttributeName);
    const noTarget = await failure(
      create('redriven', {
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: 'arn:aws:sqs:us-east-1:000000000000:nowhere',
          maxReceiveCount: 3,
        }),
      }),
    );
    expect(noTarget.name).toBe('InvalidParameterValue');
    expect(noTarget.message).toMatch(/Dead letter target does not exist/);
  });

  it('reports and changes attributes: the defaults, counts, ARN and timestamps', async () => {
    const url = await create('attributes');
    const before = Math.floor(Date.now() / 1000);
    await sqs.send(new SetQueueAttributesCommand({ QueueUrl: url, Attributes: { VisibilityTimeout: '45' } }));
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }),
    );
    expect(Attributes).toMatchObject({
      QueueArn: 'arn:aws:sqs:us-east-1:000000000000:attributes',
      ApproximateNumberOfMessages: '0',
      ApproximateNumberOfMessagesNotVisible: '0',
      ApproximateNumberOfMessagesDelayed: '0',
      VisibilityTimeout: '45',
      MessageRetentionPeriod: '345600',
      DelaySeconds: '0',
      MaximumMessageSize: '262144',
      ReceiveMessageWaitTimeSeconds: '0',
    });
    expect(Number(Attributes?.CreatedTimestamp)).toBeLessThanOrEqual(before + 1);
    const named = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['QueueArn', 'VisibilityTimeout'] }),
    );
    expect(named.Attributes).toEqual({
      QueueArn: 'arn:aws:sqs:us-east-1:000000000000:attributes',
      VisibilityTimeout: '45',
    });
    await sqs.send(new TagQueueCommand({ QueueUrl: url, Tags: { team: 'etl' } }));
    expect((await sqs.send(new ListQueueTagsCommand({ QueueUrl: url }))).Tags).toEqual({ team: 'etl' });
  });

  it('sends and receives with MD5s, system and message attributes; delete removes', async () => {
    const url = await create('messages');
    const attributes = {
      kind: { DataType: 'String', StringValue: 'order' },
      weight: { DataType: 'Number', StringValue: '12.5' },
      blob: { DataType: 'Binary', BinaryValue: Buffer.from([1, 2, 3]) },
    };
    const sent = await sqs.send(
      new SendMessageCommand({ QueueUrl: url, MessageBody: 'héllo', MessageAttributes: attributes }),
    );
    expect(sent.MD5OfMessageBody).toBe(createHash('md5').update('héllo').digest('hex'));
    expect(sent.MD5OfMessageAttributes).toMatch(/^[0-9a-f]{32}$/);
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: url,
        MessageSystemAttributeNames: ['All'],
        MessageAttributeNames: ['All'],
      }),
    );
    expect(Messages).toHaveLength(1);
    const [message] = Messages;
    expect(message).toMatchObject({
      MessageId: sent.MessageId,
      Body: 'héllo',
      MD5OfBody: sent.MD5OfMessageBody,
      MD5OfMessageAttributes: sent.MD5OfMessageAttributes,
      Attributes: { ApproximateReceiveCount: '1', SenderId: '000000000000' },
    });
    expect(message?.MessageAttributes?.kind).toEqual({ DataType: 'String', StringValue: 'order' });
    expect(Buffer.from(message?.MessageAttributes?.blob?.BinaryValue ?? []).toJSON().data).toEqual([1, 2, 3]);
    expect(Number(message?.Attributes?.SentTimestamp)).toBeGreaterThan(0);

    // In flight: invisible until deleted.
    const counts = await sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
      }),
    );
    expect(counts.Attributes).toEqual({
      ApproximateNumberOfMessages: '0',
      ApproximateNumberOfMessagesNotVisible: '1',
    });
    expect((await sqs.send(new ReceiveMessageCommand({ QueueUrl: url }))).Messages).toBeUndefined();
    await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: message?.ReceiptHandle }));
    const after = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }));
    expect(after.Attributes?.ApproximateNumberOfMessagesNotVisible).toBe('0');
    expect(after.Attributes?.ApproximateNumberOfMessages).toBe('0');
  });

  it('redelivers what is not deleted once its visibility times out, with a new receipt handle each time', async () => {
    const url = await create('redelivery');
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'again' }));
    const receive = async () =>
      (
        await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: url,
            VisibilityTimeout: 0,
            MessageSystemAttributeNames: ['All'],
          }),
        )
      ).Messages?.[0];
    const first = await receive();
    const second = await receive();
    expect(second?.MessageId).toBe(first?.MessageId);
    expect(second?.ReceiptHandle).not.toBe(first?.ReceiptHandle);
    expect(second?.Attributes?.ApproximateReceiveCount).toBe('2');
    expect(second?.Attributes?.ApproximateFirstReceiveTimestamp).toBe(
      first?.Attributes?.ApproximateFirstReceiveTimestamp,
    );

    // Hidden for a long time, then made visible again with ChangeMessageVisibility.
    const third = (await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, VisibilityTimeout: 600 })))
      .Messages?.[0];
    expect((await sqs.send(new ReceiveMessageCommand({ QueueUrl: url }))).Messages).toBeUndefined();
    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: url,
        ReceiptHandle: third?.ReceiptHandle,
        VisibilityTimeout: 0,
      }),
    );
    // An earlier receive's handle deletes nothing (as in SQS), nor can it change the visibility.
    await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: first?.ReceiptHandle }));
    const stale = await failure(
      sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: url,
          ReceiptHandle: first?.ReceiptHandle,
          VisibilityTimeout: 5,
        }),
      ),
    );
    expect(stale.name).toBe('InvalidParameterValue');
    expect(stale.message).toMatch(/The receipt handle has expired/);
    const fourth = (await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, VisibilityTimeout: 600 })))
      .Messages?.[0];
    expect(fourth?.MessageId).toBe(first?.MessageId);
    // Visible again (not in flight): MessageNotInflight.
    await sqs.send(
      new ChangeMessageVisibilityCommand({
        QueueUrl: url,
        ReceiptHandle: fourth?.ReceiptHandle,
        VisibilityTimeout: 0,
      }),
    );
    const notInFlight = await failure(
      sqs.send(
        new ChangeMessageVisibilityCommand({
          QueueUrl: url,
          ReceiptHandle: fourth?.ReceiptHandle,
          VisibilityTimeout: 0,
        }),
      ),
    );
    expect(notInFlight).toBeInstanceOf(MessageNotInflight);
    const invalid = await failure(
      sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: 'not-a-handle' })),
    );
    expect(invalid).toBeInstanceOf(ReceiptHandleIsInvalid);
    expect(invalid.$metadata.httpStatusCode).toBe(404);
  });

  it('holds delayed messages back and counts them as delayed', async () => {
    const url = await create('delayed');
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'later', DelaySeconds: 900 }));
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'now' }));
    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10 }),
    );
    expect(Messages.map((m) => m.Body)).toEqual(['now']);
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }),
    );
    expect(Attributes).toMatchObject({
      ApproximateNumberOfMessages: '0',
      ApproximateNumberOfMessagesNotVisible: '1',
      ApproximateNumberOfMessagesDelayed: '1',
    });
    const bad = await failure(
      sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'x', DelaySeconds: 901 })),
    );
    expect(bad.name).toBe('InvalidParameterValue');
  });

  it('long polling waits for a message and wakes when one is sent', async () => {
    const url = await create('long-poll');
    const poll = sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 20 }));
    // Sent after the poll is waiting: the poll answers with it.
    await new Promise((resolve) => setTimeout(resolve, 200));
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'wake up' }));
    expect((await poll).Messages?.map((m) => m.Body)).toEqual(['wake up']);
    const tooLong = await failure(
      sqs.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 21 })),
    );
    expect(tooLong.name).toBe('InvalidParameterValue');
    const tooMany = await failure(
      sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 11 })),
    );
    expect(tooMany.name).toBe('InvalidParameterValue');
  });

  it('batches: per-entry failures, and the batch errors SQS raises', async () => {
    const url = await create('batches');
    const result = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: url,
        Entries: [
          { Id: 'a', MessageBody: 'one' },
          { Id: 'b', MessageBody: 'bad \u0000 character' },
          { Id: 'c', MessageBody: 'three' },
        ],
      }),
    );
    expect(result.Successful?.map((s) => s.Id)).toEqual(['a', 'c']);
    expect(result.Failed).toEqual([
      expect.objectContaining({ Id: 'b', SenderFault: true, Code: 'InvalidMessageContents' }),
    ]);
    expect(
      await failure(sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: [] }))),
    ).toBeInstanceOf(EmptyBatchRequest);
    expect(
      await failure(
        sqs.send(
          new SendMessageBatchCommand({
            QueueUrl: url,
            Entries: [
              { Id: 'x', MessageBody: '1' },
              { Id: 'x', MessageBody: '2' },
            ],
          }),
        ),
      ),
    ).toBeInstanceOf(BatchEntryIdsNotDistinct);
    const eleven = Array.from({ length: 11 }, (_, i) => ({ Id: `m${i}`, MessageBody: 'x' }));
    expect(
      await failure(sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: eleven }))),
    ).toBeInstanceOf(TooManyEntriesInBatchRequest);
    // Attributes count toward a batch's 1 MiB: bodies of 1,000,000 bytes, 300,000 more in attributes.
    const heavy = Array.from({ length: 5 }, (_, i) => ({
      Id: `h${i}`,
      MessageBody: 'b'.repeat(200_000),
      MessageAttributes: { pad: { DataType: 'String', StringValue: 'a'.repeat(60_000) } },
    }));
    expect(
      await failure(sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: heavy }))),
    ).toBeInstanceOf(BatchRequestTooLong);

    const { Messages = [] } = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10 }),
    );
    expect(Messages.map((m) => m.Body).sort()).toEqual(['one', 'three']);
    const hidden = await sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: url,
        Entries: Messages.map((m, i) => ({
          Id: `v${i}`,
          ReceiptHandle: m.ReceiptHandle,
          VisibilityTimeout: 300,
        })),
      }),
    );
    expect(hidden.Successful).toHaveLength(2);
    const deleted = await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: url,
        Entries: [
          ...Messages.map((m, i) => ({ Id: `d${i}`, ReceiptHandle: m.ReceiptHandle })),
          { Id: 'bad', ReceiptHandle: 'garbage' },
        ],
      }),
    );
    expect(deleted.Successful?.map((s) => s.Id)).toEqual(['d0', 'd1']);
    expect(deleted.Failed).toEqual([expect.objectContaining({ Id: 'bad', Code: 'ReceiptHandleIsInvalid' })]);
    const { Attributes } = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }),
    );
    expect([
      Attributes?.ApproximateNumberOfMessages,
      Attributes?.ApproximateNumberOfMessagesNotVisible,
    ]).toEqual(['0', '0']);
  });

  it('purges, once a minute', async () => {
    const url = await create('purged');
    for (let i = 0; i < 3; i++)
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: `m${i}` }));
    await sqs.send(new PurgeQueueCommand({ QueueUrl: url }));
    expect((await sqs.send(new ReceiveMessageCommand({ QueueUrl: url }))).Messages).toBeUndefined();
    expect(await failure(sqs.send(new PurgeQueueCommand({ QueueUrl: url })))).toBeInstanceOf(
      PurgeQueueInProgress,
    );
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'after' }));
    expect((await sqs.send(new ReceiveMessageCommand({ QueueUrl: url }))).Messages?.[0]?.Body).toBe('after');
  });

  it("moves messages received too often to the redrive policy's DLQ, and moves them back with a move task", async () => {
    const dlqUrl = await create('work-dlq');
    const dlqArn = 'arn:aws:sqs:us-east-1:000000000000:work-dlq';
    const url = await create('work', {
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 2 }),
    });
    await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: 'poison' }));
    for (let i = 0; i < 2; i++) {
      const got = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, VisibilityTimeout: 0 }));
      expect(got.Messages?.[0]?.Body).toBe('poison');
    }
    // The third receive finds it received twice: it goes to the DLQ instead.
    expect((await sqs.send(new ReceiveMessageCommand({ QueueUrl: url }))).Messages).toBeUndefined();
    const moved = await sqs.send(new ReceiveMessageCommand({ QueueUrl: dlqUrl, VisibilityTimeout: 0 }));
    expect(moved.Messages?.[0]?.Body).toBe('poison');
    expect((await sqs.send(new ListDeadLetterSourceQueuesCommand({ QueueUrl: dlqUrl }))).queueUrls).toEqual([
      url,
    ]);

    const notDlq = await failure(
      sqs.send(new StartMessageMoveTaskCommand({ SourceArn: 'arn:aws:sqs:us-east-1:000000000000:work' })),
    );
    expect(notDlq.name).toBe('InvalidParameterValue');
    await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: dlqArn }));
    const [task] =
      (
        await eventually(
          () => sqs.send(new ListMessageMoveTasksCommand({ SourceArn: dlqArn })),
          (r) => r.Results?.[0]?.Status === 'COMPLETED',
          'the move task',
        )
      ).Results ?? [];
    expect(task).toMatchObject({
      ApproximateNumberOfMessagesMoved: 1,
      ApproximateNumberOfMessagesToMove: 1,
      SourceArn: dlqArn,
    });
    expect((await sqs.send(new ReceiveMessageCommand({ QueueUrl: url }))).Messages?.[0]?.Body).toBe('poison');
  });

  it('moves a queue that is its own dead-letter queue once round, and refuses a move onto itself', async () => {
    const arn = 'arn:aws:sqs:us-east-1:000000000000:ouroboros';
    const url = await create('ouroboros', { VisibilityTimeout: '0' });
    await sqs.send(
      new SetQueueAttributesCommand({
        QueueUrl: url,
        Attributes: { RedrivePolicy: JSON.stringify({ deadLetterTargetArn: arn, maxReceiveCount: 1 }) },
      }),
    );
    for (const body of ['a', 'b', 'c'])
      await sqs.send(new SendMessageCommand({ QueueUrl: url, MessageBody: body }));
    // Received once each, then found received too often: each goes to its DLQ, the same queue.
    await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10 }));
    await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10 }));

    const same = await failure(
      sqs.send(new StartMessageMoveTaskCommand({ SourceArn: arn, DestinationArn: arn })),
    );
    expect(same.name).toBe('InvalidParameterValue');
    // Back to their origin, itself: the three there at the start move, once.
    await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: arn }));
    const [task] =
      (
        await eventually(
          () => sqs.send(new ListMessageMoveTasksCommand({ SourceArn: arn })),
          (r) => r.Results?.[0]?.Status === 'COMPLETED',
          'the move task',
        )
      ).Results ?? [];
    expect(task).toMatchObject({ ApproximateNumberOfMessagesMoved: 3, ApproximateNumberOfMessagesToMove: 3 });
    const left = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }));
    expect(left.Attributes?.ApproximateNumberOfMessages).toBe('3');
  });

  it('hears a cancel between the batches of a move task, and keeps its rate', async () => {
    const dlqArn = 'arn:aws:sqs:us-east-1:000000000000:slow-dlq';
    const dlqUrl = await create('slow-dlq');
    const url = await create('slow', {
      RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlqArn, maxReceiveCount: 5 }),
    });
    for (let i = 0; i < 20; i++)
      await sqs.send(new SendMessageCommand({ QueueUrl: dlqUrl, MessageBody: `m${i}` }));
    const { TaskHandle } = await sqs.send(
      new StartMessageMoveTaskCommand({
        SourceArn: dlqArn,
        DestinationArn: 'arn:aws:sqs:us-east-1:000000000000:slow',
        MaxNumberOfMessagesPerSecond: 1,
      }),
    );
    const cancelled = await sqs.send(new CancelMessageMoveTaskCommand({ TaskHandle }));
    // One a second: cancelled long before the last of the twenty could move, however busy the machine.
    expect(cancelled.ApproximateNumberOfMessagesMoved).toBeLessThan(20);
    const [task] = (await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: dlqArn }))).Results ?? [];
    expect(task?.Status).toBe('CANCELLED');
    const count = async (queueUrl: string): Promise<number> =>
      Number(
        (await sqs.send(new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ['All'] })))
          .Attributes?.ApproximateNumberOfMessages,
      );
    expect((await count(url)) + (await count(dlqUrl))).toBe(20);
    expect(await count(dlqUrl)).toBeGreaterThan(0);
  });
});

describe('the queues across a restart', () => {
  it('keeps queues, messages, in-flight receipts and receive counts; no message twice, none lost', async () => {
    const first = await startTestStack();
    const stateDir = first.stateDir;
    let sqs = sqsClient(first.stack.endpoint);
    // More messages than the store's window, so that some are only on disk across the restart.
    const total = 2_500;
    const url = (
      await sqs.send(
        new CreateQueueCommand({ QueueName: 'durable', Attributes: { VisibilityTimeout: '600' } }),
      )
    ).QueueUrl as string;
    for (let i = 0; i < total; i += 10) {
      await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: url,
          Entries: Array.from({ length: 10 }, (_, j) => ({ Id: `m${j}`, MessageBody: `message ${i + j}` })),
        }),
      );
    }
    const received = new Set<string>();
    const deleted: string[] = [];
    let inFlight: { ReceiptHandle?: string; Body?: string } | undefined;
    for (let i = 0; i < 30; i++) {
      const { Messages = [] } = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10 }),
      );
      for (const m of Messages) {
        received.add(m.Body as string);
        if (!inFlight) {
          inFlight = m;
          continue;
        }
        await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
        deleted.push(m.Body as string);
      }
    }
    // Received and never deleted: hidden for 10 minutes, across the restart.
    const hidden = received.size - deleted.length;
    sqs.destroy();
    await first.close();

    const second = await startTestStack({ stateDir });
    sqs = sqsClient(second.stack.endpoint);
    try {
      const { Attributes } = await sqs.send(
        new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }),
      );
      expect(Attributes).toMatchObject({
        VisibilityTimeout: '600',
        ApproximateNumberOfMessages: String(total - received.size),
        ApproximateNumberOfMessagesNotVisible: String(hidden),
      });
      // The receipt handle from before the restart still deletes its message.
      await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: inFlight?.ReceiptHandle }));
      const rest: string[] = [];
      for (;;) {
        const { Messages = [] } = await sqs.send(
          new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10 }),
        );
        if (Messages.length === 0) break;
        for (const m of Messages) {
          rest.push(m.Body as string);
          await sqs.send(new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: m.ReceiptHandle }));
        }
      }
      expect(rest).toHaveLength(total - received.size);
      expect(new Set([...rest, ...received]).size).toBe(total);
      const after = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ['All'] }));
      expect(after.Attributes?.ApproximateNumberOfMessages).toBe('0');
      expect(after.Attributes?.ApproximateNumberOfMessagesNotVisible).toBe(String(hidden - 1));
    } finally {
      sqs.destroy();
      await second.close();
    }
  }, 120_000);
});
