import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DynamoItemWriter } from '../../src/adapters/dynamodb-writer.ts';
import { DetailType } from '../../src/pipeline/definition.ts';
import type { RowTransformedDetail } from '../../src/pipeline/events.ts';
import { SEED_MAPPING } from '../../src/pipeline/mapping.ts';
import { ensureTable, type LocalDynamo, startDynalite } from '../../src/runtime/local/dynalite.ts';
import { loadBatch } from '../support/stages.ts';
import type { ItemWriter } from '../../src/stages/ports.ts';
import { scanAll } from '../support/dynamo.ts';

let dynamo: LocalDynamo;
let table = 0;
let tableName: string;

beforeAll(async () => {
  dynamo = await startDynalite();
});
afterAll(async () => dynamo?.close());
beforeEach(async () => {
  tableName = `Items${++table}`;
  await ensureTable(dynamo.client, tableName, 'id');
});

const row = (n: number, id = String(n)): RowTransformedDetail => ({
  status: 'transformed',
  data: { ID: id, HouseNum: `${n}0`, Street: 'Main Street', Town: 'Antrim', Zip: '22876', Extra: 'ignored' },
  run: 'r',
  row: n,
});

/** Counts BatchWriteItem calls and their sizes, through SDK middleware on the real client. */
function countBatchWrites(client: DynamoDBClient): number[] {
  const sizes: number[] = [];
  client.middlewareStack.add(
    (next) => async (args) => {
      const input = (args.input ?? {}) as { RequestItems?: Record<string, unknown[]> };
      if (input.RequestItems) sizes.push(Object.values(input.RequestItems)[0]?.length ?? 0);
      return next(args);
    },
    { step: 'initialize', name: `count-${Math.random()}` },
  );
  return sizes;
}

