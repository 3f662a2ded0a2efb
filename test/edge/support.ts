/** A local stack on a free port with a temp state dir, and real SDK v3 clients pointed at its edge. */
import { execFile } from 'node:child_process';
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns';
import { Agent, request } from 'node:http';
import { join } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import type { RunReport } from '../../src/runtime/local/pipeline.ts';
import { LocalStack, type LocalStackOptions } from '../../src/runtime/local/edge/stack.ts';
import { scanAll } from '../support/dynamo.ts';
import { tempDir } from '../support/cli.ts';

const credentials = { accessKeyId: 'test-key', secretAccessKey: 'test-secret' };
const region = 'eu-west-1';

export interface TestStack {
  stack: LocalStack;
  s3: S3Client;
  dynamodb: DynamoDBClient;
  events: EventBridgeClient;
  reports: RunReport[];
  lines: string[];
  stateDir: string;
  close(): Promise<void>;
}

export async function startTestStack(options: Partial<LocalStackOptions> = {}): Promise<TestStack> {
  const stateDir = join(tempDir('etl-edge-'), 'state');
  const reports: RunReport[] = [];
  const lines: string[] = [];
  const stack = await LocalStack.start({
    stateDir,
    port: 0,
    landingDir: false,
    log: (line) => lines.push(line),
    warn: (line) => lines.push(`warn: ${line}`),
    onRun: (report) => reports.push(report),
    ...options,
  });
  await stack.recovered;
  const endpoint = stack.endpoint;
  const s3 = new S3Client({ endpoint, region, credentials, forcePathStyle: true });
  const dynamodb = new DynamoDBClient({ endpoint, region, credentials });
  const events = new EventBridgeClient({ endpoint, region, credentials });
  return {
    stack,
    s3,
    dynamodb,
    events,
    reports,
    lines,
    stateDir,
    async close() {
      s3.destroy();
      dynamodb.destroy();
      events.destroy();
      await stack.close();
    },
  };
}

/** An S3 client addressing buckets virtual-host style (`<bucket>.localhost`), resolving *.localhost to 127.0.0.1. */
export function virtualHostS3(port: number): S3Client {
  const lookup = (
    hostname: string,
    options: LookupOptions,
    callback: (
      error: NodeJS.ErrnoException | null,
      address: string | LookupAddress[],
      family?: number,
    ) => void,
  ): void => {
    if (hostname === 'localhost' || hostname.endsWith('.localhost')) {
      if (options.all) callback(null, [{ address: '127.0.0.1', family: 4 }]);
      else callback(null, '127.0.0.1', 4);
      return;
    }
    dnsLookup(hostname, options, callback as never);
  };
  return new S3Client({
    endpoint: `http://localhost:${port}`,
    region,
    credentials,
    forcePathStyle: false,
    requestHandler: { httpAgent: new Agent({ lookup: lookup as never }) },
  });
}

/** Polls until `read` returns something `done` accepts, or fails after a generous deadline. */
export async function eventually<T>(
  read: () => Promise<T>,
  done: (value: T) => boolean,
  what: string,
  deadlineMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`gave up waiting for ${what}; last saw ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The table's items, read through the edge. */
export function scanTable(t: TestStack): Promise<Record<string, unknown>[]> {
  return scanAll(t.dynamodb, t.stack.tableName);
}

export { SEED_ITEMS } from '../support/seed.ts';

export const SEED_SOURCE = 'cdkpatterns.the-eventbridge-etl';

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** An Authorization header shaped like SigV4's (the edge wants one; it does not check the signature). */
export const SIGV4_AUTHORIZATION =
  'AWS4-HMAC-SHA256 Credential=test-key/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00';

/**
 * One HTTP request to the edge as a client that is not an SDK would send it: the path as given (not
 * normalised), signed-looking unless `unsigned`, headers as given (Host defaults to 127.0.0.1:port).
 */
export function rawRequest(
  port: number,
  options: {
    method?: string;
    path?: string;
    headers?: Record<string, string>;
    body?: string | Buffer;
    unsigned?: boolean;
  },
): Promise<RawResponse> {
  const headers: Record<string, string> = {
    ...(options.unsigned
      ? {}
      : {
          authorization: SIGV4_AUTHORIZATION,
          'x-amz-date': new Date().toISOString().replace(/[-:]|\.\d+/g, ''),
          'x-amz-content-sha256': 'UNSIGNED-PAYLOAD',
        }),
    ...options.headers,
  };
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, method: options.method ?? 'POST', path: options.path ?? '/', headers },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Debian's AWS CLI v2 (2.9.19 here): CI installs it (.ci/run); tests that need it fail without it. */
export const AWS_CLI = '/usr/bin/aws';

/** Runs the AWS CLI v2 against the edge with dummy credentials and no config; its exit code and output. */
export function awsCli(
  endpoint: string,
  args: string[],
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      AWS_CLI,
      [...args, '--endpoint-url', endpoint, '--region', 'us-east-1', '--output', 'json'],
      {
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '/tmp',
          AWS_ACCESS_KEY_ID: 'test-key',
          AWS_SECRET_ACCESS_KEY: 'test-secret',
          AWS_CONFIG_FILE: '/dev/null',
          AWS_SHARED_CREDENTIALS_FILE: '/dev/null',
          AWS_PAGER: '',
        },
      },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}
