/**
 * The user's SQS queues (CreateQueue, SendMessage, ... through the edge, and user rules' queue
 * targets through QueueSink): the one owner of their files, `queues/<name>/` in the state directory.
 *
 * A queue keeps
 * - `queue.json`: its attributes and when it was made (written whole: temp file, then rename);
 * - `messages-<first seq>.ndjson`: the messages sent, one line each, appended synchronously (a sent
 *   message is on disk before SendMessage answers or a rule target is acknowledged); a new segment
 *   every 8 MB, and a segment is deleted once none of its messages is left;
 * - `changes.ndjson`: what happened to messages after they were sent (received, visibility changed,
 *   deleted), appended synchronously, folded now and then into `state.json`.
 *
 * Memory stays bounded however many messages a queue holds: only a window of them is indexed (no
 * body: that is read from its segment at receive). Messages are taken into the window in the order
 * sent, at most LOAD_BATCH at a time and only when the window has too few to receive; a message
 * leaves it when deleted. So the window holds the messages in flight (at most MAX_IN_FLIGHT, SQS's
 * own limit for a standard queue, after which ReceiveMessage answers OverLimit), those received and
 * visible again (received first, before any not yet received), and never-received ones, loaded
 * while fewer than MAX_WAITING wait there (delayed messages wait in the window until visible). The
 * messages past the window were never received: a count of them is all that is kept.
 */
