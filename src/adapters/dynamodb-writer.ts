/**
 * ItemWriter on DynamoDB, in the mapping's write mode:
 * - `put`: BatchWriteItem, batches of 25, UnprocessedItems retried with backoff.
 * - `update`: UpdateItem SET of the item's non-key attributes, a bounded number in flight: the
 *   table's item keeps every attribute the row does not have.
 * - `insert`: PutItem on condition that the key does not exist. A key that does is the row's
 *   failure (`exists`), unless the item there is the very item this row writes: a redelivered row
 *   that was written before stays loaded.
 * Keys are deduplicated per call because BatchWriteItem rejects a batch that names a key twice
 * (and in the other modes the last of a key's rows would win anyway).
 *
 * DynamoDB refuses a whole batch for one invalid item (ValidationException). The load stage checks
 * values before they get here; an item that still gets a batch refused is found by bisection, so
 * it fails alone with DynamoDB's reason and the rest of its batch is written.
 */
import {
  type AttributeValue,
  BatchWriteItemCommand,
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
  type WriteRequest,
} from '@aws-sdk/client-dynamodb';
import { canonicalNumber } from '../pipeline/cell-types.ts';
import type { WriteMode } from '../pipeline/mapping.ts';
import type { Item, ItemWriter, WriteFailure } from '../stages/ports.ts';
import { retryUnfinished } from './backoff.ts';
import { mapConcurrently } from './concurrency.ts';
import type { WriteRateLimiter } from './write-rate.ts';

export const MAX_BATCH_WRITE_ITEMS = 25;

export const UNPROCESSED_REASON = 'DynamoDB left the item unprocessed';

/** The reason of an insert whose key the table already has (with another item). */
export const EXISTS_REASON = 'exists';

/** UpdateItem / PutItem calls in flight at once per writeItems call (update and insert modes). */
const SINGLE_WRITES_IN_FLIGHT = 16;

export interface DynamoItemWriterOptions {
  client: DynamoDBClient;
  tableName: string;
  /** The key's attribute names: the partition key, then the sort key if any. */
  key: string | readonly string[];
  /** `put` when absent. */
  mode?: WriteMode;
  /** BatchWriteItem calls in flight at once. */
  concurrency?: number;
  /** Attempts per batch before its unprocessed items are reported failed (to be retried later). */
  maxAttempts?: number;
  /** Paces BatchWriteItem requests to a write rate (a provisioned table's write capacity). */
  rate?: Pick<WriteRateLimiter, 'take'>;
}

export class DynamoItemWriter implements ItemWriter {
  private readonly keys: readonly string[];

  constructor(private readonly options: DynamoItemWriterOptions) {
    this.keys = typeof options.key === 'string' ? [options.key] : options.key;
  }

  async writeItems(items: Item[]): Promise<WriteFailure[]> {
    const mode = this.options.mode ?? 'put';
    // Rows of one batch with the same key, in file order, as separate writes would leave them: put
    // keeps the last, update merges them (a later empty cell keeps an earlier value), insert keeps
    // the first and refuses a later different one as `exists`.
    const byKey = new Map<string, Item>();
    const refused: WriteFailure[] = [];
    for (const item of items) {
      const key = this.keyOf(item);
      const earlier = byKey.get(key);
      if (earlier === undefined || mode === 'put') byKey.set(key, item);
      else if (mode === 'update') byKey.set(key, { ...earlier, ...item });
      else if (!sameItem(earlier, item)) refused.push({ item, reason: EXISTS_REASON, refused: true });
    }
    const unique = [...byKey.values()];
    let failures: WriteFailure[];
    if (mode === 'put') {
      const chunks: Item[][] = [];
      for (let i = 0; i < unique.length; i += MAX_BATCH_WRITE_ITEMS) {
        chunks.push(unique.slice(i, i + MAX_BATCH_WRITE_ITEMS));
      }
      const results = await mapConcurrently(chunks, this.options.concurrency ?? 4, (c) => this.writeChunk(c));
      failures = results.flat();
    } else {
      const results = await mapConcurrently(unique, SINGLE_WRITES_IN_FLIGHT, (item) => this.writeOne(item));
      failures = results.filter((f): f is WriteFailure => f !== undefined);
    }
    // A duplicate key shares its fate with the item that was written for it.
    if (failures.length > 0 && unique.length < items.length) {
      const failedByKey = new Map(failures.map((f) => [this.keyOf(f.item), f]));
      const refusedItems = new Set(refused.map((f) => f.item));
      const shared: WriteFailure[] = [...refused];
      for (const item of items) {
        if (refusedItems.has(item)) continue;
        const failure = failedByKey.get(this.keyOf(item));
        if (failure) shared.push({ ...failure, item });
      }
      return shared;
    }
    return [...failures, ...refused];
  }

