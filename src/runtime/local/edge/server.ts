/**
 * The edge: one HTTP port for every local service, routed the way AWS clients address them.
 *
 * - a request for a service the stack does not serve (its SigV4 credential scope names Lambda, STS,
 *   SNS, ...; or its `X-Amz-Target` does) -> NotImplemented naming it, in its client's protocol
 *   (services.ts)
 * - `X-Amz-Target: DynamoDB_20120810.<Op>` -> the embedded dynalite (proxied, streamed)
 * - `X-Amz-Target: AWSEvents.<Op>`         -> the EventBridge API over the local bus
 * - `X-Amz-Target: AmazonSQS.<Op>`, or a request signed for `sqs` (the Query protocol, `Action=...`)
 *                                          -> the SQS API over the local queues (sqs-http.ts)
 * - any other `X-Amz-Target`               -> UnknownOperationException (JSON)
 * - a Query-protocol POST (`Action=...`)   -> InvalidAction (XML)
 * - `GET /_etl/health`                     -> the stack's names and services, as JSON (not an AWS API)
 * - `GET /_localstack/health`              -> the same in LocalStack's shape, for tools that wait on it
 * - `GET /_etl/metrics`                     -> the stack's metrics in the Prometheus text format
 * - `/_etl/` and `/_etl/api/...`             -> the live dashboard (dashboard/dashboard.ts)
 * - everything else                        -> S3 REST (path style, or `<bucket>.localhost`)
 *
 * The port is bound before the services start, so a port in use fails fast; until they are attached
 * every request gets a 503 in its protocol's error shape.
 *
 * Before any of that, requests with a foreign Host or Origin, and unsigned AWS API calls, are refused
 * (see guard.ts), and JSON bodies nested deeper than MAX_JSON_DEPTH are refused before parsing.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Dashboard } from '../dashboard/dashboard.ts';
import type { DynamoDbProxy } from './dynamodb-proxy.ts';
import {
  AwsApiError,
  bodyTooLarge,
  JSON_1_0,
  JSON_1_1,
  sendJson,
  sendJsonError,
  sendQueryError,
  sendS3Error,
} from './errors.ts';
import type { EventsApi } from './events-api.ts';
import { RequestGuard } from './guard.ts';
import type { SqsApi } from './sqs-api.ts';
import {
  sendSqsJsonError,
  sendSqsQueryError,
  serveSqsJson,
  serveSqsQuery,
  SQS_MAX_BODY_BYTES,
} from './sqs-http.ts';
import type { LocalS3 } from './s3.ts';
import {
  isQueryProtocol,
  localstackHealth,
  sendNotServed,
  SERVED_SERVICES,
  signingService,
  unservedService,
} from './services.ts';
import { jsonNestsDeeperThan, MAX_JSON_DEPTH } from '../../../pipeline/put-events.ts';
import { UserError } from '../../../pipeline/errors.ts';

/** JSON API requests are small (PutEvents: 256 KB of entries, escaped); cap them. */
export const DEFAULT_JSON_MAX_BODY_BYTES = 1024 * 1024;
export const HEALTH_PATH = '/_etl/health';
export const LOCALSTACK_HEALTH_PATH = '/_localstack/health';
export const METRICS_PATH = '/_etl/metrics';
/** Unsigned GETs of the stack's own pages (not AWS APIs): health and metrics. */
const HEALTH_PATHS = new Set([HEALTH_PATH, LOCALSTACK_HEALTH_PATH, METRICS_PATH]);

export interface EdgeHandlers {
  s3: LocalS3;
  dynamodb: DynamoDbProxy;
  events: EventsApi;
  sqs: SqsApi;
  health: () => unknown;
  /** The Prometheus exposition of the stack's metrics. */
  metrics?: () => Promise<{ contentType: string; text: string }>;
  /** The live dashboard: the page under `/_etl/` and its JSON under `/_etl/api/`. */
  dashboard?: Dashboard;
  /** Unexpected failures (the client gets an InternalFailure). */
  onError?: (error: unknown) => void;
}