import { createHash, randomBytes, randomUUID } from 'node:crypto';
import {
  appendFileSync,
  closeSync,
  fstatSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { AwsApiError } from '../../pipeline/errors.ts';
import type { QueueSink } from './queue-sink.ts';

/** The attributes a queue takes, with SQS's defaults and ranges (seconds, bytes). */
export const QUEUE_ATTRIBUTE_RANGES = {
  DelaySeconds: { default: 0, min: 0, max: 900 },
  MaximumMessageSize: { default: 262_144, min: 1_024, max: 1_048_576 },
  MessageRetentionPeriod: { default: 345_600, min: 60, max: 1_209_600 },
  ReceiveMessageWaitTimeSeconds: { default: 0, min: 0, max: 20 },
  VisibilityTimeout: { default: 30, min: 0, max: 43_200 },
} as const;
export type NumericQueueAttribute = keyof typeof QUEUE_ATTRIBUTE_RANGES;

/** Attributes a queue may be given that this store keeps as text, beside the numeric ones. */
const TEXT_ATTRIBUTES = new Set(['RedrivePolicy', 'RedriveAllowPolicy', 'Policy', 'SqsManagedSseEnabled']);

/** SQS's limit on messages in flight in a standard queue. */
export const MAX_IN_FLIGHT = 120_000;
/** Messages taken into the window at a time. */
const LOAD_BATCH = 1_000;
/** Never-received messages (delayed ones, say) the window holds at most before it stops loading. */
const MAX_WAITING = 10 * LOAD_BATCH;
/** How often whole unread segments past retention are looked for. */
const EXPIRY_CHECK_MS = 10_000;
const SEGMENT_BYTES = 8 * 1024 * 1024;
/** Changes appended before they are folded into the snapshot. */
const CHANGES_PER_SNAPSHOT = 10_000;
const MAX_MESSAGE_ATTRIBUTES = 10;

export const sqsError = {
  nonExistentQueue: (): AwsApiError =>
    new AwsApiError('AWS.SimpleQueueService.NonExistentQueue', 'The specified queue does not exist.'),
  invalidParameter: (message: string): AwsApiError => new AwsApiError('InvalidParameterValue', message),
  invalidAttributeName: (name: string): AwsApiError =>
    new AwsApiError('InvalidAttributeName', `Unknown Attribute ${name}.`),
  receiptHandle: (handle: string): AwsApiError =>
    new AwsApiError(
      'ReceiptHandleIsInvalid',
      `The input receipt handle "${handle}" is not a valid receipt handle.`,
      404,
    ),
  expiredHandle: (handle: string): AwsApiError =>
    new AwsApiError(
      'InvalidParameterValue',
      `Value ${handle} for parameter ReceiptHandle is invalid. Reason: The receipt handle has expired.`,
    ),
  notInFlight: (): AwsApiError =>
    new AwsApiError('AWS.SimpleQueueService.MessageNotInflight', 'The message referred to is not in flight.'),
  unsupported: (message: string): AwsApiError =>
    new AwsApiError('AWS.SimpleQueueService.UnsupportedOperation', message),
};

/** A message attribute as SendMessage takes it (BinaryValue: base64 on the wire, bytes here). */
export interface MessageAttributeValue {
  DataType: string;
  StringValue?: string;
  BinaryValue?: string;
}
export type MessageAttributes = Record<string, MessageAttributeValue>;

export interface SendInput {
  body: string;
  delaySeconds?: number;
  attributes?: MessageAttributes;
  /** The queue a dead-lettered message came from (for a redrive back to it). */
  origin?: string;
}

export interface SentMessage {
  id: string;
  md5OfBody: string;
  md5OfAttributes?: string;
}

export interface ReceivedMessage {
  id: string;
  receiptHandle: string;
  body: string;
  md5OfBody: string;
  attributes?: MessageAttributes;
  md5OfAttributes?: string;
  sentTimestamp: number;
  receiveCount: number;
  firstReceiveTimestamp: number;
}

/** The line a sent message is kept as. */
interface MessageLine {
  s: number;
  i: string;
  t: number;
  /** When it becomes visible (sent + delay). */
  v: number;
  b: string;
  m: string;
  a?: MessageAttributes;
  h?: string;
  o?: string;
}

/** A message in the window: where its line is and what happened to it since. */
interface Entry {
  seq: number;
  id: string;
  segment: number;
  offset: number;
  length: number;
  sent: number;
  visibleAt: number;
  count: number;
  first: number;
  /** This receive's part of the receipt handle. */
  nonce: string;
}

type Change =
  { n: number; s: number; v: number; c: number; f: number; r: string } | { n: number; s: number; x: 1 };

interface Snapshot {
  /** The last change folded in. */
  n: number;
  /** The seq the next message sent gets. */
  next?: number;
  /** The next message not in the window: its segment, byte offset and seq. */
  read: { segment: number; offset: number; seq: number };
  entries: Entry[];
}

interface QueueMeta {
  name: string;
  /** Milliseconds; also tells apart a queue from one deleted and made again under its name. */
  created: number;
  modified: number;
  attributes: Record<string, string>;
  tags: Record<string, string>;
}

/** The MD5 of a body, as SQS reports it. */
export function md5Hex(text: string | Buffer): string {
  return createHash('md5').update(text).digest('hex');
}

/** MD5OfMessageAttributes, as SQS computes it (names sorted; each part length-prefixed). */
export function md5OfMessageAttributes(attributes: MessageAttributes): string {
  const hash = createHash('md5');
  const prefixed = (bytes: Buffer): void => {
    const length = Buffer.alloc(4);
    length.writeUInt32BE(bytes.length);
    hash.update(length).update(bytes);
  };
  for (const name of Object.keys(attributes).sort()) {
    const value = attributes[name] as MessageAttributeValue;
    prefixed(Buffer.from(name, 'utf8'));
    prefixed(Buffer.from(value.DataType, 'utf8'));
    if (value.DataType.startsWith('Binary')) {
      hash.update(Buffer.from([2]));
      prefixed(Buffer.from(value.BinaryValue ?? '', 'base64'));
    } else {
      hash.update(Buffer.from([1]));
      prefixed(Buffer.from(value.StringValue ?? '', 'utf8'));
    }
  }
  return hash.digest('hex');
}

const QUEUE_NAME = /^[A-Za-z0-9_-]{1,80}$/;

/** Throws unless `name` is a standard queue's name SQS would take. */
export function assertQueueName(name: string): void {
  if (name.endsWith('.fifo')) {
    throw sqsError.invalidParameter(
      `FIFO queues (${name}) are not offered by this local stack; create a standard queue (a name without .fifo)`,
    );
  }
  if (!QUEUE_NAME.test(name)) {
    throw sqsError.invalidParameter(
      'Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length',
    );
  }
}

/** Characters SQS accepts in a body and string attribute values. */
const INVALID_CHARACTER = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/u;

function assertValidText(text: string, what: string): void {
  if (INVALID_CHARACTER.test(text)) {
    throw new AwsApiError(
      'InvalidMessageContents',
      `Invalid characters found in ${what}. Valid characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF`,
    );
  }
}

/** Checks message attributes as SQS does; returns their size in bytes. */
export function validateMessageAttributes(attributes: MessageAttributes): number {
  const names = Object.keys(attributes);
  if (names.length > MAX_MESSAGE_ATTRIBUTES) {
    throw sqsError.invalidParameter(
      `Number of message attributes [${names.length}] exceeds the allowed maximum [${MAX_MESSAGE_ATTRIBUTES}].`,
    );
  }
  let size = 0;
  for (const name of names) {
    const value = attributes[name] as MessageAttributeValue;
    if (
      !/^[A-Za-z0-9_.-]{1,256}$/.test(name) ||
      /^(aws\.|amazon\.)/i.test(name) ||
      /\.\.|^\.|\.$/.test(name)
    ) {
      throw sqsError.invalidParameter(`Message attribute name '${name}' is invalid.`);
    }
    const type = value.DataType ?? '';
    if (!/^(String|Number|Binary)(\.[A-Za-z0-9_.-]+)?$/.test(type)) {
      throw sqsError.invalidParameter(
        `The type of message (user) attribute '${name}' is invalid. You must use only the following supported type prefixes: Binary, Number, String.`,
      );
    }
    if (type.startsWith('Binary')) {
      if (value.BinaryValue === undefined || value.BinaryValue === '')
        throw sqsError.invalidParameter(
          `Message (user) attribute '${name}' must contain a non-empty value of type '${type}'.`,
        );
      size += Buffer.from(value.BinaryValue, 'base64').length;
    } else {
      if (value.StringValue === undefined || value.StringValue === '')
        throw sqsError.invalidParameter(
          `Message (user) attribute '${name}' must contain a non-empty value of type '${type}'.`,
        );
      if (type.startsWith('Number') && !Number.isFinite(Number(value.StringValue)))
        throw sqsError.invalidParameter(`Could not cast message attribute '${name}' value to number.`);
      assertValidText(value.StringValue, `message attribute '${name}'`);
      size += Buffer.byteLength(value.StringValue);
    }
    size += Buffer.byteLength(name) + Buffer.byteLength(type);
  }
  return size;
}

/** Checks a queue attribute's value; returns it as kept. */
export function validateQueueAttribute(name: string, value: string): string {
  if (name in QUEUE_ATTRIBUTE_RANGES) {
    const range = QUEUE_ATTRIBUTE_RANGES[name as NumericQueueAttribute];
    const number = Number(value);
    if (!/^\d+$/.test(value.trim()) || number < range.min || number > range.max) {
      throw sqsError.invalidParameter(
        `Invalid value for the parameter ${name}. Reason: must be a whole number from ${range.min} to ${range.max}.`,
      );
    }
    return String(number);
  }
  if (
    name === 'FifoQueue' ||
    name === 'ContentBasedDeduplication' ||
    name === 'FifoThroughputLimit' ||
    name === 'DeduplicationScope'
  ) {
    if (name === 'FifoQueue' && value.toLowerCase() === 'false') return value;
    throw sqsError.invalidParameter(`FIFO queues are not offered by this local stack (${name})`);
  }
  if (name === 'RedrivePolicy') {
    if (value === '') return value;
    let policy: { deadLetterTargetArn?: unknown; maxReceiveCount?: unknown };
    try {
      policy = JSON.parse(value) as typeof policy;
    } catch {
      throw sqsError.invalidParameter(
        'Invalid value for the parameter RedrivePolicy. Reason: Redrive policy is not a valid JSON map.',
      );
    }
    const count = Number(policy?.maxReceiveCount);
    if (
      typeof policy?.deadLetterTargetArn !== 'string' ||
      !Number.isInteger(count) ||
      count < 1 ||
      count > 1000
    ) {
      throw sqsError.invalidParameter(
        'Value {...} for parameter RedrivePolicy is invalid. Reason: Redrive policy needs deadLetterTargetArn and a maxReceiveCount from 1 to 1000.',
      );
    }
    return JSON.stringify({ deadLetterTargetArn: policy.deadLetterTargetArn, maxReceiveCount: count });
  }
  if (TEXT_ATTRIBUTES.has(name) || name.startsWith('Kms')) return value;
  throw sqsError.invalidAttributeName(name);
}

/** Reads a JSON file written whole, or undefined if it is missing or unreadable. */
function readJson<T>(path: string): T | undefined {
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch {
    return undefined;
  }
}

function writeJsonWhole(path: string, value: unknown): void {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(value));
  renameSync(temp, path);
}

