/**
 * The edge against hostile requests: each finding of the adversarial run, reproduced. Every request
 * here is one a web page, a script on the machine or a careless client could send.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PutEventsCommand } from '@aws-sdk/client-eventbridge';
import {
  CreateBucketCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { journalLine } from '../../src/runtime/local/journal.ts';
import { etl, tempDir } from '../support/cli.ts';
import { rawRequest, type RawResponse, startTestStack, type TestStack } from './support.ts';

const SAMPLE = readFileSync('data/test_data.csv');

async function healthy(t: TestStack): Promise<void> {
  const res = await rawRequest(t.stack.edge.port, { method: 'GET', path: '/_etl/health', unsigned: true });
  expect(res.status).toBe(200);
}

function jsonError(res: RawResponse): string {
  return (JSON.parse(res.body) as { __type: string }).__type;
}

describe('S3: nothing outside the store can be named, and any key S3 takes works', () => {
  let t: TestStack;
  let outside: string;
  beforeAll(async () => {
    t = await startTestStack();
    outside = tempDir('etl-outside-');
  });
  afterAll(async () => t?.close());

  it('refuses an UploadPart whose uploadId or partNumber climbs out of the store, and writes nothing', async () => {
    const port = t.stack.edge.port;
    const climb = `${'../'.repeat(12)}${outside.replace(/^\//, '')}/pwned`;
    const byUploadId = await rawRequest(port, {
      method: 'PUT',
      path: `/landing-bucket/x?partNumber=a.txt&uploadId=${encodeURIComponent(climb)}`,
      headers: { 'content-length': '2' },
      body: 'hi',
    });
    expect(byUploadId.status).toBeGreaterThanOrEqual(400);
    expect(byUploadId.body).toMatch(/<Code>(NoSuchUpload|InvalidArgument)<\/Code>/);

    // A real upload id, and the part number doing the climbing.
    const created = await rawRequest(port, { method: 'POST', path: '/landing-bucket/big.csv?uploads' });
    const uploadId = /<UploadId>([0-9a-f]+)<\/UploadId>/.exec(created.body)?.[1];
    expect(uploadId).toMatch(/^[0-9a-f]{32}$/);
    const byPart = await rawRequest(port, {
      method: 'PUT',
      path: `/landing-bucket/big.csv?partNumber=${encodeURIComponent(climb)}&uploadId=${uploadId}`,
      headers: { 'content-length': '2' },
      body: 'hi',
    });
    expect(byPart.status).toBe(400);
    expect(byPart.body).toContain('<Code>InvalidArgument</Code>');

    expect(readdirSync(outside)).toEqual([]);
    await healthy(t);
  });

  it('refuses a copy whose source names a bucket outside the store', async () => {
    const res = await rawRequest(t.stack.edge.port, {
      method: 'PUT',
      path: '/landing-bucket/copied.csv',
      headers: { 'x-amz-copy-source': '/../../etc/passwd' },
    });
    expect(res.status).toBe(400);
    expect(res.body).toContain('<Code>InvalidArgument</Code>');
  });

  it('stores, lists and reads keys S3 allows that no file name could hold', async () => {
    const longSegment = `${'k'.repeat(300)}.csv`;
    const longest = `${'é'.repeat(511)}xy`; // 1,024 bytes of UTF-8
    const odd = 'a/b//c/../weird name?#%&*:|<>\\.csv';
    await t.s3.send(new CreateBucketCommand({ Bucket: 'other-bucket-x' }));
    for (const key of [longSegment, `dir/${longSegment}`, longest, odd]) {
      await t.s3.send(new PutObjectCommand({ Bucket: 'other-bucket-x', Key: key, Body: key }));
    }
    for (const key of [longSegment, `dir/${longSegment}`, longest, odd]) {
      const got = await t.s3.send(new GetObjectCommand({ Bucket: 'other-bucket-x', Key: key }));
      expect(await got.Body?.transformToString()).toBe(key);
    }
    const listed = await t.s3.send(new ListObjectsV2Command({ Bucket: 'other-bucket-x', Delimiter: '/' }));
    expect(listed.Contents?.map((o) => o.Key).sort()).toEqual([longSegment, longest].sort());
    expect(listed.CommonPrefixes?.map((p) => p.Prefix).sort()).toEqual(['a/', 'dir/']);
    const under = await t.s3.send(new ListObjectsV2Command({ Bucket: 'other-bucket-x', Prefix: 'dir/' }));
    expect(under.Contents?.map((o) => o.Key)).toEqual([`dir/${longSegment}`]);
    await healthy(t);
  }, 30_000);

  it('answers a key over 1,024 bytes with KeyTooLongError', async () => {
    const res = await rawRequest(t.stack.edge.port, {
      method: 'PUT',
      path: `/landing-bucket/${'k'.repeat(1025)}`,
      headers: { 'content-length': '2' },
      body: 'hi',
    });
    expect(res.status).toBe(400);
    expect(res.body).toContain('<Code>KeyTooLongError</Code>');
    await healthy(t);
  });

  it('runs an object put under a key with a 300-character segment, like any other', async () => {
    const key = `${'long'.repeat(75)}.csv`;
    await t.s3.send(new PutObjectCommand({ Bucket: 'landing-bucket', Key: key, Body: SAMPLE }));
    const deadline = Date.now() + 30_000;
    while (!t.reports.some((r) => r.file.endsWith(key)) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(t.reports.find((r) => r.file.endsWith(key))?.counts.loaded).toBe(5);
  }, 40_000);
});

describe('only AWS clients addressing this endpoint are served', () => {
  let t: TestStack;
  beforeAll(async () => {
    t = await startTestStack({ allowHosts: ['etl.example.test'] });
  });
  afterAll(async () => t?.close());

  const scan = { 'x-amz-target': 'DynamoDB_20120810.Scan', 'content-type': 'application/x-amz-json-1.0' };
  const listRules = { 'x-amz-target': 'AWSEvents.ListRules', 'content-type': 'application/x-amz-json-1.1' };

  it('refuses a foreign Host (DNS rebinding) for S3, DynamoDB and EventBridge alike', async () => {
    const port = t.stack.edge.port;
    const host = `rebind.attacker.example:${port}`;
    const s3 = await rawRequest(port, { method: 'GET', path: '/landing-bucket', headers: { host } });
    expect(s3.status).toBe(403);
    expect(s3.body).toContain('<Code>AccessDenied</Code>');
    const dynamodb = await rawRequest(port, {
      headers: { ...scan, host },
      body: JSON.stringify({ TableName: 'TransformedData' }),
    });
    expect(dynamodb.status).toBe(403);
    expect(jsonError(dynamodb)).toBe('AccessDeniedException');
    expect(dynamodb.body).not.toContain('Items');
    const events = await rawRequest(port, { headers: { ...listRules, host }, body: '{}' });
    expect(events.status).toBe(403);
    expect(jsonError(events)).toBe('AccessDeniedException');
    // Loopback on another port is another endpoint too.
    const otherPort = await rawRequest(port, { headers: { ...listRules, host: 'localhost:1' }, body: '{}' });
    expect(otherPort.status).toBe(403);
  });

  it('serves loopback names with its port, and names allowed with --allow-host', async () => {
    const port = t.stack.edge.port;
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, 'etl.example.test:8080']) {
      const res = await rawRequest(port, { headers: { ...listRules, host }, body: '{}' });
      expect(res.status, host).toBe(200);
    }
  });

  it("refuses requests a web page sends (a foreign Origin), and takes the edge's own", async () => {
    const port = t.stack.edge.port;
    for (const origin of ['http://evil.example', 'null', `http://127.0.0.1:${port + 1}`]) {
      const res = await rawRequest(port, { headers: { ...listRules, origin }, body: '{}' });
      expect(res.status, origin).toBe(403);
      expect(jsonError(res)).toBe('AccessDeniedException');
    }
    const own = await rawRequest(port, {
      headers: { ...listRules, origin: `http://localhost:${port}` },
      body: '{}',
    });
    expect(own.status).toBe(200);
  });

  it('refuses unsigned AWS calls: a browser form POST never reaches the landing bucket', async () => {
    const port = t.stack.edge.port;
    const boundary = 'formboundary';
    const form =
      `--${boundary}\r\nContent-Disposition: form-data; name="key"\r\n\r\ncsrf.csv\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="csrf.csv"\r\n` +
      `Content-Type: text/csv\r\n\r\n${SAMPLE.toString()}\r\n--${boundary}--\r\n`;
    for (const origin of [undefined, 'http://evil.example']) {
      const res = await rawRequest(port, {
        path: '/landing-bucket',
        unsigned: true,
        headers: {
          'content-type': `multipart/form-data; boundary=${boundary}`,
          ...(origin ? { origin } : {}),
        },
        body: form,
      });
      expect(res.status).toBe(403);
      expect(res.body).toContain('<Code>AccessDenied</Code>');
    }
    const put = await rawRequest(port, {
      method: 'PUT',
      path: '/landing-bucket/unsigned.csv',
      unsigned: true,
      body: SAMPLE,
    });
    expect(put.status).toBe(403);
    const dynamodb = await rawRequest(port, {
      unsigned: true,
      headers: scan,
      body: '{"TableName":"TransformedData"}',
    });
    expect(dynamodb.status).toBe(403);
    expect(jsonError(dynamodb)).toBe('MissingAuthenticationTokenException');

    const listed = await t.s3.send(new ListObjectsV2Command({ Bucket: 'landing-bucket' }));
    expect(listed.Contents ?? []).toEqual([]);
    expect(t.reports).toEqual([]);
  });

  it('takes a presigned URL (X-Amz-Signature) as signed', async () => {
    const query =
      '?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2F20260101%2Fus-east-1%2Fs3%2Faws4_request' +
      `&X-Amz-Date=${new Date().toISOString().replace(/[-:]|\.\d+/g, '')}&X-Amz-Expires=900` +
      '&X-Amz-SignedHeaders=host&X-Amz-Signature=00';
    const res = await rawRequest(t.stack.edge.port, {
      method: 'GET',
      path: `/landing-bucket/none.csv${query}`,
      unsigned: true,
    });
    expect(res.status).toBe(404);
    expect(res.body).toContain('<Code>NoSuchKey</Code>');
  });
});

describe('deep nesting is refused before it is parsed', () => {
  let t: TestStack;
  beforeAll(async () => {
    t = await startTestStack();
  });
  afterAll(async () => t?.close());

  it('fails a PutEvents entry whose Detail nests 100,000 levels (MalformedDetail); the stack stays up', async () => {
    const depth = 100_000;
    const deep = `{"a":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    const result = await t.events.send(
      new PutEventsCommand({
        Entries: [
          { Source: 'attacker', DetailType: 'deep', Detail: deep },
          { Source: 'ok', DetailType: 'shallow', Detail: `{"a":${'['.repeat(999)}${']'.repeat(999)}}` },
        ],
      }),
    );
    expect(result.FailedEntryCount).toBe(1);
    expect(result.Entries?.[0]?.ErrorCode).toBe('MalformedDetail');
    expect(result.Entries?.[1]?.EventId).toBeDefined();
    await t.stack.pipeline.bus.whenIdle();
    await healthy(t);
  });

  it('refuses EventBridge and DynamoDB bodies nested deeper than 1,000 levels', async () => {
    const port = t.stack.edge.port;
    const events = await rawRequest(port, {
      headers: { 'x-amz-target': 'AWSEvents.ListRules', 'content-type': 'application/x-amz-json-1.1' },
      body: `{"NamePrefix":"a","x":${'['.repeat(5000)}${']'.repeat(5000)}}`,
    });
    expect(events.status).toBe(400);
    expect(jsonError(events)).toBe('SerializationException');

    const nested = 3000;
    const item = `{"id":{"S":"deep"},"d":${'{"M":{"a":'.repeat(nested)}{"S":"x"}${'}}'.repeat(nested)}}`;
    const dynamodb = await rawRequest(port, {
      headers: { 'x-amz-target': 'DynamoDB_20120810.PutItem', 'content-type': 'application/x-amz-json-1.0' },
      body: `{"TableName":"TransformedData","Item":${item}}`,
    });
    expect(dynamodb.status).toBe(400);
    expect(jsonError(dynamodb)).toMatch(/ValidationException$/);
    await healthy(t);
  });
});

describe('an answered upload survives etl up being killed at once', () => {
  it('is run by the next etl up', async () => {
    const dir = tempDir('etl-up-kill-');
    const state = join(dir, 'state');
    const start = () => {
      const child = spawn(
        process.execPath,
        ['bin/etl.js', 'up', '--port', '0', '--state-dir', state, '--no-landing'],
        {
          env: { ...process.env, FORCE_COLOR: '0' },
        },
      );
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stdout += d.toString()));
      const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
      const until = async (pattern: RegExp): Promise<RegExpMatchArray> => {
        const deadline = Date.now() + 40_000;
        for (;;) {
          const match = stdout.match(pattern);
          if (match) return match;
          if (child.exitCode !== null || Date.now() > deadline)
            throw new Error(`no ${pattern}; output: ${stdout}`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      };
      return { child, exited, until, output: () => stdout };
    };

    const first = start();
    const endpoint = (await first.until(/endpoint:\s+(http:\/\/127\.0\.0\.1:\d+)/))[1] ?? '';
    const s3 = new S3Client({
      endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'k', secretAccessKey: 's' },
      forcePathStyle: true,
    });
    try {
      await s3.send(new PutObjectCommand({ Bucket: 'landing-bucket', Key: 'killed.csv', Body: SAMPLE }));
      first.child.kill('SIGKILL'); // the moment the answer arrived
    } finally {
      s3.destroy();
    }
    await first.exited;
    // The killed process may or may not have finished the run; the next one must have it done.
    const second = start();
    try {
      await second.until(/endpoint:/);
      const summaries = () =>
        existsSync(join(state, 'runs'))
          ? readdirSync(join(state, 'runs')).filter((run) =>
              existsSync(join(state, 'runs', run, 'summary.json')),
            )
          : [];
      const deadline = Date.now() + 40_000;
      while (summaries().length === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(summaries()).toHaveLength(1);
      const summary = JSON.parse(
        readFileSync(join(state, 'runs', summaries()[0] as string, 'summary.json'), 'utf8'),
      ) as { loaded: number; file: string };
      expect(summary.loaded).toBe(5);
    } finally {
      second.child.kill('SIGTERM');
      await second.exited;
    }
  }, 120_000);
});

describe('a poisoned record left in the journal by an older version', () => {
  it('is quarantined, with why, instead of killing every later etl run', async () => {
    const state = join(tempDir('etl-poison-'), 'state');
    mkdirSync(join(state, 'bus'), { recursive: true });
    const depth = 100_000;
    const event = {
      version: '0' as const,
      id: 'poisoned',
      'detail-type': 'deep',
      source: 'attacker',
      account: '000000000000',
      time: new Date().toISOString().slice(0, 19) + 'Z',
      region: 'us-east-1',
      resources: [],
      detail: {},
    };
    writeFileSync(
      join(state, 'bus', 'segment-000000000001.ndjson'),
      journalLine(1, ['transform'], event, `{"a":${'['.repeat(depth)}${']'.repeat(depth)}}`),
    );
    for (let attempt = 0; attempt < 2; attempt++) {
      const run = await etl(['run', 'data/test_data.csv', '--state-dir', state]);
      expect(run.stderr).not.toMatch(/RangeError|Maximum call stack/);
      expect(run.code).toBe(0);
      expect(run.stdout).toMatch(/loaded\s+5/);
      // Said once, by the run that quarantined it.
      if (attempt === 0)
        expect(run.stderr).toMatch(/1 journal record could not be delivered and was quarantined/);
      else expect(run.stderr).not.toMatch(/quarantined/);
    }
    const dlq = await etl(['dlq', '--state-dir', state]);
    expect(dlq.code).toBe(0);
    expect(dlq.stdout).toContain(
      `1 journal record quarantined at recovery (with the reason): ${join(state, 'bus', 'quarantine.ndjson')}`,
    );
  }, 60_000);
});
