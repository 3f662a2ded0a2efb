/**
 * The observer's TallyStore on DynamoDB (the runs table), correct under SQS redelivery and Lambda
 * crashes without transactions.
 *
 * Layout, one partition per run (`run` partition key, `sk` sort key):
 * - `sk = "run"`: file, expected, the counters (extracted, transformed, loaded, failed, settled) and
 *   the completion flag;
 * - `sk = "rows#<chunk>"`: which rows of a chunk of 100 reached which state, as number sets. ADD of a
 *   number to a set is idempotent, so these are exact however often an event is redelivered.
 *
 * markRows reads the chunks, increments the counters by the rows not yet marked, then adds the rows
 * to the sets. Counting before marking means a crash between the two steps (or two observers racing
 * on the same duplicate) can only over-count, never under-count; counts() therefore trusts the
 * counters while they say "not complete" and, once they reach the expected row count, counts exactly
 * from the sets before anyone may claim completion. A run can never stall short of completion and
 * never completes early.
 *
 * Cost per observe batch and state: one eventually consistent BatchGetItem of the chunks touched,
 * one UpdateItem of the run item and one UpdateItem per chunk touched (a chunk item stays under
 * ~2 KB, so 1-2 write units). Rows arrive roughly in order, so a batch of 500 events touches a few
 * chunks: ~0.05 write units per row and state instead of 1 for a marker item per row. A redelivered
 * duplicate costs only the read. The exact recount reads every chunk once (~16 MB, ~4,000 read units
 * for a million rows) and happens once per run, or a few times if a crash made the counters run ahead.
 */
