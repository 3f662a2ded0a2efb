import { describe, expect, it } from 'vitest';
import { DetailType } from '../../src/pipeline/definition.ts';
import type { EventEnvelope } from '../../src/pipeline/events.ts';
import { MemoryTallyStore } from '../../src/runtime/local/tally-store.ts';
import { observeStage } from '../../src/stages/observe.ts';
import { runStage } from '../../src/stages/run-stage.ts';
import { observeBatch } from '../support/stages.ts';

let id = 0;
function event(detailType: string, detail: Record<string, unknown>): EventEnvelope<unknown> {
  return {
    version: '0',
    id: `e${++id}`,
    'detail-type': detailType,
    source: 's',
    account: '0',
    time: '2026-11-24T00:00:00Z',
    region: 'us-east-1',
    resources: [],
    detail,
  };
}
const rowEvents = (detailType: string, status: string, rows: number[]) =>
  rows.map((row) => event(detailType, { status, run: 'r', row }));

describe('observe', () => {
  it('tallies each state and completes the run once every row is loaded or failed', async () => {
    const tally = new MemoryTallyStore();
    const options = { source: 's', tally };
    await observeBatch(
      [
        event(DetailType.extractionStarted, { status: 'started', run: 'r', file: 'f.csv' }),
        ...rowEvents(DetailType.rowExtracted, 'extracted', [1, 2, 3]),
        event(DetailType.extractionCompleted, { status: 'completed', run: 'r', file: 'f.csv', rows: 3 }),
        ...rowEvents(DetailType.rowTransformed, 'transformed', [1, 2]),
        ...rowEvents(DetailType.rowFailed, 'failed', [3]),
      ],
      options,
    );
    const partial = await observeBatch(rowEvents(DetailType.rowLoaded, 'success', [1]), options);
    expect(partial.events).toEqual([]);
    const done = await observeBatch(rowEvents(DetailType.rowLoaded, 'success', [2]), options);
    expect(done.events).toHaveLength(1);
    expect(done.events[0]?.DetailType).toBe(DetailType.runCompleted);
    expect(JSON.parse(done.events[0]?.Detail ?? '')).toEqual({
      status: 'completed',
      run: 'r',
      file: 'f.csv',
      extracted: 3,
      transformed: 2,
      loaded: 2,
      failed: 1,
    });
  });

  it('counts a redelivered event once and completes exactly once', async () => {
    const tally = new MemoryTallyStore();
    const options = { source: 's', tally };
    const loaded = rowEvents(DetailType.rowLoaded, 'success', [1, 2]);
    const extracted = rowEvents(DetailType.rowExtracted, 'extracted', [1, 2]);
    const completed = event(DetailType.extractionCompleted, {
      status: 'completed',
      run: 'r',
      file: 'f',
      rows: 2,
    });
    const first = await observeBatch([...extracted, ...extracted, completed, ...loaded], options);
    const again = await observeBatch([...loaded, completed, ...extracted], options);
    expect(first.events).toHaveLength(1);
    expect(again.events).toEqual([]);
    expect(await tally.counts('r')).toMatchObject({ extracted: 2, loaded: 2, settled: 2, completed: true });
  });

  it('does not complete before the row count is known, even when all seen rows are loaded', async () => {
    const tally = new MemoryTallyStore();
    const result = await observeBatch(
      [
        ...rowEvents(DetailType.rowExtracted, 'extracted', [1]),
        ...rowEvents(DetailType.rowLoaded, 'success', [1]),
      ],
      { source: 's', tally },
    );
    expect(result.events).toEqual([]);
  });

  it('completes a run of 0 rows when extraction completes', async () => {
    const tally = new MemoryTallyStore();
    const result = await observeBatch(
      [event(DetailType.extractionCompleted, { status: 'completed', run: 'r', file: 'f', rows: 0 })],
      { source: 's', tally },
    );
    expect(result.completed).toMatchObject([{ run: 'r', extracted: 0, loaded: 0 }]);
  });

  it('counts only positive whole row numbers, each exactly, far-out ones included', async () => {
    const tally = new MemoryTallyStore();
    const result = await observeBatch(
      [
        event(DetailType.extractionCompleted, { status: 'completed', run: 'r', file: 'f', rows: 3 }),
        // Not row numbers: ignored.
        ...[1.5, -1, 0, '1', 2 ** 53].map((row) =>
          event(DetailType.rowLoaded, { status: 'success', run: 'r', row }),
        ),
        // Row numbers: 2**32 + 2 must not wrap onto row 2.
        ...[2 ** 32 + 2, 1].map((row) => event(DetailType.rowLoaded, { status: 'success', run: 'r', row })),
      ],
      { source: 's', tally },
    );
    expect(result.events).toEqual([]);
    expect(await tally.counts('r')).toMatchObject({ loaded: 2, settled: 2, completed: false });
  });

  it('records what it saw without row values', async () => {
    const tally = new MemoryTallyStore();
    const result = await observeBatch(
      [
        event(DetailType.rowExtracted, {
          status: 'extracted',
          run: 'r',
          row: 7,
          headers: 'ID',
          data: 'secret',
        }),
      ],
      { source: 's', tally },
    );
    expect(result.observed).toEqual([
      {
        id: expect.any(String),
        time: '2026-11-24T00:00:00Z',
        detailType: 's3RecordExtraction',
        status: 'extracted',
        run: 'r',
        row: 7,
      },
    ]);
    expect(JSON.stringify(result.observed)).not.toContain('secret');
  });

  it('retries a run-completed it put but could not confirm, and puts it again on the redelivery', async () => {
    class ConfirmFailsOnce extends MemoryTallyStore {
      failed = false;
      override async confirmCompletion(run: string): Promise<void> {
        if (!this.failed) {
          this.failed = true;
          throw new Error('runs table unreachable');
        }
        await super.confirmCompletion(run);
      }
    }
    const tally = new ConfirmFailsOnce();
    const stage = observeStage({ source: 's', tally });
    const inputs = [
      event(DetailType.extractionCompleted, { status: 'completed', run: 'r', file: 'f.csv', rows: 1 }),
      ...rowEvents(DetailType.rowLoaded, 'success', [1]),
    ].map((e) => ({ id: e.id, event: e }));
    const published: string[] = [];
    const publisher = {
      putEvents: async (entries: readonly { DetailType: string }[]) =>
        void published.push(...entries.map((e) => e.DetailType)),
    };
    const first = await runStage(stage, inputs, publisher);
    expect(published).toEqual([DetailType.runCompleted]);
    expect([...first.retry.values()]).toEqual([
      { reason: 'transient', message: expect.stringMatching(/put but not recorded.*unreachable/) },
    ]);
    expect((await tally.counts('r'))?.completed).toBe(false);
    const again = await runStage(stage, inputs, publisher);
    expect(published).toEqual([DetailType.runCompleted, DetailType.runCompleted]);
    expect(again.retry.size).toBe(0);
    expect((await tally.counts('r'))?.completed).toBe(true);
    await runStage(stage, inputs, publisher);
    expect(published).toHaveLength(2);
  });
});
