/**
 * The SQS API over the local queues, one handler per operation on the JSON protocol's shapes (the
 * Query protocol is translated to and from them in sqs-query.ts).
 *
 * Two kinds of queue answer here:
 * - the user's queues (CreateQueue ...), kept by the QueueStore;
 * - the pipeline's: each target's queue (`transform`, ...: its depth on the bus) and its dead-letter
 *   queue (`transform-dlq`: the dead letters). They are the pipeline definition's, so they cannot be
 *   deleted, changed or sent to; a DLQ's letters can be received (the event, as an EventBridge DLQ
 *   holds it) and deleted, and StartMessageMoveTask redrives them into their target.
 */
import { randomUUID } from 'node:crypto';
import { targetQueueNames } from '../../../pipeline/definition.ts';
import type { DeadLetterRecord, DeadLetterStore } from '../dead-letters.ts';
import {
  type LocalQueue,
  MAX_IN_FLIGHT,
  md5Hex,
  md5OfMessageAttributes,
  type MessageAttributes,
  type MessageAttributeValue,
  QUEUE_ATTRIBUTE_RANGES,
  type QueueStore,
  type SendInput,
  sqsError,
  validateQueueAttribute,
} from '../queues.ts';
import { AwsApiError } from './errors.ts';

type Body = Record<string, unknown>;

/** What the SQS API needs of the pipeline: its targets, their depth, their dead letters and redrive. */
export interface PipelineQueueSource {
  /** A rule's ARN, as the bus names it. */
  ruleArn(rule: string): string;
  /** The pipeline's targets and the rule that feeds each. */
  readonly targets: readonly { target: string; rule: string; maxReceiveCount: number }[];
  /** Events queued or in flight per target. */
  depth(): Record<string, number>;
  readonly deadLetters: DeadLetterStore;
  redriveDeadLetters(target?: string): Promise<Record<string, { redriven: number; deadAgain: number }>>;
}

export const SQS_OPERATIONS = [
  'CreateQueue',
  'DeleteQueue',
  'ListQueues',
  'GetQueueUrl',
  'GetQueueAttributes',
  'SetQueueAttributes',
  'SendMessage',
  'SendMessageBatch',
  'ReceiveMessage',
  'DeleteMessage',
  'DeleteMessageBatch',
  'ChangeMessageVisibility',
  'ChangeMessageVisibilityBatch',
  'PurgeQueue',
  'ListDeadLetterSourceQueues',
  'TagQueue',
  'UntagQueue',
  'ListQueueTags',
  'StartMessageMoveTask',
  'ListMessageMoveTasks',
  'CancelMessageMoveTask',
] as const;
export type SqsOperation = (typeof SQS_OPERATIONS)[number];

const QUEUE_ATTRIBUTE_NAMES = [
  'ApproximateNumberOfMessages',
  'ApproximateNumberOfMessagesNotVisible',
  'ApproximateNumberOfMessagesDelayed',
  'CreatedTimestamp',
  'DelaySeconds',
  'LastModifiedTimestamp',
  'MaximumMessageSize',
  'MessageRetentionPeriod',
  'Policy',
  'QueueArn',
  'ReceiveMessageWaitTimeSeconds',
  'RedrivePolicy',
  'RedriveAllowPolicy',
  'SqsManagedSseEnabled',
  'VisibilityTimeout',
] as const;

/** The SDKs' exception names for SQS's Query error codes (the JSON protocol's `__type`). */
export function jsonErrorName(code: string): string {
  if (code === 'AWS.SimpleQueueService.NonExistentQueue') return 'QueueDoesNotExist';
  if (code === 'QueueAlreadyExists') return 'QueueNameExists';
  return code.replace(/^AWS\.SimpleQueueService\./, '');
}

const batchError = (code: string, message: string): AwsApiError =>
  new AwsApiError(`AWS.SimpleQueueService.${code}`, message);

// ---- reading members ---------------------------------------------------------------------------

function str(body: Body, member: string): string | undefined {
  const value = body[member];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string')
    throw sqsError.invalidParameter(`Value for parameter ${member} is invalid. Reason: it must be a string.`);
  return value;
}

function required(body: Body, member: string): string {
  const value = str(body, member);
  if (value === undefined)
    throw new AwsApiError('MissingParameter', `The request must contain the parameter ${member}.`);
  return value;
}

/** An integer member (a number in JSON, text in the Query protocol) within [min, max]. */
function int(body: Body, member: string, min: number, max: number): number | undefined {
  const value = body[member];
  if (value === undefined || value === null || value === '') return undefined;
  const number =
    typeof value === 'number'
      ? value
      : typeof value === 'string' && /^-?\d+$/.test(value)
        ? Number(value)
        : NaN;
  if (!Number.isInteger(number) || number < min || number > max) {
    throw sqsError.invalidParameter(
      `Value ${JSON.stringify(value)} for parameter ${member} is invalid. Reason: must be between ${min} and ${max}, if provided.`,
    );
  }
  return number;
}

function stringList(body: Body, member: string): string[] {
  const value = body[member];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string'))
    throw sqsError.invalidParameter(
      `Value for parameter ${member} is invalid. Reason: it must be a list of strings.`,
    );
  return value as string[];
}

