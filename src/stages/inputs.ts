/** Helpers the stages share for working through a delivered batch. */
import { DetailType, Status } from '../pipeline/definition.ts';
import { entry, type RowFailedDetail, type RowRef } from '../pipeline/events.ts';
import type { Mapping } from '../pipeline/mapping.ts';
import { failedRow, type InputOutcome, type StageInput } from './contract.ts';
import type { MappingSource } from './ports.ts';

/**
 * Handles a batch a run at a time, each run's rows with that run's mapping; `handle` sets the
 * outcome of every input of its group.
 */
export async function byRunMapping<D extends { run: string }>(
  inputs: readonly StageInput<D>[],
  mappingFor: MappingSource,
  handle: (
    group: StageInput<D>[],
    mapping: Mapping,
    outcomes: Map<string, InputOutcome>,
  ) => Promise<void> | void,
): Promise<Map<string, InputOutcome>> {
  const outcomes = new Map<string, InputOutcome>();
  for (const [run, group] of groupByRun(inputs)) await handle(group, await mappingFor(run), outcomes);
  return outcomes;
}

/** Inputs grouped by the run their detail names, in batch order. */
export function groupByRun<D extends { run: string }>(
  inputs: readonly StageInput<D>[],
): Map<string, StageInput<D>[]> {
  const groups = new Map<string, StageInput<D>[]>();
  for (const input of inputs) {
    const run = input.event.detail.run;
    let group = groups.get(run);
    if (!group) groups.set(run, (group = []));
    group.push(input);
  }
  return groups;
}

/** A row settled as failed at this stage: its `row-failed` event carries the reason and column. */
export function rowFailure(
  source: string,
  stage: RowFailedDetail['stage'],
  ref: RowRef,
  reason: string,
  column?: string,
): InputOutcome {
  const rowFailed = entry(source, DetailType.rowFailed, {
    status: Status.failed,
    stage,
    reason,
    ...(column === undefined ? {} : { column }),
    run: ref.run,
    row: ref.row,
  });
  return failedRow(reason, rowFailed);
}
