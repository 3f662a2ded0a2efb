/** The landing bucket takes gzip and JSON Lines objects, read by the same readers as `etl run`. */
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, scanTable, SEED_ITEMS, startTestStack, type TestStack } from './support.ts';

const SAMPLE = readFileSync('data/test_data.csv');

describe('gzip and JSON Lines uploads to the landing bucket', () => {
  let t: TestStack;
  beforeAll(async () => {
    t = await startTestStack();
  });
  afterAll(async () => t?.close());

  const reportOf = (key: string) =>
    eventually(
      async () => t.reports.find((r) => r.file === `s3://${t.stack.bucket}/${key}`),
      (r) => r !== undefined,
      `the run of ${key}`,
    );

  it('a gzipped CSV named .csv is gunzipped by its magic bytes and loaded', async () => {
    await t.s3.send(
      new PutObjectCommand({ Bucket: t.stack.bucket, Key: 'zipped/sample.csv', Body: gzipSync(SAMPLE) }),
    );
    const report = await reportOf('zipped/sample.csv');
    expect(report?.counts).toMatchObject({ extracted: 5, loaded: 5, failed: 0 });
    expect(report?.error).toBeUndefined();
    expect(await scanTable(t)).toEqual(SEED_ITEMS);
  });

  it('a gzipped .jsonl object is read as JSON Lines: its bad line fails alone', async () => {
    const lines = [
      JSON.stringify({ ID: '101', HouseNum: 1, Street: 'Quay', Town: 'Larne', Zip: 40001 }),
      '["not", "an object"]',
      JSON.stringify({ ID: '102', Street: 'Pier', Town: 'Larne', Extra: { ignored: true } }),
    ];
    await t.s3.send(
      new PutObjectCommand({
        Bucket: t.stack.bucket,
        Key: 'lines.jsonl',
        Body: gzipSync(`${lines.join('\n')}\n`),
      }),
    );
    const report = await reportOf('lines.jsonl');
    expect(report?.counts).toMatchObject({ extracted: 2, loaded: 2, failed: 1 });
    const items = await scanTable(t);
    expect(items).toEqual(
      expect.arrayContaining([
        { id: '101', house_number: '1', street_address: 'Quay', town: 'Larne', zip: '40001' },
        { id: '102', street_address: 'Pier', town: 'Larne' },
      ]),
    );
  });
});