/** A map key that would set an object's prototype (`__proto__`) rather than a member of it. */
function assertPlainKey(member: string, key: string): void {
  if (key === '__proto__')
    throw sqsError.invalidParameter(`Value ${key} for parameter ${member} is invalid.`);
}

function stringMap(body: Body, member: string): Record<string, string> {
  const value = body[member];
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value))
    throw sqsError.invalidParameter(`Value for parameter ${member} is invalid. Reason: it must be a map.`);
  const map: Record<string, string> = {};
  for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
    assertPlainKey(member, key);
    if (typeof v !== 'string')
      throw sqsError.invalidParameter(
        `Value for parameter ${member}.${key} is invalid. Reason: it must be a string.`,
      );
    map[key] = v;
  }
  return map;
}

function messageAttributes(body: Body, member: string): MessageAttributes | undefined {
  const value = body[member];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'object' || Array.isArray(value))
    throw sqsError.invalidParameter(`Value for parameter ${member} is invalid. Reason: it must be a map.`);
  const attributes: MessageAttributes = {};
  for (const [name, v] of Object.entries(value as Record<string, unknown>)) {
    assertPlainKey(member, name);
    const raw = (v ?? {}) as Record<string, unknown>;
    if (typeof raw !== 'object' || typeof raw.DataType !== 'string')
      throw sqsError.invalidParameter(
        `The message attribute '${name}' must contain non-empty message attribute type.`,
      );
    if (raw.StringListValues !== undefined || raw.BinaryListValues !== undefined)
      throw sqsError.invalidParameter(
        `Message attribute list values in SendMessage operation are not supported.`,
      );
    const attribute: MessageAttributeValue = { DataType: raw.DataType };
    if (typeof raw.StringValue === 'string') attribute.StringValue = raw.StringValue;
    if (typeof raw.BinaryValue === 'string') attribute.BinaryValue = raw.BinaryValue;
    attributes[name] = attribute;
  }
  return attributes;
}

/** The bytes message attributes add to a batch (names, types, values), whatever their shape: each entry's own checks come later. */
function attributesSize(attributes: unknown): number {
  if (typeof attributes !== 'object' || attributes === null) return 0;
  let size = 0;
  for (const [name, value] of Object.entries(attributes)) {
    const { DataType, StringValue, BinaryValue } = (value ?? {}) as Record<string, unknown>;
    size += Buffer.byteLength(name);
    if (typeof DataType === 'string') size += Buffer.byteLength(DataType);
    if (typeof StringValue === 'string') size += Buffer.byteLength(StringValue);
    if (typeof BinaryValue === 'string') size += Buffer.from(BinaryValue, 'base64').length;
  }
  return size;
}

/** The name a queue URL (`http://host/<account>/<name>`) names; NonExistentQueue for another account. */
function queueNameOf(url: string, account: string): string {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    path = url;
  }
  const parts = path.split('/').filter(Boolean);
  if (parts.length === 2 && parts[0] === account && parts[1]) return parts[1];
  if (parts.length === 1 && parts[0] && !url.includes('/')) return parts[0];
  throw sqsError.nonExistentQueue();
}

// ---- the queues ----------------------------------------------------------------------------------

type Resolved =
  | { kind: 'user'; name: string; queue: LocalQueue }
  | { kind: 'target'; name: string; target: string }
  | { kind: 'dlq'; name: string; target: string };

/** A dead letter's receive state: not durable (a restart makes every letter visible again). */
interface LetterState {
  visibleAt: number;
  count: number;
  first: number;
  nonce: string;
}

interface MoveTask {
  handle: string;
  sourceArn: string;
  destinationArn?: string;
  rate?: number;
  status: 'RUNNING' | 'COMPLETED' | 'CANCELLED' | 'FAILED';
  started: number;
  toMove: number;
  moved: number;
  failureReason?: string;
  done: Promise<void>;
}

export interface RequestContext {
  /** The Host the request was sent to: queue URLs name it, as clients send them back. */
  host: string;
  /** Aborted when the client goes away (ends a long poll). */
  signal?: AbortSignal;
}

const QUEUE_URL_SCHEME = 'http';
const DLQ_RETENTION_SECONDS = 1_209_600;
const QUEUE_RETENTION_SECONDS = 345_600;
const DEAD_LETTER_POLL_MS = 200;
/** Messages a move task without a rate moves between two looks at the event loop. */
const MOVE_BATCH = 100;

export class SqsApi {
  private readonly letterStates = new Map<string, Map<string, LetterState>>();
  private readonly tasks: MoveTask[] = [];
  private readonly purgedAt = new Map<string, number>();
  private readonly started = Date.now();
  private closing = false;

  constructor(
    private readonly store: QueueStore,
    private readonly pipeline: PipelineQueueSource | undefined,
  ) {}

  get account(): string {
    return this.store.account;
  }

