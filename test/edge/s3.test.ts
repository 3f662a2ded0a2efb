import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { createHash } from 'node:crypto';
import {
  CompleteMultipartUploadCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetObjectCommand,
  HeadObjectCommand,
  UploadPartCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runIdForObject } from '../../src/pipeline/run-id.ts';
import {
  eventually,
  scanTable,
  SEED_ITEMS,
  startTestStack,
  type TestStack,
  virtualHostS3,
} from './support.ts';

const SAMPLE = readFileSync('data/test_data.csv');

describe('S3 on the edge, and the landing bucket path into the pipeline', () => {
  let t: TestStack;
  beforeAll(async () => {
    t = await startTestStack();
  });
  afterAll(async () => t?.close());

  it('PutObject of the sample into the landing bucket ends with its 5 items in the table', async () => {
    const put = await t.s3.send(
      new PutObjectCommand({ Bucket: t.stack.bucket, Key: 'incoming/test_data.csv', Body: SAMPLE }),
    );
    const items = await eventually(
      () => scanTable(t),
      (found) => found.length >= 5,
      'the sample to be loaded',
    );
    expect(items).toEqual(SEED_ITEMS);

    // One run, named by bucket, key, ETag and version, its tally logged.
    const report = await eventually(
      async () => t.reports.find((r) => r.file === `s3://${t.stack.bucket}/incoming/test_data.csv`),
      (r) => r !== undefined,
      'the run report',
    );
    expect(put.VersionId).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(report?.run).toBe(
      runIdForObject(t.stack.bucket, 'incoming/test_data.csv', put.ETag ?? '', put.VersionId),
    );
    expect(report?.counts).toMatchObject({ extracted: 5, transformed: 5, loaded: 5, failed: 0 });
    expect(t.lines).toContain(
      `s3://${t.stack.bucket}/incoming/test_data.csv (${report?.run}): extracted 5, transformed 5, loaded 5, failed 0, dead-lettered 0`,
    );
  });

  it('decodes aws-chunked streaming uploads: the object is stored byte for byte and is run', async () => {
    const csv =
      'ID,HouseNum,Street,Town,Zip\r\n71,1,Quay Street,Larne,11111\r\n72,2,Pier Road,Larne,22222\r\n';
    // A stream body: the SDK sends it aws-chunked, its CRC32 in a trailer.
    await t.s3.send(
      new PutObjectCommand({
        Bucket: t.stack.bucket,
        Key: 'streamed.csv',
        Body: Readable.from([Buffer.from(csv.slice(0, 40)), Buffer.from(csv.slice(40))]),
        ContentLength: Buffer.byteLength(csv),
      }),
    );
    const got = await t.s3.send(new GetObjectCommand({ Bucket: t.stack.bucket, Key: 'streamed.csv' }));
    expect(await got.Body?.transformToString()).toBe(csv);
    expect(got.ContentEncoding).toBeUndefined();
    const items = await eventually(
      () => scanTable(t),
      (found) => found.some((i) => i.id === '72'),
      'the streamed rows to be loaded',
    );
    expect(items.find((i) => i.id === '71')).toEqual({
      id: '71',
      house_number: '1',
      street_address: 'Quay Street',
      town: 'Larne',
      zip: '11111',
    });
  });

  it('serves virtual-host style requests (<bucket>.localhost) as well as path style', async () => {
    const vhost = virtualHostS3(t.stack.edge.port);
    try {
      await vhost.send(new CreateBucketCommand({ Bucket: 'vhost-bucket' }));
      await vhost.send(new PutObjectCommand({ Bucket: 'vhost-bucket', Key: 'a/b.txt', Body: 'hello' }));
      const listed = await vhost.send(new ListObjectsV2Command({ Bucket: 'vhost-bucket' }));
      expect(listed.Contents?.map((c) => c.Key)).toEqual(['a/b.txt']);
      // The same object, path style.
      const got = await t.s3.send(new GetObjectCommand({ Bucket: 'vhost-bucket', Key: 'a/b.txt' }));
      expect(await got.Body?.transformToString()).toBe('hello');
    } finally {
      vhost.destroy();
    }
  });

  it("gives a multipart object S3's entity tag (MD5 of the part MD5s, -N) and refuses a part named with the wrong one", async () => {
    const key = 'multipart/parts.csv';
    const parts = [
      Buffer.from(`ID,HouseNum,Street,Town,Zip\n${'81,1,Long Street,Town,1\n'.repeat(3)}`),
      Buffer.from('82,2,Short Street,Town,2\n'),
    ];
    const { UploadId } = await t.s3.send(
      new CreateMultipartUploadCommand({ Bucket: t.stack.bucket, Key: key }),
    );
    const uploaded = [];
    for (const [i, body] of parts.entries()) {
      const { ETag } = await t.s3.send(
        new UploadPartCommand({ Bucket: t.stack.bucket, Key: key, UploadId, PartNumber: i + 1, Body: body }),
      );
      uploaded.push({ PartNumber: i + 1, ETag });
    }
    const complete = (Parts: { PartNumber: number; ETag?: string }[]) =>
      t.s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: t.stack.bucket,
          Key: key,
          UploadId,
          MultipartUpload: { Parts },
        }),
      );
    await expect(
      complete([uploaded[0] as never, { PartNumber: 2, ETag: '"0123456789abcdef0123456789abcdef"' }]),
    ).rejects.toMatchObject({
      name: 'InvalidPart',
    });
    const done = await complete(uploaded);
    const md5 = (b: Buffer) => createHash('md5').update(b).digest();
    const expected = `"${createHash('md5')
      .update(Buffer.concat(parts.map(md5)))
      .digest('hex')}-2"`;
    expect(done.ETag).toBe(expected);
    expect((await t.s3.send(new HeadObjectCommand({ Bucket: t.stack.bucket, Key: key }))).ETag).toBe(
      expected,
    );
    const body = await (
      await t.s3.send(new GetObjectCommand({ Bucket: t.stack.bucket, Key: key }))
    ).Body?.transformToString();
    expect(body).toBe(Buffer.concat(parts).toString());
  });

  it("answers S3's own errors in S3's shape", async () => {
    const error = await t.s3
      .send(new GetObjectCommand({ Bucket: t.stack.bucket, Key: 'no-such-key' }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(S3ServiceException);
    expect((error as S3ServiceException).name).toBe('NoSuchKey');
  });
});
