/**
 * Observe: sees every event of the source, keeps each run's tally in the TallyStore and, once every
 * extracted row is loaded or reported failed, puts `run-completed`. This is the seed's observer
 * made into the reconciliation its README suggests.
 */
import { DetailType, Status } from '../pipeline/definition.ts';
import { entry, type EventEnvelope, type PutEventsEntry } from '../pipeline/events.ts';
import { done, type InputOutcome, type Stage, type StageInput } from './contract.ts';
import type { RowState, RunCounts, TallyStore } from './ports.ts';

/** What the observer records of each event: enough to audit a run, never a row's values. */
export interface ObservedEvent {
  id: string;
  time: string;
  detailType: string;
  status?: string;
  run?: string;
  row?: number;
  reason?: string;
}

const ROW_STATE_BY_DETAIL_TYPE: Record<string, RowState> = {
  [DetailType.rowExtracted]: 'extracted',
  [DetailType.rowTransformed]: 'transformed',
  [DetailType.rowLoaded]: 'loaded',
  [DetailType.rowFailed]: 'failed',
};

interface ObservableDetail {
  status?: unknown;
  run?: unknown;
  row?: unknown;
  rows?: unknown;
  file?: unknown;
  reason?: unknown;
}

export function describeEvent(event: EventEnvelope<unknown>): ObservedEvent {
  const detail = (event.detail ?? {}) as ObservableDetail;
  const observed: ObservedEvent = { id: event.id, time: event.time, detailType: event['detail-type'] };
  if (typeof detail.status === 'string') observed.status = detail.status;
  if (typeof detail.run === 'string') observed.run = detail.run;
  // Anyone may put events: only a real row number (a positive safe integer) counts as one.
  if (Number.isSafeInteger(detail.row) && (detail.row as number) > 0) observed.row = detail.row as number;
  if (typeof detail.reason === 'string') observed.reason = detail.reason;
  return observed;
}

export interface ObserveStageOptions {
  source: string;
  tally: TallyStore;
  /** What was seen of each event of a batch (the runtime logs or records it). */
  onObserved?: (observed: readonly ObservedEvent[]) => void | Promise<void>;
  /** A run's `run-completed` was put: its final counts. */
  onCompleted?: (counts: RunCounts) => void;
}

/**
 * Observe as a stage: takes every event of the source, marks each row's state in the tally (marking
 * twice counts once) and, once a run's rows are all loaded or failed, claims its completion and emits
 * `run-completed` (tagged to one input of the run), confirming the claim once it is put. Should that
 * put fail, the claim is released and that input retried, so its redelivery claims and puts it again;
 * should the observer die between claim and confirmation, the claim lapses and the batch's
 * redelivery claims it again: never lost, and put twice only if death came between put and confirm.
 */
export function observeStage(options: ObserveStageOptions): Stage<unknown> {
  const { source, tally } = options;
  return {
    name: 'observe',
    accepts: isAnyEvent,
    async handle(inputs) {
      const observed = await markEvents(
        inputs.map((i) => i.event),
        tally,
      );
      await options.onObserved?.(observed);
      const outcomes = new Map<string, InputOutcome>(inputs.map((i) => [i.id, done()]));
      const firstOfRun = new Map<string, string>();
      for (const [i, o] of observed.entries()) {
        if (o.run !== undefined && !firstOfRun.has(o.run))
          firstOfRun.set(o.run, (inputs[i] as StageInput).id);
      }
      const claimed: string[] = [];
      try {
        for (const [run, input] of firstOfRun) {
          const counts = await tally.counts(run);
          if (!counts || counts.expected === undefined || counts.settled < counts.expected) continue;
          if (!(await tally.claimCompletion(run))) continue;
          claimed.push(run);
          const final = { ...counts, completed: true };
          outcomes.set(input, {
            status: 'done',
            outputs: [
              {
                entry: runCompleted(source, final),
                onPublished: async () => {
                  await tally.confirmCompletion(run);
                  options.onCompleted?.(final);
                },
                release: () => tally.releaseCompletion(run),
              },
            ],
          });
        }
      } catch (error) {
        // The batch will be retried: claims taken so far must be claimable again by that retry.
        for (const run of claimed) await tally.releaseCompletion(run);
        throw error;
      }
      return outcomes;
    },
  };
}

/** The observer takes every event of the source. */
const isAnyEvent = (event: EventEnvelope<unknown>): event is EventEnvelope<unknown> =>
  typeof event === 'object';

/** Marks every row-level event in the tally and records what each run's lifecycle events say. */
async function markEvents(
  events: readonly EventEnvelope<unknown>[],
  tally: TallyStore,
): Promise<ObservedEvent[]> {
  const observed = events.map(describeEvent);
  // Group row marks per run and state so a batch costs one store call per group.
  const marks = new Map<string, { run: string; state: RowState; rows: number[] }>();
  for (const [i, event] of events.entries()) {
    const o = observed[i] as ObservedEvent;
    if (o.run === undefined) continue;
    const detail = event.detail as ObservableDetail;
    const state = ROW_STATE_BY_DETAIL_TYPE[o.detailType];
    if (state && o.row !== undefined) {
      const group = `${o.run}\u0000${state}`;
      let mark = marks.get(group);
      if (!mark) marks.set(group, (mark = { run: o.run, state, rows: [] }));
      mark.rows.push(o.row);
    } else if (o.detailType === DetailType.extractionStarted && typeof detail.file === 'string') {
      await tally.setRun(o.run, { file: detail.file });
    } else if (
      (o.detailType === DetailType.extractionCompleted || o.detailType === DetailType.extractionFailed) &&
      typeof detail.rows === 'number'
    ) {
      await tally.setRun(o.run, { expected: detail.rows });
    }
  }
  for (const mark of marks.values()) await tally.markRows(mark.run, mark.state, mark.rows);
  return observed;
}

function runCompleted(source: string, counts: RunCounts): PutEventsEntry {
  return entry(source, DetailType.runCompleted, {
    status: Status.completed,
    run: counts.run,
    file: counts.file ?? '',
    extracted: counts.extracted,
    transformed: counts.transformed,
    loaded: counts.loaded,
    failed: counts.failed,
  });
}