  async handle(operation: string, body: Body, context: RequestContext): Promise<Body> {
    switch (operation as SqsOperation) {
      case 'CreateQueue':
        return this.createQueue(body, context);
      case 'DeleteQueue':
        return this.deleteQueue(body);
      case 'ListQueues':
        return this.listQueues(body, context);
      case 'GetQueueUrl':
        return this.getQueueUrl(body, context);
      case 'GetQueueAttributes':
        return this.getQueueAttributes(body);
      case 'SetQueueAttributes':
        return this.setQueueAttributes(body);
      case 'SendMessage':
        return this.sendMessage(body);
      case 'SendMessageBatch':
        return this.sendMessageBatch(body);
      case 'ReceiveMessage':
        return this.receiveMessage(body, context);
      case 'DeleteMessage':
        await this.deleteMessage(this.resolveUrl(body), required(body, 'ReceiptHandle'));
        return {};
      case 'DeleteMessageBatch':
        return this.deleteMessageBatch(body);
      case 'ChangeMessageVisibility':
        this.changeVisibility(
          this.resolveUrl(body),
          required(body, 'ReceiptHandle'),
          this.visibility(body, 'VisibilityTimeout', true) as number,
        );
        return {};
      case 'ChangeMessageVisibilityBatch':
        return this.changeVisibilityBatch(body);
      case 'PurgeQueue':
        return this.purgeQueue(body);
      case 'ListDeadLetterSourceQueues':
        return this.listDeadLetterSourceQueues(body, context);
      case 'TagQueue':
        this.userQueue(this.resolveUrl(body), 'TagQueue').setTags(stringMap(body, 'Tags'));
        return {};
      case 'UntagQueue':
        this.userQueue(this.resolveUrl(body), 'UntagQueue').setTags({}, stringList(body, 'TagKeys'));
        return {};
      case 'ListQueueTags': {
        const queue = this.resolveUrl(body);
        const tags = queue.kind === 'user' ? queue.queue.tags : {};
        return Object.keys(tags).length ? { Tags: { ...tags } } : {};
      }
      case 'StartMessageMoveTask':
        return this.startMoveTask(body);
      case 'ListMessageMoveTasks':
        return this.listMoveTasks(body);
      case 'CancelMessageMoveTask':
        return this.cancelMoveTask(body);
      default:
        throw new AwsApiError('InvalidAction', `The action ${operation} is not valid for this endpoint.`);
    }
  }

  // ---- naming ----

  private url(name: string, context: RequestContext): string {
    return `${QUEUE_URL_SCHEME}://${context.host}/${this.account}/${name}`;
  }

  private arnOf(name: string): string {
    return this.store.arnOf(name);
  }

  /** The pipeline's queue names: each target's queue and DLQ. */
  private pipelineQueues(): Map<string, Resolved> {
    const queues = new Map<string, Resolved>();
    for (const { target } of this.pipeline?.targets ?? []) {
      const names = targetQueueNames(target);
      queues.set(names.queue, { kind: 'target', name: names.queue, target });
      queues.set(names.deadLetterQueue, { kind: 'dlq', name: names.deadLetterQueue, target });
    }
    return queues;
  }

  private resolveName(name: string): Resolved {
    const pipeline = this.pipelineQueues().get(name);
    if (pipeline) return pipeline;
    const queue = this.store.get(name);
    if (!queue) throw sqsError.nonExistentQueue();
    return { kind: 'user', name, queue };
  }

  private resolveUrl(body: Body): Resolved {
    return this.resolveName(queueNameOf(required(body, 'QueueUrl'), this.account));
  }

  private resolveArn(arn: string, member: string): Resolved {
    const name = this.store.nameOfArn(arn);
    if (name === undefined) {
      throw sqsError.invalidParameter(
        `Value ${arn} for parameter ${member} is invalid. Reason: it must be the ARN of a queue of this stack (arn:aws:sqs:${this.store.region}:${this.account}:NAME).`,
      );
    }
    try {
      return this.resolveName(name);
    } catch {
      throw new AwsApiError(
        'ResourceNotFoundException',
        `The resource that you specified for the ${member} parameter doesn't exist.`,
        404,
      );
    }
  }

  /** Refuses an operation on the pipeline's queues, saying why. */
  private managed(queue: Resolved, operation: string): never {
    const owner =
      queue.kind === 'target'
        ? `the pipeline's queue of its ${queue.target} stage: events reach it through the bus's rules (PutEvents)`
        : `the pipeline's dead-letter queue of its ${queue.kind === 'dlq' ? queue.target : ''} stage: letters reach it when delivery fails; receive, delete or redrive them (StartMessageMoveTask)`;
    throw sqsError.unsupported(
      `${operation} is not offered on ${queue.name}, ${owner}; its settings are the pipeline definition's`,
    );
  }

  private userQueue(queue: Resolved, operation: string): LocalQueue {
    if (queue.kind !== 'user') this.managed(queue, operation);
    return queue.queue;
  }

  // ---- queues ----

  private createQueue(body: Body, context: RequestContext): Body {
    const name = required(body, 'QueueName');
    if (this.pipelineQueues().has(name)) {
      if (Object.keys(stringMap(body, 'Attributes')).length > 0)
        this.managed(this.resolveName(name), 'CreateQueue with attributes');
      return { QueueUrl: this.url(name, context) };
    }
    const attributes = stringMap(body, 'Attributes');
    this.assertDeadLetterTarget(attributes);
    this.store.create(name, attributes, stringMap(body, 'tags'));
    return { QueueUrl: this.url(name, context) };
  }

