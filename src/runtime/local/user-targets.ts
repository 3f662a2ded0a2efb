/**
 * Delivery to user targets, by ARN, in what they mean locally:
 * - `arn:aws:lambda:<region>:<account>:function:<stage>`: the pipeline's stage (its handler);
 * - `arn:aws:sqs:<region>:<account>:<queue>`: a local queue, through the QueueSink;
 * - `arn:aws:events:<region>:<account>:api-destination/<name>/<id>`: an HTTP request to its endpoint,
 *   with its connection's auth header, retried on 429 and 5xx and not on other 4xx, as AWS does;
 * - `arn:aws:logs:<region>:<account>:log-group:<name>`: a line appended to `<state-dir>/logs/<name>.ndjson`.
 * Each receives the target's payload (see input-transformer.ts). Dead letters go to the target's
 * DeadLetterConfig queue with AWS's message attributes; without one they are dropped, as on AWS.
 */
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { WriteRateLimiter } from '../../adapters/write-rate.ts';
import { targetPayload } from '../../pipeline/input-transformer.ts';
import type { AnyEvent, BatchOutcome, DeadLetter, TargetHandler } from './bus.ts';
import type { ApiDestination, Connection, UserRule, UserRules, UserTarget } from './user-rules.ts';

export type TargetKind =
  | { kind: 'stage'; stage: string }
  | { kind: 'queue' }
  | { kind: 'api-destination' }
  | { kind: 'log-group'; group: string };

const LAMBDA = /^arn:aws[a-z-]*:lambda:[^:]*:[^:]*:function:([^:]+)$/;
const SQS = /^arn:aws[a-z-]*:sqs:[^:]*:[^:]*:[^:]+$/;

