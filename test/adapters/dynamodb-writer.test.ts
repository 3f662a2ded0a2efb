/** The DynamoDB writer against a table that throttles: the rows come back to be retried, marked throttled. */
import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoItemWriter } from '../../src/adapters/dynamodb-writer.ts';
import { DetailType } from '../../src/pipeline/definition.ts';
import { SEED_MAPPING } from '../../src/pipeline/mapping.ts';
import {
  ensureTable,
  localClient,
  type LocalDynamo,
  startDynalite,
} from '../../src/runtime/local/dynalite.ts';
import { loadStage } from '../../src/stages/load.ts';
import { envelope, handle } from '../support/stages.ts';
import { startThrottlingDynamo, type ThrottlingDynamo } from '../support/throttling-dynamodb.ts';

let dynamo: LocalDynamo;
let proxy: ThrottlingDynamo;
beforeAll(async () => {
  dynamo = await startDynalite();
  await ensureTable(dynamo.client, 'Throttled', 'id');
  // More throttled requests than the SDK retries one call.
  proxy = await startThrottlingDynamo(dynamo.endpoint, { key: 'id', throttledRequests: 10 });
});
afterAll(async () => {
  await proxy?.close();
  await dynamo?.close();
});

describe('DynamoItemWriter when the table throttles', () => {
  it('hands the throttled rows back as throttled, and the load stage retries them as throttled', async () => {
    const client = localClient(proxy.endpoint);
    const writer = new DynamoItemWriter({ client, tableName: 'Throttled', key: 'id' });
    const stage = loadStage({ source: 's', mappingFor: async () => SEED_MAPPING, writer });
    const row = (n: number) =>
      envelope(DetailType.rowTransformed, {
        status: 'transformed' as const,
        data: { ID: `t${n}`, HouseNum: '1', Street: 'S', Town: 'T', Zip: '1' },
        run: 'run-t',
        row: n,
      });
    const outcomes = await handle(stage, [row(1), row(2)]);
    expect(outcomes).toEqual([
      {
        status: 'retry',
        reason: 'throttled',
        message: 'DynamoDB throttled the write: ProvisionedThroughputExceededException',
      },
      {
        status: 'retry',
        reason: 'throttled',
        message: 'DynamoDB throttled the write: ProvisionedThroughputExceededException',
      },
    ]);
    client.destroy();
  });
});

describe('DynamoItemWriter in insert mode', () => {
  it('writes new keys, reports a key holding another item as `exists`, and a rewrite of the same item as written', async () => {
    const table = 'Inserts';
    await ensureTable(dynamo.client, table, [
      { name: 'pk', type: 'S' },
      { name: 'sk', type: 'N' },
    ]);
    const writer = new DynamoItemWriter({
      client: dynamo.client,
      tableName: table,
      key: ['pk', 'sk'],
      mode: 'insert',
    });
    const item = {
      pk: { S: 'a' },
      sk: { N: '1.50' },
      tags: { SS: ['y', 'x'] },
      nums: { NS: ['10', '2.0'] },
      doc: { M: { b: { L: [{ NULL: true as const }, { N: '3' }] }, a: { BOOL: true } } },
      blob: { B: new Uint8Array([1, 2, 3]) },
    };
    expect(await writer.writeItems([item])).toEqual([]);
    // A redelivery: the same item, spelled as DynamoDB would store it differently (1.5, set order).
    const again = { ...item, sk: { N: '1.5' }, tags: { SS: ['x', 'y'] }, nums: { NS: ['2', '10'] } };
    expect(await writer.writeItems([again])).toEqual([]);
    const other = { ...item, tags: { SS: ['z'] } };
    expect(await writer.writeItems([other, { pk: { S: 'b' }, sk: { N: '1' } }])).toEqual([
      { item: other, reason: 'exists', refused: true },
    ]);
  });

  it('update SETs the item and keeps what it does not name; an item of keys alone is created', async () => {
    const table = 'Updates';
    await ensureTable(dynamo.client, table, 'id');
    const put = new DynamoItemWriter({ client: dynamo.client, tableName: table, key: 'id' });
    await put.writeItems([{ id: { S: '1' }, a: { S: 'x' }, b: { S: 'y' } }]);
    const update = new DynamoItemWriter({
      client: dynamo.client,
      tableName: table,
      key: 'id',
      mode: 'update',
    });
    expect(await update.writeItems([{ id: { S: '1' }, b: { S: 'z' } }, { id: { S: '2' } }])).toEqual([]);
    const { Items = [] } = await dynamo.client.send(new ScanCommand({ TableName: table }));
    expect(Items.map((i) => unmarshall(i)).sort((x, y) => String(x.id).localeCompare(String(y.id)))).toEqual([
      { id: '1', a: 'x', b: 'z' },
      { id: '2' },
    ]);
  });

  it('takes rows of one batch with the same key in file order: update merges, insert keeps the first', async () => {
    const table = 'SameKeyInABatch';
    await ensureTable(dynamo.client, table, 'id');
    const writer = (mode: 'update' | 'insert') =>
      new DynamoItemWriter({ client: dynamo.client, tableName: table, key: 'id', mode });
    // The README's single-table example: a later row with an empty zip keeps the earlier zip.
    const first = { id: { S: 'u' }, street: { S: 'Main St' }, zip: { S: 'A98' } };
    const later = { id: { S: 'u' }, street: { S: 'Main St' } };
    expect(await writer('update').writeItems([first, later])).toEqual([]);
    const insertFirst = { id: { S: 'i' }, town: { S: 'Bray' } };
    const insertOther = { id: { S: 'i' }, town: { S: 'Cork' } };
    const insertSame = { id: { S: 'i' }, town: { S: 'Bray' } };
    expect(await writer('insert').writeItems([insertFirst, insertOther, insertSame])).toEqual([
      { item: insertOther, reason: 'exists', refused: true },
    ]);
    const { Items = [] } = await dynamo.client.send(new ScanCommand({ TableName: table }));
    expect(Items.map((i) => unmarshall(i)).sort((x, y) => String(x.id).localeCompare(String(y.id)))).toEqual([
      { id: 'i', town: 'Bray' },
      { id: 'u', street: 'Main St', zip: 'A98' },
    ]);
  });

  it('paces update and insert writes with the write rate, one take per item', async () => {
    const table = 'Paced';
    await ensureTable(dynamo.client, table, 'id');
    const taken: number[] = [];
    const rate = { take: async (n: number) => void taken.push(n) };
    for (const mode of ['update', 'insert'] as const) {
      const writer = new DynamoItemWriter({ client: dynamo.client, tableName: table, key: 'id', mode, rate });
      await writer.writeItems([{ id: { S: `${mode}-1` } }, { id: { S: `${mode}-2` } }]);
    }
    expect(taken).toEqual([1, 1, 1, 1]);
  });
});
