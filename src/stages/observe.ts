/**
 * Observe: sees every event of the source, keeps each run's tally in the TallyStore and, once every
 * extracted row is loaded or reported failed, puts `run-completed`. This is the seed's observer
 * made into the reconciliation its README suggests.
 */
import { DetailType, Status } from '../pipeline/definition.ts';
import { entry, type EventEnvelope, type PutEventsEntry } from '../pipeline/events.ts';
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

export interface ObserveResult {
  observed: ObservedEvent[];
  /** run-completed events to put. */
  events: PutEventsEntry[];
  completed: RunCounts[];
}

export async function observeBatch(
  events: readonly EventEnvelope<unknown>[],
  options: { source: string; tally: TallyStore },
): Promise<ObserveResult> {
  const { tally } = options;
  const observed = events.map(describeEvent);
  // Group row marks per run and state so a batch costs one store call per group.
  const marks = new Map<string, { run: string; state: RowState; rows: number[] }>();
  const runs = new Set<string>();
  for (const [i, event] of events.entries()) {
    const o = observed[i] as ObservedEvent;
    if (o.run === undefined) continue;
    runs.add(o.run);
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

  const out: PutEventsEntry[] = [];
  const completed: RunCounts[] = [];
  try {
    for (const run of runs) {
      const counts = await tally.counts(run);
      if (!counts || counts.expected === undefined || counts.settled < counts.expected) continue;
      if (!(await tally.claimCompletion(run))) continue;
      completed.push({ ...counts, completed: true });
      out.push(
        entry(options.source, DetailType.runCompleted, {
          status: Status.completed,
          run,
          file: counts.file ?? '',
          extracted: counts.extracted,
          transformed: counts.transformed,
          loaded: counts.loaded,
          failed: counts.failed,
        }),
      );
    }
  } catch (error) {
    // The batch will be retried: claims taken so far must be claimable again by that retry.
    for (const counts of completed) await tally.releaseCompletion(counts.run);
    throw error;
  }
  return { observed, events: out, completed };
}