export function isQueueArn(arn: string): boolean {
  return SQS.test(arn);
}
const API_DESTINATION = /^arn:aws[a-z-]*:events:[^:]*:[^:]*:api-destination\/[^/]+\/[^/]+$/;
/** Log group names: letters, digits, `_-./#`; a trailing `:*` is how some tools write the ARN. */
const LOG_GROUP = /^arn:aws[a-z-]*:logs:[^:]*:[^:]*:log-group:([A-Za-z0-9_\-./#]{1,512})(:\*)?$/;

const SERVED =
  'the local bus delivers to the pipeline stages (arn:aws:lambda:<region>:<account>:function:<stage>), ' +
  'SQS queues, API destinations and CloudWatch Logs log groups (written to <state-dir>/logs/<name>.ndjson)';

/** What an ARN is as a local target, or why the local stack cannot deliver to it. */
export function targetKind(arn: string, rules: UserRules): TargetKind | { problem: string } {
  const lambda = LAMBDA.exec(arn);
  if (lambda) {
    const stage = lambda[1] as string;
    if (rules.stage(stage)) return { kind: 'stage', stage };
    return {
      problem: `Target ${arn} is not served locally: the only functions are the pipeline's stages (${rules.stageNames().join(', ')}).`,
    };
  }
  if (SQS.test(arn)) {
    if (!rules.queueSink)
      return { problem: `Target ${arn}: the local stack serves no SQS queues in this process.` };
    return { kind: 'queue' };
  }
  if (API_DESTINATION.test(arn)) return { kind: 'api-destination' };
  const logs = LOG_GROUP.exec(arn);
  // A group name that would leave the logs folder (`..`) is not one we write.
  if (logs && !(logs[1] as string).split('/').includes('..'))
    return { kind: 'log-group', group: logs[1] as string };
  return { problem: `Target ${arn} is not served locally: ${SERVED}.` };
}

type Current = () => { rule: UserRule; target: UserTarget } | undefined;

/**
 * The ERROR_CODE values of AWS's dead-letter messages (EventBridge User Guide, "Using dead-letter
 * queues to process undelivered events") that local deliveries can fail with.
 */
export type DeliveryErrorCode =
  | 'NO_RESOURCE'
  | 'NO_PERMISSIONS'
  | 'THROTTLING'
  | 'TIMEOUT'
  | 'INVALID_PARAMETER'
  | 'THIRD_PARTY_FAILURE'
  | 'SDK_CLIENT_ERROR';

/**
 * A delivery that failed: whether it is worth retrying, its error code, and why. `defer`: this
 * process cannot deliver it at all (no SQS queues served): left in the journal for a start that can.
 */
class DeliveryFailure extends Error {
  constructor(
    message: string,
    readonly retryable: boolean,
    readonly code: DeliveryErrorCode,
    readonly defer = false,
  ) {
    super(message);
  }
}

const NO_QUEUES = 'the local stack serves no SQS queues in this process';

const rateLimiters = new WeakMap<ApiDestination, WriteRateLimiter>();

/** The bus's handler for one user target: each event's payload delivered, failures reported per event. */
export function userTargetHandler(rules: UserRules, current: Current): TargetHandler {
  return async (events: AnyEvent[], receivedAt?: readonly number[]): Promise<BatchOutcome> => {
    const failedEventIds: string[] = [];
    const reasons = new Map<string, string>();
    const notRetryable = new Set<string>();
    const codes = new Map<string, string>();
    const deferred = new Set<string>();
    for (const [i, event] of events.entries()) {
      const now = current();
      // Removed while the event waited: nothing to deliver to.
      if (!now) continue;
      try {
        await deliver(rules, now.rule, now.target, event, new Date(receivedAt?.[i] ?? Date.now()));
      } catch (error) {
        failedEventIds.push(event.id);
        reasons.set(event.id, error instanceof Error ? error.message : String(error));
        if (error instanceof DeliveryFailure) {
          codes.set(event.id, error.code);
          if (!error.retryable) notRetryable.add(event.id);
          if (error.defer) deferred.add(event.id);
        } else {
          codes.set(event.id, 'SDK_CLIENT_ERROR');
        }
      }
    }
    return { failedEventIds, reasons, notRetryable, codes, deferred };
  };
}

async function deliver(
  rules: UserRules,
  rule: UserRule,
  target: UserTarget,
  event: AnyEvent,
  ingestedAt: Date,
): Promise<void> {
  const payload = targetPayload(event, target, {
    ruleName: rule.Name,
    ruleArn: rules.bus.ruleArn(rule.Name),
    ingestionTime: ingestedAt.toISOString(),
  });
  // Journaled under `etl up` for an SQS target, recovered by a process without queues: kept for later.
  if (isQueueArn(target.Arn) && !rules.queueSink)
    throw new DeliveryFailure(`Target ${target.Arn}: ${NO_QUEUES}`, true, 'NO_RESOURCE', true);
  const kind = targetKind(target.Arn, rules);
  if ('problem' in kind) throw new DeliveryFailure(kind.problem, false, 'NO_RESOURCE');
  switch (kind.kind) {
    case 'stage':
      return deliverToStage(rules, kind.stage, event, payload);
    case 'queue':
      // A queue that is gone is dead-lettered without retries, as on AWS.
      if (!rules.queueSink?.has(target.Arn))
        throw new DeliveryFailure(`the queue ${target.Arn} does not exist`, false, 'NO_RESOURCE');
      return rules.queueSink.send(target.Arn, payload);
    case 'log-group':
      return appendToLogGroup(rules.logsDir, kind.group, payload);
    case 'api-destination':
      return invokeApiDestination(rules, target.Arn, payload);
  }
}

async function deliverToStage(
  rules: UserRules,
  stage: string,
  event: AnyEvent,
  payload: string,
): Promise<void> {
  const handler = rules.stage(stage);
  if (!handler) throw new DeliveryFailure(`no stage ${stage}`, false, 'NO_RESOURCE');
  let input: unknown;
  try {
    input = JSON.parse(payload);
  } catch {
    throw new DeliveryFailure(
      `stage ${stage} takes events as JSON, not the text ${JSON.stringify(payload.slice(0, 80))}`,
      false,
      'INVALID_PARAMETER',
    );
  }
  // The stage takes events: a transformed input that is not one is the stage's to refuse (as a Lambda would).
  const asEvent = (
    input !== null && typeof input === 'object' ? { id: event.id, ...input } : input
  ) as AnyEvent;
  const outcome = await handler([asEvent]);
  if (outcome && outcome.failedEventIds && outcome.failedEventIds.length > 0) {
    const reason = outcome.reasons?.values().next().value as string | undefined;
    // An event the stage does not take will not become one: not retried.
    const invalid = reason?.startsWith('invalid') ?? false;
    throw new DeliveryFailure(
      `stage ${stage} failed the event${reason ? `: ${reason}` : ''}`,
      !invalid,
      invalid ? 'INVALID_PARAMETER' : 'SDK_CLIENT_ERROR',
    );
  }
}

function appendToLogGroup(dir: string, group: string, payload: string): void {
  // One event a line: JSON as it is (minified), anything else as a JSON string.
  let line = payload;
  try {
    line = JSON.stringify(JSON.parse(payload));
  } catch {
    line = JSON.stringify(payload);
  }
  const file = join(dir, `${group}.ndjson`);
  mkdirSync(dirname(file), { recursive: true });
  appendFileSync(file, `${line}\n`);
}

/** How long one HTTP invocation may take (AWS's API destinations give up after 5 s). */
const INVOCATION_TIMEOUT_MS = 5_000;

async function invokeApiDestination(rules: UserRules, arn: string, payload: string): Promise<void> {
  const found = rules.apiDestinationByArn(arn);
  if (!found) throw new DeliveryFailure(`the API destination ${arn} no longer exists`, false, 'NO_RESOURCE');
  const { destination, connection } = found;
  let limiter = rateLimiters.get(destination);
  if (!limiter) {
    limiter = new WriteRateLimiter({ perSecond: destination.InvocationRateLimitPerSecond });
    rateLimiters.set(destination, limiter);
  }
  await limiter.take(1);
  const withBody = destination.HttpMethod !== 'GET' && destination.HttpMethod !== 'HEAD';
  let response: Response;
  let excerpt = '';
  try {
    response = await fetch(destination.InvocationEndpoint, {
      method: destination.HttpMethod,
      headers: { 'content-type': 'application/json; charset=utf-8', ...authHeaders(connection) },
      ...(withBody ? { body: payload } : {}),
      signal: AbortSignal.timeout(INVOCATION_TIMEOUT_MS),
    });
    // The body matters only as a hint in an error message: a capped prefix, the rest never read.
    if (response.ok) await response.body?.cancel();
    else excerpt = await bodyPrefix(response, ERROR_EXCERPT_BYTES);
  } catch (error) {
    const timedOut = error instanceof Error && error.name === 'TimeoutError';
    throw new DeliveryFailure(
      `${destination.InvocationEndpoint}: ${error instanceof Error ? error.message : String(error)}`,
      true,
      timedOut ? 'TIMEOUT' : 'SDK_CLIENT_ERROR',
    );
  }
  if (response.ok) return;
  const { status } = response;
  const retryable = status === 429 || status >= 500;
  const code: DeliveryErrorCode =
    status === 429
      ? 'THROTTLING'
      : status === 401 || status === 403
        ? 'NO_PERMISSIONS'
        : status === 404
          ? 'NO_RESOURCE'
          : status >= 500
            ? 'THIRD_PARTY_FAILURE'
            : 'INVALID_PARAMETER';
  throw new DeliveryFailure(
    `${destination.InvocationEndpoint} answered HTTP ${status}${excerpt ? `: ${excerpt}` : ''}`,
    retryable,
    code,
  );
}

/** How much of an error response's body goes into the error message. */
const ERROR_EXCERPT_BYTES = 512;

/** The first `max` bytes of a response's body at most, as one line of text. */
async function bodyPrefix(response: Response, max: number): Promise<string> {
  const reader = response.body?.getReader();
  if (!reader) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < max) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } finally {
    await reader.cancel();
  }
  const text = Buffer.concat(chunks).subarray(0, max).toString('utf8');
  return text.replace(/\s+/g, ' ').trim();
}

