import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalPipeline } from '../../src/runtime/local/pipeline.ts';
import { scanAll } from '../support/dynamo.ts';
import { tempDir } from '../support/cli.ts';
import { SEED_ITEMS } from '../support/seed.ts';

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