export class EdgePortInUseError extends UserError {
  override readonly name = 'EdgePortInUseError';
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Reads a request body into memory, refusing it past `max` bytes. */
function readBody(req: IncomingMessage, max: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (Number(header(req, 'content-length') ?? 0) > max) {
      reject(bodyTooLarge(max));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > max) {
        req.removeAllListeners('data');
        req.resume();
        reject(bodyTooLarge(max));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export class EdgeServer {
  private handlers: EdgeHandlers | undefined;

  private readonly guard: RequestGuard;

  private constructor(
    private readonly server: Server,
    readonly host: string,
    readonly port: number,
    private readonly jsonMaxBodyBytes: number,
    allowHosts: readonly string[],
    private readonly version: string,
  ) {
    this.guard = new RequestGuard({ host, port, allowHosts });
  }

  /**
   * Binds the port (0: a free one). Throws EdgePortInUseError when it is taken. `allowHosts`: Host
   * names served besides the bound address and loopback's.
   */
  static async listen(
    options: {
      host?: string;
      port?: number;
      jsonMaxBodyBytes?: number;
      allowHosts?: readonly string[];
      /** The version `/_localstack/health` reports. */
      version?: string;
    } = {},
  ): Promise<EdgeServer> {
    const host = options.host ?? '127.0.0.1';
    const server = createServer();
    // Large S3 uploads may take longer than Node's default 5-minute request timeout.
    server.requestTimeout = 0;
    await new Promise<void>((resolve, reject) => {
      server.once('error', (error: NodeJS.ErrnoException) => {
        if (error.code === 'EADDRINUSE') {
          reject(new EdgePortInUseError(`port ${options.port} on ${host} is already in use`));
        } else reject(error);
      });
      server.listen(options.port ?? 4566, host, () => resolve());
    });
    const { port } = server.address() as AddressInfo;
    const edge = new EdgeServer(
      server,
      host,
      port,
      options.jsonMaxBodyBytes ?? DEFAULT_JSON_MAX_BODY_BYTES,
      options.allowHosts ?? [],
      options.version ?? 'unknown',
    );
    // The response under way on each socket, for clientError below.
    const responding = new WeakMap<object, ServerResponse>();
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      responding.set(req.socket, res);
      try {
        edge.route(req, res);
      } catch (error) {
        edge.internal(error);
        if (!res.headersSent) res.writeHead(500, { 'content-length': 0, connection: 'close' });
        res.end();
      }
    });
    server.on('clientError', (error: NodeJS.ErrnoException, socket) => {
      const res = responding.get(socket);
      if (res && !res.writableFinished) {
        // Bytes the parser cannot take after a request being answered (a GET with an unframed body,
        // after `Connection: close`): let that answer go out, then close; a 400 now would be a
        // second response on the socket.
        const close = (): void => void socket.destroy();
        res.once('finish', close);
        res.once('close', close);
        return;
      }
      if (socket.writable && !res && error.code !== 'ECONNRESET')
        socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      else socket.destroy();
    });
    return edge;
  }

  /** The URL clients use (`--endpoint-url`): a wildcard bind is reached on 127.0.0.1. */
  get endpoint(): string {
    const host = this.host === '0.0.0.0' || this.host === '::' ? '127.0.0.1' : this.host;
    return `http://${host.includes(':') ? `[${host}]` : host}:${this.port}`;
  }

  attach(handlers: EdgeHandlers): void {
    this.handlers = handlers;
  }

  /** Stops listening; open connections get `graceMs` to finish their requests. */
  async close(graceMs = 2_000): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const timer = setTimeout(() => this.server.closeAllConnections(), graceMs);
    await closed;
    clearTimeout(timer);
  }