/** The connection's authorization as request headers (API key or basic; the rest is not served). */
function authHeaders(connection: Connection | undefined): Record<string, string> {
  if (!connection) return {};
  const auth = connection.AuthParameters;
  if (connection.AuthorizationType === 'API_KEY') {
    const key = auth.ApiKeyAuthParameters as { ApiKeyName?: string; ApiKeyValue?: string } | undefined;
    return key?.ApiKeyName ? { [key.ApiKeyName]: key.ApiKeyValue ?? '' } : {};
  }
  if (connection.AuthorizationType === 'BASIC') {
    const basic = auth.BasicAuthParameters as { Username?: string; Password?: string } | undefined;
    const token = Buffer.from(`${basic?.Username ?? ''}:${basic?.Password ?? ''}`).toString('base64');
    return { authorization: `Basic ${token}` };
  }
  return {};
}

/**
 * A user target's dead letter: to its DeadLetterConfig queue, the event as it was with AWS's
 * attributes (RULE_ARN, TARGET_ARN, ERROR_CODE, ERROR_MESSAGE, EXHAUSTED_RETRY_CONDITION,
 * RETRY_ATTEMPTS); without one it is dropped, as on AWS, with a line saying so.
 */
export function userTargetDeadLetter(rules: UserRules, current: Current, letter: DeadLetter): void {
  const now = current();
  if (!now) return;
  const { rule, target } = now;
  const dlq = target.DeadLetterConfig?.Arn;
  const where = `rule ${rule.Name}, target ${target.Id}`;
  if (!dlq) {
    rules.warn(
      `${where}: event ${letter.event.id} dropped (${letter.reason}); give the target a DeadLetterConfig to keep such events`,
    );
    return;
  }
  const attributes = {
    RULE_ARN: rules.bus.ruleArn(rule.Name),
    TARGET_ARN: target.Arn,
    // A target that already held its bound of events (USER_TARGET_MAX_HELD): it cannot keep up.
    ERROR_CODE: letter.exhausted === 'overflow' ? 'THROTTLING' : (letter.code ?? 'SDK_CLIENT_ERROR'),
    ERROR_MESSAGE: letter.reason,
    // Only when the retry policy ended the retries, as on AWS.
    ...(letter.exhausted === 'age'
      ? { EXHAUSTED_RETRY_CONDITION: 'MaximumEventAgeInSeconds' }
      : letter.exhausted === 'attempts'
        ? { EXHAUSTED_RETRY_CONDITION: 'MaximumRetryAttempts' }
        : {}),
    RETRY_ATTEMPTS: String(Math.max(0, letter.attempts - 1)),
  };
  try {
    if (!rules.queueSink) throw new Error(NO_QUEUES);
    rules.queueSink.send(dlq, JSON.stringify(letter.event), attributes);
  } catch (error) {
    rules.warn(
      `${where}: event ${letter.event.id} dropped: its dead-letter queue ${dlq} could not take it (${error instanceof Error ? error.message : String(error)})`,
    );
  }
}