const segmentName = (first: number): string => `messages-${String(first).padStart(12, '0')}.ndjson`;
const SEGMENT_FILE = /^messages-(\d{12})\.ndjson$/;

/** The lines of a file from a byte offset, with where each starts; a torn last line is left out. */
function* linesFrom(path: string, start: number): Generator<{ line: Buffer; offset: number }> {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return;
  }
  try {
    let position = start;
    let carry = Buffer.alloc(0);
    const chunk = Buffer.alloc(1024 * 1024);
    for (;;) {
      const read = readSync(fd, chunk, 0, chunk.length, position);
      if (read === 0) return;
      position += read;
      const data = carry.length ? Buffer.concat([carry, chunk.subarray(0, read)]) : chunk.subarray(0, read);
      let from = 0;
      const base = position - data.length;
      for (let nl = data.indexOf(10, from); nl !== -1; nl = data.indexOf(10, from)) {
        if (nl > from) yield { line: data.subarray(from, nl), offset: base + from };
        from = nl + 1;
      }
      carry = Buffer.from(data.subarray(from));
    }
  } finally {
    closeSync(fd);
  }
}

/**
 * Cuts a line torn by a crash mid-append off the end of a file, so that the next append starts on
 * a line of its own (written onto the fragment, an acknowledged message or change would be lost).
 */
function cutTornTail(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, 'r+');
  } catch {
    return;
  }
  try {
    const size = fstatSync(fd).size;
    const chunk = Buffer.alloc(64 * 1024);
    let end = size;
    while (end > 0) {
      const start = Math.max(0, end - chunk.length);
      const read = readSync(fd, chunk, 0, end - start, start);
      const nl = chunk.subarray(0, read).lastIndexOf(10);
      if (nl !== -1) {
        end = start + nl + 1;
        break;
      }
      end = start;
    }
    if (end < size) ftruncateSync(fd, end);
  } finally {
    closeSync(fd);
  }
}

function parseMessageLine(line: Buffer): MessageLine | undefined {
  try {
    const record = JSON.parse(line.toString('utf8')) as MessageLine;
    return typeof record.s === 'number' && typeof record.b === 'string' ? record : undefined;
  } catch {
    return undefined;
  }
}

type DeadLetterMover = (arn: string, message: SendInput) => boolean;

/** A segment file: its size, how many of its messages are left, and when the newest was sent. */
interface Segment {
  size: number;
  live: number;
  newest: number;
}

interface StoreLimits {
  /** A new segment file past this size. */
  segmentBytes: number;
  /** Changes appended before they are folded into the snapshot. */
  changesPerSnapshot: number;
}

/** One queue: its messages and attributes. Made and found through QueueStore. */
export class LocalQueue {
  private readonly window = new Map<number, Entry>();
  /** Segments by first seq, with their size and how many of their messages are left. */
  private readonly segments = new Map<number, Segment>();
  private lastExpiry = 0;
  private read: Snapshot['read'];
  /** Never-received messages past the window. */
  private beyond = 0;
  private nextSeq = 1;
  private changeN = 0;
  private changesSinceSnapshot = 0;
  private writeSegment: number;
  /** Changes read at start for messages not yet in the window. */
  private pending = new Map<number, Change>();
  private waiters = new Set<() => void>();
  private deleted = false;

