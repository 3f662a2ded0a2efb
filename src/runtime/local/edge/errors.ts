/**
 * Errors in the shapes AWS clients parse: JSON (`__type` + `message`, with `x-amzn-ErrorType`) for
 * the JSON protocols, S3's XML `<Error>` for REST-XML, and the Query protocol's `<ErrorResponse>`.
 * SDK v3 builds its exception class from the error code, so the code must be AWS's exactly.
 */
import { randomUUID } from 'node:crypto';
import type { ServerResponse } from 'node:http';
import { AwsApiError } from '../../../pipeline/errors.ts';

// Every layer may throw an AwsApiError (the pattern engine, the bus); the edge answers it.
export { AwsApiError };

export const validation = (message: string): AwsApiError => new AwsApiError('ValidationException', message);

/**
 * A request refused before its body was all read. The answer closes the connection: the rest of the
 * body cannot be skipped on a kept-alive one.
 */
export class UnreadBodyError extends AwsApiError {}

export const bodyTooLarge = (max: number): UnreadBodyError =>
  new UnreadBodyError(
    'ValidationException',
    `Request body is over the local endpoint's ${max}-byte limit`,
    413,
  );

const closing = (error: AwsApiError): { connection?: string } =>
  error instanceof UnreadBodyError ? { connection: 'close' } : {};

export const JSON_1_0 = 'application/x-amz-json-1.0';
export const JSON_1_1 = 'application/x-amz-json-1.1';

export function requestId(): string {
  return randomUUID();
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  contentType: string = JSON_1_1,
): void {
  const text = JSON.stringify(body);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': requestId(),
  });
  res.end(text);
}

/** A JSON-protocol error; `typePrefix` is DynamoDB's `com.amazonaws.dynamodb.v20120810#` style. */
export function sendJsonError(
  res: ServerResponse,
  error: AwsApiError,
  options: { contentType?: string; typePrefix?: string } = {},
): void {
  const text = JSON.stringify({ __type: `${options.typePrefix ?? ''}${error.code}`, message: error.message });
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(error.status, {
    'content-type': options.contentType ?? JSON_1_1,
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': requestId(),
    'x-amzn-errortype': error.code,
    ...closing(error),
  });
  res.end(text);
}

function xmlEscape(text: string): string {
  return text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
}

function sendXml(res: ServerResponse, error: AwsApiError, xml: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(error.status, {
    'content-type': 'application/xml',
    'content-length': Buffer.byteLength(xml),
    'x-amz-request-id': requestId(),
    ...closing(error),
  });
  res.end(xml);
}

/** S3's REST-XML error. */
export function sendS3Error(res: ServerResponse, error: AwsApiError, resource?: string): void {
  sendXml(
    res,
    error,
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
      `<Error><Code>${xmlEscape(error.code)}</Code><Message>${xmlEscape(error.message)}</Message>` +
      (resource ? `<Resource>${xmlEscape(resource)}</Resource>` : '') +
      `<RequestId>${requestId()}</RequestId></Error>`,
  );
}

/** The Query protocol's error (SQS, SNS, STS, ... when addressed with Action=...). */
export function sendQueryError(res: ServerResponse, error: AwsApiError): void {
  sendXml(
    res,
    error,
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
      `<ErrorResponse><Error><Type>Sender</Type><Code>${xmlEscape(error.code)}</Code>` +
      `<Message>${xmlEscape(error.message)}</Message></Error>` +
      `<RequestId>${requestId()}</RequestId></ErrorResponse>`,
  );
}
