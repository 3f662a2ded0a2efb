import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalPipeline } from '../../src/runtime/local/pipeline.ts';
import { scanAll } from '../support/dynamo.ts';
import { tempDir } from '../support/cli.ts';

const SEED_ITEMS = [
  { id: '1', house_number: '12', street_address: 'Main Street', town: 'Antrim', zip: '22876' },
  { id: '2', house_number: '23', street_address: '2nd Street', town: 'Glengormley', zip: '73495' },
  { id: '3', house_number: '45', street_address: 'Church Way', town: 'Ballymena', zip: '18649' },
  { id: '4', house_number: '67', street_address: 'Bangor Road', town: 'Carrickfergus', zip: '86492' },
  { id: '5', house_number: '89', street_address: 'Dublin Boulevard', town: 'Swords', zip: '72648' },
];

describe('local pipeline, end to end against dynalite', () => {
  let pipeline: LocalPipeline;
  let dir: string;

  beforeAll(async () => {
    dir = tempDir();
    pipeline = await LocalPipeline.start({ stateDir: join(dir, 'state'), inMemory: true });
  });
  afterAll(async () => pipeline?.close());

  it("turns the seed's sample into the seed's items through events", async () => {
    const report = await pipeline.runFile('data/test_data.csv');
    expect(report.counts).toMatchObject({
      extracted: 5,
      transformed: 5,
      loaded: 5,
      failed: 0,
      expected: 5,
      completed: true,
    });
    expect(await scanAll(pipeline.client, pipeline.tableName)).toEqual(SEED_ITEMS);
  });

  it('carries every row of a larger file, with quoted fields, to exactly one item each', async () => {
    const rows = Array.from(
      { length: 2_345 },
      (_, i) => `${i + 1},${i},"Street ${i}, Upper","Town ""${i}""",${10_000 + i}`,
    );
    const file = join(dir, 'many.csv');
    writeFileSync(file, ['ID,HouseNum,Street,Town,Zip', ...rows].join('\r\n'));
    const report = await pipeline.runFile(file);
    expect(report.counts).toMatchObject({ extracted: 2_345, transformed: 2_345, loaded: 2_345, failed: 0 });
    const items = await scanAll(pipeline.client, pipeline.tableName);
    const mine = items.filter(
      (item) => Number(item.id) > 5 || String(item.street_address).startsWith('Street'),
    );
    expect(mine).toHaveLength(2_345);
    expect(items.find((item) => item.id === '100')).toEqual({
      id: '100',
      house_number: '99',
      street_address: 'Street 99, Upper',
      town: 'Town "99"',
      zip: '10099',
    });
  });

  it('counts bad rows as failed and still completes the run', async () => {
    const file = join(dir, 'ragged.csv');
    writeFileSync(file, 'ID,HouseNum,Street,Town,Zip\n901,1,A,B,C\n902,1,A\n,1,A,B,C\n');
    const report = await pipeline.runFile(file);
    expect(report.counts).toMatchObject({ extracted: 3, transformed: 1, loaded: 1, failed: 2 });
  });
});