  /** A redrive policy must name one of the user's queues (the pipeline's DLQs take only their letters). */
  private assertDeadLetterTarget(attributes: Record<string, string>): void {
    if (!attributes.RedrivePolicy) return;
    const policy = validateQueueAttribute('RedrivePolicy', attributes.RedrivePolicy);
    const arn = (JSON.parse(policy) as { deadLetterTargetArn: string }).deadLetterTargetArn;
    if (!this.store.has(arn)) {
      throw sqsError.invalidParameter(
        `Value ${attributes.RedrivePolicy} for parameter RedrivePolicy is invalid. Reason: Dead letter target does not exist (${arn} is not one of your queues).`,
      );
    }
  }

  private deleteQueue(body: Body): Body {
    const queue = this.resolveUrl(body);
    this.userQueue(queue, 'DeleteQueue');
    this.store.delete(queue.name);
    return {};
  }

  private allNames(): string[] {
    return [...new Set([...this.pipelineQueues().keys(), ...this.store.names()])].sort();
  }

  private listQueues(body: Body, context: RequestContext): Body {
    const prefix = str(body, 'QueueNamePrefix') ?? '';
    const max = int(body, 'MaxResults', 1, 1000);
    const token = str(body, 'NextToken');
    let names = this.allNames().filter((n) => n.startsWith(prefix));
    if (token !== undefined) {
      const after = Buffer.from(token, 'base64url').toString('utf8');
      if (!after.startsWith('after:')) throw sqsError.invalidParameter('Invalid NextToken value.');
      names = names.filter((n) => n > after.slice('after:'.length));
    }
    const page = names.slice(0, max ?? 1000);
    const more = max !== undefined && names.length > page.length;
    return {
      ...(page.length ? { QueueUrls: page.map((n) => this.url(n, context)) } : {}),
      ...(more ? { NextToken: Buffer.from(`after:${page.at(-1)}`).toString('base64url') } : {}),
    };
  }

  private getQueueUrl(body: Body, context: RequestContext): Body {
    const name = required(body, 'QueueName');
    const owner = str(body, 'QueueOwnerAWSAccountId');
    if (owner !== undefined && owner !== this.account) throw sqsError.nonExistentQueue();
    this.resolveName(name);
    return { QueueUrl: this.url(name, context) };
  }

  private async getQueueAttributes(body: Body): Promise<Body> {
    const queue = this.resolveUrl(body);
    const asked = stringList(body, 'AttributeNames');
    for (const name of asked)
      if (name !== 'All' && !(QUEUE_ATTRIBUTE_NAMES as readonly string[]).includes(name))
        throw sqsError.invalidAttributeName(name);
    const all = await this.attributesOf(queue);
    const attributes: Record<string, string> = {};
    for (const [name, value] of Object.entries(all))
      if (asked.includes('All') || asked.includes(name)) attributes[name] = value;
    return Object.keys(attributes).length ? { Attributes: attributes } : {};
  }

  private async attributesOf(queue: Resolved): Promise<Record<string, string>> {
    const seconds = (ms: number): string => String(Math.floor(ms / 1000));
    if (queue.kind === 'user') {
      const { visible, inFlight, delayed } = queue.queue.counts();
      return {
        QueueArn: queue.queue.arn,
        ApproximateNumberOfMessages: String(visible),
        ApproximateNumberOfMessagesNotVisible: String(inFlight),
        ApproximateNumberOfMessagesDelayed: String(delayed),
        CreatedTimestamp: seconds(queue.queue.created),
        LastModifiedTimestamp: seconds(queue.queue.modified),
        SqsManagedSseEnabled: 'false',
        ...queue.queue.attributes,
      };
    }
    const common = {
      QueueArn: this.arnOf(queue.name),
      CreatedTimestamp: seconds(this.started),
      LastModifiedTimestamp: seconds(this.started),
      DelaySeconds: '0',
      MaximumMessageSize: String(QUEUE_ATTRIBUTE_RANGES.MaximumMessageSize.default),
      ReceiveMessageWaitTimeSeconds: '0',
      VisibilityTimeout: String(QUEUE_ATTRIBUTE_RANGES.VisibilityTimeout.default),
      SqsManagedSseEnabled: 'false',
    };
    if (queue.kind === 'target') {
      const target = this.pipeline?.targets.find((t) => t.target === queue.target);
      return {
        ...common,
        // The bus tells queued and in-flight events apart only in total: all counted as queued.
        ApproximateNumberOfMessages: String(this.pipeline?.depth()[queue.target] ?? 0),
        ApproximateNumberOfMessagesNotVisible: '0',
        ApproximateNumberOfMessagesDelayed: '0',
        MessageRetentionPeriod: String(QUEUE_RETENTION_SECONDS),
        RedrivePolicy: JSON.stringify({
          deadLetterTargetArn: this.arnOf(targetQueueNames(queue.target).deadLetterQueue),
          maxReceiveCount: target?.maxReceiveCount ?? 5,
        }),
      };
    }
    const total = (await this.pipeline?.deadLetters.count(queue.target)) ?? 0;
    const now = Date.now();
    let invisible = 0;
    for (const state of this.letterStates.get(queue.target)?.values() ?? [])
      if (state.visibleAt > now) invisible++;
    return {
      ...common,
      ApproximateNumberOfMessages: String(Math.max(0, total - invisible)),
      ApproximateNumberOfMessagesNotVisible: String(Math.min(invisible, total)),
      ApproximateNumberOfMessagesDelayed: '0',
      MessageRetentionPeriod: String(DLQ_RETENTION_SECONDS),
      RedriveAllowPolicy: JSON.stringify({
        redrivePermission: 'byQueue',
        sourceQueueArns: [this.arnOf(targetQueueNames(queue.target).queue)],
      }),
    };
  }

