/**
 * A safe file layout for s3rver's store. s3rver maps a key onto a path (`a/b/c` -> `a/b/c._S3rver_object`)
 * and an upload part onto `<uploadId>/<partNumber>`, straight from the request: a long key segment
 * fails the file system (ENAMETOOLONG, unhandled in its write stream), and a crafted uploadId names
 * any directory on disk. Here every name under the store is made by us:
 *
 * - a bucket is a directory named by the bucket (only bucket-name characters, never `.`/`..`),
 * - an object is `<bucket>/<sha256(key)>._S3rver_<resource>`, its key kept in `<hash>._S3rver_key`
 *   for listing; so any key S3 takes (1,024 bytes, any characters) is a fixed-length file name,
 * - an upload is `<bucket>/._S3rver_uploads/<uploadId>/<partNumber>`, with the id s3rver made
 *   (32 hex digits) and a part number 1 to 10,000, checked here again,
 * - objects are written to a temporary file and renamed, their streams' errors handled: a failed
 *   write is an S3 error for that request, never an unhandled exception,
 * - every object written (PUT, copy, completed multipart upload) gets a new version id, kept in
 *   `<hash>._S3rver_version`: buckets are versioned (see s3-versions.ts). Only the current version is
 *   kept, so the store holds what an unversioned one would; an object from before versioning has the
 *   version id `null`, as on S3.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';

/** A multipart upload's metadata as written at its start: its object's user metadata. */
const uploadMetadataSchema = z.record(z.string(), z.string());

/** s3rver's upload ids: 16 random bytes in hex. */
export const UPLOAD_ID = /^[0-9a-f]{32}$/;
export const MAX_PART_NUMBER = 10_000;
/** S3's limit on a key: 1,024 bytes of UTF-8. */
export const MAX_KEY_BYTES = 1024;
/** Characters a bucket name may have (S3's rules are stricter; this is what makes a safe directory name). */
const BUCKET_DIR = /^[A-Za-z0-9][A-Za-z0-9._-]{0,254}$/;
const RESOURCE = /^[a-z0-9][a-z0-9.]*$/i;
const SUFFIX = '._S3rver_';
const KEY_RESOURCE = 'key';
const VERSION_RESOURCE = 'version';
/** Every per-object file this store or s3rver writes (object subresources included). */
const OBJECT_RESOURCES = [
  'object',
  'object.md5',
  'metadata.json',
  'tagging.xml',
  'acl.xml',
  KEY_RESOURCE,
  VERSION_RESOURCE,
];
/** S3's version id of an object written before its bucket was versioned. */
export const NULL_VERSION_ID = 'null';

/** What a request wrote, for its response headers and its notification (set by the store, read by the edge). */
export interface WrittenVersion {
  versionId?: string;
  /** The new object's entity tag, unquoted (s3rver's copy notifications carry none). */
  etag?: string;
}

/** The object a request wrote: each S3 request runs in its own scope (s3-versions.ts). */
export const writtenVersion = new AsyncLocalStorage<WrittenVersion>();

/** A new version id: 32 URL-safe characters, as S3's are. */
export function newVersionId(): string {
  return randomBytes(24).toString('base64url');
}

interface S3ErrorConstructor {
  new (code: string, message: string, detail?: Record<string, unknown>): Error;
}

const require = createRequire(import.meta.url);
/** s3rver's error: thrown from the store or its middleware, answered as S3's XML error. */
export const S3Error = require('s3rver/lib/models/error') as S3ErrorConstructor;
const S3Object = require('s3rver/lib/models/object') as new (
  bucket: string,
  key: string,
  content: Readable | null,
  metadata: Record<string, unknown>,
) => StoredObject;

export function isPartNumber(value: string): boolean {
  return /^[1-9]\d{0,4}$/.test(value) && Number(value) <= MAX_PART_NUMBER;
}

export function isSafeBucketDir(bucket: string): boolean {
  return BUCKET_DIR.test(bucket) && !bucket.includes('..');
}