  private keyOf(item: Record<string, AttributeValue | undefined>): string {
    return JSON.stringify(this.keys.map((name) => comparable(item[name])));
  }

  private keyItem(item: Item): Item {
    return Object.fromEntries(this.keys.map((name) => [name, item[name] as Item[string]]));
  }

  /** One UpdateItem or conditional PutItem; resolves with the item's failure, if any. */
  private async writeOne(item: Item): Promise<WriteFailure | undefined> {
    const { client, tableName } = this.options;
    await this.options.rate?.take(1);
    try {
      if (this.options.mode === 'update') await client.send(this.updateCommand(item));
      else {
        await client.send(
          new PutItemCommand({
            TableName: tableName,
            Item: item,
            ConditionExpression: 'attribute_not_exists(#key)',
            ExpressionAttributeNames: { '#key': this.keys[0] as string },
          }),
        );
      }
      return undefined;
    } catch (error) {
      if (error instanceof Error && error.name === 'ConditionalCheckFailedException') {
        // Strongly consistent: a write acknowledged before (this row's, redelivered) is seen.
        const { Item: existing } = await client.send(
          new GetItemCommand({ TableName: tableName, Key: this.keyItem(item), ConsistentRead: true }),
        );
        if (existing && sameItem(existing, item)) return undefined;
        return { item, reason: EXISTS_REASON, refused: true };
      }
      if (isThrottlingError(error)) {
        return { item, reason: `DynamoDB throttled the write: ${error.name}`, throttled: true };
      }
      if (isValidationError(error)) {
        return { item, reason: `DynamoDB refused the item: ${error.message}`, refused: true };
      }
      throw error;
    }
  }

  /** SET of every non-key attribute; an item of keys alone is created (or left) as it is. */
  private updateCommand(item: Item): UpdateItemCommand {
    const keys = new Set(this.keys);
    const names: Record<string, string> = {};
    const values: Record<string, AttributeValue> = {};
    const assignments: string[] = [];
    for (const [name, value] of Object.entries(item)) {
      if (keys.has(name)) continue;
      const i = assignments.length;
      names[`#a${i}`] = name;
      values[`:v${i}`] = value;
      assignments.push(`#a${i} = :v${i}`);
    }
    return new UpdateItemCommand({
      TableName: this.options.tableName,
      Key: this.keyItem(item),
      ...(assignments.length === 0
        ? {}
        : {
            UpdateExpression: `SET ${assignments.join(', ')}`,
            ExpressionAttributeNames: names,
            ExpressionAttributeValues: values,
          }),
    });
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

/** Whether the table's item is the item written: values compared as DynamoDB compares them. */
export function sameItem(stored: Record<string, AttributeValue>, written: Item): boolean {
  const names = Object.keys(written);
  if (Object.keys(stored).length !== names.length) return false;
  return names.every((name) => comparable(stored[name]) === comparable(written[name]));
}

/**
 * One text per value as DynamoDB tells values apart: numbers by value (`1.50` is `1.5`), sets
 * without order, binary by its bytes, maps without order of their names.
 */
function comparable(value: AttributeValue | undefined): string {
  return JSON.stringify(comparableValue(value));
}

function comparableValue(value: AttributeValue | undefined): unknown {
  if (value === undefined) return null;
  if (value.S !== undefined) return { S: value.S };
  if (value.N !== undefined) return { N: canonicalNumber(value.N) };
  if (value.B !== undefined) return { B: Buffer.from(value.B).toString('base64') };
  if (value.BOOL !== undefined) return { BOOL: value.BOOL };
  if (value.NULL !== undefined) return { NULL: true };
  if (value.SS !== undefined) return { SS: [...value.SS].sort() };
  if (value.NS !== undefined) return { NS: value.NS.map(canonicalNumber).sort() };
  if (value.BS !== undefined) return { BS: value.BS.map((b) => Buffer.from(b).toString('base64')).sort() };
  if (value.L !== undefined) return { L: value.L.map(comparableValue) };
  if (value.M !== undefined) {
    return {
      M: Object.entries(value.M)
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([name, member]) => [name, comparableValue(member)]),
    };
  }
  return { unknown: true };
}

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
