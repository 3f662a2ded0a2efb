/**
 * Quarantine: the error rule's `row-failed` events, kept where a user can list them per run (the
 * runs table on AWS, the run's errors log locally).
 */
import { isRowFailed, type RowFailedDetail } from '../pipeline/events.ts';
import { done, type InputOutcome, retry, type Stage } from './contract.ts';

/** A failed row as kept: the event's detail, with the event's id and time. */
export type FailedRow = RowFailedDetail & { id: string; time: string };

/** Where failed rows are kept; keeping the same (run, row, stage) twice leaves one. */
export interface FailedRowStore {
  /** Keeps the rows; resolves with those it could not keep for now (to be retried). */
  keep(rows: readonly FailedRow[]): Promise<readonly FailedRow[]>;
}

export function quarantineStage(options: { store: FailedRowStore }): Stage<RowFailedDetail> {
  return {
    name: 'quarantine',
    accepts: isRowFailed,
    async handle(inputs) {
      const inputOf = new Map<FailedRow, string>();
      for (const { id, event } of inputs)
        inputOf.set({ ...event.detail, id: event.id, time: event.time }, id);
      const outcomes = new Map<string, InputOutcome>(inputs.map((i) => [i.id, done()]));
      for (const row of await options.store.keep([...inputOf.keys()])) {
        const id = inputOf.get(row);
        if (id !== undefined) outcomes.set(id, retry('transient', 'the failed row could not be kept'));
      }
      return outcomes;
    },
  };
}
