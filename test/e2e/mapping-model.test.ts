/**
 * The extended mapping end to end against dynalite: your table and key (composite, typed, built by
 * a template), write modes, rich column types with defaults, and the file-level header checks.
 */
import { readFile } from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PutItemCommand } from '@aws-sdk/client-dynamodb';
import { afterEach, describe, expect, it } from 'vitest';
import { definePipeline } from '../../src/pipeline/definition.ts';
import { parseMapping } from '../../src/pipeline/mapping.ts';
import { LocalPipeline } from '../../src/runtime/local/pipeline.ts';
import { TableKeyMismatchError } from '../../src/runtime/local/dynalite.ts';
import { etl, tempDir } from '../support/cli.ts';
import { scanAll } from '../support/dynamo.ts';

const open: LocalPipeline[] = [];
afterEach(async () => {
  for (const pipeline of open.splice(0)) await pipeline.close();
});

/** A pipeline for the mapping; in memory unless the test needs its table across pipelines. */
async function start(
  mapping: unknown,
  dir = tempDir(),
  inMemory = true,
): Promise<{ pipeline: LocalPipeline; dir: string }> {
  const pipeline = await LocalPipeline.start({
    stateDir: join(dir, 'state'),
    inMemory,
    definition: definePipeline({ mapping: parseMapping(mapping) }),
  });
  open.push(pipeline);
  return { pipeline, dir };
}

function csv(dir: string, name: string, lines: string[]): string {
  const file = join(dir, name);
  writeFileSync(file, lines.join('\n') + '\n');
  return file;
}

async function errorsOf(
  pipeline: LocalPipeline,
  run: string,
): Promise<{ row: number; reason: string; column?: string }[]> {
  const text = await readFile(pipeline.paths.run(run).errors, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { row: number; reason: string; column?: string })
    .sort((a, b) => a.row - b.row);
}

/** A single-table design: the town is the partition, street#house the sort key, loaded in update mode. */
const SINGLE_TABLE = {
  table: 'Addresses',
  key: { partition: 'pk', sort: 'sk' },
  write: 'update',
  columns: {
    Town: { attribute: 'town', required: true },
    Street: { attribute: 'street', required: true },
    HouseNum: { attribute: 'house', type: 'number', required: true },
    Zip: { attribute: 'zip' },
  },
  templates: { pk: 'TOWN#{Town}', sk: '{Street}#{HouseNum}' },
};

