/**
 * The AWS event shape around the stages: an SQS batch whose message bodies are EventBridge events
 * (rule -> SqsQueue target -> SQS event source), answered with a partial batch response.
 *
 * The stages work on whole batches, so a handler here parses every message, hands the valid events
 * to the stage at once, publishes the output in PutEvents-sized requests, and maps each failure back
 * to the message ids it came from. Powertools' BatchProcessor turns that set into the
 * `batchItemFailures` response (with ReportBatchItemFailures, only those messages come back).
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { EventEnvelope, PutEventsEntry } from '../../pipeline/events.ts';
import {
  batchPutEventsEntries,
  MAX_PUT_EVENTS_BYTES,
  putEventsEntrySize,
} from '../../pipeline/put-events.ts';
import type { EventPublisher } from '../../stages/ports.ts';

export interface EventMessage<D = unknown> {
  messageId: string;
  event: EventEnvelope<D>;
}

/** A Lambda handler for an SQS event source with ReportBatchItemFailures. */
export type SqsBatchHandler = (event: SQSEvent, context?: Context) => Promise<SQSBatchResponse>;

/** Processes the batch's events; resolves with the ids of the messages that failed. */
export type EventBatchHandler = (messages: EventMessage[]) => Promise<Iterable<string>>;

/** The EventBridge event in an SQS message body, or why there is none. */
export function parseEventBody(body: string): { event: EventEnvelope<unknown> } | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(body);
  } catch {
    return { error: 'the message body is not JSON' };
  }
  if (typeof value !== 'object' || value === null) return { error: 'the message body is not an object' };
  const event = value as Partial<EventEnvelope<unknown>>;
  if (
    typeof event.id !== 'string' ||
    typeof event['detail-type'] !== 'string' ||
    typeof event.source !== 'string'
  ) {
    return { error: 'the message body is not an EventBridge event (id, source, detail-type)' };
  }
  if (typeof event.detail !== 'object' || event.detail === null)
    return { error: 'the event has no detail object' };
  return { event: event as EventEnvelope<unknown> };
}

/** Runs a batch handler over an SQS event of EventBridge events; answers with the failed messages. */
export async function handleEventBatch(
  event: SQSEvent,
  context: Context | undefined,
  logger: Logger,
  handle: EventBatchHandler,
): Promise<SQSBatchResponse> {
  const failed = new Set<string>();
  const messages: EventMessage[] = [];
  for (const record of event.Records) {
    const parsed = parseEventBody(record.body);
    if ('error' in parsed) {
      logger.error('poisoned message', { messageId: record.messageId, reason: parsed.error });
      failed.add(record.messageId);
    } else {
      messages.push({ messageId: record.messageId, event: parsed.event });
    }
  }
  if (messages.length > 0) {
    try {
      for (const id of await handle(messages)) failed.add(id);
    } catch (error) {
      // The stage failed as a whole (e.g. DynamoDB unreachable): every message is retried.
      logger.error('batch failed', { error: error as Error, messages: messages.length });
      for (const message of messages) failed.add(message.messageId);
    }
  }
  return reportFailures(event, failed, context);
}

/** The partial batch response for these failed message ids, by Powertools' BatchProcessor. */
export async function reportFailures(
  event: SQSEvent,
  failed: ReadonlySet<string>,
  context?: Context,
): Promise<SQSBatchResponse> {
  const processor = new BatchProcessor(EventType.SQS);
  const response = await processPartialResponse(
    event,
    (record: SQSRecord) => {
      if (failed.has(record.messageId)) throw new Error(`message ${record.messageId} failed`);
    },
    processor,
    { ...(context ? { context } : {}), throwOnFullBatchFailure: false },
  );
  return { batchItemFailures: response.batchItemFailures };
}

/** An output event and the messages whose processing produced it. */
export interface TaggedEntry {
  entry: PutEventsEntry;
  messageIds: readonly string[];
}

/**
 * Puts the entries in PutEvents-sized requests (several in flight) and returns the ids of the
 * messages whose output could not be put, so exactly those are retried. An entry too large for
 * PutEvents fails its messages (to their DLQ after the last attempt) without failing the others.
 */
export async function publishTagged(
  publisher: EventPublisher,
  tagged: readonly TaggedEntry[],
  logger: Logger,
  inFlight = 4,
): Promise<Set<string>> {
  const failed = new Set<string>();
  const sendable: (PutEventsEntry & { messageIds: readonly string[] })[] = [];
  for (const { entry, messageIds } of tagged) {
    const size = putEventsEntrySize(entry);
    if (size > MAX_PUT_EVENTS_BYTES) {
      logger.error('output event too large for PutEvents', { size, messageIds: [...messageIds] });
      for (const id of messageIds) failed.add(id);
    } else {
      sendable.push({ ...entry, messageIds });
    }
  }
  const batches = batchPutEventsEntries(sendable);
  const puts = batches.map((batch) => async () => {
    try {
      await publisher.putEvents(batch.map(({ messageIds: _ids, ...entry }) => entry));
    } catch (error) {
      logger.error('PutEvents failed', { error: error as Error, entries: batch.length });
      for (const entry of batch) for (const id of entry.messageIds) failed.add(id);
    }
  });
  for (let i = 0; i < puts.length; i += inFlight)
    await Promise.all(puts.slice(i, i + inFlight).map((put) => put()));
  return failed;
}

/** Indexes messages by the (run, row) their event names, to map output events back to them. */
export class MessagesByRow {
  private readonly ids = new Map<string, string[]>();

  add(run: string, row: number, messageId: string): void {
    const key = rowKey(run, row);
    const list = this.ids.get(key);
    if (list) list.push(messageId);
    else this.ids.set(key, [messageId]);
  }

  /** The messages of the (run, row) this entry's detail names. */
  forEntry(entry: PutEventsEntry): string[] {
    const detail = JSON.parse(entry.Detail) as { run?: unknown; row?: unknown };
    if (typeof detail.run !== 'string' || typeof detail.row !== 'number') return [];
    return this.forRow(detail.run, detail.row);
  }

  /** The messages of this (run, row). */
  forRow(run: string, row: number): string[] {
    return this.ids.get(rowKey(run, row)) ?? [];
  }
}

function rowKey(run: string, row: number): string {
  return `${run}\u0000${row}`;
}
