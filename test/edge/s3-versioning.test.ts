/**
 * Versioned buckets on the edge: version ids on every write, GetObject/HeadObject by version,
 * GetBucketVersioning, ListObjectVersions (SDK and `aws s3api list-object-versions`), and the landing
 * bucket's runs named by the version, as on AWS.
 */
import { createHash } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import {
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  GetBucketVersioningCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectVersionsCommand,
  PutBucketVersioningCommand,
  PutObjectCommand,
  UploadPartCommand,
} from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runIdForObject } from '../../src/pipeline/run-id.ts';
import { statePaths } from '../../src/runtime/local/state.ts';
import { awsCli, eventually, rawRequest, startTestStack, type TestStack } from './support.ts';

const SAMPLE = readFileSync('data/test_data.csv');
const VERSION_ID = /^[A-Za-z0-9_-]{32}$/;

describe('versioned buckets', () => {
  let t: TestStack;
  const bucket = 'versioned-x';
  beforeAll(async () => {
    t = await startTestStack();
    await t.s3.send(new CreateBucketCommand({ Bucket: bucket }));
  });
  afterAll(async () => t?.close());

  it('says every bucket is versioned, and refuses to suspend it', async () => {
    for (const name of [bucket, t.stack.bucket]) {
      expect((await t.s3.send(new GetBucketVersioningCommand({ Bucket: name }))).Status).toBe('Enabled');
    }
    await t.s3.send(
      new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Enabled' } }),
    );
    await expect(
      t.s3.send(
        new PutBucketVersioningCommand({ Bucket: bucket, VersioningConfiguration: { Status: 'Suspended' } }),
      ),
    ).rejects.toMatchObject({ name: 'NotImplemented' });
    await expect(
      t.s3.send(new GetBucketVersioningCommand({ Bucket: 'no-such-bucket-x' })),
    ).rejects.toMatchObject({
      name: 'NoSuchBucket',
    });
  });

  it('gives each PUT a new version id, serves the current one by id, and says NoSuchVersion for an overwritten one', async () => {
    const first = await t.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'a/v.txt', Body: 'one' }));
    const second = await t.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'a/v.txt', Body: 'two' }));
    expect(first.VersionId).toMatch(VERSION_ID);
    expect(second.VersionId).toMatch(VERSION_ID);
    expect(second.VersionId).not.toBe(first.VersionId);

    const latest = await t.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'a/v.txt' }));
    expect(latest.VersionId).toBe(second.VersionId);
    expect(await latest.Body?.transformToString()).toBe('two');
    const byId = await t.s3.send(
      new GetObjectCommand({ Bucket: bucket, Key: 'a/v.txt', VersionId: second.VersionId }),
    );
    expect(await byId.Body?.transformToString()).toBe('two');
    const head = await t.s3.send(
      new HeadObjectCommand({ Bucket: bucket, Key: 'a/v.txt', VersionId: second.VersionId }),
    );
    expect(head.VersionId).toBe(second.VersionId);
    expect(head.ContentLength).toBe(3);

    // Only the current version is kept: the overwritten one is gone, as after a lifecycle expiration.
    await expect(
      t.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'a/v.txt', VersionId: first.VersionId })),
    ).rejects.toMatchObject({ name: 'NoSuchVersion', $metadata: { httpStatusCode: 404 } });
    await expect(
      t.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'a/v.txt', VersionId: first.VersionId })),
    ).rejects.toMatchObject({ $metadata: { httpStatusCode: 404 } });
  });

  it('versions copies (with the source version) and completed multipart uploads', async () => {
    const source = await t.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'src.txt', Body: 'copy me' }));
    const copied = await t.s3.send(
      new CopyObjectCommand({
        Bucket: bucket,
        Key: 'dst.txt',
        CopySource: `${bucket}/src.txt?versionId=${source.VersionId}`,
      }),
    );
    expect(copied.VersionId).toMatch(VERSION_ID);
    expect(copied.VersionId).not.toBe(source.VersionId);
    expect(copied.CopySourceVersionId).toBe(source.VersionId);
    const got = await t.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'dst.txt' }));
    expect(await got.Body?.transformToString()).toBe('copy me');
    expect(got.VersionId).toBe(copied.VersionId);
    await expect(
      t.s3.send(
        new CopyObjectCommand({
          Bucket: bucket,
          Key: 'dst2.txt',
          CopySource: `${bucket}/src.txt?versionId=nope`,
        }),
      ),
    ).rejects.toMatchObject({ name: 'NoSuchVersion' });

    const { UploadId } = await t.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'mp.txt' }));
    const part = await t.s3.send(
      new UploadPartCommand({ Bucket: bucket, Key: 'mp.txt', UploadId, PartNumber: 1, Body: 'parts' }),
    );
    const done = await t.s3.send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: 'mp.txt',
        UploadId,
        MultipartUpload: { Parts: [{ PartNumber: 1, ETag: part.ETag }] },
      }),
    );
    expect(done.VersionId).toMatch(VERSION_ID);
    expect((await t.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: 'mp.txt' }))).VersionId).toBe(
      done.VersionId,
    );
  });

  it('lists object versions with prefix, delimiter and paging, for the SDK and for aws s3api list-object-versions', async () => {
    const listBucket = 'listed-versions-x';
    await t.s3.send(new CreateBucketCommand({ Bucket: listBucket }));
    const versions = new Map<string, string>();
    for (const key of ['k1', 'k2', 'k3', 'dir/k4', 'odd key+&.txt']) {
      const put = await t.s3.send(new PutObjectCommand({ Bucket: listBucket, Key: key, Body: key }));
      versions.set(key, put.VersionId ?? '');
    }
    const page1 = await t.s3.send(
      new ListObjectVersionsCommand({ Bucket: listBucket, Prefix: 'k', MaxKeys: 2 }),
    );
    expect(page1.IsTruncated).toBe(true);
    expect(page1.Versions?.map((v) => [v.Key, v.VersionId, v.IsLatest])).toEqual([
      ['k1', versions.get('k1'), true],
      ['k2', versions.get('k2'), true],
    ]);
    expect(page1.Versions?.[0]).toMatchObject({
      Size: 2,
      ETag: `"${createHash('md5').update('k1').digest('hex')}"`,
    });
    const page2 = await t.s3.send(
      new ListObjectVersionsCommand({
        Bucket: listBucket,
        Prefix: 'k',
        MaxKeys: 2,
        KeyMarker: page1.NextKeyMarker,
        VersionIdMarker: page1.NextVersionIdMarker,
      }),
    );
    expect(page2.IsTruncated).toBe(false);
    expect(page2.Versions?.map((v) => v.Key)).toEqual(['k3']);
    const delimited = await t.s3.send(new ListObjectVersionsCommand({ Bucket: listBucket, Delimiter: '/' }));
    expect(delimited.CommonPrefixes?.map((p) => p.Prefix)).toEqual(['dir/']);
    expect(delimited.Versions?.map((v) => v.Key)).toEqual(['k1', 'k2', 'k3', 'odd key+&.txt']);

    // The CLI asks for url-encoded keys and decodes them.
    const cli = await awsCli(t.stack.endpoint, ['s3api', 'list-object-versions', '--bucket', listBucket]);
    expect(cli.stderr).toBe('');
    const listed = JSON.parse(cli.stdout) as {
      Versions: { Key: string; VersionId: string; IsLatest: boolean }[];
    };
    expect(listed.Versions.map((v) => [v.Key, v.VersionId, v.IsLatest])).toEqual(
      ['dir/k4', 'k1', 'k2', 'k3', 'odd key+&.txt'].map((key) => [key, versions.get(key), true]),
    );
  }, 30_000);

  it('versions an object uploaded by a (signed) form POST', async () => {
    const boundary = 'formboundary';
    const form =
      `--${boundary}\r\nContent-Disposition: form-data; name="key"\r\n\r\nform.txt\r\n` +
      `--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="form.txt"\r\n` +
      `Content-Type: text/plain\r\n\r\nfrom a form\r\n--${boundary}--\r\n`;
    const res = await rawRequest(t.stack.edge.port, {
      path: `/${bucket}`,
      headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
      body: form,
    });
    expect(res.status).toBeLessThan(300);
    expect(res.headers['x-amz-version-id']).toMatch(VERSION_ID);
    const got = await t.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'form.txt' }));
    expect(got.VersionId).toBe(res.headers['x-amz-version-id']);
    expect(await got.Body?.transformToString()).toBe('from a form');
  });

  it('gives an object written before versioning the version id null, as S3 does', async () => {
    await t.s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'old.txt', Body: 'old' }));
    const digest = createHash('sha256').update('old.txt').digest('hex');
    rmSync(join(statePaths(t.stateDir).s3, bucket, `${digest}._S3rver_version`));
    const got = await t.s3.send(new GetObjectCommand({ Bucket: bucket, Key: 'old.txt', VersionId: 'null' }));
    expect(got.VersionId).toBe('null');
    expect(await got.Body?.transformToString()).toBe('old');
  });
});

