/** The Fargate extract task's entry: object stream -> extract stage -> EventPublisher. */
import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { KMSClient } from '@aws-sdk/client-kms';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EnvelopeCipher } from '../../src/adapters/envelope-cipher.ts';
import { KmsDataKeys } from '../../src/adapters/kms-data-keys.ts';
import { ObjectChangedError, openS3Object } from '../../src/adapters/s3-object-source.ts';
import { definePipeline, DetailType } from '../../src/pipeline/definition.ts';
import type { PutEventsEntry, RowExtractedDetail } from '../../src/pipeline/events.ts';
import { SEED_MAPPING } from '../../src/pipeline/mapping.ts';
import { runIdForObject } from '../../src/pipeline/run-id.ts';
import { runExtractTask } from '../../src/runtime/aws/extract-task.ts';
import { decodeCsvLine } from '../../src/stages/csv.ts';
import type { EventPublisher } from '../../src/stages/ports.ts';
import { startFakeKms } from './fake-kms.ts';
import { CapturingPublisher, silentLogger } from './fixtures.ts';

const SAMPLE = new URL('../../data/test_data.csv', import.meta.url);
const definition = definePipeline();

/** A publisher that takes a while per call and records how many calls overlapped. */
class SlowPublisher implements EventPublisher {
  readonly entries: PutEventsEntry[] = [];
  inFlight = 0;
  maxInFlight = 0;

  async putEvents(entries: PutEventsEntry[]): Promise<void> {
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setImmediate(resolve));
    this.entries.push(...entries);
    this.inFlight -= 1;
  }
}

describe('runExtractTask', () => {
  it('streams the object into extract and names the run after bucket, key and served ETag', async () => {
    const csv = await readFile(SAMPLE);
    const publisher = new CapturingPublisher();
    const opened: unknown[] = [];
    const result = await runExtractTask(
      { bucket: 'landing', key: 'test_data.csv', etag: 'e1' },
      {
        definition,
        objects: async (object) => {
          opened.push(object);
          return { body: Readable.from([csv.subarray(0, 40), csv.subarray(40)]), etag: 'e1' };
        },
        publisher,
        logger: silentLogger(),
      },
    );
    const run = runIdForObject('landing', 'test_data.csv', 'e1');
    expect(opened).toEqual([{ bucket: 'landing', key: 'test_data.csv', etag: 'e1' }]);
    expect(result).toEqual({ run, file: 's3://landing/test_data.csv', rows: 5 });
    expect(publisher.entries.map((e) => e.DetailType)).toEqual([
      DetailType.extractionStarted,
      ...Array(5).fill(DetailType.rowExtracted),
      DetailType.extractionCompleted,
    ]);
    const rows = publisher.details<RowExtractedDetail>(DetailType.rowExtracted);
    expect(rows[0]).toEqual({
      status: 'extracted',
      headers: 'ID,HouseNum,Street,Town,Zip',
      data: '1,12,Main Street,Antrim,22876',
      run,
      row: 1,
    });
    expect(publisher.details(DetailType.extractionCompleted)).toEqual([
      { status: 'completed', run, file: 's3://landing/test_data.csv', rows: 5 },
    ]);
  });

  it('keeps several PutEvents calls in flight, never more than configured', async () => {
    const lines = ['ID,HouseNum,Street,Town,Zip', ...Array.from({ length: 400 }, (_, i) => `${i},1,S,T,Z`)];
    const publisher = new SlowPublisher();
    const result = await runExtractTask(
      { bucket: 'landing', key: 'big.csv' },
      {
        definition,
        objects: async () => ({ body: Readable.from([Buffer.from(lines.join('\n'))]), etag: 'e2' }),
        publisher,
        maxPutsInFlight: 3,
        logger: silentLogger(),
      },
    );
    expect(result.rows).toBe(400);
    expect(publisher.entries.filter((e) => e.DetailType === DetailType.rowExtracted)).toHaveLength(400);
    expect(publisher.maxInFlight).toBe(3);
  });

  it('envelope-encrypts sensitive columns with a KMS data key for the run', async () => {
    const kms = await startFakeKms();
    const client = new KMSClient({
      endpoint: kms.endpoint,
      region: 'eu-west-1',
      credentials: { accessKeyId: 't', secretAccessKey: 't' },
    });
    try {
      const mapping = {
        ...SEED_MAPPING,
        columns: {
          ...SEED_MAPPING.columns,
          Street: { attribute: 'street_address', type: 'string' as const, sensitive: true },
        },
      };
      const publisher = new CapturingPublisher();
      const { run } = await runExtractTask(
        { bucket: 'landing', key: 'test_data.csv' },
        {
          definition: definePipeline({ mapping }),
          objects: async () => ({ body: Readable.from([await readFile(SAMPLE)]), etag: 'e3' }),
          publisher,
          cipher: new EnvelopeCipher(new KmsDataKeys(client, kms.keyId)),
          logger: silentLogger(),
        },
      );
      const [first] = publisher.details<RowExtractedDetail>(DetailType.rowExtracted);
      const street = decodeCsvLine(first?.data ?? '')[2] ?? '';
      expect(street.startsWith('enc:v1:')).toBe(true);
      expect(JSON.stringify(publisher.entries)).not.toContain('Main Street');
      const loadSide = new EnvelopeCipher(new KmsDataKeys(client, kms.keyId));
      expect(await loadSide.decrypt(run, street)).toBe('Main Street');
      expect(kms.calls.filter((c) => c.action === 'GenerateDataKey')).toHaveLength(1);
    } finally {
      client.destroy();
      await kms.close();
    }
  });

  describe('against s3rver (GetObject through the real S3 client)', () => {
    type S3rverInstance = { run(): Promise<AddressInfo>; close(): Promise<void> };
    const S3rver = createRequire(import.meta.url)('s3rver') as new (
      options: Record<string, unknown>,
    ) => S3rverInstance;
    let server: S3rverInstance;
    let dir: string;
    let s3: S3Client;
    let etag: string;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 's3rver-'));
      server = new S3rver({
        address: '127.0.0.1',
        port: 0,
        silent: true,
        directory: dir,
        configureBuckets: [{ name: 'landing' }],
      });
      const { port } = await server.run();
      s3 = new S3Client({
        endpoint: `http://127.0.0.1:${port}`,
        forcePathStyle: true,
        region: 'us-east-1',
        credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      });
      const put = await s3.send(
        new PutObjectCommand({
          Bucket: 'landing',
          Key: 'uploads/test_data.csv',
          Body: await readFile(SAMPLE),
        }),
      );
      etag = put.ETag ?? '';
    });
    afterAll(async () => {
      s3?.destroy();
      await server?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('extracts the object as it streams, with the run id of its ETag', async () => {
      const publisher = new CapturingPublisher();
      const result = await runExtractTask(
        { bucket: 'landing', key: 'uploads/test_data.csv', etag: etag.replace(/"/g, '') },
        { definition, objects: (object) => openS3Object(s3, object), publisher, logger: silentLogger() },
      );
      expect(result).toEqual({
        run: runIdForObject('landing', 'uploads/test_data.csv', etag),
        file: 's3://landing/uploads/test_data.csv',
        rows: 5,
      });
      expect(publisher.details<RowExtractedDetail>(DetailType.rowExtracted).map((d) => d.row)).toEqual([
        1, 2, 3, 4, 5,
      ]);
    });

    it('refuses a version other than the one the notification announced', async () => {
      const publisher = new CapturingPublisher();
      await expect(
        runExtractTask(
          { bucket: 'landing', key: 'uploads/test_data.csv', etag: '0123456789abcdef0123456789abcdef' },
          { definition, objects: (object) => openS3Object(s3, object), publisher, logger: silentLogger() },
        ),
      ).rejects.toBeInstanceOf(ObjectChangedError);
      expect(publisher.entries).toEqual([]);
    });
  });
});

