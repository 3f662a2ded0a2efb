import { GetItemCommand, UpdateItemCommand } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoTallyStore, RUN_ITEM_SK, RUNS_TABLE_KEY } from '../../src/adapters/dynamodb-tally-store.ts';
import { definePipeline, DetailType, Status } from '../../src/pipeline/definition.ts';
import { entry } from '../../src/pipeline/events.ts';
import { type LocalDynamo, startDynalite } from '../../src/runtime/local/dynalite.ts';
import { observeBatch } from '../support/stages.ts';
import { createRunsTable, envelopeOf } from './fixtures.ts';

const TABLE = 'runs-tally-test';
let dynamo: LocalDynamo;
let store: DynamoTallyStore;

beforeAll(async () => {
  dynamo = await startDynalite();
  await createRunsTable(dynamo.client, TABLE);
  store = new DynamoTallyStore({ client: dynamo.client, tableName: TABLE });
});
afterAll(async () => {
  await dynamo?.close();
});

const rows = (from: number, to: number): number[] =>
  Array.from({ length: to - from + 1 }, (_, i) => from + i);

describe('DynamoTallyStore (on dynalite)', () => {
  it('has no counts for a run it never saw', async () => {
    expect(await store.counts('run-never-seen')).toBeUndefined();
  });

  it('counts a (run, row, state) once however often it is marked', async () => {
    const run = 'run-dedup';
    await store.markRows(run, 'extracted', [1, 2, 3, 3]);
    await store.markRows(run, 'extracted', [2, 3, 4]);
    await store.markRows(run, 'extracted', [1]);
    await store.markRows(run, 'transformed', [1, 2]);
    await store.markRows(run, 'transformed', [2]);
    const counts = await store.counts(run);
    expect(counts).toMatchObject({
      run,
      extracted: 4,
      transformed: 2,
      loaded: 0,
      failed: 0,
      settled: 0,
      completed: false,
    });
  });

  it('settles a row once whether it is loaded, failed, or both', async () => {
    const run = 'run-settle';
    await store.markRows(run, 'loaded', [1, 2]);
    await store.markRows(run, 'failed', [2, 3]);
    await store.markRows(run, 'loaded', [1]);
    expect(await store.counts(run)).toMatchObject({ loaded: 2, failed: 2, settled: 3 });
  });

  it('keeps exact counts across chunks when two observers mark the same rows concurrently', async () => {
    const run = 'run-concurrent';
    const other = new DynamoTallyStore({ client: dynamo.client, tableName: TABLE });
    await store.setRun(run, { file: 's3://landing/big.csv', expected: 450 });
    await Promise.all([
      store.markRows(run, 'extracted', rows(1, 300)),
      other.markRows(run, 'extracted', rows(150, 450)),
      store.markRows(run, 'loaded', rows(1, 450)),
      other.markRows(run, 'loaded', rows(1, 450)),
    ]);
    const counts = await store.counts(run);
    // Racing duplicates may push the counters ahead; once they reach `expected`, counts() is exact.
    expect(counts).toMatchObject({
      file: 's3://landing/big.csv',
      expected: 450,
      extracted: 450,
      loaded: 450,
      settled: 450,
    });
  });

  it('never completes early when the counters ran ahead of the rows (a crash between count and mark)', async () => {
    const run = 'run-crashed';
    await store.setRun(run, { file: 'f.csv', expected: 10 });
    await store.markRows(run, 'loaded', rows(1, 8));
    // A crashed invocation counted rows 9 and 10 but never marked them.
    await dynamo.client.send(
      new UpdateItemCommand({
        TableName: TABLE,
        Key: { [RUNS_TABLE_KEY.partitionKey]: { S: run }, [RUNS_TABLE_KEY.sortKey]: { S: RUN_ITEM_SK } },
        UpdateExpression: 'ADD loaded :two, settled :two',
        ExpressionAttributeValues: { ':two': { N: '2' } },
      }),
    );
    expect(await store.counts(run)).toMatchObject({ loaded: 8, settled: 8, expected: 10 });
    // The redelivered events mark them; now the run is complete, counted exactly.
    await store.markRows(run, 'loaded', [9, 10]);
    const counts = await store.counts(run);
    expect(counts).toMatchObject({ loaded: 10, settled: 10 });
    const item = await dynamo.client.send(
      new GetItemCommand({
        TableName: TABLE,
        Key: { [RUNS_TABLE_KEY.partitionKey]: { S: run }, [RUNS_TABLE_KEY.sortKey]: { S: RUN_ITEM_SK } },
      }),
    );
    expect(item.Item?.exact?.M?.settled).toEqual({ N: '10' });
  });

  it('grants completion to exactly one of many concurrent callers', async () => {
    const run = 'run-claim';
    await store.setRun(run, { expected: 0 });
    const stores = Array.from(
      { length: 8 },
      () => new DynamoTallyStore({ client: dynamo.client, tableName: TABLE }),
    );
    const claims = await Promise.all(stores.map((s) => s.claimCompletion(run)));
    expect(claims.filter(Boolean)).toHaveLength(1);
    expect(await store.claimCompletion(run)).toBe(false);
    // A claim is not a completion until its holder confirms it (after putting run-completed).
    expect((await store.counts(run))?.completed).toBe(false);
    await store.confirmCompletion(run);
    expect((await store.counts(run))?.completed).toBe(true);
    expect(await store.claimCompletion(run)).toBe(false);
  });

  it('lets a released claim be claimed again, and an unconfirmed one only once it lapses', async () => {
    const run = 'run-lease';
    await store.setRun(run, { expected: 0 });
    expect(await store.claimCompletion(run)).toBe(true);
    await store.releaseCompletion(run);
    expect(await store.claimCompletion(run)).toBe(true);
    // Its holder died: within the lease nobody else may claim, after it anyone may.
    expect(await store.claimCompletion(run)).toBe(false);
    const lapsing = new DynamoTallyStore({
      client: dynamo.client,
      tableName: TABLE,
      completionLeaseSeconds: 0,
    });
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await lapsing.claimCompletion(run)).toBe(true);
    await lapsing.confirmCompletion(run);
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(await lapsing.claimCompletion(run)).toBe(false);
  });

  it('rejects a row number that is not one', async () => {
    await expect(store.markRows('run-bad', 'extracted', [1.5])).rejects.toThrow(RangeError);
  });

  it('lets observeBatch complete a run once under a redelivered batch', async () => {
    const { source } = definePipeline();
    const run = 'run-observed';
    const events = settledRun(source, run);
    const first = await observeBatch(events, { source, tally: store });
    const again = await observeBatch(events, { source, tally: store });
    expect(first.completed).toEqual([
      expect.objectContaining({
        run,
        file: 's3://b/k.csv',
        expected: 3,
        extracted: 3,
        loaded: 2,
        failed: 1,
        settled: 3,
      }),
    ]);
    expect(first.events.map((e) => e.DetailType)).toEqual([DetailType.runCompleted]);
    expect(again.completed).toEqual([]);
    expect(again.events).toEqual([]);
  });

  it('completes a run whose observer died between its claim and its put, once the claim lapses', async () => {
    const { source } = definePipeline();
    const run = 'run-observer-died';
    const events = settledRun(source, run);
    expect((await observeBatch(events.slice(0, -1), { source, tally: store })).events).toEqual([]);
    // The observer that saw the last row claimed the completion, then its Lambda died: no put.
    expect(await store.claimCompletion(run)).toBe(true);
    // Another batch of the run, within the lease: the claim is still someone's.
    const during = await observeBatch(events, { source, tally: store });
    expect(during.events).toEqual([]);
    // The dead observer's batch, redelivered after its visibility timeout: the claim has lapsed.
    const lapsing = new DynamoTallyStore({
      client: dynamo.client,
      tableName: TABLE,
      completionLeaseSeconds: 0,
    });
    await new Promise((resolve) => setTimeout(resolve, 5));
    const redelivered = await observeBatch(events, { source, tally: lapsing });
    expect(redelivered.events.map((e) => e.DetailType)).toEqual([DetailType.runCompleted]);
    expect((await store.counts(run))?.completed).toBe(true);
    expect((await observeBatch(events, { source, tally: lapsing })).events).toEqual([]);
  });
});

function settledRun(source: string, run: string) {
  return [
    entry(source, DetailType.extractionStarted, { status: Status.started, run, file: 's3://b/k.csv' }),
    ...rows(1, 3).map((row) =>
      entry(source, DetailType.rowExtracted, {
        status: Status.extracted,
        headers: 'ID',
        data: String(row),
        run,
        row,
      }),
    ),
    entry(source, DetailType.extractionCompleted, {
      status: Status.completed,
      run,
      file: 's3://b/k.csv',
      rows: 3,
    }),
    ...rows(1, 2).map((row) =>
      entry(source, DetailType.rowLoaded, { status: Status.loaded, key: String(row), data: {}, run, row }),
    ),
    entry(source, DetailType.rowFailed, {
      status: Status.failed,
      stage: 'transform',
      reason: 'bad',
      run,
      row: 3,
    }),
  ].map(envelopeOf);
}