describe('your table, your key', () => {
  it('loads into the named table by a composite key built by templates, and update keeps other attributes', async () => {
    const { pipeline, dir } = await start(SINGLE_TABLE);
    expect(pipeline.tableName).toBe('Addresses');
    const first = csv(dir, 'a.csv', [
      'Town,Street,HouseNum,Zip',
      'Bray,Main St,1,A98',
      'Bray,Main St,2,A98',
      'Cork,Quay,1,T12',
    ]);
    expect((await pipeline.runFile(first)).counts).toMatchObject({ extracted: 3, loaded: 3, failed: 0 });
    // Something else writes an attribute the mapping does not have.
    await pipeline.client.send(
      new PutItemCommand({
        TableName: 'Addresses',
        Item: {
          pk: { S: 'TOWN#Bray' },
          sk: { S: 'Main St#1' },
          town: { S: 'Bray' },
          street: { S: 'Main St' },
          house: { N: '1' },
          zip: { S: 'A98' },
          owner: { S: 'kept' },
        },
      }),
    );
    // The second file has no zip for house 1: an empty cell removes nothing.
    const second = csv(dir, 'b.csv', ['Town,Street,HouseNum,Zip', 'Bray,Main St,1,', 'Bray,Main St,3,A99']);
    const report = await pipeline.runFile(second);
    expect(report.counts).toMatchObject({ extracted: 2, loaded: 2, failed: 0 });
    expect(report.repeatedKeys).toBeUndefined();
    const items = await scanAll(pipeline.client, 'Addresses');
    expect(items).toHaveLength(4);
    expect(items.find((i) => i.pk === 'TOWN#Bray' && i.sk === 'Main St#1')).toEqual({
      pk: 'TOWN#Bray',
      sk: 'Main St#1',
      town: 'Bray',
      street: 'Main St',
      house: 1,
      zip: 'A98',
      owner: 'kept',
    });
  });

  it('counts a repeated key by the whole key: same partition, another sort key is no repeat', async () => {
    const { pipeline, dir } = await start(SINGLE_TABLE);
    const file = csv(dir, 'r.csv', ['Town,Street,HouseNum', 'Bray,Main,1', 'Bray,Main,2', 'Bray,Main,1']);
    const report = await pipeline.runFile(file);
    expect(report.repeatedKeys).toBe(1);
    expect(await scanAll(pipeline.client, 'Addresses')).toHaveLength(2);
  });

  it('creates the table with typed key attributes: a number partition key and a binary sort key', async () => {
    const { pipeline, dir } = await start({
      table: 'Typed',
      key: { partition: 'n', sort: 'b' },
      columns: { N: { attribute: 'n', type: 'number' }, B: { attribute: 'b', type: 'binary' } },
    });
    const file = csv(dir, 't.csv', ['N,B', '7,AQID', '7,BAU=', '8,AQID']);
    expect((await pipeline.runFile(file)).counts).toMatchObject({ loaded: 3, failed: 0 });
    const items = await scanAll(pipeline.client, 'Typed');
    expect(items.map((i) => [i.n, Buffer.from(i.b as Uint8Array).toString('base64')]).sort()).toEqual([
      [7, 'AQID'],
      [7, 'BAU='],
      [8, 'AQID'],
    ]);
  });

  it('refuses a table whose key schema differs (names or types), before anything is written', async () => {
    const dir = tempDir();
    const { pipeline } = await start(SINGLE_TABLE, dir, false);
    await pipeline.close();
    open.splice(0);
    const otherSort = { ...SINGLE_TABLE, key: { partition: 'pk', sort: 'house' } };
    await expect(start(otherSort, dir, false)).rejects.toThrow(TableKeyMismatchError);
    const otherType = {
      table: 'Addresses',
      key: { partition: 'pk', sort: 'sk' },
      columns: { P: { attribute: 'pk' }, S: { attribute: 'sk', type: 'number' } },
    };
    await expect(start(otherType, dir, false)).rejects.toThrow(
      'table Addresses has key "pk" (S) + "sk" (S) but the mapping\'s key is "pk" (S) + "sk" (N)',
    );
  });

  it('at the command line: a key schema mismatch is one line, exit 2, nothing written', async () => {
    const dir = tempDir();
    const state = join(dir, 'state');
    const mapping = join(dir, 'm.json');
    writeFileSync(mapping, JSON.stringify(SINGLE_TABLE));
    const file = csv(dir, 'a.csv', ['Town,Street,HouseNum', 'Bray,Main,1']);
    expect((await etl(['run', file, '--mapping', mapping, '--state-dir', state])).code).toBe(0);
    writeFileSync(mapping, JSON.stringify({ ...SINGLE_TABLE, key: { partition: 'pk' } }));
    const other = csv(dir, 'b.csv', ['Town,Street,HouseNum', 'Bray,Main,2']);
    const result = await etl(['run', other, '--mapping', mapping, '--state-dir', state]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      'etl: table Addresses has key "pk" (S) + "sk" (S) but the mapping\'s key is "pk" (S); ' +
        'use a mapping with the same key, another "table", or another --state-dir\n',
    );
    const runs = JSON.parse((await etl(['runs', '--json', '--state-dir', state])).stdout) as unknown[];
    expect(runs).toHaveLength(1);
  });
});