  private setQueueAttributes(body: Body): Body {
    const queue = this.userQueue(this.resolveUrl(body), 'SetQueueAttributes');
    const attributes: Record<string, string> = {};
    for (const [name, value] of Object.entries(stringMap(body, 'Attributes')))
      attributes[name] = validateQueueAttribute(name, value);
    this.assertDeadLetterTarget(attributes);
    queue.setAttributes(attributes);
    return {};
  }

  private listDeadLetterSourceQueues(body: Body, context: RequestContext): Body {
    const queue = this.resolveUrl(body);
    const arn = this.arnOf(queue.name);
    const sources =
      queue.kind === 'dlq'
        ? [targetQueueNames(queue.target).queue]
        : this.store.names().filter((n) => this.store.get(n)?.redrivePolicy?.deadLetterTargetArn === arn);
    return { queueUrls: sources.map((n) => this.url(n, context)) };
  }

  private purgeQueue(body: Body): Body {
    const queue = this.userQueue(this.resolveUrl(body), 'PurgeQueue');
    const last = this.purgedAt.get(queue.name);
    if (last !== undefined && Date.now() - last < 60_000) {
      throw new AwsApiError(
        'AWS.SimpleQueueService.PurgeQueueInProgress',
        `Only one PurgeQueue operation on ${queue.name} is allowed every 60 seconds.`,
        403,
      );
    }
    queue.purge();
    this.purgedAt.set(queue.name, Date.now());
    return {};
  }

  // ---- messages ----

  private sendOne(queue: Resolved, entry: Body): Body {
    const target = this.userQueue(queue, 'SendMessage');
    const delay = int(entry, 'DelaySeconds', 0, 900);
    const attributes = messageAttributes(entry, 'MessageAttributes');
    const sent = target.send({
      body: required(entry, 'MessageBody'),
      ...(delay !== undefined ? { delaySeconds: delay } : {}),
      ...(attributes ? { attributes } : {}),
    });
    return {
      MessageId: sent.id,
      MD5OfMessageBody: sent.md5OfBody,
      ...(sent.md5OfAttributes ? { MD5OfMessageAttributes: sent.md5OfAttributes } : {}),
    };
  }

  private sendMessage(body: Body): Body {
    return this.sendOne(this.resolveUrl(body), body);
  }

  /** A batch's entries, checked as SQS checks them (1 to 10, distinct ids of SQS's shape). */
  private entries(body: Body): Body[] {
    const entries = body.Entries;
    if (entries !== undefined && !Array.isArray(entries))
      throw sqsError.invalidParameter('Value for parameter Entries is invalid. Reason: it must be a list.');
    const list = (entries ?? []) as Body[];
    if (list.length === 0)
      throw batchError(
        'EmptyBatchRequest',
        'There should be at least one SendMessageBatchRequestEntry in the request.',
      );
    if (list.length > 10)
      throw batchError(
        'TooManyEntriesInBatchRequest',
        `Maximum number of entries per request are 10. You have sent ${list.length}.`,
      );
    const ids = new Set<string>();
    for (const entry of list) {
      const id = typeof entry?.Id === 'string' ? entry.Id : '';
      if (!/^[A-Za-z0-9_-]{1,80}$/.test(id))
        throw batchError(
          'InvalidBatchEntryId',
          'A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.',
        );
      if (ids.has(id)) throw batchError('BatchEntryIdsNotDistinct', `Id ${id} repeated.`);
      ids.add(id);
    }
    return list;
  }

  /** Runs each entry; an entry's own error becomes its Failed entry (as SQS reports them). */
  private async batch(entries: Body[], each: (entry: Body) => Promise<Body> | Body): Promise<Body> {
    const successful: Body[] = [];
    const failed: Body[] = [];
    for (const entry of entries) {
      try {
        successful.push({ Id: entry.Id, ...(await each(entry)) });
      } catch (error) {
        if (!(error instanceof AwsApiError)) throw error;
        failed.push({ Id: entry.Id, SenderFault: true, Code: error.code, Message: error.message });
      }
    }
    return { Successful: successful, Failed: failed };
  }

  private async sendMessageBatch(body: Body): Promise<Body> {
    const queue = this.resolveUrl(body);
    this.userQueue(queue, 'SendMessageBatch');
    const entries = this.entries(body);
    const size = entries.reduce(
      (sum, e) =>
        sum +
        Buffer.byteLength(typeof e.MessageBody === 'string' ? e.MessageBody : '') +
        attributesSize(e.MessageAttributes),
      0,
    );
    if (size > 1_048_576)
      throw batchError(
        'BatchRequestTooLong',
        `Batch requests cannot be longer than 1048576 bytes. You have sent ${size} bytes.`,
      );
    return this.batch(entries, (entry) => this.sendOne(queue, entry));
  }

  private visibility(body: Body, member: string, isRequired = false): number | undefined {
    const value = int(body, member, 0, QUEUE_ATTRIBUTE_RANGES.VisibilityTimeout.max);
    if (value === undefined && isRequired)
      throw new AwsApiError('MissingParameter', `The request must contain the parameter ${member}.`);
    return value;
  }

