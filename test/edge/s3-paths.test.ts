import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { GetObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rawRequest, startTestStack, type TestStack } from './support.ts';

/** A raw PUT, as a client that does not normalise paths would send it. */
function rawPut(endpoint: string, path: string): Promise<{ status: number; body: string }> {
  return rawRequest(Number(new URL(endpoint).port), {
    method: 'PUT',
    path,
    headers: { 'content-length': '2' },
    body: 'hi',
  });
}

describe('S3 paths that look like they leave the store', () => {
  let t: TestStack;
  beforeAll(async () => {
    t = await startTestStack();
  });
  afterAll(async () => t?.close());

  const nothingEscaped = () => {
    const around = readdirSync(dirname(t.stateDir)).concat(readdirSync(t.stateDir));
    expect(around.filter((name) => name.includes('escape'))).toEqual([]);
    expect(existsSync(join(t.stateDir, 's3', 'escape-bucket'))).toBe(false);
  };

  it.each([
    ['/landing-bucket/../../../escape-key', '../../../escape-key'],
    ['/landing-bucket/%2e%2e/%2e%2e/escape-key', '../../escape-key'],
    ['/landing-bucket/a/..%2f..%2f../escape-key', 'a/../../../escape-key'],
    ['/landing-bucket/./key', './key'],
  ])('stores %s inside the store, as the key %s (S3 keys may hold ".." segments)', async (path, key) => {
    const result = await rawPut(t.stack.endpoint, path);
    expect(result.status).toBe(200);
    const got = await t.s3.send(new GetObjectCommand({ Bucket: 'landing-bucket', Key: key }));
    expect(await got.Body?.transformToString()).toBe('hi');
    nothingEscaped();
  });

  it.each(['/../escape-bucket/key', '/..%2fescape-bucket/key', '/./key', '/%2e%2e/escape-key'])(
    'refuses %s: not a bucket name',
    async (path) => {
      const result = await rawPut(t.stack.endpoint, path);
      expect(result.status).toBe(400);
      expect(result.body).toContain('<Code>InvalidBucketName</Code>');
      nothingEscaped();
    },
  );

  it('still stores a key with dots inside its segments', async () => {
    const result = await rawPut(t.stack.endpoint, '/landing-bucket/v1.2/data..csv.bak');
    expect(result.status).toBe(200);
  });
});
