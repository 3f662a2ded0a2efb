/**
 * Every AWS call gets an AWS-shaped answer: a service the stack does not serve is named, in the
 * protocol its client parses (never S3's XML); the health endpoints, ours and LocalStack's shape.
 * Driven with the AWS SDK v3 and the AWS CLI v2 over HTTP.
 */
import { ListKeysCommand, KMSClient } from '@aws-sdk/client-kms';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { awsCli, rawRequest, startTestStack, type TestStack } from './support.ts';

/** An Authorization header of SigV4's shape with `service` in its credential scope. */
function signedFor(service: string): string {
  return `AWS4-HMAC-SHA256 Credential=test-key/20260101/us-east-1/${service}/aws4_request, SignedHeaders=host, Signature=00`;
}

function escape(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

const NOT_SERVED = 'is not served here: this local stack (etl up) serves S3, DynamoDB, EventBridge and SQS';

describe('services the stack does not serve', () => {
  let t: TestStack;
  beforeAll(async () => {
    t = await startTestStack();
  });
  afterAll(async () => t?.close());

  it.each([
    [['lambda', 'list-functions'], 'ListFunctions', 'Lambda (lambda)'],
    [['sts', 'get-caller-identity'], 'GetCallerIdentity', 'STS (sts)'],
    [['sns', 'list-topics'], 'ListTopics', 'SNS (sns)'],
  ])('aws %j is told the service is not served, in its own protocol', async (args, operation, name) => {
    const result = await awsCli(t.stack.endpoint, args);
    expect(result.code).not.toBe(0);
    // The CLI adds how many retries it made to some protocols' messages: none (501 is not retried).
    expect(result.stderr.trim()).toMatch(
      new RegExp(
        `^An error occurred \\(NotImplemented\\) when calling the ${operation} operation( \\(reached max retries: 0\\))?: ` +
          `${escape(`${name} ${NOT_SERVED}`)}$`,
      ),
    );
    expect(result.stderr).not.toMatch(/NoSuchBucket|InvalidAction|UnknownOperation/);
  });

  it('answers a JSON-protocol SDK call (KMS) with a JSON error the SDK raises by its code', async () => {
    const kms = new KMSClient({
      endpoint: t.stack.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'k', secretAccessKey: 's' },
      maxAttempts: 1,
    });
    try {
      const error = (await kms.send(new ListKeysCommand({})).catch((e: unknown) => e)) as Error & {
        $metadata?: { httpStatusCode?: number };
      };
      expect(error.name).toBe('NotImplemented');
      expect(error.message).toBe(`KMS (kms) ${NOT_SERVED}`);
      expect(error.$metadata?.httpStatusCode).toBe(501);
    } finally {
      kms.destroy();
    }
  });

  it("answers Lambda's REST-JSON with JSON and x-amzn-ErrorType, where it used to answer S3's NoSuchBucket", async () => {
    const res = await rawRequest(t.stack.edge.port, {
      method: 'GET',
      path: '/2015-03-31/functions/',
      headers: { authorization: signedFor('lambda') },
    });
    expect(res.status).toBe(501);
    expect(res.headers['content-type']).toBe('application/json');
    expect(res.headers['x-amzn-errortype']).toBe('NotImplemented');
    expect(JSON.parse(res.body)).toEqual({
      __type: 'NotImplemented',
      message: `Lambda (lambda) ${NOT_SERVED}`,
    });
    expect(res.body).not.toContain('NoSuchBucket');
  });

  it("answers a Query-protocol call with the Query protocol's XML error naming the service", async () => {
    const res = await rawRequest(t.stack.edge.port, {
      headers: { authorization: signedFor('sns'), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'Action=ListTopics&Version=2010-03-31',
    });
    expect(res.status).toBe(501);
    expect(res.body).toContain('<ErrorResponse><Error><Type>Sender</Type><Code>NotImplemented</Code>');
    expect(res.body).toContain(`SNS (sns) ${NOT_SERVED}`);
  });

  it('names a JSON service from X-Amz-Target when the credential scope is one of ours (DynamoDB Streams)', async () => {
    const res = await rawRequest(t.stack.edge.port, {
      headers: {
        authorization: signedFor('dynamodb'),
        'x-amz-target': 'DynamoDBStreams_20120810.ListStreams',
        'content-type': 'application/x-amz-json-1.0',
      },
      body: '{}',
    });
    expect(res.status).toBe(501);
    expect(res.headers['content-type']).toBe('application/x-amz-json-1.0');
    expect(JSON.parse(res.body)).toEqual({
      __type: 'NotImplemented',
      message: `DynamoDB Streams (dynamodb-streams) ${NOT_SERVED}`,
    });
  });

  it.each([
    [
      'transact-write-items',
      'TransactWriteItems',
      '[{"Put":{"TableName":"TransformedData","Item":{"id":{"S":"t"}}}}]',
    ],
    [
      'transact-get-items',
      'TransactGetItems',
      '[{"Get":{"TableName":"TransformedData","Key":{"id":{"S":"t"}}}}]',
    ],
  ])(
    'aws dynamodb %s fails with a message naming the operation, not an empty one',
    async (command, operation, items) => {
      const result = await awsCli(t.stack.endpoint, ['dynamodb', command, '--transact-items', items]);
      expect(result.code).not.toBe(0);
      expect(result.stderr.trim()).toMatch(
        new RegExp(
          `^An error occurred \\(UnknownOperationException\\) when calling the ${operation} operation: ` +
            `${operation} is not supported by the local DynamoDB \\(dynalite\\); it serves BatchGetItem, `,
        ),
      );
    },
  );

  it('still serves S3, DynamoDB, EventBridge and SQS to the AWS CLI', async () => {
    expect((await awsCli(t.stack.endpoint, ['s3api', 'list-buckets'])).code).toBe(0);
    expect((await awsCli(t.stack.endpoint, ['sqs', 'list-queues'])).stdout).toContain(
      '/000000000000/transform',
    );
    expect((await awsCli(t.stack.endpoint, ['dynamodb', 'list-tables'])).stdout).toContain('TransformedData');
    expect((await awsCli(t.stack.endpoint, ['events', 'list-event-buses'])).stdout).toContain(
      'eventbridge-etl',
    );
  });
});

describe('the health endpoints', () => {
  let t: TestStack;
  beforeAll(async () => {
    t = await startTestStack({ version: '9.8.7' });
  });
  afterAll(async () => t?.close());

  it("answers /_localstack/health in LocalStack's shape, unsigned, for tools that wait on LocalStack", async () => {
    const res = await rawRequest(t.stack.edge.port, {
      method: 'GET',
      path: '/_localstack/health',
      unsigned: true,
    });
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toBe('application/json');
    expect(JSON.parse(res.body)).toEqual({
      services: {
        s3: 'running',
        dynamodb: 'running',
        events: 'running',
        lambda: 'disabled',
        sts: 'disabled',
        sqs: 'running',
        sns: 'disabled',
      },
      edition: 'eventbridge-etl',
      version: '9.8.7',
    });
    const head = await rawRequest(t.stack.edge.port, {
      method: 'HEAD',
      path: '/_localstack/health',
      unsigned: true,
    });
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
  });

  it('lists the services and their states at /_etl/health', async () => {
    const res = await rawRequest(t.stack.edge.port, { method: 'GET', path: '/_etl/health', unsigned: true });
    expect(res.status).toBe(200);
    expect(JSON.parse(res.body)).toMatchObject({
      status: 'ready',
      services: {
        s3: 'running',
        dynamodb: 'running',
        events: 'running',
        lambda: 'not served',
        sts: 'not served',
        sqs: 'running',
        sns: 'not served',
      },
    });
  });

  it('keeps the Host and Origin checks on both health endpoints', async () => {
    for (const path of ['/_localstack/health', '/_etl/health']) {
      const rebound = await rawRequest(t.stack.edge.port, {
        method: 'GET',
        path,
        unsigned: true,
        headers: { host: 'attacker.example:80' },
      });
      expect(rebound.status).toBe(403);
      const page = await rawRequest(t.stack.edge.port, {
        method: 'GET',
        path,
        unsigned: true,
        headers: { origin: 'https://app.localstack.cloud' },
      });
      expect(page.status).toBe(403);
      expect(page.body).not.toContain('running');
    }
  });
});