describe('load', () => {
  it("writes the seed's five attributes and puts data-loaded per row", async () => {
    const writer = new DynamoItemWriter({ client: dynamo.client, tableName, key: 'id' });
    const { events: entries } = await loadBatch([row(1)], { source: 's', mapping: SEED_MAPPING, writer });
    expect(await scanAll(dynamo.client, tableName)).toEqual([
      { id: '1', house_number: '10', street_address: 'Main Street', town: 'Antrim', zip: '22876' },
    ]);
    expect(entries.map((e) => e.DetailType)).toEqual([DetailType.rowLoaded]);
    expect(JSON.parse(entries[0]?.Detail ?? '')).toMatchObject({
      status: 'success',
      key: '1',
      run: 'r',
      row: 1,
    });
  });

  it('writes in BatchWriteItem calls of at most 25 items', async () => {
    const client = (await import('../../src/runtime/local/dynalite.ts')).localClient(dynamo.endpoint);
    const sizes = countBatchWrites(client);
    const writer = new DynamoItemWriter({ client, tableName, key: 'id' });
    const rows = Array.from({ length: 60 }, (_, i) => row(i + 1));
    const { events: entries } = await loadBatch(rows, { source: 's', mapping: SEED_MAPPING, writer });
    expect(sizes.sort((a, b) => b - a)).toEqual([25, 25, 10]);
    expect(entries.filter((e) => e.DetailType === DetailType.rowLoaded)).toHaveLength(60);
    expect(await scanAll(dynamo.client, tableName)).toHaveLength(60);
    client.destroy();
  });

  it('writes a key given twice in one batch once (BatchWriteItem rejects duplicates)', async () => {
    const writer = new DynamoItemWriter({ client: dynamo.client, tableName, key: 'id' });
    const { events: entries } = await loadBatch([row(1, 'a'), row(2, 'a')], {
      source: 's',
      mapping: SEED_MAPPING,
      writer,
    });
    expect(entries.map((e) => e.DetailType)).toEqual([DetailType.rowLoaded, DetailType.rowLoaded]);
    expect(await scanAll(dynamo.client, tableName)).toEqual([
      expect.objectContaining({ id: 'a', house_number: '20' }),
    ]);
  });

  it('retries UnprocessedItems until they are written', async () => {
    const client = (await import('../../src/runtime/local/dynalite.ts')).localClient(dynamo.endpoint);
    let calls = 0;
    // DynamoDB returns UnprocessedItems under load; make the first answer hold one back.
    client.middlewareStack.add(
      (next) => async (args) => {
        if (!(args.input as { RequestItems?: unknown }).RequestItems) return next(args);
        calls++;
        const input = args.input as { RequestItems: Record<string, { PutRequest: unknown }[]> };
        const requests = input.RequestItems[tableName] ?? [];
        if (calls > 1) return next(args);
        const held = requests.slice(requests.length - 1);
        input.RequestItems[tableName] = requests.slice(0, requests.length - 1);
        const result = await next(args);
        (result.output as { UnprocessedItems?: unknown }).UnprocessedItems = { [tableName]: held };
        return result;
      },
      { step: 'initialize', name: 'hold-back' },
    );
    const writer = new DynamoItemWriter({ client, tableName, key: 'id', concurrency: 1 });
    const failures = await writer.writeItems(
      Array.from({ length: 5 }, (_, i) => ({ id: { S: String(i) }, n: { N: String(i) } })),
    );
    expect(failures).toEqual([]);
    expect(calls).toBe(2);
    expect(await scanAll(dynamo.client, tableName)).toHaveLength(5);
    client.destroy();
  });

  it('hands back items still unprocessed after the last attempt as rows to retry, not failed rows', async () => {
    const client = (await import('../../src/runtime/local/dynalite.ts')).localClient(dynamo.endpoint);
    client.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as { RequestItems?: Record<string, unknown[]> };
        if (!input.RequestItems) return next(args);
        // The SDK deserialises a response: its items are copies, never the objects that were sent.
        const held = structuredClone(input.RequestItems[tableName]);
        return {
          output: { UnprocessedItems: { [tableName]: held }, $metadata: {} },
          response: {},
        } as Awaited<ReturnType<typeof next>>;
      },
      { step: 'initialize', name: 'hold-all' },
    );
    const writer = new DynamoItemWriter({ client, tableName, key: 'id', maxAttempts: 2 });
    const outcome = await loadBatch([row(1), row(2)], { source: 's', mapping: SEED_MAPPING, writer });
    expect(outcome.events).toEqual([]);
    expect(outcome.retry.map((d) => d.row)).toEqual([1, 2]);
    client.destroy();
  });

  it('fails a key DynamoDB would refuse on its own row, and loads the rest of the batch', async () => {
    const writer = new DynamoItemWriter({ client: dynamo.client, tableName, key: 'id' });
    const { events: entries } = await loadBatch([row(1), row(2, 'k'.repeat(2049)), row(3)], {
      source: 's',
      mapping: SEED_MAPPING,
      writer,
    });
    expect(entries.map((e) => e.DetailType)).toEqual([
      DetailType.rowLoaded,
      DetailType.rowFailed,
      DetailType.rowLoaded,
    ]);
    expect(JSON.parse(entries[1]?.Detail ?? '')).toMatchObject({
      row: 2,
      column: 'ID',
      reason: "key value is over DynamoDB's 2048-byte limit",
    });
    expect((await scanAll(dynamo.client, tableName)).map((i) => i.id)).toEqual(['1', '3']);
  });

  it('is idempotent: loading the same rows again leaves one item per key', async () => {
    const writer = new DynamoItemWriter({ client: dynamo.client, tableName, key: 'id' });
    const rows = [row(1), row(2), row(3)];
    await loadBatch(rows, { source: 's', mapping: SEED_MAPPING, writer });
    await loadBatch(rows, { source: 's', mapping: SEED_MAPPING, writer });
    expect(await scanAll(dynamo.client, tableName)).toHaveLength(3);
  });

  it('throws when the table is missing, so the runtime retries the batch', async () => {
    const writer = new DynamoItemWriter({ client: dynamo.client, tableName: 'NoSuchTable', key: 'id' });
    await expect(loadBatch([row(1)], { source: 's', mapping: SEED_MAPPING, writer })).rejects.toThrow(
      /resource not found|ResourceNotFound/i,
    );
  });
});