  private async receiveMessage(body: Body, context: RequestContext): Promise<Body> {
    const queue = this.resolveUrl(body);
    const max = int(body, 'MaxNumberOfMessages', 1, 10) ?? 1;
    const wait = int(body, 'WaitTimeSeconds', 0, 20);
    const visibility = this.visibility(body, 'VisibilityTimeout');
    const system = new Set([
      ...stringList(body, 'AttributeNames'),
      ...stringList(body, 'MessageSystemAttributeNames'),
    ]);
    const wanted = stringList(body, 'MessageAttributeNames');
    if (queue.kind === 'target') this.managed(queue, 'ReceiveMessage');
    const messages =
      queue.kind === 'user'
        ? await queue.queue.receive({
            max,
            ...(visibility !== undefined ? { visibilityTimeout: visibility } : {}),
            ...(wait !== undefined ? { waitSeconds: wait } : {}),
            ...(context.signal ? { signal: context.signal } : {}),
          })
        : await this.receiveLetters(
            queue.target,
            max,
            visibility ?? QUEUE_ATTRIBUTE_RANGES.VisibilityTimeout.default,
            wait ?? 0,
            context.signal,
          );
    if (messages.length === 0) return {};
    return {
      Messages: messages.map((m) => {
        const attributes: Record<string, string> = {};
        const all = system.has('All');
        if (all || system.has('SenderId')) attributes.SenderId = this.account;
        if (all || system.has('SentTimestamp')) attributes.SentTimestamp = String(m.sentTimestamp);
        if (all || system.has('ApproximateReceiveCount'))
          attributes.ApproximateReceiveCount = String(m.receiveCount);
        if (all || system.has('ApproximateFirstReceiveTimestamp'))
          attributes.ApproximateFirstReceiveTimestamp = String(m.firstReceiveTimestamp);
        const returned = selectAttributes(m.attributes, wanted);
        return {
          MessageId: m.id,
          ReceiptHandle: m.receiptHandle,
          MD5OfBody: m.md5OfBody,
          Body: m.body,
          ...(Object.keys(attributes).length ? { Attributes: attributes } : {}),
          ...(returned
            ? { MD5OfMessageAttributes: md5OfMessageAttributes(returned), MessageAttributes: returned }
            : {}),
        };
      }),
    };
  }

  private async deleteMessage(queue: Resolved, handle: string): Promise<void> {
    if (queue.kind === 'user') queue.queue.deleteMessage(handle);
    else if (queue.kind === 'dlq') await this.deleteLetter(queue.target, handle);
    else this.managed(queue, 'DeleteMessage');
  }

  private async deleteMessageBatch(body: Body): Promise<Body> {
    const queue = this.resolveUrl(body);
    if (queue.kind === 'dlq') {
      // The batch's letters in one removal: each removal writes the queue file afresh.
      const keys = new Set<string>();
      const result = await this.batch(this.entries(body), (entry) => {
        const { key, current } = this.letterByHandle(queue.target, required(entry, 'ReceiptHandle'));
        if (current) keys.add(key);
        return {};
      });
      await this.removeLetters(queue.target, keys);
      return result;
    }
    return this.batch(this.entries(body), async (entry) => {
      await this.deleteMessage(queue, required(entry, 'ReceiptHandle'));
      return {};
    });
  }

  private changeVisibility(queue: Resolved, handle: string, seconds: number): void {
    if (queue.kind === 'user') queue.queue.changeVisibility(handle, seconds);
    else if (queue.kind === 'dlq') {
      const { state, current } = this.letterByHandle(queue.target, handle);
      if (state && !current) throw sqsError.expiredHandle(handle);
      if (!state || state.visibleAt <= Date.now()) throw sqsError.notInFlight();
      state.visibleAt = Date.now() + seconds * 1000;
    } else this.managed(queue, 'ChangeMessageVisibility');
  }

  private async changeVisibilityBatch(body: Body): Promise<Body> {
    const queue = this.resolveUrl(body);
    return this.batch(this.entries(body), (entry) => {
      this.changeVisibility(
        queue,
        required(entry, 'ReceiptHandle'),
        this.visibility(entry, 'VisibilityTimeout', true) as number,
      );
      return {};
    });
  }

  // ---- the pipeline's dead letters as messages ----

  private async receiveLetters(
    target: string,
    max: number,
    visibility: number,
    waitSeconds: number,
    signal: AbortSignal | undefined,
  ): Promise<ReturnType<SqsApi['letterMessage']>[]> {
    const deadline = Date.now() + waitSeconds * 1000;
    let scanned: string | undefined;
    for (;;) {
      // Read the queue again only once it changed or a letter in flight became visible: a long
      // poll on a big queue whose letters are all in flight must not reparse it five times a second.
      const version = await this.pipeline?.deadLetters.version(target);
      const due = version === undefined || version !== scanned || this.letterDue(target);
      const received = due ? await this.receiveLettersNow(target, max, visibility) : [];
      scanned = version;
      if (received.length > 0 || Date.now() >= deadline || signal?.aborted) return received;
      await new Promise((resolve) =>
        setTimeout(resolve, Math.min(DEAD_LETTER_POLL_MS, deadline - Date.now())),
      );
    }
  }