  private constructor(
    readonly dir: string,
    private meta: QueueMeta,
    readonly arn: string,
    /** Sends a message received too often to the dead-letter queue its redrive policy names; false if there is none. */
    private readonly moveToDeadLetter: DeadLetterMover,
    private readonly limits: StoreLimits,
  ) {
    this.read = { segment: 1, offset: 0, seq: 1 };
    this.writeSegment = 1;
    this.segments.set(1, { size: 0, live: 0, newest: 0 });
  }

  get name(): string {
    return this.meta.name;
  }

  get created(): number {
    return this.meta.created;
  }

  get modified(): number {
    return this.meta.modified;
  }

  get tags(): Readonly<Record<string, string>> {
    return this.meta.tags;
  }

  /** The attributes as given (or defaulted), by name. */
  get attributes(): Readonly<Record<string, string>> {
    return this.meta.attributes;
  }

  private number(name: NumericQueueAttribute): number {
    const value = Number(this.meta.attributes[name]);
    return Number.isFinite(value) ? value : QUEUE_ATTRIBUTE_RANGES[name].default;
  }

  get redrivePolicy(): { deadLetterTargetArn: string; maxReceiveCount: number } | undefined {
    const text = this.meta.attributes.RedrivePolicy;
    if (!text) return undefined;
    try {
      return JSON.parse(text) as { deadLetterTargetArn: string; maxReceiveCount: number };
    } catch {
      return undefined;
    }
  }

  static create(
    dir: string,
    meta: QueueMeta,
    arn: string,
    mover: DeadLetterMover,
    limits: StoreLimits,
  ): LocalQueue {
    mkdirSync(dir, { recursive: true });
    writeJsonWhole(join(dir, 'queue.json'), meta);
    return new LocalQueue(dir, meta, arn, mover, limits);
  }

  /** Opens a queue's directory: its snapshot, the changes since, and its segments counted. */
  static open(
    dir: string,
    arnOf: (name: string) => string,
    mover: DeadLetterMover,
    limits: StoreLimits,
  ): LocalQueue | undefined {
    const meta = readJson<QueueMeta>(join(dir, 'queue.json'));
    if (!meta || typeof meta.name !== 'string') return undefined;
    const queue = new LocalQueue(dir, meta, arnOf(meta.name), mover, limits);
    queue.load();
    return queue;
  }

