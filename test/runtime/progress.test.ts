/** The run progress `etl run` shows: known from the start, never backwards, exact at the end. */
import { describe, expect, it } from 'vitest';
import { progressLine, ProgressTracker } from '../../src/runtime/local/progress.ts';
import type { RunProgress } from '../../src/runtime/local/pipeline.ts';

const progress = (fields: Partial<RunProgress>): RunProgress => ({
  run: 'run-1',
  extracted: 0,
  transformed: 0,
  loaded: 0,
  failed: 0,
  settled: 0,
  completed: false,
  ...fields,
});

describe('ProgressTracker', () => {
  it('estimates the total from the bytes read, so the fraction is of the whole file', () => {
    const tracker = new ProgressTracker();
    // A quarter of a 1,000-row file read, 100 rows settled: 10%, of about 1,000.
    const view = tracker.view(
      progress({ extracted: 250, settled: 100, bytesRead: 25_000, bytesTotal: 100_000 }),
    );
    expect(view).toMatchObject({ total: 1000, exact: false, settled: 100 });
    expect(view.fraction).toBeCloseTo(0.1);
  });

  it('never moves backwards, where settled / extracted so far did (extraction outrunning the load)', () => {
    const tracker = new ProgressTracker();
    const snapshots = [
      progress({ extracted: 100, settled: 90, bytesRead: 10_000, bytesTotal: 100_000 }),
      progress({ extracted: 600, settled: 120, bytesRead: 61_000, bytesTotal: 100_000 }),
      progress({ extracted: 900, settled: 130, bytesRead: 88_000, bytesTotal: 100_000 }),
      progress({ extracted: 1000, settled: 500, expected: 1000 }),
      progress({ extracted: 1000, settled: 1000, expected: 1000 }),
    ];
    const naive = snapshots.map((s) => s.settled / s.extracted);
    expect(naive[1]).toBeLessThan(naive[0] as number);
    const shown = snapshots.map((s) => tracker.view(s).fraction);
    for (let i = 1; i < shown.length; i++) expect(shown[i]).toBeGreaterThanOrEqual(shown[i - 1] as number);
    expect(shown.at(-1)).toBe(1);
  });

  it('claims the end only once every row of a known total is settled', () => {
    const tracker = new ProgressTracker();
    expect(
      tracker.view(progress({ extracted: 10, settled: 10, bytesRead: 50, bytesTotal: 50 })).fraction,
    ).toBe(0.99);
    expect(tracker.view(progress({ extracted: 10, settled: 10, expected: 10 })).fraction).toBe(1);
    expect(new ProgressTracker().view(progress({ expected: 0 })).fraction).toBe(1);
  });

  it('says whether the total is an estimate, and the rate', () => {
    const tracker = new ProgressTracker();
    const start = Date.now();
    const view = tracker.view(
      progress({ extracted: 250_000, settled: 120_000, bytesRead: 25, bytesTotal: 100 }),
      start + 10_000,
    );
    expect(progressLine(view)).toMatch(
      /^12% · 120,000 of ~1,000,000 rows loaded or failed · 1[12],\d{3} rows\/s$/,
    );
    const done = tracker.view(progress({ extracted: 5, settled: 5, expected: 5 }), start + 10_000);
    expect(progressLine(done)).toMatch(/^100% · 5 of 5 rows loaded or failed/);
  });
});