  /** Whether a letter received before is visible again (or was never received: no state for it). */
  private letterDue(target: string): boolean {
    const now = Date.now();
    for (const state of this.letterStates.get(target)?.values() ?? [])
      if (state.visibleAt <= now) return true;
    return false;
  }

  private async receiveLettersNow(
    target: string,
    max: number,
    visibility: number,
  ): Promise<ReturnType<SqsApi['letterMessage']>[]> {
    const deadLetters = this.pipeline?.deadLetters;
    if (!deadLetters) return [];
    let states = this.letterStates.get(target);
    if (!states) this.letterStates.set(target, (states = new Map()));
    const now = Date.now();
    const received = [];
    let inFlight = 0;
    for (const state of states.values()) if (state.visibleAt > now) inFlight++;
    for await (const { key, letter } of deadLetters.keyed(target)) {
      if (received.length >= max || inFlight >= MAX_IN_FLIGHT) break;
      let state = states.get(key);
      if (state && state.visibleAt > now) continue;
      state ??= { visibleAt: 0, count: 0, first: now, nonce: '' };
      state.count++;
      state.visibleAt = now + visibility * 1000;
      state.nonce = randomUUID().slice(0, 8);
      states.set(key, state);
      inFlight++;
      received.push(this.letterMessage(target, key, letter, state));
    }
    return received;
  }

  /** A dead letter as the message an EventBridge DLQ holds: the event, and why in its attributes. */
  private letterMessage(target: string, key: string, letter: DeadLetterRecord, state: LetterState) {
    const body = JSON.stringify(letter.event);
    const rule = this.pipeline?.targets.find((t) => t.target === target)?.rule ?? target;
    const attributes: MessageAttributes = {
      RULE_ARN: {
        DataType: 'String',
        StringValue: this.pipeline?.ruleArn(rule) ?? rule,
      },
      TARGET_ARN: { DataType: 'String', StringValue: this.arnOf(targetQueueNames(target).queue) },
      ERROR_CODE: { DataType: 'String', StringValue: 'SDK_CLIENT_ERROR' },
      ERROR_MESSAGE: { DataType: 'String', StringValue: letter.reason || 'delivery failed' },
      RETRY_ATTEMPTS: { DataType: 'Number', StringValue: String(letter.attempts) },
    };
    return {
      id: `${key.slice(0, 8)}-${key.slice(8, 12)}-${key.slice(12, 16)}-${key.slice(16, 20)}-${key.slice(20, 32)}`,
      receiptHandle: Buffer.from(`dlq:${target}:${key}:${state.nonce}`).toString('base64url'),
      body,
      md5OfBody: md5Hex(body),
      attributes,
      sentTimestamp: Date.parse(letter.time),
      receiveCount: state.count,
      firstReceiveTimestamp: state.first,
    };
  }

  private letterByHandle(
    target: string,
    handle: string,
  ): { key: string; state: LetterState | undefined; current: boolean } {
    const match = /^dlq:([^:]+):([0-9a-f]{32}):([0-9a-f]{8})$/.exec(
      Buffer.from(handle, 'base64url').toString('utf8'),
    );
    if (!match || match[1] !== target) throw sqsError.receiptHandle(handle);
    const key = match[2] as string;
    const state = this.letterStates.get(target)?.get(key);
    return { key, state, current: state?.nonce === match[3] };
  }

  private async deleteLetter(target: string, handle: string): Promise<void> {
    const { key, current } = this.letterByHandle(target, handle);
    if (!current) return; // an earlier receive's handle, or a letter deleted already: as SQS, nothing to do
    await this.removeLetters(target, new Set([key]));
  }

  private async removeLetters(target: string, keys: ReadonlySet<string>): Promise<void> {
    if (keys.size === 0) return;
    await this.pipeline?.deadLetters.remove(target, keys);
    const states = this.letterStates.get(target);
    for (const key of keys) states?.delete(key);
  }

  // ---- message move tasks (DLQ redrive) ----