describe('write modes', () => {
  const INSERT = {
    table: 'Inserted',
    key: 'id',
    write: 'insert',
    columns: { ID: { attribute: 'id' }, Name: { attribute: 'name' } },
  };

  it('insert writes new keys, reports an existing key with another item as `exists`, and a rerun stays loaded', async () => {
    const { pipeline, dir } = await start(INSERT);
    const file = csv(dir, 'a.csv', ['ID,Name', '1,Ann', '2,Bo']);
    expect((await pipeline.runFile(file)).counts).toMatchObject({ loaded: 2, failed: 0 });
    // The same file again (as a redelivery writes the same items): nothing turns into a failure.
    expect((await pipeline.runFile(file)).counts).toMatchObject({ loaded: 2, failed: 0 });
    const clash = csv(dir, 'b.csv', ['ID,Name', '2,Other', '3,Cy']);
    const report = await pipeline.runFile(clash);
    expect(report.counts).toMatchObject({ extracted: 2, loaded: 1, failed: 1 });
    expect(await errorsOf(pipeline, report.run)).toMatchObject([{ row: 1, reason: 'exists' }]);
    const items = await scanAll(pipeline.client, 'Inserted');
    expect(items).toEqual([
      { id: '1', name: 'Ann' },
      { id: '2', name: 'Bo' },
      { id: '3', name: 'Cy' },
    ]);
  });

  it('update merges into items the put mode wrote, and creates the ones missing', async () => {
    const dir = tempDir();
    const put = { table: 'Merged', key: 'id', columns: { ID: { attribute: 'id' }, A: { attribute: 'a' } } };
    const { pipeline } = await start(put, dir, false);
    await pipeline.runFile(csv(dir, 'a.csv', ['ID,A', '1,x', '2,y']));
    await pipeline.close();
    open.splice(0);
    const update = {
      table: 'Merged',
      key: 'id',
      write: 'update',
      columns: { ID: { attribute: 'id' }, B: { attribute: 'b', type: 'number' } },
    };
    const again = await start(update, dir, false);
    const report = await again.pipeline.runFile(csv(dir, 'b.csv', ['ID,B', '1,10', '3,30']));
    expect(report.counts).toMatchObject({ loaded: 2, failed: 0 });
    expect(await scanAll(again.pipeline.client, 'Merged')).toEqual([
      { id: '1', a: 'x', b: 10 },
      { id: '2', a: 'y' },
      { id: '3', b: 30 },
    ]);
  });
});

describe('column types and defaults', () => {
  const TYPED = {
    table: 'Typed',
    key: 'id',
    columns: {
      ID: { attribute: 'id' },
      Doc: { attribute: 'doc', type: 'json' },
      Tags: { attribute: 'tags', type: 'stringSet' },
      Scores: { attribute: 'scores', type: 'numberSet', separator: ';' },
      Blob: { attribute: 'blob', type: 'binary' },
      Ttl: { attribute: 'ttl', type: 'epochSeconds' },
      Active: { attribute: 'active', type: 'boolean', default: true },
      Level: { attribute: 'level', type: 'number', default: 3 },
      Kind: { attribute: 'kind', default: 'unknown' },
    },
  };

  it('types each cell as its column says, fills empty cells with defaults, and fails invalid cells without quoting them', async () => {
    const { pipeline, dir } = await start(TYPED);
    const header = 'ID,Doc,Tags,Scores,Blob,Ttl,Active,Level,Kind';
    const file = csv(dir, 't.csv', [
      header,
      '1,"{""a"":1,""b"":[true,null,""x""],""c"":{""d"":2.5}}", b | a |a||,1;1.0;2,aGk=,2024-05-01T00:00:00Z,false,7,thing',
      '2,[],,,,1714521600.9,,,',
      '3,,|,;,,2024-05-01T02:00:00+02:00,,,',
      '4,"{""secret"":",,,,,,,',
      '5,"""just text""",,,,,,,',
      '6,,,1;secret7x,,,,,',
      '7,,,,secret!!,,,,',
      '8,,,,,2024-02-30T00:00:00Z,,,',
      '9,,,,,,secretbool,,',
      '10,,,,,2024-05-01,,,',
      '11,,,,,2024-05-01 12:00,,,',
    ]);
    const report = await pipeline.runFile(file);
    expect(report.counts).toMatchObject({ extracted: 11, loaded: 5, failed: 6 });
    const items = new Map((await scanAll(pipeline.client, 'Typed')).map((i) => [i.id, i]));
    expect(items.get('1')).toEqual({
      id: '1',
      doc: { a: 1, b: [true, null, 'x'], c: { d: 2.5 } },
      tags: new Set(['a', 'b']),
      scores: new Set([1, 2]),
      blob: new Uint8Array(Buffer.from('hi')),
      ttl: 1714521600,
      active: false,
      level: 7,
      kind: 'thing',
    });
    // Empty cells: defaults; an empty set (and a set of separators only) is no attribute.
    expect(items.get('2')).toEqual({
      id: '2',
      doc: [],
      ttl: 1714521600,
      active: true,
      level: 3,
      kind: 'unknown',
    });
    expect(items.get('3')).toEqual({ id: '3', ttl: 1714521600, active: true, level: 3, kind: 'unknown' });
    expect(items.get('10')).toMatchObject({ ttl: 1714521600 });
    // No zone: UTC.
    expect(items.get('11')).toMatchObject({ ttl: 1714521600 + 12 * 3600 });
    const errors = await errorsOf(pipeline, report.run);
    expect(errors.map((e) => [e.row, e.column, e.reason])).toEqual([
      [4, 'Doc', 'value is not valid JSON'],
      [5, 'Doc', 'value is not a JSON object or array'],
      [6, 'Scores', 'a set member: value is not a number'],
      [7, 'Blob', 'value is not base64'],
      [8, 'Ttl', 'value is not a valid date-time'],
      [9, 'Active', 'value is not a boolean (true or false)'],
    ]);
    for (const e of errors) expect(e.reason).not.toMatch(/secret/);
  });

  it('refuses a mapping whose default does not fit its column, naming the field', () => {
    expect(() =>
      parseMapping(
        {
          key: 'id',
          columns: { ID: { attribute: 'id' }, N: { attribute: 'n', type: 'number', default: 'x' } },
        },
        'm.json',
      ),
    ).toThrow('m.json: columns.N.default: the default is not a valid number: value is not a number');
  });
});

