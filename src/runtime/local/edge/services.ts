/**
 * Which AWS service a request is for, and what the edge tells a client of a service it does not serve.
 *
 * A SigV4 request names its service in its credential scope (`.../<region>/<service>/aws4_request`),
 * whatever its protocol; so that is read first, then `X-Amz-Target`'s prefix. A request for a service
 * the stack does not serve gets an error naming it, in the protocol its client parses (JSON with
 * `__type` for the JSON protocols, the Query protocol's `<ErrorResponse>`, EC2's `<Response>`, or
 * REST-JSON with `x-amzn-ErrorType`), never S3's XML, which would leave the client puzzling over
 * `NoSuchBucket`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { AwsApiError, JSON_1_0, JSON_1_1, requestId, sendJsonError, sendQueryError } from './errors.ts';

/** The services the edge serves, by SigV4 signing name, with the names users know them by. */
export const SERVED_SERVICES: Readonly<Record<string, string>> = {
  s3: 'S3',
  dynamodb: 'DynamoDB',
  events: 'EventBridge',
  sqs: 'SQS',
};

/** Services often asked for that the stack does not serve: listed by the health endpoints as such. */
export const LISTED_UNSERVED = ['lambda', 'sts', 'sns'] as const;

/** Names users know services by, for the messages; any other is called by its signing name. */
const DISPLAY_NAMES: Record<string, string> = {
  lambda: 'Lambda',
  sts: 'STS',
  sns: 'SNS',
  sqs: 'SQS',
  kms: 'KMS',
  iam: 'IAM',
  ec2: 'EC2',
  ecs: 'ECS',
  logs: 'CloudWatch Logs',
  monitoring: 'CloudWatch',
  kinesis: 'Kinesis',
  firehose: 'Data Firehose',
  states: 'Step Functions',
  ssm: 'Systems Manager',
  secretsmanager: 'Secrets Manager',
  cloudformation: 'CloudFormation',
  'cognito-idp': 'Cognito user pools',
  apigateway: 'API Gateway',
  route53: 'Route 53',
  cloudfront: 'CloudFront',
  scheduler: 'EventBridge Scheduler',
  pipes: 'EventBridge Pipes',
  schemas: 'EventBridge Schemas',
  'dynamodb-streams': 'DynamoDB Streams',
};

/** `X-Amz-Target` prefixes of JSON-protocol services, by signing name (for requests with no credential scope). */
const TARGET_PREFIXES: Record<string, string> = {
  DynamoDB_20120810: 'dynamodb',
  AWSEvents: 'events',
  AmazonSQS: 'sqs',
  TrentService: 'kms',
  Kinesis_20131202: 'kinesis',
  Firehose_20150804: 'firehose',
  Logs_20140328: 'logs',
  AWSStepFunctions: 'states',
  AmazonSSM: 'ssm',
  secretsmanager: 'secretsmanager',
  AmazonEC2ContainerServiceV20141113: 'ecs',
  AWSCognitoIdentityProviderService: 'cognito-idp',
  // Signed as `dynamodb`, but not the table API: dynalite has no streams.
  DynamoDBStreams_20120810: 'dynamodb-streams',
};

/** REST services that answer errors in XML (the rest of the REST ones speak REST-JSON). */
const REST_XML = new Set(['route53', 'cloudfront']);

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The service a SigV4 request was signed for (header or presigned URL), or undefined. */
export function signingService(req: IncomingMessage): string | undefined {
  const auth = header(req, 'authorization');
  let credential: string | null | undefined;
  if (auth?.startsWith('AWS4-HMAC-SHA256')) credential = /Credential=([^,\s]+)/.exec(auth)?.[1];
  else {
    const query = req.url?.indexOf('?') ?? -1;
    if (query !== -1) credential = new URLSearchParams(req.url?.slice(query + 1)).get('X-Amz-Credential');
  }
  // <access key>/<date>/<region>/<service>/aws4_request
  const parts = credential?.split('/') ?? [];
  return parts.length >= 5 && parts.at(-1) === 'aws4_request' ? parts.at(-2)?.toLowerCase() : undefined;
}

