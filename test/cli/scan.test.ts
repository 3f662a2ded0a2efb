/**
 * `etl scan --table`: any table of the local stack, every attribute type shown by its type. Items are
 * written with the SDK into the state directory's embedded DynamoDB, then read back by the CLI.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  BatchWriteItemCommand,
  CreateTableCommand,
  type DynamoDBClient,
  PutItemCommand,
} from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDynalite } from '../../src/runtime/local/dynalite.ts';
import { ensureStateDir, statePaths } from '../../src/runtime/local/state.ts';
import { etl, tempDir } from '../support/cli.ts';
import { startTestStack, type TestStack } from '../edge/support.ts';

const BIG = '12345678901234567890123456789012345678'; // 38 digits: a double would round it

/** One item with every DynamoDB attribute type. */
const EVERY_TYPE = {
  pk: { S: 'order#1' },
  sk: { N: '7' },
  text: { S: 'line one\ttab "quoted"' },
  count: { N: '-12.5' },
  big: { N: BIG },
  flag: { BOOL: true },
  nothing: { NULL: true },
  blob: { B: Buffer.from([0, 1, 2, 250, 255]) },
  tags: { SS: ['red', 'blue'] },
  sizes: { NS: ['1', '2.5', BIG] },
  blobs: { BS: [Buffer.from('hi'), Buffer.from([255])] },
  address: { M: { town: { S: 'Newry' }, no: { N: '3' }, lines: { L: [{ S: 'a' }, { NULL: true }] } } },
  history: { L: [{ N: '1' }, { S: 'two' }, { BOOL: false }, { M: {} }, { SS: ['x'] }] },
};

async function createTable(client: DynamoDBClient, name: string, sortKey: boolean): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: name,
      BillingMode: 'PAY_PER_REQUEST',
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        ...(sortKey ? [{ AttributeName: 'sk', AttributeType: 'N' as const }] : []),
      ],
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        ...(sortKey ? [{ AttributeName: 'sk', KeyType: 'RANGE' as const }] : []),
      ],
    }),
  );
}