  private route(req: IncomingMessage, res: ServerResponse): void {
    const target = header(req, 'x-amz-target');
    const contentType = header(req, 'content-type') ?? '';
    const jsonType = contentType.includes('json-1.0') ? JSON_1_0 : JSON_1_1;
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    // SQS's Query protocol is told by its signature (old clients post it to a queue's URL, not `/`).
    const sqsQuery = target === undefined && signingService(req) === 'sqs';
    const queryProtocol = sqsQuery || (target === undefined && isQueryProtocol(req, path));
    // A service the stack does not serve, named by the credential scope or the target.
    const unserved = unservedService(req, target);
    const refuse = (error: AwsApiError): void => {
      req.resume();
      res.setHeader('connection', 'close');
      if (target?.startsWith('AmazonSQS.')) sendSqsJsonError(res, error);
      else if (sqsQuery) sendSqsQueryError(res, error);
      else if (target !== undefined) sendJsonError(res, error, { contentType: jsonType });
      else if (queryProtocol) sendQueryError(res, error);
      else if (unserved !== undefined) sendJsonError(res, error, { contentType: 'application/json' });
      else sendS3Error(res, error, path);
    };
    const protocol = target !== undefined || (unserved !== undefined && !queryProtocol) ? 'json' : 'xml';
    const foreign = this.guard.refuseOrigin(req, protocol);
    if (foreign) {
      refuse(foreign);
      return;
    }
    const health =
      target === undefined && (req.method === 'GET' || req.method === 'HEAD') && HEALTH_PATHS.has(path)
        ? path
        : undefined;
    // The dashboard is a page for browsers, unsigned like health (the Origin check above still holds).
    if (target === undefined && Dashboard.owns(path)) {
      const dashboard = this.handlers?.dashboard;
      if (dashboard) dashboard.handle(req, res);
      else {
        req.resume();
        sendJson(res, 503, { status: 'starting' }, 'application/json');
      }
      return;
    }
    const unsigned = health ? undefined : this.guard.refuseUnsigned(req, protocol);
    if (unsigned) {
      refuse(unsigned);
      return;
    }
    if (health === METRICS_PATH) {
      req.resume();
      void this.metrics(res);
      return;
    }
    if (health) {
      req.resume();
      this.health(res, health);
      return;
    }
    if (unserved !== undefined) {
      sendNotServed(req, res, unserved, target, path);
      return;
    }
    if (target !== undefined) {
      this.routeJson(req, res, target, jsonType);
      return;
    }
    if (sqsQuery) {
      void this.sqsQuery(req, res);
      return;
    }
    if (queryProtocol) {
      req.resume();
      sendQueryError(
        res,
        new AwsApiError(
          'InvalidAction',
          'The local endpoint serves S3 (REST), DynamoDB and EventBridge (JSON) and SQS (JSON and Query); other Query-protocol APIs are not offered',
        ),
      );
      return;
    }
    const handlers = this.handlers;
    if (!handlers) {
      req.resume();
      sendS3Error(res, starting());
      return;
    }
    try {
      handlers.s3.handle(req, res);
    } catch (error) {
      this.internal(error);
      sendS3Error(
        res,
        new AwsApiError('InternalError', 'We encountered an internal error. Please try again.', 500),
      );
    }
  }

  /**
   * `/_etl/health`: the stack's names and its services' states; `/_localstack/health`: LocalStack's
   * shape, for tools that wait on LocalStack. Both 503 until the services are attached.
   */
  private health(res: ServerResponse, path: string): void {
    const handlers = this.handlers;
    const status = handlers ? 200 : 503;
    if (path === LOCALSTACK_HEALTH_PATH) {
      sendJson(res, status, localstackHealth(handlers !== undefined, this.version), 'application/json');
      return;
    }
    sendJson(res, status, handlers ? handlers.health() : { status: 'starting' }, 'application/json');
  }

  /** `/_etl/metrics`: the Prometheus text format (503 until the services are attached). */
  private async metrics(res: ServerResponse): Promise<void> {
    const exposition = this.handlers?.metrics;
    if (!exposition) {
      sendJson(res, 503, { status: 'starting' }, 'application/json');
      return;
    }
    try {
      const { contentType, text } = await exposition();
      res.writeHead(200, { 'content-type': contentType, 'content-length': Buffer.byteLength(text) });
      res.end(text);
    } catch (error) {
      this.internal(error);
      sendJson(res, 500, { status: 'error' }, 'application/json');
    }
  }