  private load(): void {
    const snapshot = readJson<Snapshot>(join(this.dir, 'state.json'));
    if (snapshot) {
      this.read = snapshot.read;
      this.changeN = snapshot.n;
      this.nextSeq = Math.max(this.nextSeq, snapshot.next ?? 1);
      for (const entry of snapshot.entries) this.window.set(entry.seq, entry);
    }
    cutTornTail(join(this.dir, 'changes.ndjson'));
    for (const line of linesFrom(join(this.dir, 'changes.ndjson'), 0)) {
      let change: Change;
      try {
        change = JSON.parse(line.line.toString('utf8')) as Change;
      } catch {
        continue;
      }
      if (typeof change.n !== 'number' || change.n <= this.changeN) continue;
      this.changeN = change.n;
      this.changesSinceSnapshot++;
      // A seq a change names is never given to another message (its change would apply to it).
      this.nextSeq = Math.max(this.nextSeq, change.s + 1);
      const entry = this.window.get(change.s);
      if (entry) this.apply(entry, change);
      else if (change.s >= this.read.seq) this.pending.set(change.s, change);
    }
    const firsts = readdirSync(this.dir)
      .map((name) => SEGMENT_FILE.exec(name)?.[1])
      .filter((first): first is string => first !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
    // Count every segment's messages left: those in the window, and those past it not deleted.
    this.segments.clear();
    for (const first of firsts) {
      const path = join(this.dir, segmentName(first));
      cutTornTail(path);
      const segment = { size: statSync(path).size, live: 0, newest: 0 };
      this.segments.set(first, segment);
      for (const { line } of linesFrom(path, 0)) {
        const record = parseMessageLine(line);
        if (record === undefined) continue;
        const seq = record.s;
        segment.newest = Math.max(segment.newest, record.t);
        this.nextSeq = Math.max(this.nextSeq, seq + 1);
        if (seq < this.read.seq) {
          if (this.window.has(seq)) segment.live++;
        } else if (!(this.pending.get(seq) && 'x' in (this.pending.get(seq) as Change))) {
          segment.live++;
          this.beyond++;
        }
      }
    }
    for (const entry of this.window.values())
      if (!this.segments.has(entry.segment)) this.window.delete(entry.seq);
    this.nextSeq = Math.max(this.nextSeq, this.read.seq);
    this.writeSegment = firsts.at(-1) ?? this.nextSeq;
    if (!this.segments.has(this.writeSegment))
      this.segments.set(this.writeSegment, { size: 0, live: 0, newest: 0 });
    this.dropEmptySegments();
    // Messages changed since the snapshot were in the window before: take them (and those sent
    // between them) back into it, so that their state counts now.
    // Read on while changes wait and the read pointer moves, even with no unread message left:
    // deleted messages past it must be passed, or a later loadMore() would bring them back.
    for (let before = ''; this.pending.size > 0;) {
      const now = `${this.read.segment}:${this.read.offset}`;
      if (now === before) break;
      before = now;
      this.loadMore();
    }
    this.pending.clear();
  }

  private apply(entry: Entry, change: Change): void {
    if ('x' in change) {
      this.window.delete(entry.seq);
      return;
    }
    entry.visibleAt = change.v;
    entry.count = change.c;
    entry.first = change.f;
    entry.nonce = change.r;
  }

  setAttributes(attributes: Record<string, string>): void {
    this.meta = {
      ...this.meta,
      modified: Date.now(),
      attributes: { ...this.meta.attributes, ...attributes },
    };
    writeJsonWhole(join(this.dir, 'queue.json'), this.meta);
  }

  setTags(tags: Record<string, string>, remove: readonly string[] = []): void {
    const next = Object.entries({ ...this.meta.tags, ...tags }).filter(([key]) => !remove.includes(key));
    this.meta = { ...this.meta, tags: Object.fromEntries(next) };
    writeJsonWhole(join(this.dir, 'queue.json'), this.meta);
  }

  /** Sends one message: on disk when this returns. */
  send(input: SendInput): SentMessage {
    this.assertLive();
    assertValidText(input.body, 'the message body');
    if (input.body.length === 0)
      throw sqsError.invalidParameter('The request must contain the parameter MessageBody.');
    const attributesSize = input.attributes ? validateMessageAttributes(input.attributes) : 0;
    const max = this.number('MaximumMessageSize');
    if (Buffer.byteLength(input.body) + attributesSize > max) {
      throw sqsError.invalidParameter(
        `One or more parameters are invalid. Reason: Message must be shorter than ${max} bytes.`,
      );
    }
    const delay = input.delaySeconds ?? this.number('DelaySeconds');
    const now = Date.now();
    const hasAttributes = input.attributes && Object.keys(input.attributes).length > 0;
    const record: MessageLine = {
      s: this.nextSeq,
      i: randomUUID(),
      t: now,
      v: now + delay * 1000,
      b: input.body,
      m: md5Hex(input.body),
      ...(hasAttributes ? { a: input.attributes, h: md5OfMessageAttributes(input.attributes ?? {}) } : {}),
      ...(input.origin ? { o: input.origin } : {}),
    };
    let segment = this.segments.get(this.writeSegment) as Segment;
    if (segment.size >= this.limits.segmentBytes) {
      this.writeSegment = record.s;
      segment = { size: 0, live: 0, newest: 0 };
      this.segments.set(this.writeSegment, segment);
    }
    const line = Buffer.from(`${JSON.stringify(record)}\n`);
    appendFileSync(join(this.dir, segmentName(this.writeSegment)), line);
    this.nextSeq++;
    segment.size += line.length;
    segment.newest = now;
    segment.live++;
    this.beyond++;
    this.wake();
    return { id: record.i, md5OfBody: record.m, ...(record.h ? { md5OfAttributes: record.h } : {}) };
  }

  /** Wakes long polls waiting on this queue. */
  private wake(): void {
    const waiters = this.waiters;
    this.waiters = new Set();
    for (const wake of waiters) wake();
  }

  /**
   * Receives up to `max` messages, waiting up to `waitSeconds` for one to arrive (a long poll ends
   * as soon as there is one, or when `signal` aborts). Messages received too often under a redrive
   * policy go to its dead-letter queue instead.
   */
  async receive(options: {
    max: number;
    visibilityTimeout?: number;
    waitSeconds?: number;
    signal?: AbortSignal;
  }): Promise<ReceivedMessage[]> {
    const waitSeconds = options.waitSeconds ?? this.number('ReceiveMessageWaitTimeSeconds');
    const deadline = Date.now() + waitSeconds * 1000;
    for (;;) {
      const received = this.receiveNow(options);
      if (received.length > 0 || Date.now() >= deadline || options.signal?.aborted || this.deleted)
        return received;
      await new Promise<void>((resolve) => {
        const nextVisible = this.nextVisibleAt();
        const timer = setTimeout(wake, Math.max(1, Math.min(deadline, nextVisible) - Date.now()));
        const onAbort = (): void => wake();
        options.signal?.addEventListener('abort', onAbort);
        const waiters = this.waiters;
        function wake(): void {
          clearTimeout(timer);
          options.signal?.removeEventListener('abort', onAbort);
          waiters.delete(wake);
          resolve();
        }
        waiters.add(wake);
      });
    }
  }

  private nextVisibleAt(): number {
    let next = Infinity;
    for (const entry of this.window.values()) if (entry.visibleAt < next) next = entry.visibleAt;
    return next;
  }

  private receiveNow(options: { max: number; visibilityTimeout?: number }): ReceivedMessage[] {
    this.assertLive();
    this.expireUnread();
    const now = Date.now();
    const retentionMs = this.number('MessageRetentionPeriod') * 1000;
    const visibility = options.visibilityTimeout ?? this.number('VisibilityTimeout');
    const redrive = this.redrivePolicy;
    let waiting = 0;
    const picked: Entry[] = [];
    for (let pass = 0; pass < 2 && picked.length < options.max; pass++) {
      if (pass === 1) {
        // More from disk only while the window holds few never-received messages (delayed ones
        // stay there until visible): memory stays bounded however many are delayed.
        if (this.beyond === 0 || waiting >= MAX_WAITING) break;
        this.loadMore();
      }
      let inFlight = 0;
      waiting = 0;
      for (const entry of this.window.values()) {
        if (entry.sent + retentionMs <= now) {
          this.remove(entry);
          continue;
        }
        if (entry.count === 0) waiting++;
        if (entry.visibleAt > now) {
          if (entry.count > 0) inFlight++;
          continue;
        }
        if (picked.includes(entry) || picked.length >= options.max) continue;
        if (redrive && entry.count >= redrive.maxReceiveCount) {
          const line = this.lineOf(entry);
          if (
            line &&
            this.moveToDeadLetter(redrive.deadLetterTargetArn, {
              body: line.b,
              ...(line.a ? { attributes: line.a } : {}),
              origin: this.arn,
            })
          ) {
            this.remove(entry);
            continue;
          }
        }
        picked.push(entry);
      }
      if (pass === 0 && inFlight + picked.length > MAX_IN_FLIGHT) {
        throw new AwsApiError(
          'OverLimit',
          `Too many messages in flight (the limit is ${MAX_IN_FLIGHT}).`,
          403,
        );
      }
    }
    const received: ReceivedMessage[] = [];
    for (const entry of picked) {
      const line = this.lineOf(entry);
      if (!line) {
        this.remove(entry);
        continue;
      }
      entry.count++;
      if (entry.count === 1) entry.first = now;
      entry.visibleAt = now + visibility * 1000;
      entry.nonce = randomBytes(6).toString('hex');
      this.change({ s: entry.seq, v: entry.visibleAt, c: entry.count, f: entry.first, r: entry.nonce });
      received.push({
        id: entry.id,
        receiptHandle: this.handleOf(entry),
        body: line.b,
        md5OfBody: line.m,
        ...(line.a ? { attributes: line.a } : {}),
        ...(line.h ? { md5OfAttributes: line.h } : {}),
        sentTimestamp: entry.sent,
        receiveCount: entry.count,
        firstReceiveTimestamp: entry.first,
      });
    }
    return received;
  }

  /** Takes the next never-received messages into the window (past retention: dropped). */
  private loadMore(): void {
    const retentionMs = this.number('MessageRetentionPeriod') * 1000;
    const now = Date.now();
    let loaded = 0;
    const firsts = [...this.segments.keys()]
      .filter((first) => first >= this.read.segment)
      .sort((a, b) => a - b);
    for (const first of firsts) {
      if (first !== this.read.segment) this.read = { segment: first, offset: 0, seq: this.read.seq };
      for (const { line, offset } of linesFrom(join(this.dir, segmentName(first)), this.read.offset)) {
        if (loaded >= LOAD_BATCH) return;
        const record = parseMessageLine(line);
        this.read = {
          segment: first,
          offset: offset + line.length + 1,
          seq: record ? record.s + 1 : this.read.seq,
        };
        if (!record) continue;
        const change = this.pending.get(record.s);
        this.pending.delete(record.s);
        if (change && 'x' in change) continue;
        this.beyond--;
        const entry: Entry = {
          seq: record.s,
          id: record.i,
          segment: first,
          offset,
          length: line.length,
          sent: record.t,
          visibleAt: record.v,
          count: 0,
          first: 0,
          nonce: '',
        };
        if (change) this.apply(entry, change);
        this.window.set(entry.seq, entry);
        loaded++;
        if (entry.count === 0 && entry.sent + retentionMs <= now) this.remove(entry);
      }
    }
  }

  private lineOf(entry: Entry): MessageLine | undefined {
    const path = join(this.dir, segmentName(entry.segment));
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch {
      return undefined;
    }
    try {
      const buffer = Buffer.alloc(entry.length);
      readSync(fd, buffer, 0, entry.length, entry.offset);
      return parseMessageLine(buffer);
    } finally {
      closeSync(fd);
    }
  }

  private handleOf(entry: Entry): string {
    return Buffer.from(`${this.meta.created}:${entry.seq}:${entry.nonce}`).toString('base64url');
  }

  /** The message a receipt handle names (undefined: deleted already), and whether it is this receive's. */
  private byHandle(handle: string): { entry: Entry | undefined; current: boolean } {
    const match = /^(\d+):(\d+):([0-9a-f]{12})$/.exec(Buffer.from(handle, 'base64url').toString('utf8'));
    if (!match || Buffer.from(handle, 'base64url').toString('base64url') !== handle)
      throw sqsError.receiptHandle(handle);
    if (Number(match[1]) !== this.meta.created) throw sqsError.receiptHandle(handle);
    const entry = this.window.get(Number(match[2]));
    return { entry, current: entry?.nonce === match[3] };
  }

  /**
   * Deletes the message a receipt handle names. As in SQS, a handle of an earlier receive, or of a
   * message deleted already, succeeds and deletes nothing.
   */
  deleteMessage(handle: string): void {
    this.assertLive();
    const { entry, current } = this.byHandle(handle);
    if (entry && current) this.remove(entry);
  }

  changeVisibility(handle: string, seconds: number): void {
    this.assertLive();
    const { entry, current } = this.byHandle(handle);
    // An earlier receive's handle: expired, as SQS says (not the message's state).
    if (entry && !current) throw sqsError.expiredHandle(handle);
    if (!entry || entry.visibleAt <= Date.now()) throw sqsError.notInFlight();
    entry.visibleAt = Date.now() + seconds * 1000;
    this.change({ s: entry.seq, v: entry.visibleAt, c: entry.count, f: entry.first, r: entry.nonce });
    if (seconds === 0) this.wake();
  }

  /** Deletes every message. */
  purge(): void {
    this.assertLive();
    const fresh = this.nextSeq;
    this.window.clear();
    this.pending.clear();
    this.beyond = 0;
    this.read = { segment: fresh, offset: 0, seq: fresh };
    // The snapshot first: a crash before the files go leaves segments the snapshot says are read.
    this.snapshot();
    for (const first of this.segments.keys()) rmSync(join(this.dir, segmentName(first)), { force: true });
    this.segments.clear();
    this.writeSegment = fresh;
    this.segments.set(fresh, { size: 0, live: 0, newest: 0 });
  }

  /**
   * Drops, now and then, whole segments no message of which was read yet and all past the retention
   * period: the messages nobody receives go as on SQS (those in the window go as they are met).
   */
  private expireUnread(): void {
    const now = Date.now();
    if (now - this.lastExpiry < EXPIRY_CHECK_MS) return;
    this.lastExpiry = now;
    const retentionMs = this.number('MessageRetentionPeriod') * 1000;
    const firsts = [...this.segments.keys()].sort((a, b) => a - b);
    for (const [i, first] of firsts.entries()) {
      const segment = this.segments.get(first) as Segment;
      if (first < this.read.segment || segment.newest + retentionMs > now) continue;
      if (first === this.writeSegment) {
        // All of it expired: new sends start a segment of their own.
        this.writeSegment = this.nextSeq;
        this.segments.set(this.nextSeq, { size: 0, live: 0, newest: 0 });
      }
      let unread = segment.live;
      if (first === this.read.segment && this.read.offset > 0) {
        // Partly read: those in the window go as they are met; the rest is skipped over.
        for (const entry of this.window.values()) if (entry.segment === first) unread--;
        const next = firsts[i + 1] ?? this.nextSeq;
        this.read = { segment: next, offset: 0, seq: next };
      }
      this.beyond -= unread;
      segment.live -= unread;
    }
    this.dropEmptySegments();
  }

  /** The messages visible, in flight (received, not visible) and delayed (sent, not yet visible). */
  counts(): { visible: number; inFlight: number; delayed: number } {
    this.expireUnread();
    const now = Date.now();
    const retentionMs = this.number('MessageRetentionPeriod') * 1000;
    let visible = this.beyond;
    let inFlight = 0;
    let delayed = 0;
    for (const entry of this.window.values()) {
      if (entry.sent + retentionMs <= now) continue;
      if (entry.visibleAt <= now) visible++;
      else if (entry.count > 0) inFlight++;
      else delayed++;
    }
    return { visible, inFlight, delayed };
  }

  /**
   * Up to `max` messages, oldest first, for a move task: their bodies, attributes and origin; each
   * removed once `take` accepts it. Returns how many were taken (fewer: none left, or `take` refused).
   */
  drain(take: (message: SendInput) => boolean, max: number): number {
    // A move task yields between batches: by its next one the queue may be gone, its name reused.
    this.assertLive();
    let moved = 0;
    while (moved < max) {
      if (this.window.size === 0 && this.beyond > 0) this.loadMore();
      const entries = [...this.window.values()];
      if (entries.length === 0) return moved;
      for (const entry of entries) {
        if (moved >= max) return moved;
        const line = this.lineOf(entry);
        if (!line) {
          this.remove(entry);
          continue;
        }
        if (
          !take({
            body: line.b,
            ...(line.a ? { attributes: line.a } : {}),
            ...(line.o ? { origin: line.o } : {}),
          })
        )
          return moved;
        this.remove(entry);
        moved++;
      }
      if (this.beyond === 0 && this.window.size === 0) return moved;
    }
    return moved;
  }

  /** The origins of the messages in the window (for a move task's destination), at most `limit` looked at. */
  origins(limit = LOAD_BATCH): Set<string> {
    const origins = new Set<string>();
    let looked = 0;
    for (const entry of this.window.values()) {
      if (looked++ >= limit) break;
      const origin = this.lineOf(entry)?.o;
      if (origin) origins.add(origin);
    }
    return origins;
  }

  get size(): number {
    return this.window.size + this.beyond;
  }

  private remove(entry: Entry): void {
    this.window.delete(entry.seq);
    this.change({ s: entry.seq, x: 1 });
    const segment = this.segments.get(entry.segment);
    if (segment) segment.live--;
    this.dropEmptySegments();
  }

  private dropEmptySegments(): void {
    for (const [first, segment] of this.segments) {
      if (segment.live > 0 || first === this.writeSegment) continue;
      rmSync(join(this.dir, segmentName(first)), { force: true });
      this.segments.delete(first);
    }
  }

  private change(change: Omit<Extract<Change, { x: 1 }>, 'n'> | Omit<Exclude<Change, { x: 1 }>, 'n'>): void {
    this.changeN++;
    appendFileSync(join(this.dir, 'changes.ndjson'), `${JSON.stringify({ n: this.changeN, ...change })}\n`);
    if (++this.changesSinceSnapshot >= this.limits.changesPerSnapshot) this.snapshot();
  }

  /** Folds the changes into `state.json` and starts the change log afresh. */
  private snapshot(): void {
    const snapshot: Snapshot = {
      n: this.changeN,
      next: this.nextSeq,
      read: this.read,
      entries: [...this.window.values()],
    };
    writeJsonWhole(join(this.dir, 'state.json'), snapshot);
    // Changes the snapshot holds are skipped by their number if this truncation is lost to a crash.
    writeFileSync(join(this.dir, 'changes.ndjson'), '');
    this.changesSinceSnapshot = 0;
  }

  private assertLive(): void {
    if (this.deleted) throw sqsError.nonExistentQueue();
  }

  /** Takes the queue out of use (deleted, or the store closing) and ends its long polls. */
  retire(options: { snapshot?: boolean } = {}): void {
    if (this.deleted) return;
    this.deleted = true;
    this.wake();
    // A clean stop folds the changes in: the next start reads one file instead of replaying them.
    if (options.snapshot && this.changesSinceSnapshot > 0) this.snapshot();
  }
}

/** Where a queue's files are and what ARN and URL it has. */
export interface QueueStoreOptions {
  dir: string;
  account: string;
  region: string;
  /** Smaller segments and snapshots more often (tests). */
  limits?: Partial<StoreLimits>;
}

/** The user's queues, by name; also the bus's QueueSink for user rules' queue targets. */
export class QueueStore implements QueueSink {
  /** The queues by name; opened (their files read) on first use, so a command that uses none pays nothing. */
  private readonly queues = new Map<string, LocalQueue | undefined>();
  readonly account: string;
  readonly region: string;
  private readonly dir: string;
  private readonly limits: StoreLimits;

