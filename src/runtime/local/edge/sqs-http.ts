/**
 * SQS over HTTP, in both of its protocols: JSON 1.0 (`X-Amz-Target: AmazonSQS.<Op>`, what SDK v3 and
 * current CLIs send) and Query (form-encoded `Action=<Op>`, what the CLI on this machine sends).
 *
 * JSON errors carry the SDKs' exception name in `__type` and SQS's Query code in
 * `x-amzn-query-error` (SQS's JSON protocol is "Query compatible": that code is what SDKs expose as
 * `Code`, and how they pick the exception class).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AwsApiError, JSON_1_0, requestId } from './errors.ts';
import { jsonErrorName, SQS_OPERATIONS, type SqsApi } from './sqs-api.ts';
import { queryErrorResponse, queryResponse, readQueryRequest } from './sqs-query.ts';

/** SendMessageBatch takes 10 messages of up to 1 MiB in all, escaped in JSON: room for that. */
export const SQS_MAX_BODY_BYTES = 4 * 1024 * 1024;

function send(
  res: ServerResponse,
  status: number,
  contentType: string,
  text: string,
  headers: Record<string, string> = {},
): void {
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': requestId(),
    ...headers,
  });
  res.end(text);
}

export function sendSqsJsonError(res: ServerResponse, error: AwsApiError): void {
  const name = jsonErrorName(error.code);
  send(
    res,
    error.status,
    JSON_1_0,
    JSON.stringify({ __type: `com.amazonaws.sqs#${name}`, message: error.message }),
    {
      'x-amzn-query-error': `${error.code};${error.status >= 500 ? 'Receiver' : 'Sender'}`,
    },
  );
}

export function sendSqsQueryError(res: ServerResponse, error: AwsApiError): void {
  send(res, error.status, 'text/xml', queryErrorResponse(error, requestId()));
}

/** Aborts when the client goes away before its answer (ends a long poll). */
function abortOnClose(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  res.on('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}

function context(req: IncomingMessage, res: ServerResponse): { host: string; signal: AbortSignal } {
  return { host: req.headers.host ?? 'localhost', signal: abortOnClose(res) };
}

/** Answers a JSON-protocol call; `raw` is its body. */
export async function serveSqsJson(
  api: SqsApi,
  req: IncomingMessage,
  res: ServerResponse,
  operation: string,
  raw: Buffer,
  onInternal: (error: unknown) => void,
): Promise<void> {
  try {
    let body: unknown = {};
    if (raw.length > 0) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        throw new AwsApiError('SerializationException', 'The request body is not valid JSON');
      }
    }
    if (body === null || typeof body !== 'object' || Array.isArray(body))
      throw new AwsApiError('SerializationException', 'The request body must be a JSON object');
    // The JSON protocol's code for it (the Query protocol's is InvalidAction).
    if (!(SQS_OPERATIONS as readonly string[]).includes(operation))
      throw new AwsApiError('UnknownOperationException', `The operation ${operation} is not known.`);
    const output = await api.handle(operation, body as Record<string, unknown>, context(req, res));
    send(res, 200, JSON_1_0, JSON.stringify(output));
  } catch (error) {
    if (error instanceof AwsApiError) {
      sendSqsJsonError(res, error);
      return;
    }
    onInternal(error);
    sendSqsJsonError(
      res,
      new AwsApiError('InternalError', 'We encountered an internal error. Please try again.', 500),
    );
  }
}

/**
 * Answers a Query-protocol call: its parameters from the form body and the URL. A call sent to a
 * queue's URL (older clients) names its queue by the path.
 */
export async function serveSqsQuery(
  api: SqsApi,
  req: IncomingMessage,
  res: ServerResponse,
  raw: Buffer,
  onInternal: (error: unknown) => void,
): Promise<void> {
  try {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const params = new URLSearchParams(query === -1 ? '' : url.slice(query + 1));
    for (const [key, value] of new URLSearchParams(raw.toString('utf8'))) params.append(key, value);
    const { action, body } = readQueryRequest(params);
    if (!action) throw new AwsApiError('MissingAction', 'The request must contain the parameter Action.');
    const path = (query === -1 ? url : url.slice(0, query)).replace(/\/+$/, '');
    if (body.QueueUrl === undefined && path.split('/').filter(Boolean).length === 2) body.QueueUrl = path;
    const output = await api.handle(action, body, context(req, res));
    send(res, 200, 'text/xml', queryResponse(action, output, requestId()));
  } catch (error) {
    if (error instanceof AwsApiError) {
      sendSqsQueryError(res, error);
      return;
    }
    onInternal(error);
    sendSqsQueryError(
      res,
      new AwsApiError('InternalError', 'We encountered an internal error. Please try again.', 500),
    );
  }
}