  private routeJson(req: IncomingMessage, res: ServerResponse, target: string, contentType: string): void {
    const dot = target.indexOf('.');
    const service = dot === -1 ? target : target.slice(0, dot);
    const operation = dot === -1 ? '' : target.slice(dot + 1);
    const fail = (error: AwsApiError) => sendJsonError(res, error, { contentType });
    const handlers = this.handlers;
    if (!handlers) {
      req.resume();
      fail(starting());
      return;
    }
    if (req.method !== 'POST') {
      req.resume();
      fail(new AwsApiError('UnknownOperationException', `${target} takes POST, not ${req.method}`));
      return;
    }
    if (service === 'DynamoDB_20120810') {
      handlers.dynamodb.handle(req, res);
      return;
    }
    if (service === 'AWSEvents') {
      void this.events(handlers, req, res, operation);
      return;
    }
    if (service === 'AmazonSQS') {
      void this.sqsJson(handlers, req, res, operation);
      return;
    }
    req.resume();
    fail(
      new AwsApiError(
        'UnknownOperationException',
        `The local endpoint does not serve ${service || target}; it serves ${Object.values(SERVED_SERVICES).join(', ')} ` +
          '(X-Amz-Target DynamoDB_20120810.*, AWSEvents.* and AmazonSQS.*)',
      ),
    );
  }

  private async events(handlers: EdgeHandlers, req: IncomingMessage, res: ServerResponse, operation: string) {
    try {
      let body: unknown = {};
      const raw = await readBody(req, this.jsonMaxBodyBytes);
      if (raw.length > 0) {
        if (jsonNestsDeeperThan(raw.toString('utf8'), MAX_JSON_DEPTH)) {
          throw new AwsApiError(
            'SerializationException',
            `The request body is nested deeper than ${MAX_JSON_DEPTH} levels`,
          );
        }
        try {
          body = JSON.parse(raw.toString('utf8'));
        } catch {
          throw new AwsApiError('SerializationException', 'The request body is not valid JSON');
        }
      }
      if (body === null || typeof body !== 'object' || Array.isArray(body)) {
        throw new AwsApiError('SerializationException', 'The request body must be a JSON object');
      }
      sendJson(res, 200, await handlers.events.handle(operation, body as Record<string, unknown>));
    } catch (error) {
      if (error instanceof AwsApiError) {
        sendJsonError(res, error);
        return;
      }
      this.internal(error);
      sendJsonError(res, new AwsApiError('InternalException', 'An internal error occurred', 500));
    }
  }

  private async sqsJson(
    handlers: EdgeHandlers,
    req: IncomingMessage,
    res: ServerResponse,
    operation: string,
  ) {
    let raw: Buffer;
    try {
      raw = await readBody(req, SQS_MAX_BODY_BYTES);
    } catch (error) {
      if (error instanceof AwsApiError) sendSqsJsonError(res, error);
      else this.internal(error);
      return;
    }
    await serveSqsJson(handlers.sqs, req, res, operation, raw, (error) => this.internal(error));
  }

  private async sqsQuery(req: IncomingMessage, res: ServerResponse) {
    const handlers = this.handlers;
    if (!handlers) {
      req.resume();
      sendSqsQueryError(res, starting());
      return;
    }
    let raw: Buffer;
    try {
      raw = await readBody(req, SQS_MAX_BODY_BYTES);
    } catch (error) {
      if (error instanceof AwsApiError) sendSqsQueryError(res, error);
      else this.internal(error);
      return;
    }
    await serveSqsQuery(handlers.sqs, req, res, raw, (error) => this.internal(error));
  }

  internal(error: unknown): void {
    this.handlers?.onError?.(error);
  }
}

function starting(): AwsApiError {
  return new AwsApiError('ServiceUnavailable', 'The local stack is starting; try again in a moment', 503);
}