  /** A redrive policy's dead-letter queue takes the message if it exists (else it stays, as on AWS). */
  private readonly mover: DeadLetterMover = (arn, message) => {
    if (!this.has(arn)) return false;
    try {
      this.sendMessage(arn, message);
      return true;
    } catch {
      return false; // too large for the DLQ's MaximumMessageSize: it stays where it is
    }
  };

  constructor(options: QueueStoreOptions) {
    this.dir = options.dir;
    this.account = options.account;
    this.region = options.region;
    this.limits = {
      segmentBytes: SEGMENT_BYTES,
      changesPerSnapshot: CHANGES_PER_SNAPSHOT,
      ...options.limits,
    };
    let names: string[] = [];
    try {
      names = readdirSync(this.dir);
    } catch {
      // No queue made yet.
    }
    for (const name of names) {
      if (name.startsWith('.')) {
        // A queue whose deletion a crash cut short.
        rmSync(join(this.dir, name), { recursive: true, force: true });
        continue;
      }
      if (QUEUE_NAME.test(name) && statSync(join(this.dir, name, 'queue.json'), { throwIfNoEntry: false }))
        this.queues.set(name, undefined);
    }
  }

  arnOf(name: string): string {
    return `arn:aws:sqs:${this.region}:${this.account}:${name}`;
  }

