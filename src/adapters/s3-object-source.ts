/**
 * An S3 object as a stream, through the SDK's GetObject: the body is never downloaded whole. Given the
 * ETag from the object's notification, only that version is read (If-Match, and the ETag S3 served
 * is checked too, for servers that ignore If-Match): a newer version has a notification of its own.
 * Used by the local stack (against its edge endpoint) and by the AWS extract task.
 */
import { Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, type S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { UserError } from '../pipeline/errors.ts';

export interface S3ObjectRef {
  bucket: string;
  key: string;
  /** The ETag the notification carried (quoted or not). */
  etag?: string;
  /** The version the notification announced (versioned buckets): exactly that one is read. */
  versionId?: string;
}

export interface OpenedObject {
  body: Readable;
  /** The ETag of the version being read, quotes removed. */
  etag: string;
  contentLength?: number;
}

/** The object changed (or was deleted) after its notification: its newer state has its own notification. */
export class ObjectChangedError extends UserError {
  override readonly name = 'ObjectChangedError';
}

/** The object does not exist (any more). */
export class ObjectNotFoundError extends UserError {
  override readonly name = 'ObjectNotFoundError';
}

/** The body ended before Content-Length bytes arrived. */
export class IncompleteObjectError extends Error {
  override readonly name = 'IncompleteObjectError';
}

/** S3 quotes ETags in responses and not in notifications; compare them unquoted. */
export function unquoteEtag(etag: string): string {
  return etag.trim().replace(/^W\//, '').replace(/^"|"$/g, '');
}

export function s3Url(object: Pick<S3ObjectRef, 'bucket' | 'key'>): string {
  return `s3://${object.bucket}/${object.key}`;
}

type SendOnly = Pick<S3Client, 'send'>;

function statusOf(error: unknown): number | undefined {
  return error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
}

/** Starts GetObject and resolves once the response headers are in; the body streams as it is read. */
export async function openS3Object(client: SendOnly, object: S3ObjectRef): Promise<OpenedObject> {
  const wanted = object.etag === undefined ? undefined : unquoteEtag(object.etag);
  let response;
  try {
    response = await client.send(
      new GetObjectCommand({
        Bucket: object.bucket,
        Key: object.key,
        ...(object.versionId ? { VersionId: object.versionId } : {}),
        ...(wanted ? { IfMatch: `"${wanted}"` } : {}),
      }),
    );
  } catch (error) {
    const status = statusOf(error);
    if (status === 412) throw new ObjectChangedError(`${s3Url(object)} changed since its notification`);
    if (status === 404) throw new ObjectNotFoundError(`${s3Url(object)} does not exist`);
    throw error;
  }
  const body = response.Body as Readable | undefined;
  if (!body) throw new Error(`GetObject of ${s3Url(object)} returned no body`);
  const served = unquoteEtag(response.ETag ?? '');
  if (wanted && served !== wanted) {
    body.destroy();
    throw new ObjectChangedError(`${s3Url(object)} changed since its notification (ETag ${served})`);
  }
  return {
    body: response.ContentLength === undefined ? body : checkLength(body, response.ContentLength, object),
    etag: served,
    ...(response.ContentLength === undefined ? {} : { contentLength: response.ContentLength }),
  };
}

/** The object's current ETag (HeadObject), for notifications that carry none (s3rver's copies). */
export async function headS3ObjectEtag(client: SendOnly, object: S3ObjectRef): Promise<string> {
  try {
    const head = await client.send(new HeadObjectCommand({ Bucket: object.bucket, Key: object.key }));
    return unquoteEtag(head.ETag ?? '');
  } catch (error) {
    if (statusOf(error) === 404) throw new ObjectNotFoundError(`${s3Url(object)} does not exist`);
    throw error;
  }
}

/** Passes the body through, failing it if it ends short of its Content-Length. */
function checkLength(body: Readable, expected: number, object: S3ObjectRef): Readable {
  async function* counted(): AsyncGenerator<Buffer> {
    let received = 0;
    for await (const chunk of body as AsyncIterable<Buffer>) {
      received += chunk.length;
      yield chunk;
    }
    if (received < expected) {
      throw new IncompleteObjectError(
        `${s3Url(object)}: the body ended after ${received} of ${expected} bytes`,
      );
    }
  }
  return Readable.from(counted(), { objectMode: false });
}
