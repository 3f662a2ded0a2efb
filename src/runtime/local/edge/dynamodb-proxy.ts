/**
 * DynamoDB on the edge port: requests with `X-Amz-Target: DynamoDB_20120810.*` are forwarded to the
 * embedded dynalite as they are (method, path, headers, body streamed, capped), and its response is
 * streamed back unchanged, so its CRC32 header still matches. dynalite does the validating, once
 * the body is known not to nest deeper than MAX_JSON_DEPTH (it is buffered up to that point: a body
 * nested too deep is refused before dynalite, which validates recursively, sees any of it).
 */
import { Agent, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { JsonDepthGauge, MAX_JSON_DEPTH } from '../../../pipeline/put-events.ts';
import { AwsApiError, JSON_1_0, sendJsonError } from './errors.ts';

/** DynamoDB's largest request is a 16 MB BatchWriteItem; leave room for JSON around it. */
export const DEFAULT_DYNAMODB_MAX_BODY_BYTES = 17 * 1024 * 1024;

const DYNAMODB_ERROR_PREFIX = 'com.amazonaws.dynamodb.v20120810#';

const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-authenticate',
  'proxy-authorization',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

function endToEnd(headers: IncomingMessage['headers']): Record<string, string | string[]> {
  const kept: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name)) kept[name] = value;
  }
  return kept;
}

class BodyTooLargeError extends Error {}
class BodyTooDeepError extends Error {}
class BodyNotObjectError extends Error {}

/**
 * Holds the body back until it has all passed the depth gauge: dynalite starts parsing only a body
 * known to be shallow enough. (DynamoDB itself nests attributes at most 32 levels.)
 */
class DepthLimit extends Transform {
  private readonly gauge = new JsonDepthGauge();
  private readonly held: Buffer[] = [];
  constructor(private readonly max: number) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.gauge.feed(chunk) > this.max) {
      callback(new BodyTooDeepError(`the request body is nested deeper than ${this.max} levels`));
      return;
    }
    this.held.push(chunk);
    callback();
  }
  override _flush(callback: TransformCallback): void {
    const body = Buffer.concat(this.held);
    // Every DynamoDB request is a JSON object; dynalite hangs up on `null` and other bare values.
    const first = body.toString('latin1', 0, Math.min(body.length, 64)).trimStart()[0];
    if (first !== undefined && first !== '{') {
      callback(new BodyNotObjectError('the request body is not a JSON object'));
      return;
    }
    callback(null, body);
  }
}

/** Counts bytes through, failing once more than `max` have passed. */
class ByteLimit extends Transform {
  private seen = 0;
  constructor(private readonly max: number) {
    super();
  }
  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.seen += chunk.length;
    if (this.seen > this.max) callback(new BodyTooLargeError(`the request body is over ${this.max} bytes`));
    else callback(null, chunk);
  }
}

export class DynamoDbProxy {
  private readonly upstream: URL;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });

  constructor(
    endpoint: string,
    private readonly maxBodyBytes = DEFAULT_DYNAMODB_MAX_BODY_BYTES,
  ) {
    this.upstream = new URL(endpoint);
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    let answered = false;
    const fail = (error: AwsApiError, closeConnection = false): void => {
      if (answered) return;
      answered = true;
      if (res.headersSent) {
        res.destroy();
        return;
      }
      // An unread request body cannot be skipped on a kept-alive connection.
      if (closeConnection) res.setHeader('connection', 'close');
      sendJsonError(res, error, { contentType: JSON_1_0, typePrefix: DYNAMODB_ERROR_PREFIX });
    };
    if (Number(req.headers['content-length'] ?? 0) > this.maxBodyBytes) {
      fail(tooLarge(this.maxBodyBytes), true);
      return;
    }
    const upstream = request({
      agent: this.agent,
      hostname: this.upstream.hostname,
      port: this.upstream.port,
      method: req.method,
      path: req.url,
      headers: endToEnd(req.headers),
    });
    upstream.on('response', (answer) => {
      if (answered) {
        answer.resume();
        return;
      }
      answered = true;
      res.writeHead(answer.statusCode ?? 502, endToEnd(answer.headers));
      answer.pipe(res);
      answer.on('error', () => res.destroy());
    });
    upstream.on('error', (error) => {
      fail(
        new AwsApiError('InternalServerError', `the embedded DynamoDB did not answer: ${error.message}`, 500),
      );
    });
    const limit = new ByteLimit(this.maxBodyBytes);
    const depth = new DepthLimit(MAX_JSON_DEPTH);
    const refuse = (error: Error): void => {
      if (error instanceof BodyTooLargeError) fail(tooLarge(this.maxBodyBytes), true);
      else if (error instanceof BodyTooDeepError) {
        fail(new AwsApiError('ValidationException', 'Nesting Levels have exceeded supported limits'), true);
      } else if (error instanceof BodyNotObjectError) {
        fail(new AwsApiError('SerializationException', 'Start of structure or map found where not expected'));
      }
      upstream.destroy();
    };
    limit.on('error', refuse);
    depth.on('error', refuse);
    req.on('error', () => upstream.destroy());
    req.pipe(limit).pipe(depth).pipe(upstream);
  }

  close(): void {
    this.agent.destroy();
  }
}

function tooLarge(max: number): AwsApiError {
  return new AwsApiError(
    'ValidationException',
    `Request body is over the local endpoint's ${max}-byte limit`,
    413,
  );
}
