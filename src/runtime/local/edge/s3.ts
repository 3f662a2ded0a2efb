/**
 * S3 on the edge port: s3rver's Koa app mounted in-process (no port of its own), its data under
 * `<state-dir>/s3`. Before a request reaches it the edge
 * - routes virtual-host requests (`<bucket>.localhost`) to the path style s3rver understands,
 * - caps the body (S3's 5 GB single-PUT limit by default),
 * - decodes `aws-chunked` bodies (SDK streaming uploads), which s3rver would store verbatim,
 * - lets any access key through (s3rver knows only its own dummy key and does not check SigV4),
 * - refuses any path segment or query parameter that could name a file outside the store, and keys
 *   over S3's 1,024 bytes; the store itself names every file (see s3-store.ts).
 * ObjectCreated notifications are passed on synchronously, before the request is answered (the
 * object's bytes are on disk by then), so a listener that journals them makes an answered upload durable.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';
import { AwsChunkedDecoder, isAwsChunked, withoutAwsChunked } from './aws-chunked.ts';
import { AwsApiError, sendS3Error, UnreadBodyError } from './errors.ts';
import {
  isPartNumber,
  isSafeBucketDir,
  MAX_KEY_BYTES,
  type S3rverStore,
  UPLOAD_ID,
  useSafeLayout,
  writtenVersion,
} from './s3-store.ts';
import { versioning } from './s3-versions.ts';

/** S3's limit for one PUT (larger objects take multipart upload). */
export const DEFAULT_S3_MAX_BODY_BYTES = 5 * 1024 ** 3;

/** The access key s3rver accepts (its one dummy account); SigV4 signatures are not verified. */
const S3RVER_ACCESS_KEY = 'S3RVER';

interface S3rverRecord {
  eventName: string;
  s3: { bucket: { name: string }; object: { key: string; size?: number; eTag?: string } };
}

interface S3rverApp {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  on(event: 'event', listener: (event: { Records: S3rverRecord[] }) => void): S3rverApp;
  on(event: 'error', listener: (error: Error) => void): S3rverApp;
  store: S3rverStore;
  logger: { close(): void };
  middleware: unknown[];
}

type S3rverConstructor = new (options: Record<string, unknown>) => S3rverApp;

export interface ObjectCreated {
  /** `ObjectCreated:Put`, `:Post` (multipart, form), `:Copy`. */
  eventName: string;
  bucket: string;
  key: string;
  /** Unquoted. */
  etag?: string;
  /** The version the request created (buckets are versioned). */
  versionId?: string;
  size?: number;
}

export interface LocalS3Options {
  /** Where s3rver keeps buckets and objects. */
  directory: string;
  /** Buckets to create at start (kept if they exist). */
  buckets?: string[];
  maxBodyBytes?: number;
  /** Called before the request is answered; throwing fails the request (the client sees an error). */
  onObjectCreated?: (object: ObjectCreated) => void;
  onError?: (error: Error) => void;
}

/** S3's bucket-naming rules (the general-purpose bucket subset). */
export function isValidBucketName(name: string): boolean {
  return (
    /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(name) &&
    !name.includes('..') &&
    !/^\d+\.\d+\.\d+\.\d+$/.test(name) &&
    !name.startsWith('xn--') &&
    !name.endsWith('-s3alias')
  );
}

export class LocalS3 {
  private readonly app: S3rverApp;
  private readonly handler: (req: IncomingMessage, res: ServerResponse) => void;
  private readonly maxBodyBytes: number;
  private closed = false;

  private constructor(private readonly options: LocalS3Options) {
    const require = createRequire(import.meta.url);
    const S3rver = require('s3rver') as S3rverConstructor;
    this.app = new S3rver({
      directory: options.directory,
      silent: true,
      // The edge maps <bucket>.localhost itself; s3rver would take any other host name for a bucket.
      vhostBuckets: false,
    });
    useSafeLayout(this.app.store);
    // Versioned buckets: just before s3rver's router, inside its error handling and XML rendering.
    this.app.middleware.splice(this.app.middleware.length - 1, 0, versioning(this.app.store));
    // Koa reports every error it answered for: only our own failures are worth a line (not a client's
    // mistake, nor 501 for an operation s3rver does not implement).
    this.app.on('error', (error) => {
      const status = (error as { status?: number }).status ?? 500;
      if (status >= 500 && status !== 501) options.onError?.(error);
    });
    this.app.on('event', (event) => {
      for (const record of event.Records) this.notify(record);
    });
    this.handler = this.app.callback();
    this.maxBodyBytes = options.maxBodyBytes ?? DEFAULT_S3_MAX_BODY_BYTES;
  }

