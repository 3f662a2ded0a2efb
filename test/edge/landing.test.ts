import { appendFileSync, copyFileSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tempDir } from '../support/cli.ts';
import { scanTable, SEED_ITEMS, startTestStack, type TestStack } from './support.ts';

describe('the landing folder', () => {
  let t: TestStack;
  let landing: string;
  beforeAll(async () => {
    landing = join(tempDir('etl-landing-'), 'landing');
    // Polls only when the test says so: a file is taken on the second poll that sees it unchanged.
    t = await startTestStack({ landingDir: landing, landingPollMs: 3_600_000 });
  });
  afterAll(async () => t?.close());

  const poll = () => t.stack.landing?.pollOnce() ?? Promise.reject(new Error('no landing folder'));

  it('runs a dropped file once, moves it to processed/, and does not run it again', async () => {
    copyFileSync('data/test_data.csv', join(landing, 'test_data.csv'));
    await poll();
    expect(t.reports).toHaveLength(0);
    await poll();
    expect(t.reports).toHaveLength(1);
    expect(t.reports[0]?.file).toBe(join(landing, 'test_data.csv'));
    expect(t.reports[0]?.counts).toMatchObject({ extracted: 5, loaded: 5, failed: 0 });
    expect(await scanTable(t)).toEqual(SEED_ITEMS);
    expect(readdirSync(join(landing, 'processed'))).toEqual(['test_data.csv']);
    expect(existsSync(join(landing, 'test_data.csv'))).toBe(false);

    await poll();
    await poll();
    expect(t.reports).toHaveLength(1);
  });

  it('waits while a file is still growing, then reads it whole', async () => {
    const before = t.reports.length;
    const file = join(landing, 'growing.csv');
    writeFileSync(file, 'ID,HouseNum,Street,Town,Zip\r\n501,5,Shore Ro');
    await poll();
    appendFileSync(file, 'ad,Holywood,90210\r\n');
    await poll();
    expect(t.reports).toHaveLength(before);
    expect(existsSync(file)).toBe(true);
    await poll();
    expect(t.reports).toHaveLength(before + 1);
    expect((await scanTable(t)).find((i) => i.id === '501')).toEqual({
      id: '501',
      house_number: '5',
      street_address: 'Shore Road',
      town: 'Holywood',
      zip: '90210',
    });
  });

  it('moves a file that is not readable CSV to failed/, and never takes dot-files', async () => {
    const before = t.reports.length;
    writeFileSync(join(landing, 'bad.csv'), 'ID,ID\n1,2\n');
    writeFileSync(join(landing, '.being-written.csv'), 'ID,HouseNum,Street,Town,Zip\n777,1,x,y,z\n');
    mkdirSync(join(landing, 'subdir'), { recursive: true });
    await poll();
    await poll();
    expect(t.reports).toHaveLength(before + 1);
    expect(t.reports.at(-1)?.error?.message).toMatch(/header column "ID" appears twice/);
    expect(readdirSync(join(landing, 'failed'))).toEqual(['bad.csv']);
    expect(existsSync(join(landing, '.being-written.csv'))).toBe(true);
    expect((await scanTable(t)).some((i) => i.id === '777')).toBe(false);
  });
});