describe('the task bundle (what the Dockerfile builds and runs)', () => {
  it('bundles into one file that starts on its own and reports missing configuration', async () => {
    const out = await mkdtemp(join(tmpdir(), 'extract-task-'));
    try {
      const { buildExtractTask } = await import('../../src/runtime/aws/task/build.mjs');
      await buildExtractTask(out);
      const run = spawnSync(process.execPath, [join(out, 'extract-task.mjs')], {
        cwd: out,
        env: { PATH: process.env.PATH ?? '', AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
        encoding: 'utf8',
        timeout: 30_000,
      });
      expect(run.status).toBe(1);
      // Powertools writes errors to stderr; the awslogs driver collects both streams.
      const lines = `${run.stdout}\n${run.stderr}`.split('\n').filter((l) => l.startsWith('{'));
      const log = JSON.parse(lines.at(-1) ?? '{}') as { message?: string; error?: { message?: string } };
      expect(log.message).toBe('configuration error');
      expect(log.error?.message).toBe('S3_BUCKET_NAME is not set');
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});

describe('runExtractTask readers', () => {
  it('reads a gzipped object whatever its name, and a .jsonl object as JSON Lines (its bad line failing alone)', async () => {
    const csv = await readFile(SAMPLE);
    const jsonl = gzipSync(
      `${JSON.stringify({ ID: '7', HouseNum: 3, Street: 'Quay', Town: 'Larne', Zip: 40001 })}\n[1]\n`,
    );
    const bodies: Record<string, Buffer> = { 'in/sample.csv': gzipSync(csv), 'in/rows.jsonl': jsonl };
    const extracted = async (key: string) => {
      const publisher = new CapturingPublisher();
      const result = await runExtractTask(
        { bucket: 'landing', key, etag: 'e1' },
        {
          definition,
          objects: async () => ({ body: Readable.from([bodies[key] as Buffer]), etag: 'e1' }),
          publisher,
          logger: silentLogger(),
        },
      );
      return { result, publisher };
    };
    const gz = await extracted('in/sample.csv');
    expect(gz.result.rows).toBe(5);
    expect(gz.publisher.details<RowExtractedDetail>(DetailType.rowExtracted)[0]?.data).toBe(
      '1,12,Main Street,Antrim,22876',
    );
    const lines = await extracted('in/rows.jsonl');
    expect(lines.result.rows).toBe(2);
    expect(
      lines.publisher.details<RowExtractedDetail>(DetailType.rowExtracted).map((r) => [r.headers, r.data]),
    ).toEqual([['ID,HouseNum,Street,Town,Zip', '7,3,Quay,Larne,40001']]);
    expect(lines.publisher.details(DetailType.rowFailed)).toMatchObject([
      { stage: 'extract', row: 2, reason: 'line is an array, not a JSON object' },
    ]);
  });
});