describe('etl scan --table', () => {
  let state: string;
  beforeAll(async () => {
    state = join(tempDir('etl-scan-'), 'state');
    const paths = statePaths(state);
    await ensureStateDir(paths);
    const dynamo = await startDynalite({ path: paths.dynamodb });
    try {
      await createTable(dynamo.client, 'Orders', true);
      await createTable(dynamo.client, 'Plain', false);
      await dynamo.client.send(new PutItemCommand({ TableName: 'Orders', Item: EVERY_TYPE }));
      for (let i = 0; i < 60; i += 25) {
        const batch = Array.from({ length: Math.min(25, 60 - i) }, (_, j) => ({
          PutRequest: { Item: { pk: { S: `p-${i + j}` }, n: { N: String(i + j) } } },
        }));
        await dynamo.client.send(new BatchWriteItemCommand({ RequestItems: { Plain: batch } }));
      }
    } finally {
      await dynamo.close();
    }
  });

  it('prints every attribute type by its type as JSON: numbers exact, sets as arrays, binary as base64', async () => {
    const result = await etl(['scan', '--table', 'Orders', '--json', '--state-dir', state]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    // The 38-digit number is written as it is stored, not rounded through a double.
    expect(result.stdout).toContain(`"big":${BIG}`);
    expect(result.stdout).toContain(`"sizes":[1,2.5,${BIG}]`);
    const [item, ...rest] = JSON.parse(result.stdout) as Record<string, unknown>[];
    expect(rest).toEqual([]);
    expect(item).toEqual({
      pk: 'order#1',
      sk: 7,
      text: 'line one\ttab "quoted"',
      count: -12.5,
      big: Number(BIG),
      flag: true,
      nothing: null,
      blob: Buffer.from([0, 1, 2, 250, 255]).toString('base64'),
      tags: expect.arrayContaining(['red', 'blue']),
      sizes: expect.arrayContaining([1, 2.5, Number(BIG)]),
      blobs: expect.arrayContaining([
        Buffer.from('hi').toString('base64'),
        Buffer.from([255]).toString('base64'),
      ]),
      address: { town: 'Newry', no: 3, lines: ['a', null] },
      history: [1, 'two', false, {}, ['x']],
    });
    expect((item?.tags as unknown[]).length).toBe(2);
  });

  it('shows the same values in the table view, the key attributes first, strings as they are', async () => {
    const result = await etl(['scan', '--table', 'Orders', '--state-dir', state]);
    expect(result.code).toBe(0);
    const [header, row, count] = result.stdout.trimEnd().split('\n');
    const columns = header?.split(/\s{2,}/) ?? [];
    expect(columns.slice(0, 2)).toEqual(['pk', 'sk']);
    const cells = new Map(columns.map((name) => [name, cellOf(header ?? '', row ?? '', name)]));
    expect(cells.get('pk')).toBe('order#1');
    expect(cells.get('sk')).toBe('7');
    expect(cells.get('text')).toBe('line one\\ttab "quoted"');
    expect(cells.get('big')).toBe(BIG);
    expect(cells.get('flag')).toBe('true');
    expect(cells.get('nothing')).toBe('null');
    expect(cells.get('blob')).toBe('AAEC+v8=');
    expect(JSON.parse(cells.get('tags') ?? '').sort()).toEqual(['blue', 'red']);
    expect(JSON.parse(cells.get('address') ?? '')).toEqual({ town: 'Newry', no: 3, lines: ['a', null] });
    expect(count).toBe('1 item');
  });

  it('reads another table with --limit, stopping there', async () => {
    const result = await etl(['scan', '--table', 'Plain', '--json', '--limit', '7', '--state-dir', state]);
    expect(result.code).toBe(0);
    const items = JSON.parse(result.stdout) as { pk: string; n: number }[];
    expect(items).toHaveLength(7);
    for (const item of items) expect(item.n).toBe(Number(item.pk.slice(2)));
    const all = JSON.parse((await etl(['scan', '--table', 'Plain', '--json', '--state-dir', state])).stdout);
    expect(all).toHaveLength(60);
  });

  it('names the tables there are when --table names none, in one line, exit 2', async () => {
    const result = await etl(['scan', '--table', 'Ordres', '--state-dir', state]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`etl: no table "Ordres" in ${state}; its tables: Orders, Plain\n`);
  });
});

describe('etl scan without --table', () => {
  it("reads the table the newest run's mapping named, not the seed's", async () => {
    const dir = tempDir('etl-scan-default-');
    const state = join(dir, 'state');
    const mapping = join(dir, 'mapping.json');
    const csv = join(dir, 'people.csv');
    writeFileSync(
      mapping,
      JSON.stringify({ table: 'People', key: 'id', columns: { ID: { attribute: 'id' } } }),
    );
    writeFileSync(csv, 'ID\na1\na2\n');
    const run = await etl(['run', csv, '--mapping', mapping, '--state-dir', state]);
    expect(run.code, run.stderr).toBe(0);
    const result = await etl(['scan', '--json', '--state-dir', state]);
    expect(result.code, result.stderr).toBe(0);
    const items = (JSON.parse(result.stdout) as { id: string }[]).map((i) => i.id).sort();
    expect(items).toEqual(['a1', 'a2']);
  });
});

describe('etl scan --table while etl up holds the state directory', () => {
  let t: TestStack;
  beforeAll(async () => {
    t = await startTestStack();
  });
  afterAll(async () => t?.close());

  it('reads the table through the running stack', async () => {
    await createTable(t.dynamodb, 'Orders', true);
    await t.dynamodb.send(new PutItemCommand({ TableName: 'Orders', Item: EVERY_TYPE }));
    const result = await etl(['scan', '--table', 'Orders', '--json', '--state-dir', t.stateDir]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject([
      { pk: 'order#1', sk: 7, nothing: null, blob: 'AAEC+v8=' },
    ]);
    const missing = await etl(['scan', '--table', 'Nope', '--state-dir', t.stateDir]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(
      `etl: no table "Nope" in ${t.stateDir}; its tables: Orders, TransformedData\n`,
    );
  });
});

/** The cell under a column of the table view (columns are padded to the width of their header line). */
function cellOf(header: string, row: string, name: string): string {
  const start = header.indexOf(name);
  const next = header.slice(start + name.length).search(/\S/);
  const end = next === -1 ? undefined : start + name.length + next;
  return row.slice(start, end).trim();
}