describe('the landing bucket, versioned', () => {
  let t: TestStack;
  beforeAll(async () => {
    t = await startTestStack();
  });
  afterAll(async () => t?.close());

  it('runs each upload of the same content as its own run, named by its version id', async () => {
    const key = 'again/test_data.csv';
    const first = await t.s3.send(new PutObjectCommand({ Bucket: t.stack.bucket, Key: key, Body: SAMPLE }));
    await eventually(
      async () => t.reports.length,
      (n) => n >= 1,
      'the first run',
    );
    const second = await t.s3.send(new PutObjectCommand({ Bucket: t.stack.bucket, Key: key, Body: SAMPLE }));
    await eventually(
      async () => t.reports.length,
      (n) => n >= 2,
      'the second run',
    );
    expect(second.ETag).toBe(first.ETag);
    const runs = t.reports.map((r) => r.run);
    expect(runs).toEqual([
      runIdForObject(t.stack.bucket, key, first.ETag ?? '', first.VersionId),
      runIdForObject(t.stack.bucket, key, second.ETag ?? '', second.VersionId),
    ]);
    expect(new Set(runs).size).toBe(2);
    for (const report of t.reports)
      expect(report.counts).toMatchObject({ extracted: 5, loaded: 5, failed: 0 });
  }, 60_000);
});
