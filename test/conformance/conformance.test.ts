/**
 * One stage contract, two runtimes: every scenario runs on the local runtime and on the AWS handlers
 * (see runtimes.ts) and must end the same way. A scenario that passes on one runtime only is a defect.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { DetailType } from '../../src/pipeline/definition.ts';
import { parseMapping, SEED_MAPPING } from '../../src/pipeline/mapping.ts';
import { RUNTIMES, type Runtime, type RuntimeOptions } from './runtimes.ts';

const HEADER = 'ID,HouseNum,Street,Town,Zip';
const seedRows = (n: number, from = 1): string[] =>
  Array.from({ length: n }, (_, i) => `${from + i},${i},Street ${from + i},Town,${1000 + i}`);
const csvOf = (rows: string[]): string => `${[HEADER, ...rows].join('\n')}\n`;
const detailsOf = (runtime: Runtime, detailType: string): Record<string, unknown>[] =>
  runtime
    .accepted()
    .filter((e) => e.DetailType === detailType)
    .map((e) => JSON.parse(e.Detail) as Record<string, unknown>);

describe.each(RUNTIMES)('conformance: $name runtime', ({ start }) => {
  let runtime: Runtime | undefined;
  const open = async (options?: RuntimeOptions): Promise<Runtime> => (runtime = await start(options));
  afterEach(async () => {
    await runtime?.close();
    runtime = undefined;
  });

  it('loads every row once and completes the run once, however often each event is delivered', async () => {
    const rt = await open();
    const { run, counts } = await rt.run(csvOf([...seedRows(40), '41,1,Bad Row', ',2,No Id,Town,1']));
    expect(counts).toMatchObject({ expected: 42, extracted: 42, loaded: 40, failed: 2, completed: true });

    await rt.redeliverEverything();
    await rt.redeliverEverything();

    const items = await rt.items();
    expect(items).toHaveLength(40);
    expect(new Set(items.map((i) => i.id)).size).toBe(40);
    expect(await rt.counts(run)).toMatchObject({
      expected: 42,
      extracted: 42,
      transformed: 40,
      loaded: 40,
      failed: 2,
      settled: 42,
      completed: true,
    });
    expect(detailsOf(rt, DetailType.runCompleted)).toEqual([
      expect.objectContaining({ run, extracted: 42, transformed: 40, loaded: 40, failed: 2 }),
    ]);
    // A failed row is kept once, whatever number of times its row-failed event arrived.
    expect((await rt.failedRows(run)).map((f) => [f.row, f.stage])).toEqual([
      [41, 'transform'],
      [42, 'transform'],
    ]);
    expect(rt.deadLetters()).toBe(0);
  });

  // Each item left unprocessed for more attempts than the writer makes on its own, or more throttled
  // requests than the SDK retries: every row must come back through its runtime's redelivery (the
  // local bus, SQS) to be loaded.
  it.each([
    ['leaves items unprocessed', { unprocessedSightings: 9 }],
    ['throttles whole requests', { throttledRequests: 20 }],
  ])('retries rows while DynamoDB %s, until every one is loaded and none failed', async (_, throttle) => {
    const rt = await open({ throttle });
    const { run, counts } = await rt.run(csvOf(seedRows(30)));
    expect(counts).toMatchObject({ extracted: 30, loaded: 30, failed: 0, completed: true });
    expect(await rt.items()).toHaveLength(30);
    expect(await rt.failedRows(run)).toEqual([]);
    expect(rt.redeliveries()).toBeGreaterThan(0);
    expect(rt.deadLetters()).toBe(0);
  });

  it('reports each bad row as failed with its row number, stage, column and reason', async () => {
    const rt = await open();
    const { run, counts } = await rt.run(
      csvOf(['1,12,Main Street,Antrim,22876', ',2,No Id Lane,Town,2', '3,45,Church Way', '4,x,Road,Town,1']),
    );
    expect(counts).toMatchObject({ extracted: 4, loaded: 2, failed: 2, completed: true });
    expect(await rt.failedRows(run)).toEqual([
      { row: 2, stage: 'transform', column: 'ID', reason: expect.stringMatching(/empty/) },
      { row: 3, stage: 'transform', reason: 'row has 3 fields; the header has 5' },
    ]);
    expect((await rt.items()).map((i) => i.id)).toEqual(['1', '4']);
  });

  it('encrypts a sensitive column in every event and loads its plaintext', async () => {
    const mapping = {
      ...SEED_MAPPING,
      columns: {
        ...SEED_MAPPING.columns,
        Street: { attribute: 'street_address', type: 'string' as const, sensitive: true },
      },
    };
    const rt = await open({ mapping });
    const { counts } = await rt.run(
      csvOf(['1,12,7 Secret Street,Antrim,22876', '2,23,9 Hidden Lane,Town,1']),
    );
    expect(counts).toMatchObject({ extracted: 2, loaded: 2, completed: true });
    expect((await rt.items()).map((i) => i.street_address)).toEqual(['7 Secret Street', '9 Hidden Lane']);
    const everything = JSON.stringify(rt.accepted());
    expect(everything).not.toContain('Secret');
    expect(everything).not.toContain('Hidden');
    expect(
      detailsOf(rt, DetailType.rowLoaded).map((d) => (d.data as Record<string, unknown>).street_address),
    ).toEqual(['[sensitive]', '[sensitive]']);
  });

  it('puts run-completed exactly once when its first put fails', async () => {
    const rt = await open({ failFirstPutOf: DetailType.runCompleted });
    const { run, counts } = await rt.run(csvOf(seedRows(12)));
    expect(counts).toMatchObject({ extracted: 12, loaded: 12, completed: true });
    await rt.redeliverEverything();
    expect(detailsOf(rt, DetailType.runCompleted)).toEqual([
      expect.objectContaining({ run, extracted: 12, loaded: 12, failed: 0 }),
    ]);
    expect(rt.redeliveries()).toBeGreaterThan(0);
    expect(rt.deadLetters()).toBe(0);
  });

  it('fails a row too large for one event with the reason, and loads the rest', async () => {
    const rt = await open();
    const big = `2,1,${'x'.repeat(300 * 1024)},Town,1`;
    const { run, counts } = await rt.run(csvOf(['1,1,Small Street,Town,1', big, '3,1,Other Street,Town,1']));
    // The row never became an extracted-row event: it is counted failed, not extracted.
    expect(counts).toMatchObject({ expected: 3, extracted: 2, loaded: 2, failed: 1, completed: true });
    const [failure] = await rt.failedRows(run);
    expect(failure).toMatchObject({ row: 2, stage: 'extract' });
    expect(failure?.reason).toMatch(/PutEvents takes at most 262144/);
    expect((await rt.items()).map((i) => i.id)).toEqual(['1', '3']);
  });

  const modeMapping = (write: 'update' | 'insert') =>
    parseMapping({
      key: 'id',
      write,
      columns: { ID: { attribute: 'id' }, Zip: { attribute: 'zip', type: 'number' } },
    });

  it('update mode: redelivery leaves the same items, and an empty cell removes nothing', async () => {
    const rt = await open({ mapping: modeMapping('update') });
    const first = await rt.run('ID,Zip\n1,10\n2,20\n3,30\n');
    expect(first.counts).toMatchObject({ extracted: 3, loaded: 3, failed: 0, completed: true });
    await rt.redeliverEverything();
    expect(await rt.counts(first.run)).toMatchObject({ loaded: 3, failed: 0 });
    const second = await rt.run('ID,Zip\n1,\n2,21\n4,40\n');
    expect(second.counts).toMatchObject({ extracted: 3, loaded: 3, failed: 0 });
    expect(await rt.items()).toEqual([
      { id: '1', zip: 10 },
      { id: '2', zip: 21 },
      { id: '3', zip: 30 },
      { id: '4', zip: 40 },
    ]);
  });

  it('insert mode: a redelivered row stays loaded; a key holding another item fails its row as `exists`', async () => {
    const rt = await open({ mapping: modeMapping('insert') });
    const first = await rt.run('ID,Zip\n1,10\n2,20\n');
    expect(first.counts).toMatchObject({ extracted: 2, loaded: 2, failed: 0, completed: true });
    await rt.redeliverEverything();
    expect(await rt.counts(first.run)).toMatchObject({ loaded: 2, failed: 0 });
    expect(await rt.failedRows(first.run)).toEqual([]);
    const second = await rt.run('ID,Zip\n2,99\n3,30\n');
    expect(second.counts).toMatchObject({ extracted: 2, loaded: 1, failed: 1 });
    expect(await rt.failedRows(second.run)).toEqual([{ row: 1, stage: 'load', reason: 'exists' }]);
    expect(await rt.items()).toEqual([
      { id: '1', zip: 10 },
      { id: '2', zip: 20 },
      { id: '3', zip: 30 },
    ]);
  });
});
