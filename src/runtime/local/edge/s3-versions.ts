/**
 * Versioned buckets on top of s3rver, which knows no versions: every bucket of the local stack is
 * versioned, as the stack's landing bucket is on AWS (run ids there use the version id).
 *
 * - a PUT, a copy and a completed multipart upload answer with `x-amz-version-id` (a copy also with
 *   `x-amz-copy-source-version-id`), and the ObjectCreated notification carries the version id;
 * - GetObject and HeadObject answer with the version id, and take `versionId`: the current version's
 *   is served, any other is NoSuchVersion;
 * - a copy source may name its version (`bucket/key?versionId=...`);
 * - GetBucketVersioning says Enabled; PutBucketVersioning takes Enabled and refuses Suspended;
 * - ListObjectVersions lists each object's version (prefix, delimiter, key-marker, max-keys,
 *   encoding-type), enough for `aws s3api list-object-versions`.
 *
 * Bounded by design: only the current version of an object is kept (as if a lifecycle rule expired
 * noncurrent versions at once), so the disk holds what an unversioned bucket would. An overwritten
 * version is gone (NoSuchVersion); DeleteObject removes the object rather than leaving a delete marker.
 */
import type { IncomingMessage } from 'node:http';
import {
  NULL_VERSION_ID,
  objectVersion,
  S3Error,
  type S3rverStore,
  type WrittenVersion,
  writtenVersion,
} from './s3-store.ts';

/** The parts of Koa's context this middleware uses. */
interface KoaContext {
  method: string;
  path: string;
  query: Record<string, string | string[] | undefined>;
  req: IncomingMessage;
  status: number;
  body: unknown;
  type: string;
  set(name: string, value: string): void;
}

type Next = () => Promise<unknown>;
export type KoaMiddleware = (ctx: KoaContext, next: Next) => Promise<void>;

const S3_NAMESPACE = 'http://s3.amazonaws.com/doc/2006-03-01/';
const DEFAULT_MAX_KEYS = 1000;
/** PutBucketVersioning's body is a few hundred bytes. */
const MAX_CONFIG_BYTES = 64 * 1024;