  /** The queue name an ARN of this region and account names, or undefined. */
  nameOfArn(arn: string): string | undefined {
    const prefix = `arn:aws:sqs:${this.region}:${this.account}:`;
    return arn.startsWith(prefix) ? arn.slice(prefix.length) : undefined;
  }

  names(): string[] {
    return [...this.queues.keys()].sort();
  }

  get(name: string): LocalQueue | undefined {
    if (!this.queues.has(name)) return undefined;
    let queue = this.queues.get(name);
    if (!queue) {
      queue = LocalQueue.open(join(this.dir, name), (n) => this.arnOf(n), this.mover, this.limits);
      if (queue) this.queues.set(name, queue);
      else this.queues.delete(name);
    }
    return queue;
  }

  /**
   * Makes a queue, or returns the one of that name when its attributes are those asked for (as
   * CreateQueue does); QueueAlreadyExists when they differ.
   */
  create(name: string, attributes: Record<string, string>, tags: Record<string, string> = {}): LocalQueue {
    assertQueueName(name);
    const given: Record<string, string> = {};
    for (const [key, value] of Object.entries(attributes)) given[key] = validateQueueAttribute(key, value);
    const existing = this.get(name);
    if (existing) {
      for (const [key, value] of Object.entries(given)) {
        const current =
          existing.attributes[key] ??
          String(QUEUE_ATTRIBUTE_RANGES[key as NumericQueueAttribute]?.default ?? '');
        if (current !== value)
          throw new AwsApiError(
            'QueueAlreadyExists',
            `A queue already exists with the same name and a different value for attribute ${key}`,
          );
      }
      return existing;
    }
    const defaults: Record<string, string> = {};
    for (const [key, range] of Object.entries(QUEUE_ATTRIBUTE_RANGES)) defaults[key] = String(range.default);
    const now = Date.now();
    const queue = LocalQueue.create(
      join(this.dir, name),
      { name, created: now, modified: now, attributes: { ...defaults, ...given }, tags },
      this.arnOf(name),
      this.mover,
      this.limits,
    );
    this.queues.set(name, queue);
    return queue;
  }