  static async start(options: LocalS3Options): Promise<LocalS3> {
    const s3 = new LocalS3(options);
    for (const bucket of options.buckets ?? []) await s3.app.store.putBucket(bucket);
    return s3;
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    routeVirtualHost(req);
    const refused = refuseUnsafe(req.url ?? '/', req.headers['x-amz-copy-source']);
    if (refused) {
      req.resume();
      sendS3Error(res, refused, (req.url ?? '/').split('?', 1)[0]);
      return;
    }
    req.url = keyAsOneSegment(req.url ?? '/');
    const declared = Number(
      req.headers['x-amz-decoded-content-length'] ?? req.headers['content-length'] ?? 0,
    );
    if (declared > this.maxBodyBytes) {
      sendS3Error(
        res,
        new UnreadBodyError(
          'EntityTooLarge',
          `Your proposed upload exceeds the maximum allowed size (${this.maxBodyBytes} bytes)`,
        ),
        req.url,
      );
      return;
    }
    trustAnyAccessKey(req);
    this.handler(isAwsChunked(req.headers) ? decodedRequest(req) : req, res);
  }

  close(): void {
    this.closed = true;
    this.app.logger.close();
  }

  /** Passes a notification on, synchronously: s3rver sends it after the object's file is whole. */
  private notify(record: S3rverRecord): void {
    if (!record.eventName.startsWith('ObjectCreated:') || this.closed) return;
    const { bucket, object } = { bucket: record.s3.bucket.name, object: record.s3.object };
    // The request that wrote the object is still running: the store told its scope what it wrote.
    const written = writtenVersion.getStore();
    const etag = object.eTag?.replace(/"/g, '') ?? written?.etag;
    this.options.onObjectCreated?.({
      eventName: record.eventName,
      bucket,
      key: object.key,
      ...(etag ? { etag } : {}),
      ...(written?.versionId ? { versionId: written.versionId } : {}),
      ...(object.size !== undefined ? { size: object.size } : {}),
    });
  }
}

/** `<bucket>.localhost[:port]` (or `<bucket>.s3.localhost`) becomes `/<bucket>/...` on `localhost`. */
function routeVirtualHost(req: IncomingMessage): void {
  const host = req.headers.host ?? '';
  const match = /^(?<name>[^:[\]]+?)(?<port>:\d+)?$/.exec(host);
  const name = match?.groups?.name?.toLowerCase();
  if (!name || !name.endsWith('.localhost') || name === 's3.localhost') return;
  const bucket = name.slice(0, -'.localhost'.length).replace(/\.s3$/, '');
  req.url = `/${bucket}${req.url?.startsWith('/') ? req.url : `/${req.url ?? ''}`}`;
  req.headers.host = `localhost${match?.groups?.port ?? ''}`;
}

/** s3rver rejects access keys other than its own but never checks a SigV4 signature: name its key. */
function trustAnyAccessKey(req: IncomingMessage): void {
  const auth = req.headers.authorization;
  if (auth?.startsWith('AWS4-HMAC-SHA256')) {
    req.headers.authorization = auth.replace(/Credential=[^/,\s]+\//, `Credential=${S3RVER_ACCESS_KEY}/`);
    return;
  }
  if (auth?.startsWith('AWS ')) {
    // SigV2 is verified by s3rver; without the dummy secret it cannot pass, so drop it.
    delete req.headers.authorization;
    return;
  }
  const query = req.url?.indexOf('?') ?? -1;
  if (query >= 0 && req.url) {
    const params = new URLSearchParams(req.url.slice(query + 1));
    const credential = params.get('X-Amz-Credential');
    if (credential) {
      params.set('X-Amz-Credential', credential.replace(/^[^/]+\//, `${S3RVER_ACCESS_KEY}/`));
      req.url = `${req.url.slice(0, query)}?${params.toString()}`;
    } else if (params.has('AWSAccessKeyId')) {
      for (const p of ['AWSAccessKeyId', 'Signature', 'Expires']) params.delete(p);
      req.url = `${req.url.slice(0, query)}${params.size > 0 ? `?${params.toString()}` : ''}`;
    }
  }
}

/**
 * The request with its aws-chunked body decoded: a stream of the object's bytes that carries the
 * request's method, URL, socket and headers (Content-Length the decoded length, aws-chunked gone).
 */
function decodedRequest(req: IncomingMessage): IncomingMessage {
  const headers = { ...req.headers };
  const encoding = withoutAwsChunked(headers['content-encoding']);
  if (encoding === undefined) delete headers['content-encoding'];
  else headers['content-encoding'] = encoding;
  const decodedLength = headers['x-amz-decoded-content-length'];
  delete headers['transfer-encoding'];
  if (decodedLength !== undefined) headers['content-length'] = String(decodedLength);
  else delete headers['content-length'];
  headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';

  const decoder = new AwsChunkedDecoder();
  req.on('error', (error) => decoder.destroy(error));
  const body: Readable = req.pipe(decoder);
  return Object.assign(body, {
    method: req.method,
    url: req.url,
    headers,
    rawHeaders: [],
    httpVersion: req.httpVersion,
    httpVersionMajor: req.httpVersionMajor,
    httpVersionMinor: req.httpVersionMinor,
    socket: req.socket,
    connection: req.socket,
    trailers: {},
    rawTrailers: [],
    complete: false,
    aborted: false,
  }) as unknown as IncomingMessage;
}

/**
 * Why a request must not reach s3rver, as S3's error; undefined when it may. Checked: the bucket
 * (it names a directory: `.`, `..` and slashes are not bucket names), the key's length, every query
 * parameter s3rver builds a file name from (uploadId, partNumber) or that names a version, and a
 * copy's source. Keys are hashed into file names by the store, so a key may hold anything S3
 * allows, `..` segments included.
 */
export function refuseUnsafe(url: string, copySource?: string | string[]): AwsApiError | undefined {
  const query = url.indexOf('?');
  const rawPath = query === -1 ? url : url.slice(0, query);
  // Split as s3rver's router does, on the path as sent: an encoded slash stays in its segment.
  const slash = rawPath.indexOf('/', 1);
  let bucket: string;
  let key: string;
  try {
    bucket = decodeURIComponent(slash === -1 ? rawPath.slice(1) : rawPath.slice(1, slash));
    key = slash === -1 ? '' : decodeURIComponent(rawPath.slice(slash + 1));
  } catch {
    return new AwsApiError('InvalidURI', "Couldn't parse the specified URI.");
  }
  if (bucket !== '' && !isSafeBucketDir(bucket)) {
    return new AwsApiError('InvalidBucketName', 'The specified bucket is not valid.');
  }
  if (Buffer.byteLength(key, 'utf8') > MAX_KEY_BYTES) {
    return new AwsApiError('KeyTooLongError', 'Your key is too long');
  }
  if (query !== -1) {
    const params = new URLSearchParams(url.slice(query + 1));
    const seen = new Set<string>();
    for (const [name, value] of params) {
      // s3rver reads a repeated parameter as a list, which it cannot handle.
      if (seen.has(name))
        return new AwsApiError('InvalidArgument', `The query parameter ${name} is repeated`);
      seen.add(name);
      if (name === 'uploadId' && !UPLOAD_ID.test(value)) {
        return new AwsApiError(
          'NoSuchUpload',
          'The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.',
          404,
        );
      }
      if (name === 'partNumber' && !isPartNumber(value)) {
        return new AwsApiError(
          'InvalidArgument',
          'Part number must be an integer between 1 and 10000, inclusive',
        );
      }
      if (name === 'versionId' && !/^[A-Za-z0-9._+=-]{1,1024}$/.test(value)) {
        return new AwsApiError('InvalidArgument', 'Invalid version id specified');
      }
    }
  }
  // s3rver takes x-amz-* query parameters as headers: a copy source may come either way.
  const sources = [
    ...(Array.isArray(copySource) ? copySource : copySource === undefined ? [] : [copySource]),
    ...(query === -1
      ? []
      : [...new URLSearchParams(url.slice(query + 1))]
          .filter(([name]) => name.toLowerCase() === 'x-amz-copy-source')
          .map(([, value]) => value)),
  ];
  for (const source of sources) {
    if (!isSafeCopySource(source)) {
      return new AwsApiError(
        'InvalidArgument',
        'Copy Source must mention the source bucket and key: sourcebucket/sourcekey',
      );
    }
  }
  return undefined;
}

/**
 * The URL with its key encoded as one path segment (slashes as %2F): s3rver's router matches keys
 * segment by segment and finds no route for an empty one (`a//b`); as one segment any key matches,
 * and the router decodes it whole. Call after `refuseUnsafe`, which checked the path decodes.
 */
function keyAsOneSegment(url: string): string {
  const query = url.indexOf('?');
  const rawPath = query === -1 ? url : url.slice(0, query);
  const slash = rawPath.indexOf('/', 1);
  if (slash === -1 || slash === rawPath.length - 1) return url;
  const key = decodeURIComponent(rawPath.slice(slash + 1));
  return `${rawPath.slice(0, slash)}/${encodeURIComponent(key)}${query === -1 ? '' : url.slice(query)}`;
}

/** `bucket/key` (URL-encoded, an optional leading slash and `?versionId=`) with a safe bucket. */
function isSafeCopySource(source: string): boolean {
  let decoded: string;
  try {
    decoded = decodeURIComponent(source.split('?', 1)[0] ?? '');
  } catch {
    return false;
  }
  const trimmed = decoded.replace(/^\//, '');
  const at = trimmed.indexOf('/');
  return (
    at > 0 &&
    !trimmed.includes('\0') &&
    isSafeBucketDir(trimmed.slice(0, at)) &&
    Buffer.byteLength(trimmed.slice(at + 1), 'utf8') <= MAX_KEY_BYTES
  );
}