function xmlText(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** `/bucket/key` as s3rver is handed it (the key one encoded segment, see s3.ts). */
function target(path: string): { bucket: string; key: string } {
  const slash = path.indexOf('/', 1);
  const bucket = decodeURIComponent(slash === -1 ? path.slice(1) : path.slice(1, slash));
  const key = slash === -1 ? '' : decodeURIComponent(path.slice(slash + 1));
  return { bucket, key };
}

async function readSmallBody(req: IncomingMessage): Promise<string> {
  let text = '';
  for await (const chunk of req as AsyncIterable<Buffer>) {
    text += chunk.toString('utf8');
    if (text.length > MAX_CONFIG_BYTES)
      throw new S3Error('MalformedXML', 'The XML you provided was too large.');
  }
  return text;
}

/** The middleware, placed in s3rver's Koa app just before its router. */
export function versioning(store: S3rverStore): KoaMiddleware {
  const noSuchVersion = (versionId: string, key: string) =>
    new S3Error('NoSuchVersion', 'The specified version does not exist.', { Key: key, VersionId: versionId });
  const bucketMustExist = async (bucket: string): Promise<void> => {
    if (!(await store.getBucket(bucket))) {
      throw new S3Error('NoSuchBucket', 'The specified bucket does not exist', { BucketName: bucket });
    }
  };

  return async (ctx, next) => {
    const { bucket, key } = target(ctx.path);
    if (bucket === '') return void (await next());
    const method = ctx.method;

    if (key === '') {
      if ('versioning' in ctx.query && (method === 'GET' || method === 'PUT')) {
        await bucketMustExist(bucket);
        if (method === 'PUT') {
          const body = await readSmallBody(ctx.req);
          if (/<Status>\s*Suspended\s*<\/Status>/.test(body)) {
            throw new S3Error(
              'NotImplemented',
              'Every bucket of the local stack is versioned: versioning cannot be suspended here.',
            );
          }
          ctx.status = 200;
          ctx.body = '';
          return;
        }
        ctx.type = 'application/xml';
        ctx.body =
          `<?xml version="1.0" encoding="UTF-8"?>\n<VersioningConfiguration xmlns="${S3_NAMESPACE}">` +
          '<Status>Enabled</Status></VersioningConfiguration>';
        return;
      }
      if ('versions' in ctx.query && method === 'GET') {
        await bucketMustExist(bucket);
        ctx.type = 'application/xml';
        ctx.body = await listVersions(store, bucket, ctx.query);
        return;
      }
      // A browser-form upload (POST to the bucket) writes an object too.
      if (method === 'POST' && !('delete' in ctx.query)) return void (await withWrittenVersion(ctx, next));
      return void (await next());
    }

    const versionId = single(ctx.query.versionId);
    if (method === 'GET' || method === 'HEAD') {
      const current = await objectVersion(store, bucket, key);
      if (versionId !== undefined && versionId !== current) {
        throw noSuchVersion(versionId, key);
      }
      await next();
      if (ctx.status < 300 && current !== undefined) ctx.set('x-amz-version-id', current);
      return;
    }
    if (method === 'DELETE' && versionId !== undefined) {
      const current = await objectVersion(store, bucket, key);
      // Deleting a version that is not there (any more) leaves nothing to do, as S3's delete does.
      if (current !== versionId) {
        ctx.status = 204;
        ctx.set('x-amz-version-id', versionId);
        return;
      }
      await next();
      ctx.set('x-amz-version-id', versionId);
      return;
    }
    if (method === 'PUT' || method === 'POST') {
      const sourceVersion = await copySourceVersion(store, ctx.req);
      const written = await withWrittenVersion(ctx, next);
      if (sourceVersion !== undefined && written.versionId !== undefined)
        ctx.set('x-amz-copy-source-version-id', sourceVersion);
      return;
    }
    await next();
  };
}

/** Runs the rest of the request in a scope the store tells what it wrote; answers with its version id. */
async function withWrittenVersion(ctx: KoaContext, next: Next): Promise<WrittenVersion> {
  const written: WrittenVersion = {};
  await writtenVersion.run(written, next);
  if (written.versionId !== undefined) ctx.set('x-amz-version-id', written.versionId);
  return written;
}

/**
 * A copy's source version: a `?versionId=` on the source must name its current version (and is then
 * taken off, since s3rver would read it as part of the key). Undefined when the request is no copy
 * or its source does not exist (s3rver then says NoSuchKey).
 */
async function copySourceVersion(store: S3rverStore, req: IncomingMessage): Promise<string | undefined> {
  const header = req.headers['x-amz-copy-source'];
  const source = Array.isArray(header) ? header[0] : header;
  if (source === undefined) return undefined;
  const at = source.indexOf('?');
  const path = at === -1 ? source : source.slice(0, at);
  const wanted =
    at === -1 ? undefined : (new URLSearchParams(source.slice(at + 1)).get('versionId') ?? undefined);
  let bucket: string;
  let key: string;
  try {
    const decoded = decodeURIComponent(path).replace(/^\//, '');
    const slash = decoded.indexOf('/');
    if (slash <= 0) return undefined;
    bucket = decoded.slice(0, slash);
    key = decoded.slice(slash + 1);
  } catch {
    return undefined;
  }
  const current = await objectVersion(store, bucket, key);
  if (wanted !== undefined && current !== undefined && wanted !== current) {
    throw new S3Error('NoSuchVersion', 'The specified version does not exist.', {
      Key: key,
      VersionId: wanted,
    });
  }
  if (at !== -1) req.headers['x-amz-copy-source'] = path;
  return current;
}

interface ListedObject {
  key: string;
  metadata: Record<string, string>;
}

/** ListObjectVersions: each object's one version, in key order, as S3's ListVersionsResult. */
async function listVersions(store: S3rverStore, bucket: string, query: KoaContext['query']): Promise<string> {
  const prefix = single(query.prefix) ?? '';
  const delimiter = single(query.delimiter) ?? '';
  const keyMarker = single(query['key-marker']) ?? '';
  const versionIdMarker = single(query['version-id-marker']) ?? '';
  const encoding = single(query['encoding-type']);
  const maxKeysText = single(query['max-keys']);
  const maxKeys = maxKeysText === undefined ? DEFAULT_MAX_KEYS : Number(maxKeysText);
  if (!Number.isInteger(maxKeys) || maxKeys < 0) {
    throw new S3Error('InvalidArgument', 'Provided max-keys not an integer or within integer range', {
      ArgumentName: 'max-keys',
      ArgumentValue: maxKeysText,
    });
  }
  if (encoding !== undefined && encoding !== 'url') {
    throw new S3Error('InvalidArgument', 'Invalid Encoding Method specified in Request', {
      ArgumentName: 'encoding-type',
      ArgumentValue: encoding,
    });
  }
  const name = (text: string) => xmlText(encoding === 'url' ? encodeURIComponent(text) : text);
  const listed = (await store.listObjects(bucket, {
    prefix,
    delimiter,
    startAfter: keyMarker,
    maxKeys: Math.min(maxKeys, DEFAULT_MAX_KEYS),
  })) as { objects: ListedObject[]; commonPrefixes: string[]; isTruncated: boolean };

  const versions: string[] = [];
  let lastKey = '';
  let lastVersion = '';
  for (const object of listed.objects) {
    const versionId = (await objectVersion(store, bucket, object.key)) ?? NULL_VERSION_ID;
    lastKey = object.key;
    lastVersion = versionId;
    versions.push(
      `<Version><Key>${name(object.key)}</Key><VersionId>${xmlText(versionId)}</VersionId>` +
        '<IsLatest>true</IsLatest>' +
        `<LastModified>${new Date(object.metadata['last-modified'] ?? 0).toISOString()}</LastModified>` +
        `<ETag>${xmlText(object.metadata.etag ?? '')}</ETag><Size>${object.metadata['content-length'] ?? 0}</Size>` +
        '<StorageClass>STANDARD</StorageClass></Version>',
    );
  }
  const prefixes = listed.commonPrefixes.map(
    (p) => `<CommonPrefixes><Prefix>${name(p)}</Prefix></CommonPrefixes>`,
  );
  const next = listed.isTruncated
    ? `<NextKeyMarker>${name(lastKey)}</NextKeyMarker><NextVersionIdMarker>${xmlText(lastVersion)}</NextVersionIdMarker>`
    : '';
  return (
    `<?xml version="1.0" encoding="UTF-8"?>\n<ListVersionsResult xmlns="${S3_NAMESPACE}">` +
    `<Name>${xmlText(bucket)}</Name><Prefix>${name(prefix)}</Prefix>` +
    `<KeyMarker>${name(keyMarker)}</KeyMarker><VersionIdMarker>${xmlText(versionIdMarker)}</VersionIdMarker>` +
    `<MaxKeys>${maxKeys}</MaxKeys>` +
    (delimiter ? `<Delimiter>${name(delimiter)}</Delimiter>` : '') +
    (encoding ? `<EncodingType>${encoding}</EncodingType>` : '') +
    `<IsTruncated>${listed.isTruncated}</IsTruncated>${next}${versions.join('')}${prefixes.join('')}` +
    '</ListVersionsResult>'
  );
}
