/**
 * Malformed SQS requests, generated, in both protocols: every SQS operation with members of the
 * wrong types, shapes and ranges. Whatever comes in, the edge answers with an SQS error (never a
 * 5xx) and stays up.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SQS_OPERATIONS } from '../../src/runtime/local/edge/sqs-api.ts';
import { rawRequest, startTestStack, type TestStack } from './support.ts';

const RUNS = 250;
const SIGNED_FOR_SQS =
  'AWS4-HMAC-SHA256 Credential=test-key/20260101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=00';

describe('SQS requests, fuzzed', () => {
  let t: TestStack;
  beforeAll(async () => {
    t = await startTestStack();
  });
  afterAll(async () => t?.close());

  it('answers every malformed request with a 4xx in its protocol and stays up', async () => {
    const port = t.stack.edge.port;
    const base = `http://127.0.0.1:${port}/000000000000`;
    const created = await rawRequest(port, {
      headers: {
        authorization: SIGNED_FOR_SQS,
        'x-amz-target': 'AmazonSQS.CreateQueue',
        'content-type': 'application/x-amz-json-1.0',
      },
      body: JSON.stringify({ QueueName: 'fuzz' }),
    });
    expect(created.status).toBe(200);

    const anything = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }),
      fc.constantFrom('', '0', '-1', '21', '900', 'All', 'x'.repeat(300)),
    );
    // Never 1 to 20: a valid wait would only slow the test down.
    const wait = fc.constantFrom(undefined, 0, -1, 21, '0', 'x', null, 1.5);
    const member = fc.record(
      {
        QueueUrl: fc.oneof(
          fc.constantFrom(`${base}/fuzz`, `${base}/transform-dlq`, `${base}/load`, `${base}/nowhere`, 'fuzz'),
          anything,
        ),
        QueueName: fc.oneof(fc.constantFrom('fuzz', 'transform', 'a.fifo', ''), anything),
        MessageBody: anything,
        ReceiptHandle: anything,
        Entries: fc.oneof(
          fc.array(
            fc.dictionary(
              fc.constantFrom('Id', 'MessageBody', 'ReceiptHandle', 'VisibilityTimeout', 'DelaySeconds'),
              anything,
            ),
            { maxLength: 12 },
          ),
          anything,
        ),
        Attributes: anything,
        AttributeNames: anything,
        MessageAttributes: anything,
        MessageAttributeNames: anything,
        MaxNumberOfMessages: anything,
        VisibilityTimeout: anything,
        DelaySeconds: anything,
        WaitTimeSeconds: wait,
        SourceArn: fc.oneof(
          fc.constantFrom('arn:aws:sqs:us-east-1:000000000000:transform-dlq', 'arn:aws:sqs:x'),
          anything,
        ),
        DestinationArn: anything,
        TaskHandle: anything,
        NextToken: anything,
        MaxResults: anything,
        Tags: anything,
        TagKeys: anything,
      },
      { requiredKeys: [] },
    );
    const operation = fc.oneof(fc.constantFrom(...SQS_OPERATIONS), fc.string({ maxLength: 20 }));
    const request = fc.record({
      operation,
      body: member,
      query: fc.boolean(),
      raw: fc.option(fc.string({ maxLength: 50 })),
    });

    const statuses: number[] = [];
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        // The members as a form for the Query protocol: scalars as text, objects flattened one level.
        const form = new URLSearchParams({ Action: r.operation, Version: '2012-11-05' });
        for (const [key, value] of Object.entries(r.body)) {
          if (value === undefined || value === null) continue;
          if (typeof value !== 'object') form.append(key, String(value));
          else
            for (const [i, item] of Object.entries(value)) form.append(`${key}.${i}`, JSON.stringify(item));
        }
        const response = r.query
          ? await rawRequest(port, {
              headers: { authorization: SIGNED_FOR_SQS, 'content-type': 'application/x-www-form-urlencoded' },
              body: r.raw ?? form.toString(),
            })
          : await rawRequest(port, {
              headers: {
                authorization: SIGNED_FOR_SQS,
                'x-amz-target': `AmazonSQS.${r.operation}`,
                'content-type': 'application/x-amz-json-1.0',
              },
              body: r.raw ?? JSON.stringify(r.body),
            });
        statuses.push(response.status);
        expect(response.status, response.body).toBeLessThan(500);
        if (response.status >= 400) {
          if (r.query)
            expect(response.body).toMatch(
              /<ErrorResponse xmlns="http:\/\/queue\.amazonaws\.com\/doc\/2012-11-05\/"><Error><Type>Sender<\/Type><Code>/,
            );
          else {
            expect(JSON.parse(response.body).__type).toMatch(/^com\.amazonaws\.sqs#\w+/);
            expect(response.headers['x-amzn-query-error']).toMatch(/;Sender$/);
          }
        }
      }),
      { numRuns: RUNS },
    );
    expect(statuses).toHaveLength(RUNS);
    // Still serving: a well-formed request after all of them is answered (random requests need not
    // include one that succeeds).
    const listed = await rawRequest(port, {
      headers: {
        authorization: SIGNED_FOR_SQS,
        'x-amz-target': 'AmazonSQS.ListQueues',
        'content-type': 'application/x-amz-json-1.0',
      },
      body: '{}',
    });
    expect(listed.status, listed.body).toBe(200);
    expect(JSON.parse(listed.body).QueueUrls).toContain(
      `http://127.0.0.1:${port}/000000000000/transform-dlq`,
    );
    const health = await rawRequest(port, { method: 'GET', path: '/_etl/health', unsigned: true });
    expect(health.status).toBe(200);
  }, 240_000);

  it('never lets a parameter name reach a prototype, in either protocol', async () => {
    const port = t.stack.edge.port;
    const query = (body: string): Promise<{ status: number; body: string }> =>
      rawRequest(port, {
        headers: { authorization: SIGNED_FOR_SQS, 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });
    const ok = await query(
      'Action=CreateQueue&QueueName=proto&__proto__.polluted=yes&Attribute.1.constructor.prototype.polluted=yes',
    );
    expect(ok.status, ok.body).toBe(200);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    // A map entry named __proto__: refused, in the Query protocol and the JSON one.
    const tagged = await query(
      `Action=TagQueue&QueueUrl=http://127.0.0.1:${port}/000000000000/proto&Tag.1.Key=__proto__&Tag.1.Value=x`,
    );
    expect(tagged.status).toBe(400);
    expect(tagged.body).toContain('<Code>InvalidParameterValue</Code>');
    const json = await rawRequest(port, {
      headers: {
        authorization: SIGNED_FOR_SQS,
        'x-amz-target': 'AmazonSQS.SendMessage',
        'content-type': 'application/x-amz-json-1.0',
      },
      body: `{"QueueUrl":"http://127.0.0.1:${port}/000000000000/proto","MessageBody":"m","MessageAttributes":{"__proto__":{"DataType":"String","StringValue":"v"}}}`,
    });
    expect(json.status).toBe(400);
    expect(JSON.parse(json.body).__type).toBe('com.amazonaws.sqs#InvalidParameterValue');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it("answers an unknown JSON operation with the JSON protocol's UnknownOperationException", async () => {
    const response = await rawRequest(t.stack.edge.port, {
      headers: {
        authorization: SIGNED_FOR_SQS,
        'x-amz-target': 'AmazonSQS.NoSuchThing',
        'content-type': 'application/x-amz-json-1.0',
      },
      body: '{}',
    });
    expect(response.status).toBe(400);
    expect(JSON.parse(response.body).__type).toBe('com.amazonaws.sqs#UnknownOperationException');
  });

  it('leaves characters XML 1.0 cannot hold out of a Query answer that echoes them', async () => {
    const port = t.stack.edge.port;
    const created = await rawRequest(port, {
      headers: { authorization: SIGNED_FOR_SQS, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'Action=CreateQueue&QueueName=echo',
    });
    expect(created.status).toBe(200);
    const name = 'odd\u0001\u001f\uffffname';
    const response = await rawRequest(port, {
      headers: { authorization: SIGNED_FOR_SQS, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        Action: 'SetQueueAttributes',
        QueueUrl: `http://127.0.0.1:${port}/000000000000/echo`,
        'Attribute.1.Name': name,
        'Attribute.1.Value': '1',
      }).toString(),
    });
    expect(response.status).toBe(400);
    expect(response.body).toContain('oddname');
    // eslint-disable-next-line no-control-regex -- control characters are what it looks for
    expect(response.body).not.toMatch(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\uffff]/);
  });
});
