/**
 * The observer's tally kept in memory: a bitset per run and row state, so a redelivered event never
 * counts twice, in a few bits per row (a million rows take about 500 KB).
 */
import type { RowState, RunCounts, TallyStore } from '../../stages/ports.ts';
import { Bitset } from './bitset.ts';

interface RunTally {
  counts: RunCounts;
  rows: Record<RowState, Bitset>;
  deadLettered: Bitset;
  /** Someone is putting the run's run-completed. */
  claimed: boolean;
}

/** A run's tally as it is saved with the run (`RunStore.writeTally`), to be taken up again later. */
export interface SavedTally {
  counts: RunCounts;
  rows: Record<RowState, Record<string, string>>;
  deadLettered: Record<string, string>;
}

const ROW_STATES: readonly RowState[] = ['extracted', 'transformed', 'loaded', 'failed'];

export class MemoryTallyStore implements TallyStore {
  private readonly runs = new Map<string, RunTally>();

  /** Whether the run is tallied in this process (begun here, or taken up with `restore`). */
  has(run: string): boolean {
    return this.runs.has(run);
  }

  /** The run's tally, to save with the run: its rows' states, so a later process counts on exactly. */
  save(run: string): SavedTally | undefined {
    const tally = this.runs.get(run);
    if (!tally) return undefined;
    const rows = Object.fromEntries(ROW_STATES.map((state) => [state, tally.rows[state].toPages()]));
    return {
      counts: { ...tally.counts },
      rows: rows as SavedTally['rows'],
      deadLettered: tally.deadLettered.toPages(),
    };
  }

  /**
   * Takes up a saved tally (a redrive or replay in another process than the run's): its events are
   * counted on from where the run left off, and complete it once every row is settled.
   */
  restore(saved: SavedTally): void {
    const rows = Object.fromEntries(ROW_STATES.map((state) => [state, Bitset.fromPages(saved.rows[state])]));
    this.runs.set(saved.counts.run, {
      counts: { ...saved.counts },
      rows: rows as RunTally['rows'],
      deadLettered: Bitset.fromPages(saved.deadLettered),
      claimed: false,
    });
  }

  /** Sets which of the run's rows are in a dead-letter queue now (after a redrive took some out). */
  setDeadLettered(run: string, rows: Iterable<number>): void {
    const tally = this.tally(run);
    tally.deadLettered = new Bitset();
    tally.counts.deadLettered = 0;
    for (const row of rows) this.markDeadLettered(run, row);
  }

  async markRows(run: string, state: RowState, rows: readonly number[]): Promise<void> {
    const tally = this.tally(run);
    const other = state === 'loaded' ? tally.rows.failed : state === 'failed' ? tally.rows.loaded : undefined;
    for (const row of rows) {
      if (!tally.rows[state].add(row)) continue;
      tally.counts[state]++;
      if (other && !other.has(row)) tally.counts.settled++;
    }
  }

  async setRun(run: string, fields: { file?: string; expected?: number }): Promise<void> {
    const tally = this.tally(run);
    if (fields.file !== undefined) tally.counts.file = fields.file;
    if (fields.expected !== undefined) tally.counts.expected = fields.expected;
  }

  async counts(run: string): Promise<RunCounts | undefined> {
    return this.snapshot(run);
  }

  snapshot(run: string): RunCounts | undefined {
    const tally = this.runs.get(run);
    return tally && { ...tally.counts };
  }

  // In one process a claim's holder cannot die without the tally: claims never need to lapse.
  async claimCompletion(run: string): Promise<boolean> {
    const tally = this.tally(run);
    if (tally.counts.completed || tally.claimed) return false;
    tally.claimed = true;
    return true;
  }

  async confirmCompletion(run: string): Promise<void> {
    const tally = this.tally(run);
    tally.counts.completed = true;
    tally.claimed = false;
  }

  async releaseCompletion(run: string): Promise<void> {
    this.tally(run).claimed = false;
  }

  /**
   * Counts a row whose event went to a dead-letter queue: neither loaded nor failed, it is what
   * `etl dlq` lists. Not an observer's event: the bus itself tells (locally).
   */
  markDeadLettered(run: string, row: number): void {
    const tally = this.tally(run);
    if (tally.deadLettered.add(row)) tally.counts.deadLettered = (tally.counts.deadLettered ?? 0) + 1;
  }

  /** Forgets a run, so the same file run again is tallied afresh. */
  reset(run: string): void {
    this.runs.delete(run);
  }

  private tally(run: string): RunTally {
    let tally = this.runs.get(run);
    if (!tally) {
      tally = {
        counts: {
          run,
          extracted: 0,
          transformed: 0,
          loaded: 0,
          failed: 0,
          deadLettered: 0,
          settled: 0,
          completed: false,
        },
        rows: {
          extracted: new Bitset(),
          transformed: new Bitset(),
          loaded: new Bitset(),
          failed: new Bitset(),
        },
        deadLettered: new Bitset(),
        claimed: false,
      };
      this.runs.set(run, tally);
    }
    return tally;
  }
}
