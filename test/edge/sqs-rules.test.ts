/**
 * Your own rules delivering to your own queues, end to end through `etl up`'s edge: a queue made
 * with CreateQueue, a rule with an input transformer targeting it, PutEvents, ReceiveMessage; and a
 * target's dead letters in a queue of yours, with EventBridge's attributes. Also the issue's AWS CLI
 * session, shortened: the rule's matching events read back with `aws sqs receive-message`.
 */
import { PutEventsCommand, PutRuleCommand, PutTargetsCommand } from '@aws-sdk/client-eventbridge';
import { CreateQueueCommand, ReceiveMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startTestStack, type TestStack } from './support.ts';

const ARN = 'arn:aws:sqs:us-east-1:000000000000';

describe('your own rules delivering to your own queues', () => {
  let t: TestStack;
  let sqs: SQSClient;
  beforeAll(async () => {
    t = await startTestStack();
    sqs = new SQSClient({
      endpoint: t.stack.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'k', secretAccessKey: 's' },
      maxAttempts: 1,
    });
  });
  afterAll(async () => {
    sqs?.destroy();
    await t?.close();
  });

  const receiveAll = async (url: string) =>
    (
      await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: 10, MessageAttributeNames: ['All'] }),
      )
    ).Messages ?? [];

  it('a rule with an input transformer sends matching events to a queue made with CreateQueue', async () => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'big-orders' }));
    await t.events.send(
      new PutRuleCommand({
        Name: 'big-orders',
        EventPattern: JSON.stringify({ source: ['my.shop'], detail: { total: [{ numeric: ['>', 100] }] } }),
      }),
    );
    const put = await t.events.send(
      new PutTargetsCommand({
        Rule: 'big-orders',
        Targets: [
          {
            Id: 'queue',
            Arn: `${ARN}:big-orders`,
            InputTransformer: {
              InputPathsMap: { id: '$.detail.id', total: '$.detail.total' },
              InputTemplate: '{"order": <id>, "total": <total>}',
            },
          },
        ],
      }),
    );
    expect(put.FailedEntryCount).toBe(0);
    await t.events.send(
      new PutEventsCommand({
        Entries: [
          { Source: 'my.shop', DetailType: 'order', Detail: JSON.stringify({ id: 'a', total: 250 }) },
          { Source: 'my.shop', DetailType: 'order', Detail: JSON.stringify({ id: 'b', total: 20 }) },
        ],
      }),
    );
    const messages = await eventually(
      () => receiveAll(QueueUrl as string),
      (m) => m.length > 0,
      'the matching event in the queue',
    );
    expect(messages.map((m) => JSON.parse(m.Body ?? '') as unknown)).toEqual([{ order: 'a', total: 250 }]);
  });

  it("a target's dead letters land in a queue of yours, with EventBridge's attributes", async () => {
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: 'my-dlq' }));
    await t.events.send(new PutRuleCommand({ Name: 'to-nowhere', EventPattern: '{"source": ["my.dead"]}' }));
    // A queue that does not exist: every delivery fails, and is not retried on the way to the DLQ.
    await t.events.send(
      new PutTargetsCommand({
        Rule: 'to-nowhere',
        Targets: [
          {
            Id: 'missing',
            Arn: `${ARN}:no-such-queue`,
            RetryPolicy: { MaximumRetryAttempts: 0 },
            DeadLetterConfig: { Arn: `${ARN}:my-dlq` },
          },
        ],
      }),
    );
    const { Entries = [] } = await t.events.send(
      new PutEventsCommand({ Entries: [{ Source: 'my.dead', DetailType: 'x', Detail: '{"n":1}' }] }),
    );
    const [letter] = await eventually(
      () => receiveAll(QueueUrl as string),
      (m) => m.length > 0,
      'the dead letter',
    );
    expect(JSON.parse(letter?.Body ?? '')).toMatchObject({ id: Entries[0]?.EventId, detail: { n: 1 } });
    expect(letter?.MessageAttributes?.RULE_ARN?.StringValue).toMatch(/rule\/eventbridge-etl\/to-nowhere$/);
    expect(letter?.MessageAttributes?.TARGET_ARN?.StringValue).toBe(`${ARN}:no-such-queue`);
    expect(letter?.MessageAttributes?.ERROR_MESSAGE?.StringValue).toBeTruthy();
  });
});