  delete(name: string): void {
    const queue = this.get(name);
    if (!queue) throw sqsError.nonExistentQueue();
    this.queues.delete(name);
    queue.retire();
    // Out of the way in one step, then removed: a crash between leaves a `.` directory, removed at start.
    const aside = join(this.dir, `.deleted-${name}-${Date.now()}`);
    renameSync(queue.dir, aside);
    rmSync(aside, { recursive: true, force: true });
  }

  has(queueArn: string): boolean {
    const name = this.nameOfArn(queueArn);
    return name !== undefined && this.queues.has(name);
  }

  send(queueArn: string, body: string, attributes?: Readonly<Record<string, string>>): void {
    const entries = Object.entries(attributes ?? {});
    this.sendMessage(queueArn, {
      body,
      ...(entries.length > 0
        ? {
            attributes: Object.fromEntries(
              entries.map(([name, value]) => [name, { DataType: 'String', StringValue: value }]),
            ),
          }
        : {}),
    });
  }

  /** Sends to the queue an ARN names; throws NonExistentQueue when there is none. */
  sendMessage(queueArn: string, message: SendInput): SentMessage {
    const name = this.nameOfArn(queueArn);
    const queue = name === undefined ? undefined : this.get(name);
    if (!queue) throw sqsError.nonExistentQueue();
    return queue.send(message);
  }

  /** Ends every long poll (the stack is stopping). */
  close(): void {
    for (const queue of this.queues.values()) queue?.retire({ snapshot: true });
  }
}
