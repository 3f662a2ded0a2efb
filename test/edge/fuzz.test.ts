/**
 * Malformed S3, EventBridge and DynamoDB requests, generated: random paths, queries, headers, bodies
 * and nesting, with traversal attempts aimed at a directory outside the state dir. Whatever comes
 * in, the edge must answer (or close the connection) and stay up, and nothing may be written
 * outside the state dir. Bounded: a fixed number of requests, each with a timeout.
 */
import { readdirSync, statSync } from 'node:fs';
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/cli.ts';
import { SIGV4_AUTHORIZATION, startTestStack, type TestStack } from './support.ts';

const RUNS = 300;

interface Fuzzed {
  method: string;
  path: string;
  headers: Record<string, string>;
  body: string;
}

/** Sends one request; resolves with its status, or 0 when the connection was closed without one. */
function send(
  port: number,
  req: Fuzzed,
  seen?: { headers?: unknown; body?: string; error?: string },
): Promise<number> {
  return new Promise((resolve) => {
    let outgoing;
    try {
      outgoing = request({
        host: '127.0.0.1',
        port,
        method: req.method,
        path: req.path,
        headers: req.headers,
      });
    } catch {
      resolve(-1); // the client itself refused to send it (an invalid header, say)
      return;
    }
    outgoing.setTimeout(15_000, () => outgoing.destroy(new Error('timed out')));
    outgoing.on('response', (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d.slice(0, 500)));
      res.on('end', () => {
        if (seen) Object.assign(seen, { headers: res.headers, body });
        resolve(res.statusCode ?? 0);
      });
      res.on('error', () => resolve(0));
    });
    outgoing.on('error', (error: NodeJS.ErrnoException) => {
      if (seen) Object.assign(seen, { error: error.code ?? error.message });
      resolve(0);
    });
    outgoing.end(req.body);
  });
}

/** 'up' when the health endpoint answers 200, else what came back. */
async function health(port: number): Promise<string> {
  const seen: { headers?: unknown; body?: string; error?: string } = {};
  const status = await send(port, { method: 'GET', path: '/_etl/health', headers: {}, body: '' }, seen);
  return status === 200 ? 'up' : `${status} ${JSON.stringify(seen)}`;
}

/** Every file under a directory, recursively. */
function filesUnder(dir: string): string[] {
  const found: string[] = [];
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...filesUnder(path));
    else found.push(path);
  }
  return found;
}

