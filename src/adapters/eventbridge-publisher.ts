/** EventPublisher on the EventBridge API: PutEvents-sized requests, failed entries retried with backoff. */
import {
  type EventBridgeClient,
  PutEventsCommand,
  type PutEventsRequestEntry,
  type PutEventsResultEntry,
} from '@aws-sdk/client-eventbridge';
import type { PutEventsEntry } from '../pipeline/events.ts';
import { batchPutEventsEntries } from '../pipeline/put-events.ts';
import type { EventPublisher } from '../stages/ports.ts';
import { retryUnfinished } from './backoff.ts';

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
    const entries: PutEventsRequestEntry[] = batch.map((e) => ({ ...e, EventBusName: this.eventBusName }));
    let failures: PutEventsResultEntry[] = [];
    const unsent = await retryUnfinished(
      entries,
      async (pending) => {
        const response = await this.client.send(new PutEventsCommand({ Entries: [...pending] }));
        if (!response.FailedEntryCount) return [];
        // Result entries line up with request entries; the failed ones carry an ErrorCode.
        const results = response.Entries ?? [];
        failures = results.filter((r) => r.ErrorCode !== undefined);
        // An entry refused for what it is (MalformedDetail, InvalidArgument, access) fails the same way again.
        if (failures.some((r) => !RETRYABLE.has(r.ErrorCode as string)))
          throw new PutEventsFailedError(failures);
        return pending.filter((_, i) => results[i]?.ErrorCode !== undefined);
      },
      { maxAttempts: this.maxAttempts },
    );
    if (unsent.length > 0) throw new PutEventsFailedError(failures);
  }
}