function keyDigest(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

interface StoredObject {
  bucket: string;
  key: string;
  content: Buffer | Readable;
  metadata: Record<string, string>;
}

interface ListOptions {
  delimiter?: string;
  startAfter?: string;
  prefix?: string;
  maxKeys?: number;
}

/** The parts of s3rver's FilesystemStore this file replaces or calls. */
export interface S3rverStore {
  rootDirectory: string;
  putBucket(name: string): Promise<unknown>;
  getBucketPath(bucket: string): string;
  getResourcePath(bucket: string, key: string | undefined, resource: string): string;
  getMetadata(bucket: string, key: string): Promise<Record<string, unknown>>;
  putMetadata(bucket: string, key: string, metadata: Record<string, string>, md5?: string): Promise<void>;
  listObjects(bucket: string, options: ListOptions): Promise<unknown>;
  putObject(object: StoredObject): Promise<{ size: number; md5: string }>;
  copyObject(
    srcBucket: string,
    srcKey: string,
    destBucket: string,
    destKey: string,
    replacementMetadata?: Record<string, string>,
  ): Promise<unknown>;
  deleteObject(bucket: string, key: string): Promise<void>;
  initiateUpload(bucket: string, key: string, uploadId: string, metadata: unknown): Promise<void>;
  putPart(bucket: string, uploadId: string, partNumber: string | number, content: Readable): Promise<unknown>;
  putObjectMultipart(
    bucket: string,
    uploadId: string,
    parts: { number: number; etag: string }[],
  ): Promise<{ size: number; md5: string }>;
  getBucket(bucket: string): Promise<unknown>;
}

/** The current version id of an object, or undefined when there is no such object. */
export async function objectVersion(
  store: S3rverStore,
  bucket: string,
  key: string,
): Promise<string | undefined> {
  const exists = await stat(store.getResourcePath(bucket, key, 'object')).catch(() => undefined);
  if (!exists) return undefined;
  const id = await readFile(store.getResourcePath(bucket, key, VERSION_RESOURCE), 'utf8').catch(
    (error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return NULL_VERSION_ID;
      throw error;
    },
  );
  return id;
}

/** Counts and hashes the bytes passing through. */
class Digest extends Transform {
  readonly md5 = createHash('md5');
  size = 0;
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.md5.update(chunk);
    this.size += chunk.length;
    callback(null, chunk);
  }
}