import {
  type AttributeValue,
  BatchGetItemCommand,
  type BatchGetItemCommandOutput,
  ConditionalCheckFailedException,
  type DynamoDBClient,
  GetItemCommand,
  QueryCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { OBSERVE_TIMEOUT_SECONDS } from '../pipeline/definition.ts';
import type { RowState, RunCounts, TallyStore } from '../stages/ports.ts';
import { retryUnfinished } from './backoff.ts';
import { mapConcurrently } from './concurrency.ts';

/** The runs table's key schema (the CDK stack and tests create the table from it). */
export const RUNS_TABLE_KEY = { partitionKey: 'run', sortKey: 'sk' } as const;
/** The sort key of a run's summary item. */
export const RUN_ITEM_SK = 'run';
export const ROWS_PER_CHUNK = 100;
const CHUNK_PREFIX = 'rows#';
const MAX_BATCH_GET_KEYS = 100;
/** BatchGetItem calls per batch of keys, looping on UnprocessedKeys. */
const MAX_BATCH_GET_ATTEMPTS = 8;
const CHUNK_WRITES_IN_FLIGHT = 8;

const STATES: readonly RowState[] = ['extracted', 'transformed', 'loaded', 'failed'];

export interface DynamoTallyStoreOptions {
  /** The DynamoDB client (only `send` is used). */
  client: Pick<DynamoDBClient, 'send'>;
  tableName: string;
  rowsPerChunk?: number;
  /** How long a completion claim lasts unconfirmed (default: the observer Lambda's timeout). */
  completionLeaseSeconds?: number;
}

type ChunkSets = Record<RowState, Set<number>>;

export class DynamoTallyStore implements TallyStore {
  private readonly client: Pick<DynamoDBClient, 'send'>;
  private readonly tableName: string;
  private readonly rowsPerChunk: number;
  private readonly completionLeaseMs: number;

  constructor(options: DynamoTallyStoreOptions) {
    this.client = options.client;
    this.tableName = options.tableName;
    this.rowsPerChunk = options.rowsPerChunk ?? ROWS_PER_CHUNK;
    this.completionLeaseMs = (options.completionLeaseSeconds ?? OBSERVE_TIMEOUT_SECONDS) * 1000;
  }

  async markRows(run: string, state: RowState, rows: readonly number[]): Promise<void> {
    const byChunk = new Map<number, number[]>();
    for (const row of new Set(rows)) {
      if (!Number.isSafeInteger(row) || row < 0) throw new RangeError(`row ${row} is not a row number`);
      const chunk = Math.floor(row / this.rowsPerChunk);
      let list = byChunk.get(chunk);
      if (!list) byChunk.set(chunk, (list = []));
      list.push(row);
    }
    if (byChunk.size === 0) return;

    // Settled counts rows loaded or failed once, whichever comes first.
    const other: RowState | undefined =
      state === 'loaded' ? 'failed' : state === 'failed' ? 'loaded' : undefined;
    const existing = await this.readChunks(run, [...byChunk.keys()]);
    const fresh = new Map<number, number[]>();
    let settled = 0;
    let added = 0;
    for (const [chunk, chunkRows] of byChunk) {
      const sets = existing.get(chunk);
      const newRows = chunkRows.filter((row) => !sets?.[state].has(row));
      if (newRows.length === 0) continue;
      fresh.set(chunk, newRows);
      added += newRows.length;
      if (other) settled += newRows.filter((row) => !sets?.[other].has(row)).length;
    }
    if (added === 0) return;

    // Count first, then mark: see the file comment.
    const names: Record<string, string> = { '#state': state };
    const values: Record<string, AttributeValue> = { ':added': { N: String(added) } };
    let update = 'ADD #state :added';
    if (settled > 0) {
      names['#settled'] = 'settled';
      values[':settled'] = { N: String(settled) };
      update += ', #settled :settled';
    }
    await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: this.runKey(run),
        UpdateExpression: update,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
    const writes = [...fresh].map(
      ([chunk, newRows]) =>
        () =>
          this.client.send(
            new UpdateItemCommand({
              TableName: this.tableName,
              Key: this.chunkKey(run, chunk),
              UpdateExpression: 'ADD #state :rows',
              ExpressionAttributeNames: { '#state': state },
              ExpressionAttributeValues: { ':rows': { NS: newRows.map(String) } },
            }),
          ),
    );
    await mapConcurrently(writes, CHUNK_WRITES_IN_FLIGHT, (write) => write());
  }

  async setRun(run: string, fields: { file?: string; expected?: number }): Promise<void> {
    const sets: string[] = [];
    const names: Record<string, string> = {};
    const values: Record<string, AttributeValue> = {};
    if (fields.file !== undefined) {
      sets.push('#file = :file');
      names['#file'] = 'file';
      values[':file'] = { S: fields.file };
    }
    if (fields.expected !== undefined) {
      sets.push('#expected = :expected');
      names['#expected'] = 'expected';
      values[':expected'] = { N: String(fields.expected) };
    }
    if (sets.length === 0) return;
    await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: this.runKey(run),
        UpdateExpression: `SET ${sets.join(', ')}`,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
      }),
    );
  }

  async counts(run: string): Promise<RunCounts | undefined> {
    const response = await this.client.send(
      new GetItemCommand({ TableName: this.tableName, Key: this.runKey(run), ConsistentRead: true }),
    );
    if (!response.Item) return undefined;
    const counts = runCountsFromItem(run, response.Item);
    if (counts.completed || counts.expected === undefined || counts.settled < counts.expected) return counts;
    // The counters may run ahead of the truth (never behind): count exactly before completing.
    const exact = { ...counts, ...(await this.recount(run)) };
    if (exact.settled >= counts.expected) {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: this.runKey(run),
          UpdateExpression: 'SET #exact = :exact',
          ExpressionAttributeNames: { '#exact': 'exact' },
          ExpressionAttributeValues: {
            ':exact': {
              M: Object.fromEntries(
                (['extracted', 'transformed', 'loaded', 'failed', 'settled'] as const).map((k) => [
                  k,
                  { N: String(exact[k]) },
                ]),
              ),
            },
          },
        }),
      );
    }
    return exact;
  }

  /**
   * A lease: `claimedAt` is set while no confirmed completion and no live claim exists. The holder
   * confirms once run-completed is put; one that died leaves a claim that lapses after the lease.
   */
  async claimCompletion(run: string): Promise<boolean> {
    const now = Date.now();
    try {
      await this.client.send(
        new UpdateItemCommand({
          TableName: this.tableName,
          Key: this.runKey(run),
          UpdateExpression: 'SET #claimedAt = :now',
          ConditionExpression:
            '(attribute_not_exists(#completed) OR #completed = :false) AND ' +
            '(attribute_not_exists(#claimedAt) OR #claimedAt < :lapsed)',
          ExpressionAttributeNames: { '#completed': 'completed', '#claimedAt': 'claimedAt' },
          ExpressionAttributeValues: {
            ':false': { BOOL: false },
            ':now': { N: String(now) },
            ':lapsed': { N: String(now - this.completionLeaseMs) },
          },
        }),
      );
      return true;
    } catch (error) {
      if (error instanceof ConditionalCheckFailedException) return false;
      throw error;
    }
  }

  async confirmCompletion(run: string): Promise<void> {
    await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: this.runKey(run),
        UpdateExpression: 'SET #completed = :true, #completedAt = :now REMOVE #claimedAt',
        ExpressionAttributeNames: {
          '#completed': 'completed',
          '#completedAt': 'completedAt',
          '#claimedAt': 'claimedAt',
        },
        ExpressionAttributeValues: { ':true': { BOOL: true }, ':now': { S: new Date().toISOString() } },
      }),
    );
  }

  async releaseCompletion(run: string): Promise<void> {
    await this.client.send(
      new UpdateItemCommand({
        TableName: this.tableName,
        Key: this.runKey(run),
        UpdateExpression: 'REMOVE #claimedAt',
        ExpressionAttributeNames: { '#claimedAt': 'claimedAt' },
      }),
    );
  }

  /** Exact counts from the row sets (strongly consistent). */
  private async recount(
    run: string,
  ): Promise<Pick<RunCounts, 'extracted' | 'transformed' | 'loaded' | 'failed' | 'settled'>> {
    const totals = { extracted: 0, transformed: 0, loaded: 0, failed: 0, settled: 0 };
    let startKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await this.client.send(
        new QueryCommand({
          TableName: this.tableName,
          KeyConditionExpression: '#pk = :run AND begins_with(#sk, :prefix)',
          ExpressionAttributeNames: { '#pk': RUNS_TABLE_KEY.partitionKey, '#sk': RUNS_TABLE_KEY.sortKey },
          ExpressionAttributeValues: { ':run': { S: run }, ':prefix': { S: CHUNK_PREFIX } },
          ConsistentRead: true,
          ExclusiveStartKey: startKey,
        }),
      );
      for (const item of page.Items ?? []) {
        const sets = chunkSetsFromItem(item);
        for (const state of STATES) totals[state] += sets[state].size;
        totals.settled += new Set([...sets.loaded, ...sets.failed]).size;
      }
      startKey = page.LastEvaluatedKey;
    } while (startKey);
    return totals;
  }

  /**
   * The row sets of these chunks. Eventually consistent: a stale read can only show a row as not
   * yet marked (sets only grow), which over-counts; it never hides a count.
   */
  private async readChunks(run: string, chunks: number[]): Promise<Map<number, ChunkSets>> {
    const found = new Map<number, ChunkSets>();
    for (let i = 0; i < chunks.length; i += MAX_BATCH_GET_KEYS) {
      const keys = chunks.slice(i, i + MAX_BATCH_GET_KEYS).map((chunk) => this.chunkKey(run, chunk));
      const unread = await retryUnfinished(
        keys,
        async (pending) => {
          const response: BatchGetItemCommandOutput = await this.client.send(
            new BatchGetItemCommand({ RequestItems: { [this.tableName]: { Keys: [...pending] } } }),
          );
          for (const item of response.Responses?.[this.tableName] ?? []) {
            const sk = item[RUNS_TABLE_KEY.sortKey];
            if (sk && 'S' in sk && sk.S)
              found.set(Number(sk.S.slice(CHUNK_PREFIX.length)), chunkSetsFromItem(item));
          }
          return response.UnprocessedKeys?.[this.tableName]?.Keys ?? [];
        },
        { maxAttempts: MAX_BATCH_GET_ATTEMPTS },
      );
      // A read that throws is retried as a whole by the delivery that asked for it.
      if (unread.length > 0)
        throw new Error(
          `DynamoDB left ${unread.length} keys unread after ${MAX_BATCH_GET_ATTEMPTS} attempts`,
        );
    }
    return found;
  }

  private runKey(run: string): Record<string, AttributeValue> {
    return { [RUNS_TABLE_KEY.partitionKey]: { S: run }, [RUNS_TABLE_KEY.sortKey]: { S: RUN_ITEM_SK } };
  }

  private chunkKey(run: string, chunk: number): Record<string, AttributeValue> {
    return {
      [RUNS_TABLE_KEY.partitionKey]: { S: run },
      [RUNS_TABLE_KEY.sortKey]: { S: `${CHUNK_PREFIX}${String(chunk).padStart(10, '0')}` },
    };
  }
}

function numberOf(value: AttributeValue | undefined): number | undefined {
  return value && 'N' in value && value.N !== undefined ? Number(value.N) : undefined;
}

export function runCountsFromItem(run: string, item: Record<string, AttributeValue>): RunCounts {
  const counts: RunCounts = {
    run,
    extracted: numberOf(item.extracted) ?? 0,
    transformed: numberOf(item.transformed) ?? 0,
    loaded: numberOf(item.loaded) ?? 0,
    failed: numberOf(item.failed) ?? 0,
    settled: numberOf(item.settled) ?? 0,
    completed: item.completed !== undefined && 'BOOL' in item.completed && item.completed.BOOL === true,
  };
  const expected = numberOf(item.expected);
  if (expected !== undefined) counts.expected = expected;
  if (item.file && 'S' in item.file && item.file.S !== undefined) counts.file = item.file.S;
  return counts;
}

function chunkSetsFromItem(item: Record<string, AttributeValue>): ChunkSets {
  const sets = {} as ChunkSets;
  for (const state of STATES) {
    const value = item[state];
    sets[state] = new Set(value && 'NS' in value && value.NS ? value.NS.map(Number) : []);
  }
  return sets;
}