/** The service an `X-Amz-Target` names: a signing name if known, else its prefix. */
export function targetService(target: string): string {
  const prefix = target.split('.', 1)[0] ?? target;
  return TARGET_PREFIXES[prefix] ?? prefix;
}

export function serviceName(service: string): string {
  return SERVED_SERVICES[service] ?? DISPLAY_NAMES[service] ?? service;
}

/**
 * The service a request is for when the stack does not serve it, else undefined: the credential
 * scope's service when it is not one of ours, else (for a served scope) a target naming another
 * service (DynamoDB Streams is signed as `dynamodb`).
 */
export function unservedService(req: IncomingMessage, target: string | undefined): string | undefined {
  const signed = signingService(req);
  if (signed !== undefined && !(signed in SERVED_SERVICES)) return signed;
  if (target === undefined) return undefined;
  const named = targetService(target);
  const known = Object.values(TARGET_PREFIXES).includes(named);
  return known && !(named in SERVED_SERVICES) ? named : undefined;
}

/** Whether a request is shaped as the Query protocol's (`Action=...`, in a form body or the URL). */
export function isQueryProtocol(req: IncomingMessage, path: string): boolean {
  const contentType = header(req, 'content-type') ?? '';
  if (req.method === 'POST' && path === '/' && contentType.startsWith('application/x-www-form-urlencoded'))
    return true;
  return req.method === 'GET' && path === '/' && /[?&]Action=/.test(req.url ?? '');
}

export function notServedError(service: string): AwsApiError {
  const served = Object.values(SERVED_SERVICES);
  return new AwsApiError(
    'NotImplemented',
    `${serviceName(service)} (${service}) is not served here: this local stack (etl up) serves ` +
      `${served.slice(0, -1).join(', ')} and ${served.at(-1)}`,
    501,
  );
}

/** Answers a request for a service not served here, in the protocol its client expects. */
export function sendNotServed(
  req: IncomingMessage,
  res: ServerResponse,
  service: string,
  target: string | undefined,
  path: string,
): void {
  req.resume();
  const error = notServedError(service);
  if (target !== undefined) {
    const contentType = (header(req, 'content-type') ?? '').includes('json-1.0') ? JSON_1_0 : JSON_1_1;
    sendJsonError(res, error, { contentType });
  } else if (isQueryProtocol(req, path) && service === 'ec2') sendEc2Error(res, error);
  else if (isQueryProtocol(req, path) || REST_XML.has(service)) sendQueryError(res, error);
  else sendJsonError(res, error, { contentType: 'application/json' });
}

/** EC2's own Query-protocol error shape. */
function sendEc2Error(res: ServerResponse, error: AwsApiError): void {
  const escape = (text: string) => text.replace(/[<>&'"]/g, (c) => `&#${c.charCodeAt(0)};`);
  const xml =
    '<?xml version="1.0" encoding="UTF-8"?>\n' +
    `<Response><Errors><Error><Code>${escape(error.code)}</Code><Message>${escape(error.message)}</Message>` +
    `</Error></Errors><RequestID>${requestId()}</RequestID></Response>`;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(error.status, { 'content-type': 'text/xml', 'content-length': Buffer.byteLength(xml) });
  res.end(xml);
}

/** A service's state, in LocalStack's words. */
export type ServiceState = 'running' | 'starting' | 'disabled';

/**
 * `/_localstack/health`'s body in LocalStack's shape, so tools that wait on LocalStack (`services.s3 ==
 * "running"`) can wait on this stack: the served services running (or starting), the others disabled.
 */
export function localstackHealth(ready: boolean, version: string): Record<string, unknown> {
  const services: Record<string, ServiceState> = {};
  for (const service of Object.keys(SERVED_SERVICES)) services[service] = ready ? 'running' : 'starting';
  for (const service of LISTED_UNSERVED) services[service] = 'disabled';
  return { services, edition: 'eventbridge-etl', version };
}

/** The services part of `/_etl/health`: each served one running, the usual others not served. */
export function etlServiceStates(): Record<string, string> {
  const services: Record<string, string> = {};
  for (const service of Object.keys(SERVED_SERVICES)) services[service] = 'running';
  for (const service of LISTED_UNSERVED) services[service] = 'not served';
  return services;
}
