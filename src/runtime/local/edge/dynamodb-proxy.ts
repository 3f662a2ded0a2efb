/**
 * DynamoDB on the edge port: requests with `X-Amz-Target: DynamoDB_20120810.*` are forwarded to the
 * embedded dynalite as they are (method, path, headers, body streamed, capped), and its response is
 * streamed back unchanged, so its CRC32 header still matches. dynalite does the validating, once
 * the body is known not to nest deeper than MAX_JSON_DEPTH (it is buffered up to that point: a body
 * nested too deep is refused before dynalite, which validates recursively, sees any of it).
 */
import { Agent, type IncomingMessage, request, type ServerResponse } from 'node:http';
import { type DynamoDBClient, paginateScan } from '@aws-sdk/client-dynamodb';
import { localClient } from '../dynalite.ts';
import { Transform, type TransformCallback } from 'node:stream';
import { JsonDepthGauge, MAX_JSON_DEPTH } from '../../../pipeline/put-events.ts';
import { AwsApiError, bodyTooLarge, JSON_1_0, sendJsonError, UnreadBodyError } from './errors.ts';

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

const bodyTooDeep = (): UnreadBodyError =>
  new UnreadBodyError('ValidationException', 'Nesting Levels have exceeded supported limits');
// Found once the whole body was read: the connection can be kept.
const bodyNotObject = (): AwsApiError =>
  new AwsApiError('SerializationException', 'Start of structure or map found where not expected');

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
      callback(bodyTooDeep());
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
      callback(bodyNotObject());
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
    if (this.seen > this.max) callback(bodyTooLarge(this.max));
    else callback(null, chunk);
  }
}

export class DynamoDbProxy {
  private readonly upstream: URL;
  private readonly agent = new Agent({ keepAlive: true, maxSockets: 64 });
  private readonly sizes = new Map<string, { size: Promise<{ items: number; bytes: number }>; at: number }>();
  private scanClient: DynamoDBClient | undefined;

  constructor(
    endpoint: string,
    private readonly maxBodyBytes = DEFAULT_DYNAMODB_MAX_BODY_BYTES,
  ) {
    this.upstream = new URL(endpoint);
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    let answered = false;
    const fail = (error: AwsApiError): void => {
      if (answered) return;
      answered = true;
      if (res.headersSent) {
        res.destroy();
        return;
      }
      sendJsonError(res, error, { contentType: JSON_1_0, typePrefix: DYNAMODB_ERROR_PREFIX });
    };
    const operation = String(req.headers['x-amz-target'] ?? '').replace(/^DynamoDB_20120810\./, '');
    if (/^[A-Za-z]+$/.test(operation) && !EMBEDDED_OPERATIONS.has(operation)) {
      // dynalite answers these with an empty "UnknownError": say what is missing instead.
      req.resume();
      fail(
        new AwsApiError(
          'UnknownOperationException',
          `${operation} is not supported by the local DynamoDB (dynalite); it serves ${[...EMBEDDED_OPERATIONS].join(', ')}`,
        ),
      );
      return;
    }
    if (Number(req.headers['content-length'] ?? 0) > this.maxBodyBytes) {
      fail(bodyTooLarge(this.maxBodyBytes));
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
    const describeTable = req.headers['x-amz-target'] === 'DynamoDB_20120810.DescribeTable';
    upstream.on('response', (answer) => {
      if (answered) {
        answer.resume();
        return;
      }
      answered = true;
      if (describeTable && answer.statusCode === 200) {
        void this.withItemCount(answer, res).catch(() => res.destroy());
        return;
      }
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
      if (error instanceof AwsApiError) fail(error);
      upstream.destroy();
    };
    limit.on('error', refuse);
    depth.on('error', refuse);
    req.on('error', () => upstream.destroy());
    req.pipe(limit).pipe(depth).pipe(upstream);
  }

  /**
   * DescribeTable with the table's ItemCount and TableSizeBytes: dynalite always says 0, and a user
   * checking a load with `aws dynamodb describe-table` would believe nothing was written. AWS updates
   * the figures every six hours or so; here the items are counted (a Select=COUNT scan, one at a
   * time per table, reused for a few seconds) and the size estimated from the scan's read capacity.
   */
  private async withItemCount(answer: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of answer) chunks.push(chunk as Buffer);
    const description = JSON.parse(Buffer.concat(chunks).toString('utf8')) as {
      Table?: { TableName?: string; TableStatus?: string; ItemCount?: number; TableSizeBytes?: number };
    };
    const table = description.Table;
    if (table?.TableName && table.TableStatus === 'ACTIVE') {
      const { items, bytes } = await this.tableSize(table.TableName);
      table.ItemCount = items;
      table.TableSizeBytes = bytes;
    }
    const body = Buffer.from(JSON.stringify(description));
    // The body changed: dynalite's CRC32 of the old one would fail the SDK's check.
    const { 'x-amz-crc32': _crc, 'content-length': _length, ...headers } = endToEnd(answer.headers);
    res.writeHead(200, { ...headers, 'content-length': body.length });
    res.end(body);
  }

  /** The table's item count, counted by a Select=COUNT scan; one scan in flight per table. */
  private tableSize(tableName: string): Promise<{ items: number; bytes: number }> {
    const cached = this.sizes.get(tableName);
    if (cached && Date.now() - cached.at < TABLE_SIZE_TTL_MS) return cached.size;
    const size = (async () => {
      let items = 0;
      let bytes = 0;
      for await (const page of paginateScan(
        { client: this.client() },
        { TableName: tableName, Select: 'COUNT', ReturnConsumedCapacity: 'TOTAL' },
      )) {
        items += page.Count ?? 0;
        // A Scan reads 4 KB per read capacity unit (eventually consistent: half a unit): an estimate.
        bytes += Math.round((page.ConsumedCapacity?.CapacityUnits ?? 0) * 2 * 4096);
      }
      return { items, bytes };
    })();
    this.sizes.set(tableName, { size, at: Date.now() });
    size.catch(() => this.sizes.delete(tableName));
    return size;
  }

  private client(): DynamoDBClient {
    this.scanClient ??= localClient(this.upstream.origin);
    return this.scanClient;
  }

  close(): void {
    this.agent.destroy();
    this.scanClient?.destroy();
  }
}

/** The DynamoDB operations the embedded dynalite implements. */
const EMBEDDED_OPERATIONS = new Set([
  'BatchGetItem',
  'BatchWriteItem',
  'CreateTable',
  'DeleteItem',
  'DeleteTable',
  'DescribeTable',
  'DescribeTimeToLive',
  'GetItem',
  'ListTables',
  'ListTagsOfResource',
  'PutItem',
  'Query',
  'Scan',
  'TagResource',
  'UntagResource',
  'UpdateItem',
  'UpdateTable',
]);

/** How long a counted table size is reused. */
const TABLE_SIZE_TTL_MS = 5_000;