describe('the edge under fuzzed requests', () => {
  let t: TestStack;
  let outside: string;
  beforeAll(async () => {
    t = await startTestStack();
    outside = tempDir('etl-fuzz-outside-');
  });
  afterAll(async () => t?.close());

  it(`answers ${RUNS} malformed requests, stays up, and writes nothing outside its state dir`, async () => {
    const port = t.stack.edge.port;
    const climb = `${'../'.repeat(12)}${outside.replace(/^\//, '')}/pwned`;
    const nasty = fc.constantFrom(
      climb,
      encodeURIComponent(climb),
      '..',
      '.',
      '%2e%2e',
      '%2F..%2F..',
      '',
      '%00',
      '%ZZ',
      'k'.repeat(300),
      'é'.repeat(600),
      'landing-bucket',
      '1',
      '10001',
      '-1',
      'a'.repeat(32),
      '0123456789abcdef0123456789abcdef',
    );
    const text = fc.oneof(
      nasty,
      fc.string({ maxLength: 40 }),
      fc.string({ unit: 'grapheme', maxLength: 20 }),
    );
    const segment = fc.oneof(
      nasty,
      text.map((s) => encodeURIComponent(s)),
    );
    const path = fc
      .tuple(
        fc.constantFrom('landing-bucket', 'fuzz-bucket', '..', '', 'ab'),
        fc.array(segment, { maxLength: 4 }),
      )
      .map(([bucket, rest]) => `/${[bucket, ...rest].join('/')}`);
    const query = fc
      .array(
        fc.tuple(
          fc.constantFrom(
            'uploadId',
            'partNumber',
            'versionId',
            'uploads',
            'x-amz-copy-source',
            'list-type',
            'prefix',
            'delimiter',
            'tagging',
            'acl',
            'X-Amz-Algorithm',
            'X-Amz-Credential',
            'X-Amz-Signature',
            'website',
          ),
          text,
        ),
        { maxLength: 4 },
      )
      .map((pairs) => (pairs.length === 0 ? '' : `?${new URLSearchParams(pairs).toString()}`));
    const deep = fc
      .tuple(fc.integer({ min: 1, max: 20_000 }), fc.constantFrom('[', '{"a":'))
      .map(([depth, open]) => `${open.repeat(depth)}1${(open === '[' ? ']' : '}').repeat(depth)}`);
    const body = fc.oneof(
      fc.constant(''),
      fc.json({ maxDepth: 6 }),
      deep,
      deep.map((d) => JSON.stringify({ Entries: [{ Source: 's', DetailType: 'd', Detail: d }] })),
      deep.map((d) => `{"TableName":"TransformedData","Item":{"id":{"S":"f"},"x":${d}}}`),
      fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify({ TableName: 'TransformedData', Item: v })),
      fc.string({ maxLength: 200 }),
    );
    const ascii = fc.string({
      unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)),
      maxLength: 60,
    });
    const target = fc.oneof(
      fc.constant(undefined),
      fc.constantFrom(
        'DynamoDB_20120810.Scan',
        'DynamoDB_20120810.PutItem',
        'DynamoDB_20120810.BatchWriteItem',
        'DynamoDB_20120810.Query',
        'AWSEvents.PutEvents',
        'AWSEvents.TestEventPattern',
        'AWSEvents.StartReplay',
        'AWSEvents.ListRules',
        'AmazonSQS.SendMessage',
      ),
      ascii,
    );
    const request = fc.record({
      method: fc.constantFrom('GET', 'PUT', 'POST', 'DELETE', 'HEAD', 'OPTIONS'),
      path,
      query,
      body,
      target,
      // Mostly past the guard (own Host, no Origin, signed), so that the services behind it are fuzzed.
      host: fc.oneof(
        {
          arbitrary: fc.constantFrom(
            `127.0.0.1:${port}`,
            `localhost:${port}`,
            `landing-bucket.localhost:${port}`,
          ),
          weight: 8,
        },
        { arbitrary: fc.constantFrom('evil.example', '', `127.0.0.1:${port + 1}`), weight: 1 },
      ),
      origin: fc.oneof(
        { arbitrary: fc.constant(undefined), weight: 8 },
        { arbitrary: fc.constantFrom('http://evil.example', 'null', `http://127.0.0.1:${port}`), weight: 1 },
      ),
      auth: fc.oneof(
        { arbitrary: fc.constant(SIGV4_AUTHORIZATION), weight: 8 },
        { arbitrary: fc.constant(undefined), weight: 1 },
        { arbitrary: ascii.map((s) => `AWS4-HMAC-SHA256 Credential=${s}`), weight: 1 },
        { arbitrary: ascii, weight: 1 },
      ),
      copySource: fc.oneof(
        fc.constant(undefined),
        text.map((s) => encodeURIComponent(s)),
        fc.constant(climb),
      ),
      contentType: fc.constantFrom(
        'application/x-amz-json-1.0',
        'application/x-amz-json-1.1',
        'multipart/form-data; boundary=x',
        'application/x-www-form-urlencoded',
        'text/csv',
      ),
    });

    let answered = 0;
    let pastTheGuard = 0;
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const headers: Record<string, string> = {
          host: r.host,
          'content-type': r.contentType,
          'x-amz-date': new Date().toISOString().replace(/[-:]|\.\d+/g, ''),
          'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
          // Framed, as every HTTP client frames a body (Node sends a GET's body unframed otherwise:
          // bytes after the request, which the server rightly drops with the connection).
          'content-length': String(Buffer.byteLength(r.body)),
        };
        if (r.target !== undefined) headers['x-amz-target'] = r.target;
        if (r.origin !== undefined) headers.origin = r.origin;
        if (r.auth !== undefined) headers.authorization = r.auth;
        if (r.copySource !== undefined) headers['x-amz-copy-source'] = r.copySource;
        const status = await send(port, {
          method: r.method,
          path: `${r.path}${r.query}`,
          headers,
          body: r.body,
        });
        if (status > 0) answered++;
        if (status > 0 && status !== 403) pastTheGuard++;
        // A 5xx would be the edge failing on input it should have refused (501: an operation s3rver
        // does not implement, such as POST to a virtual-host bucket).
        expect([-1, 0].includes(status) || status < 500 || status === 501, `status ${status}`).toBe(true);
        expect(await health(port)).toBe('up');
      }),
      { numRuns: RUNS, interruptAfterTimeLimit: 150_000 },
    );
    expect(answered).toBeGreaterThan(RUNS / 2);
    expect(pastTheGuard).toBeGreaterThan(RUNS / 4);

    expect(readdirSync(outside)).toEqual([]);
    expect(readdirSync(dirname(t.stateDir))).toEqual(['state']);
    // Inside the store, every file is one the store named: a key's hash, or a bucket's own.
    const store = join(t.stateDir, 's3');
    for (const file of filesUnder(store)) {
      const relative = file.slice(store.length + 1).split('/');
      expect(relative.length, file).toBeLessThanOrEqual(4);
      if (relative.length === 2) expect(relative[1], file).toMatch(/^([0-9a-f]{64})?\._S3rver_[a-z0-9.]+$/);
      else expect(relative[1], file).toBe('._S3rver_uploads');
    }
  }, 240_000);
});
