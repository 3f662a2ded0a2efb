import { existsSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
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

describe('S3 paths that would leave the store', () => {
  let t: TestStack;
  beforeAll(async () => {
    t = await startTestStack();
  });
  afterAll(async () => t?.close());

  it.each([
    '/landing-bucket/../../../escape-key',
    '/landing-bucket/%2e%2e/%2e%2e/escape-key',
    '/landing-bucket/a/..%2f..%2f../escape-key',
    '/../escape-bucket/key',
    '/landing-bucket/./key',
  ])('refuses %s with an S3 error and writes nothing', async (path) => {
    const result = await rawPut(t.stack.endpoint, path);
    expect(result.status).toBe(400);
    expect(result.body).toContain('<Code>InvalidRequest</Code>');
    const around = readdirSync(dirname(t.stateDir)).concat(readdirSync(t.stateDir));
    expect(around.filter((name) => name.includes('escape'))).toEqual([]);
    expect(existsSync(join(t.stateDir, 's3', 'escape-bucket'))).toBe(false);
  });

  it('still stores a key with dots inside its segments', async () => {
    const result = await rawPut(t.stack.endpoint, '/landing-bucket/v1.2/data..csv.bak');
    expect(result.status).toBe(200);
  });
});