  private async startMoveTask(body: Body): Promise<Body> {
    const sourceArn = required(body, 'SourceArn');
    const destinationArn = str(body, 'DestinationArn');
    const rate = int(body, 'MaxNumberOfMessagesPerSecond', 1, 500);
    const source = this.resolveArn(sourceArn, 'SourceArn');
    if (this.tasks.some((t) => t.sourceArn === sourceArn && t.status === 'RUNNING')) {
      throw sqsError.unsupported(
        'There is already a task running. Only one active task is allowed for a source queue arn at a given time.',
      );
    }
    const notADeadLetterQueue = (): AwsApiError =>
      sqsError.invalidParameter(
        `Source queue must be configured as a Dead Letter Queue. (${sourceArn} is not the dead-letter queue of any queue)`,
      );
    let run: (task: MoveTask) => Promise<void>;
    let toMove: number;
    if (source.kind === 'dlq') {
      const own = this.arnOf(targetQueueNames(source.target).queue);
      if (destinationArn !== undefined && destinationArn !== own)
        throw sqsError.invalidParameter(
          `The dead letters of ${source.name} can only move to their own queue, ${own}.`,
        );
      toMove = (await this.pipeline?.deadLetters.count(source.target)) ?? 0;
      run = async (task) => {
        const result = await (this.pipeline as PipelineQueueSource).redriveDeadLetters(source.target);
        task.moved = result[source.target]?.redriven ?? 0;
        this.letterStates.delete(source.target);
      };
    } else if (source.kind === 'user') {
      const sources = this.store
        .names()
        .filter((n) => this.store.get(n)?.redrivePolicy?.deadLetterTargetArn === sourceArn);
      if (sources.length === 0) throw notADeadLetterQueue();
      if (destinationArn !== undefined) this.resolveArn(destinationArn, 'DestinationArn');
      if (destinationArn === sourceArn)
        throw sqsError.invalidParameter('Source queue arn and destination queue arn cannot be the same.');
      // The messages there now: those moving back in (a queue that is its own dead-letter queue) wait.
      toMove = source.queue.size;
      run = async (task) => {
        const take = (message: SendInput): boolean => {
          if (task.status !== 'RUNNING') return false;
          const to = destinationArn ?? message.origin ?? this.store.arnOf(sources[0] as string);
          const { origin: _origin, ...rest } = message;
          this.store.sendMessage(to, rest);
          return true;
        };
        let left = task.toMove;
        while (left > 0 && task.status === 'RUNNING' && !this.closing) {
          // A queue deleted meanwhile (perhaps made again under its name) fails the task.
          const moved = source.queue.drain(take, Math.min(left, task.rate ?? MOVE_BATCH));
          task.moved += moved;
          left -= moved;
          if (moved === 0) break;
          // Between batches: a cancel is heard, and a rate is kept (a batch of `rate` a second).
          await new Promise((resolve) =>
            task.rate === undefined ? setImmediate(resolve) : setTimeout(resolve, 1000),
          );
        }
        if (this.closing && left > 0 && task.status === 'RUNNING')
          throw new Error('The local stack stopped before the task finished.');
      };
    } else throw notADeadLetterQueue();
    const task: MoveTask = {
      handle: Buffer.from(JSON.stringify({ taskId: randomUUID(), sourceArn })).toString('base64url'),
      sourceArn,
      ...(destinationArn !== undefined ? { destinationArn } : {}),
      ...(rate !== undefined ? { rate } : {}),
      status: 'RUNNING',
      started: Date.now(),
      toMove,
      moved: 0,
      done: Promise.resolve(),
    };
    task.done = (async () => {
      // After this answer: the move runs in the background, as on AWS.
      await new Promise((resolve) => setImmediate(resolve));
      try {
        await run(task);
        if (task.status === 'RUNNING') task.status = 'COMPLETED';
      } catch (error) {
        task.status = 'FAILED';
        task.failureReason = error instanceof Error ? error.message : String(error);
      }
    })();
    this.tasks.push(task);
    if (this.tasks.length > 1000) this.tasks.shift();
    return { TaskHandle: task.handle };
  }

  private listMoveTasks(body: Body): Body {
    const sourceArn = required(body, 'SourceArn');
    const max = int(body, 'MaxResults', 1, 10) ?? 1;
    this.resolveArn(sourceArn, 'SourceArn');
    const tasks = this.tasks
      .filter((t) => t.sourceArn === sourceArn)
      .reverse()
      .slice(0, max);
    return {
      Results: tasks.map((t) => ({
        ...(t.status === 'RUNNING' ? { TaskHandle: t.handle } : {}),
        Status: t.status,
        SourceArn: t.sourceArn,
        ...(t.destinationArn !== undefined ? { DestinationArn: t.destinationArn } : {}),
        ...(t.rate !== undefined ? { MaxNumberOfMessagesPerSecond: t.rate } : {}),
        ApproximateNumberOfMessagesMoved: t.moved,
        ApproximateNumberOfMessagesToMove: t.toMove,
        ...(t.failureReason !== undefined ? { FailureReason: t.failureReason } : {}),
        StartedTimestamp: t.started,
      })),
    };
  }

  private cancelMoveTask(body: Body): Body {
    const handle = required(body, 'TaskHandle');
    const task = this.tasks.find((t) => t.handle === handle);
    if (!task || task.status !== 'RUNNING')
      throw new AwsApiError('ResourceNotFoundException', 'Task does not exist or is not running.', 404);
    if (
      this.store.nameOfArn(task.sourceArn) !== undefined &&
      this.resolveArn(task.sourceArn, 'SourceArn').kind === 'dlq'
    ) {
      throw sqsError.unsupported(
        "A redrive of the pipeline's dead letters cannot be cancelled: it hands every letter to the bus at once.",
      );
    }
    task.status = 'CANCELLED';
    return { ApproximateNumberOfMessagesMoved: task.moved };
  }

  /** Waits for every move task under way (the stack is stopping). */
  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.tasks.map((t) => t.done));
  }
}

/** The message attributes a receive asked for (`All`, `.*`, `prefix.*` or names). */
function selectAttributes(
  attributes: MessageAttributes | undefined,
  wanted: readonly string[],
): MessageAttributes | undefined {
  if (!attributes || wanted.length === 0) return undefined;
  const selected: MessageAttributes = {};
  for (const [name, value] of Object.entries(attributes)) {
    const match = wanted.some(
      (w) => w === 'All' || w === '.*' || w === name || (w.endsWith('.*') && name.startsWith(w.slice(0, -1))),
    );
    if (match) selected[name] = value;
  }
  return Object.keys(selected).length ? selected : undefined;
}