/** Writes a stream to `path` through a temporary file: the file appears whole or not at all. */
async function writeWhole(path: string, content: Buffer | Readable): Promise<{ size: number; md5: string }> {
  const temporary = `${path}.${randomBytes(6).toString('hex')}.tmp`;
  const digest = new Digest();
  try {
    await pipeline(
      Buffer.isBuffer(content) ? Readable.from([content]) : content,
      digest,
      createWriteStream(temporary),
    );
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  return { size: digest.size, md5: digest.md5.digest('hex') };
}

/** Replaces s3rver's path mapping and writers on its store instance (see the file comment). */
export function useSafeLayout(store: S3rverStore): void {
  const root = store.rootDirectory;
  const bucketPath = (bucket: string): string => {
    if (!isSafeBucketDir(bucket))
      throw new S3Error('InvalidBucketName', 'The specified bucket is not valid.');
    return join(root, bucket);
  };
  const uploadDir = (bucket: string, uploadId: string): string => {
    if (!UPLOAD_ID.test(uploadId)) {
      throw new S3Error('NoSuchUpload', 'The specified upload does not exist.', { UploadId: uploadId });
    }
    return join(bucketPath(bucket), `${SUFFIX}uploads`, uploadId);
  };
  const originalCopy = store.copyObject.bind(store);
  const originalInitiate = store.initiateUpload.bind(store);
  /** Gives the object just written a new version id, and tells the request's scope. */
  const newVersion = async (bucket: string, key: string, etag: string): Promise<void> => {
    const versionId = newVersionId();
    await writeWhole(store.getResourcePath(bucket, key, VERSION_RESOURCE), Buffer.from(versionId));
    const written = writtenVersion.getStore();
    if (written) Object.assign(written, { versionId, etag });
  };

  Object.assign(store, {
    getBucketPath: bucketPath,

    getResourcePath(bucket: string, key: string | undefined, resource: string): string {
      if (!RESOURCE.test(resource)) throw new Error(`not a store resource: ${resource}`);
      // The bucket's own resources (uploads, cors.xml, ...) keep s3rver's names.
      const name = key === undefined || key === '' ? '' : keyDigest(key);
      return join(bucketPath(bucket), `${name}${SUFFIX}${resource}`);
    },

    async listObjects(bucket: string, options: ListOptions) {
      const { delimiter = '', startAfter = '', prefix = '', maxKeys = Infinity } = options;
      const dir = bucketPath(bucket);
      const names = await readdir(dir).catch(() => [] as string[]);
      const keys: string[] = [];
      for (const name of names) {
        if (!name.endsWith(`${SUFFIX}${KEY_RESOURCE}`)) continue;
        const key = await readFile(join(dir, name), 'utf8').catch(() => undefined);
        if (key !== undefined && key > startAfter && key.startsWith(prefix)) keys.push(key);
      }
      // S3 lists in UTF-8 byte order.
      keys.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      const commonPrefixes = new Set<string>();
      const listed: string[] = [];
      let isTruncated = false;
      for (const key of keys) {
        if (delimiter) {
          const at = key.slice(prefix.length).indexOf(delimiter);
          if (at !== -1) {
            commonPrefixes.add(key.slice(0, prefix.length + at + delimiter.length));
            continue;
          }
        }
        if (listed.length >= maxKeys) {
          isTruncated = true;
          break;
        }
        listed.push(key);
      }
      const objects: unknown[] = [];
      for (const key of listed) {
        const metadata = await store.getMetadata(bucket, key).catch(() => undefined);
        if (metadata) objects.push(new S3Object(bucket, key, null, metadata));
      }
      return { objects, commonPrefixes: [...commonPrefixes].sort(), isTruncated };
    },

    async putObject(object: StoredObject) {
      const path = store.getResourcePath(object.bucket, object.key, 'object');
      await mkdir(bucketPath(object.bucket), { recursive: true });
      await writeFile(store.getResourcePath(object.bucket, object.key, KEY_RESOURCE), object.key);
      const written = await writeWhole(path, object.content);
      await store.putMetadata(object.bucket, object.key, object.metadata, written.md5);
      await newVersion(object.bucket, object.key, written.md5);
      return written;
    },

    async copyObject(
      srcBucket: string,
      srcKey: string,
      destBucket: string,
      destKey: string,
      replacementMetadata?: Record<string, string>,
    ) {
      await writeFile(store.getResourcePath(destBucket, destKey, KEY_RESOURCE), destKey);
      const metadata = (await originalCopy(srcBucket, srcKey, destBucket, destKey, replacementMetadata)) as {
        etag?: string;
      };
      await newVersion(destBucket, destKey, (metadata.etag ?? '').replace(/"/g, ''));
      return metadata;
    },

    async deleteObject(bucket: string, key: string) {
      for (const resource of OBJECT_RESOURCES) {
        await unlink(store.getResourcePath(bucket, key, resource)).catch((error: NodeJS.ErrnoException) => {
          if (error.code !== 'ENOENT') throw error;
        });
      }
    },

    async initiateUpload(bucket: string, key: string, uploadId: string, metadata: unknown) {
      uploadDir(bucket, uploadId);
      return originalInitiate(bucket, key, uploadId, metadata);
    },

    async putPart(bucket: string, uploadId: string, partNumber: string | number, content: Readable) {
      const dir = uploadDir(bucket, uploadId);
      if (!isPartNumber(String(partNumber))) throw invalidPartNumber();
      if (!(await stat(dir).catch(() => undefined))) {
        content.resume();
        throw new S3Error('NoSuchUpload', 'The specified upload does not exist.', { UploadId: uploadId });
      }
      const partPath = join(dir, String(partNumber));
      const written = await writeWhole(partPath, content);
      await writeFile(`${partPath}.md5`, written.md5);
      return written;
    },

    async putObjectMultipart(bucket: string, uploadId: string, parts: { number: number; etag: string }[]) {
      const dir = uploadDir(bucket, uploadId);
      let key: string;
      let metadata: Record<string, string>;
      try {
        key = await readFile(join(dir, 'key'), 'utf8');
        metadata = uploadMetadataSchema.parse(JSON.parse(await readFile(join(dir, 'metadata'), 'utf8')));
      } catch {
        throw new S3Error('NoSuchUpload', 'The specified upload does not exist.', { UploadId: uploadId });
      }
      const ordered = [...parts].sort((a, b) => a.number - b.number);
      const partMd5s: string[] = [];
      for (const part of ordered) {
        const number = String(part.number);
        const md5 = isPartNumber(number)
          ? await readFile(join(dir, `${number}.md5`), 'utf8').catch(() => undefined)
          : undefined;
        // As S3: each part named must have been uploaded, with the entity tag it was given.
        if (md5 === undefined || md5 !== part.etag.replace(/"/g, '')) {
          throw new S3Error(
            'InvalidPart',
            'One or more of the specified parts could not be found. The part might not have been ' +
              "uploaded, or the specified entity tag might not have matched the part's entity tag.",
          );
        }
        partMd5s.push(md5);
      }
      const content = Readable.from(
        (async function* () {
          for (const part of ordered) yield* createReadStream(join(dir, String(part.number)));
        })(),
      );
      const result = await store.putObject(new S3Object(bucket, key, content, metadata));
      // S3's multipart entity tag: the MD5 of the parts' binary MD5s, then `-` and the part count.
      const etag = `${createHash('md5')
        .update(Buffer.concat(partMd5s.map((md5) => Buffer.from(md5, 'hex'))))
        .digest('hex')}-${partMd5s.length}`;
      await store.putMetadata(bucket, key, metadata, etag);
      const written = writtenVersion.getStore();
      if (written) written.etag = etag;
      await rm(dir, { recursive: true, force: true });
      return { ...result, md5: etag };
    },
  });
}

function invalidPartNumber(): Error {
  return new S3Error('InvalidArgument', 'Part number must be an integer between 1 and 10000, inclusive', {
    ArgumentName: 'partNumber',
  });
}
