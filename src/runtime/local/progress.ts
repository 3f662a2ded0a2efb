/**
 * Honest progress for a run: a fraction done that is known from the start and never moves backwards.
 * Until extraction ends, the row total is estimated from how much of the file has been read (rows
 * extracted so far, scaled by the file's size over the bytes read); then it is the exact count.
 */
import type { RunProgress } from './pipeline.ts';

export interface ProgressView {
  /** 0 to 1; 1 only once every row is settled. */
  fraction: number;
  settled: number;
  /** The rows the file holds: exact once extraction ended, else estimated. */
  total: number;
  exact: boolean;
  /** Rows settled a second, over the run so far. */
  rowsPerSecond: number;
}

/** Follows one run's progress; each `view` is at least as far along as the one before. */
export class ProgressTracker {
  private shown = 0;
  private readonly started = Date.now();

  view(progress: RunProgress, now = Date.now()): ProgressView {
    const { settled, extracted, expected, bytesRead, bytesTotal } = progress;
    let total: number;
    let exact = false;
    if (expected !== undefined) {
      total = expected;
      exact = true;
    } else if (bytesRead && bytesTotal && extracted > 0) {
      total = Math.max(extracted, Math.round((extracted * bytesTotal) / bytesRead));
    } else {
      total = extracted;
    }
    let fraction = total === 0 ? (exact ? 1 : 0) : settled / total;
    // Until every row is known, an estimate must not claim the end.
    if (!exact) fraction = Math.min(fraction, 0.99);
    this.shown = Math.max(this.shown, Math.min(fraction, 1));
    const seconds = Math.max((now - this.started) / 1000, 0.001);
    return { fraction: this.shown, settled, total, exact, rowsPerSecond: settled / seconds };
  }
}

/** "42% · 420,000 of ~1,000,000 rows loaded or failed · 12,345 rows/s" */
export function progressLine(view: ProgressView): string {
  const n = (x: number): string => Math.round(x).toLocaleString('en');
  return (
    `${Math.floor(view.fraction * 100)}% · ${n(view.settled)} of ${view.exact ? '' : '~'}${n(view.total)} ` +
    `rows loaded or failed · ${n(view.rowsPerSecond)} rows/s`
  );
}
