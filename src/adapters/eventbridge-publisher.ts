/** EventPublisher on the EventBridge API: PutEvents-sized requests, failed entries retried with backoff. */
import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
} from '@aws-sdk/client-eventbridge';
import type { PutEventsEntry } from '../pipeline/events.ts';
import { batchPutEventsEntries } from '../pipeline/put-events.ts';
import type { EventPublisher } from '../stages/ports.ts';
import { backoffDelayMs, sleep } from './backoff.ts';

/** PutEvents entry error codes worth another attempt. */
const RETRYABLE = new Set([
  'ThrottlingException',
  'InternalFailure',
  'InternalException',
  'ServiceUnavailable',
]);

export class PutEventsFailedError extends Error {
  constructor(readonly failures: { ErrorCode?: string; ErrorMessage?: string }[]) {
    const first = failures[0];
    super(
      `${failures.length} event(s) were not accepted by PutEvents: ${first?.ErrorCode}: ${first?.ErrorMessage}`,
    );
    this.name = 'PutEventsFailedError';
  }
}

export class EventBridgePublisher implements EventPublisher {
  constructor(
    private readonly client: EventBridgeClient,
    private readonly eventBusName: string,
    private readonly maxAttempts = 8,
  ) {}

  async putEvents(entries: PutEventsEntry[]): Promise<void> {
    for (const batch of batchPutEventsEntries(entries)) await this.putBatch(batch);
  }

  private async putBatch(batch: PutEventsEntry[]): Promise<void> {
    let pending: PutEventsRequestEntry[] = batch.map((e) => ({ ...e, EventBusName: this.eventBusName }));
    for (let attempt = 0; ; attempt++) {
      const response = await this.client.send(new PutEventsCommand({ Entries: pending }));
      if (!response.FailedEntryCount) return;
      // Result entries line up with request entries; the failed ones carry an ErrorCode.
      const results = response.Entries ?? [];
      const failed = pending.filter((_, i) => results[i]?.ErrorCode !== undefined);
      // An entry refused for what it is (MalformedDetail, InvalidArgument, access) fails the same way again.
      const permanent = results.some((r) => r.ErrorCode !== undefined && !RETRYABLE.has(r.ErrorCode));
      if (permanent || attempt + 1 >= this.maxAttempts) {
        throw new PutEventsFailedError(results.filter((r) => r.ErrorCode !== undefined));
      }
      pending = failed;
      await sleep(backoffDelayMs(attempt));
    }
  }
}
