/**
 * `aws sqs` against `etl up`: the AWS CLI v2 of this machine (/usr/bin/aws, 2.9.19) speaks SQS's
 * Query protocol (form-encoded `Action=...`, XML answers). CI installs it (.ci/run); when it is
 * missing, this test fails rather than being skipped.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AWS_CLI, awsCli, startTestStack, type TestStack } from './support.ts';

describe('aws sqs (the Query protocol) against the local stack', () => {
  let t: TestStack;
  const run = async (...args: string[]): Promise<Record<string, unknown>> => {
    const result = await awsCli(t.stack.endpoint, ['sqs', ...args]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    return result.stdout.trim() ? (JSON.parse(result.stdout) as Record<string, unknown>) : {};
  };
  beforeAll(async () => {
    expect(existsSync(AWS_CLI), `${AWS_CLI} (Debian's awscli) is needed`).toBe(true);
    t = await startTestStack();
  });
  afterAll(async () => t?.close());

  it('creates a queue, sends, receives and deletes a message', async () => {
    const { QueueUrl } = await run(
      'create-queue',
      '--queue-name',
      'cli-queue',
      '--attributes',
      'VisibilityTimeout=60',
    );
    const url = `http://127.0.0.1:${t.stack.edge.port}/000000000000/cli-queue`;
    expect(QueueUrl).toBe(url);
    const sent = await run(
      'send-message',
      '--queue-url',
      url,
      '--message-body',
      'hello <&> "cli"',
      '--message-attributes',
      '{"kind":{"DataType":"String","StringValue":"greeting"}}',
    );
    expect(sent.MD5OfMessageBody).toBe(createHash('md5').update('hello <&> "cli"').digest('hex'));
    expect(sent.MD5OfMessageAttributes).toMatch(/^[0-9a-f]{32}$/);
    const received = await run(
      'receive-message',
      '--queue-url',
      url,
      '--attribute-names',
      'All',
      '--message-attribute-names',
      'All',
      '--wait-time-seconds',
      '1',
    );
    const [message] = received.Messages as Record<string, unknown>[];
    expect(message).toMatchObject({
      MessageId: sent.MessageId,
      Body: 'hello <&> "cli"',
      MD5OfBody: sent.MD5OfMessageBody,
      MD5OfMessageAttributes: sent.MD5OfMessageAttributes,
      MessageAttributes: { kind: { DataType: 'String', StringValue: 'greeting' } },
      Attributes: expect.objectContaining({ ApproximateReceiveCount: '1', SenderId: '000000000000' }),
    });
    const attributes = await run(
      'get-queue-attributes',
      '--queue-url',
      url,
      '--attribute-names',
      'VisibilityTimeout',
      'ApproximateNumberOfMessagesNotVisible',
    );
    expect(attributes).toEqual({
      Attributes: { VisibilityTimeout: '60', ApproximateNumberOfMessagesNotVisible: '1' },
    });
    await run('delete-message', '--queue-url', url, '--receipt-handle', message?.ReceiptHandle as string);
    const batch = await run(
      'send-message-batch',
      '--queue-url',
      url,
      '--entries',
      'Id=a,MessageBody=one',
      'Id=b,MessageBody=two',
    );
    expect((batch.Successful as { Id: string }[]).map((s) => s.Id)).toEqual(['a', 'b']);
    const queues = await run('list-queues', '--queue-name-prefix', 'cli-');
    expect(queues).toEqual({ QueueUrls: [url] });
    const all = await run('list-queues');
    expect(all.QueueUrls).toContain(`http://127.0.0.1:${t.stack.edge.port}/000000000000/transform-dlq`);
  });

  it('receives from an empty queue and lists none: empty results the CLI can read', async () => {
    const { QueueUrl } = await run('create-queue', '--queue-name', 'cli-empty');
    const received = await run('receive-message', '--queue-url', QueueUrl as string);
    expect(received).toEqual({});
    expect(await run('list-queues', '--queue-name-prefix', 'none-such-')).toEqual({});
    expect(await run('get-queue-attributes', '--queue-url', QueueUrl as string)).toEqual({});
  });

  it("answers errors with SQS's codes, as the CLI prints them", async () => {
    const missing = await awsCli(t.stack.endpoint, ['sqs', 'get-queue-url', '--queue-name', 'nowhere']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr.trim()).toBe(
      'An error occurred (AWS.SimpleQueueService.NonExistentQueue) when calling the GetQueueUrl operation: The specified queue does not exist.',
    );
    const managed = await awsCli(t.stack.endpoint, [
      'sqs',
      'delete-queue',
      '--queue-url',
      `http://127.0.0.1:${t.stack.edge.port}/000000000000/load`,
    ]);
    expect(managed.stderr.trim()).toMatch(
      /^An error occurred \(AWS\.SimpleQueueService\.UnsupportedOperation\) when calling the DeleteQueue operation: DeleteQueue is not offered on load, the pipeline's queue/,
    );
  });
});
