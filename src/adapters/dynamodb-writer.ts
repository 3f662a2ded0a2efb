/**
 * ItemWriter on DynamoDB BatchWriteItem: batches of 25, UnprocessedItems retried with backoff.
 * Keys are deduplicated per call because BatchWriteItem rejects a batch that names a key twice.
 *
 * DynamoDB refuses a whole batch for one invalid item (ValidationException). The load stage checks
 * values before they get here; an item that still gets a batch refused is found by bisection, so
 * it fails alone with DynamoDB's reason and the rest of its batch is written.
 */
import { BatchWriteItemCommand, type DynamoDBClient, type WriteRequest } from '@aws-sdk/client-dynamodb';
import type { Item, ItemWriter, WriteFailure } from '../stages/ports.ts';
import { retryUnfinished } from './backoff.ts';
import { mapConcurrently } from './concurrency.ts';
import type { WriteRateLimiter } from './write-rate.ts';

export const MAX_BATCH_WRITE_ITEMS = 25;

export const UNPROCESSED_REASON = 'DynamoDB left the item unprocessed';

export interface DynamoItemWriterOptions {
  client: DynamoDBClient;
  tableName: string;
  key: string;
  /** BatchWriteItem calls in flight at once. */
  concurrency?: number;
  /** Attempts per batch before its unprocessed items are reported failed (to be retried later). */
  maxAttempts?: number;
  /** Paces BatchWriteItem requests to a write rate (a provisioned table's write capacity). */
  rate?: Pick<WriteRateLimiter, 'take'>;
}

export class DynamoItemWriter implements ItemWriter {
  constructor(private readonly options: DynamoItemWriterOptions) {}

  async writeItems(items: Item[]): Promise<WriteFailure[]> {
    const byKey = new Map<string, Item>();
    for (const item of items) byKey.set(this.keyOf(item), item);
    const unique = [...byKey.values()];
    const chunks: Item[][] = [];
    for (let i = 0; i < unique.length; i += MAX_BATCH_WRITE_ITEMS) {
      chunks.push(unique.slice(i, i + MAX_BATCH_WRITE_ITEMS));
    }
    const results = await mapConcurrently(chunks, this.options.concurrency ?? 4, (c) => this.writeChunk(c));
    const failures = results.flat();
    // A duplicate key shares its fate with the item that was written for it.
    if (failures.length > 0 && unique.length < items.length) {
      const failedByKey = new Map(failures.map((f) => [this.keyOf(f.item), f]));
      const shared: WriteFailure[] = [];
      for (const item of items) {
        const failure = failedByKey.get(this.keyOf(item));
        if (failure) shared.push({ ...failure, item });
      }
      return shared;
    }
    return failures;
  }

  private keyOf(item: Record<string, unknown>): string {
    return JSON.stringify(item[this.options.key]);
  }

  /**
   * Writes one batch; resolves with the items refused or still unprocessed after every attempt.
   * A refused batch is split in halves until each refused item stands alone.
   */
  private async writeChunk(chunk: Item[]): Promise<WriteFailure[]> {
    try {
      const unprocessed = await this.putWithRetries(chunk);
      return unprocessed.map((item) => ({ item, reason: UNPROCESSED_REASON }));
    } catch (error) {
      // Throttled past the SDK's own retries: these rows wait for their redelivery, the rest of the
      // batch is written (the table is there; it is only busy).
      if (isThrottlingError(error)) {
        return chunk.map((item) => ({
          item,
          reason: `DynamoDB throttled the write: ${error.name}`,
          throttled: true,
        }));
      }
      if (!isValidationError(error)) throw error;
      if (chunk.length === 1) {
        return [
          { item: chunk[0] as Item, reason: `DynamoDB refused the item: ${error.message}`, refused: true },
        ];
      }
      const half = Math.ceil(chunk.length / 2);
      const [first, second] = await Promise.all([
        this.writeChunk(chunk.slice(0, half)),
        this.writeChunk(chunk.slice(half)),
      ]);
      return [...first, ...second];
    }
  }

  /** BatchWriteItem, looping on UnprocessedItems; resolves with the caller's items never processed. */
  private async putWithRetries(chunk: Item[]): Promise<Item[]> {
    const { client, tableName } = this.options;
    const requests: WriteRequest[] = chunk.map((item) => ({ PutRequest: { Item: item } }));
    const unprocessed = await retryUnfinished(
      requests,
      async (pending) => {
        await this.options.rate?.take(pending.length);
        const response = await client.send(
          new BatchWriteItemCommand({ RequestItems: { [tableName]: [...pending] } }),
        );
        return response.UnprocessedItems?.[tableName] ?? [];
      },
      { maxAttempts: this.options.maxAttempts ?? 8 },
    );
    // The response holds copies: hand back the caller's own items, found by their keys.
    const byKey = new Map(chunk.map((item) => [this.keyOf(item), item]));
    const originals: Item[] = [];
    for (const request of unprocessed) {
      const original = byKey.get(this.keyOf(request.PutRequest?.Item ?? {}));
      if (original) originals.push(original);
    }
    return originals;
  }
}

/** DynamoDB refused the request for what it holds (retrying the same request cannot succeed). */
/** DynamoDB's answers to a table or account over its throughput, after the SDK's own retries. */
const THROTTLING_ERRORS = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'RequestLimitExceeded',
]);

function isThrottlingError(error: unknown): error is Error {
  return error instanceof Error && THROTTLING_ERRORS.has(error.name);
}

function isValidationError(error: unknown): error is Error {
  return error instanceof Error && error.name === 'ValidationException';
}