describe('load against what DynamoDB refuses', () => {
  const numberMapping = {
    key: { partition: 'id' },
    columns: {
      ID: { attribute: 'id', type: 'string' as const, required: true },
      Zip: { attribute: 'zip', type: 'number' as const },
    },
  };

  it('writes a number with a leading "+" (which DynamoDB refuses as text) as the same number', async () => {
    const writer = new DynamoItemWriter({ client: dynamo.client, tableName, key: 'id' });
    const details = [1, 2, 3].map((n) => ({ ...row(n), data: { ID: String(n), Zip: n === 2 ? '+5' : '7' } }));
    const { events, retry } = await loadBatch(details, { source: 's', mapping: numberMapping, writer });
    expect(retry).toEqual([]);
    expect(events.map((e) => e.DetailType)).toEqual(Array(3).fill(DetailType.rowLoaded));
    const items = await scanAll(dynamo.client, tableName);
    expect(items.find((i) => i.id === '2')).toEqual({ id: '2', zip: 5 });
  });

  it('bisects a refused batch: only the refused items fail, with DynamoDB reason; the rest are written', async () => {
    const writer = new DynamoItemWriter({ client: dynamo.client, tableName, key: 'id' });
    const bad = new Set([3, 27, 28, 59]);
    const items = Array.from({ length: 60 }, (_, i) => ({
      id: { S: String(i) },
      // Past the stage's checks, as a value could slip by: DynamoDB refuses the whole BatchWriteItem.
      n: { N: bad.has(i) ? '+5' : String(i) },
    }));
    const failures = await writer.writeItems(items);
    expect(failures.map((f) => f.item.id)).toEqual([...bad].map((i) => ({ S: String(i) })));
    for (const failure of failures) {
      expect(failure.refused).toBe(true);
      expect(failure.reason).toMatch(/^DynamoDB refused the item: .*numeric value/);
    }
    expect(await scanAll(dynamo.client, tableName)).toHaveLength(60 - bad.size);
  });

  it('fails a row whose item DynamoDB refuses on its own, with the reason, and loads the rest', async () => {
    const inner = new DynamoItemWriter({ client: dynamo.client, tableName, key: 'id' });
    // An attribute the stage cannot produce, so the table's own check is what refuses row 2.
    const writer: ItemWriter = {
      writeItems: (items) => {
        for (const item of items) if (item.id && 'S' in item.id && item.id.S === '2') item.zip = { N: 'NaN' };
        return inner.writeItems(items);
      },
    };
    const { events } = await loadBatch([row(1), row(2), row(3)], {
      source: 's',
      mapping: SEED_MAPPING,
      writer,
    });
    const failed = events
      .filter((e) => e.DetailType === DetailType.rowFailed)
      .map((e) => JSON.parse(e.Detail));
    expect(failed).toHaveLength(1);
    expect(failed[0]).toMatchObject({ row: 2, stage: 'load' });
    expect(failed[0].reason).toMatch(/^DynamoDB refused the item: .*numeric value/);
    expect((await scanAll(dynamo.client, tableName)).map((i) => i.id).sort()).toEqual(['1', '3']);
  });

  it("fails a row whose item is over DynamoDB's 400 KB before writing", async () => {
    const writer = new DynamoItemWriter({ client: dynamo.client, tableName, key: 'id' });
    const big = {
      ...row(2),
      data: { ...row(2).data, Street: 'x'.repeat(200_000), Town: 'y'.repeat(210_000) },
    };
    const { events } = await loadBatch([row(1), big], { source: 's', mapping: SEED_MAPPING, writer });
    expect(events.map((e) => [e.DetailType, JSON.parse(e.Detail).row])).toEqual([
      [DetailType.rowLoaded, 1],
      [DetailType.rowFailed, 2],
    ]);
    expect(JSON.parse(events[1]?.Detail ?? '').reason).toBe("item is over DynamoDB's 400 KB limit");
  });
});