describe('header checks, before any row', () => {
  const MAPPING = {
    table: 'Checked',
    key: { partition: 'pk', sort: 'sk' },
    columns: {
      ID: { attribute: 'pk' },
      Name: { attribute: 'name', required: true },
      Zip: { attribute: 'zip' },
      Phone: { attribute: 'phone' },
    },
    templates: { sk: '{Town}#{Street}' },
  };

  it('fails the file once for a required column, a key column or a template column it lacks', async () => {
    const { pipeline, dir } = await start(MAPPING);
    for (const [header, missing] of [
      ['ID,Town,Street', 'required column `Name` not in the header'],
      ['Name,Town,Street', 'required column `ID` not in the header'],
      ['ID,Name,Town', 'required column `Street` not in the header'],
    ] as const) {
      const file = csv(dir, `${header}.csv`, [header, 'a,b,c', 'd,e,f']);
      const report = await pipeline.runFile(file);
      expect(report.error?.message).toBe(`${file}:1: ${missing}`);
      expect(report.counts).toMatchObject({ extracted: 0, loaded: 0, failed: 0 });
    }
    expect(await scanAll(pipeline.client, 'Checked')).toEqual([]);
  });

  it('warns once, listing the mapped optional columns the header lacks', async () => {
    const { pipeline, dir } = await start(MAPPING);
    const file = csv(dir, 'w.csv', ['ID,Name,Town,Street', '1,Ann,Bray,Main', '2,Bo,Bray,Quay']);
    const report = await pipeline.runFile(file);
    expect(report.counts).toMatchObject({ loaded: 2, failed: 0 });
    expect(report.warnings).toEqual([
      `${file}: mapped optional columns not in the header: \`Zip\`, \`Phone\` (left out of every item, or their defaults used)`,
    ]);
  });

  it('at the command line: a missing required column is one line and exit 2; missing optional ones one warning line', async () => {
    const dir = tempDir();
    const mapping = join(dir, 'm.json');
    writeFileSync(mapping, JSON.stringify(MAPPING));
    const state = join(dir, 'state');
    const bad = csv(dir, 'bad.csv', ['ID,Town,Street', '1,Bray,Main']);
    const failed = await etl(['run', bad, '--mapping', mapping, '--state-dir', state]);
    expect(failed.code).toBe(2);
    expect(failed.stderr).toBe(`etl: ${bad}:1: required column \`Name\` not in the header\n`);
    const good = csv(dir, 'good.csv', ['ID,Name,Town,Street', '1,Ann,Bray,Main']);
    const warned = await etl(['run', good, '--mapping', mapping, '--state-dir', state]);
    expect(warned.code).toBe(0);
    expect(warned.stderr).toBe(
      `etl: warning: ${good}: mapped optional columns not in the header: \`Zip\`, \`Phone\` (left out of every item, or their defaults used)\n`,
    );
  });
});
