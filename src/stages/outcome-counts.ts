/**
 * What a stage made of a delivered batch, counted for the metrics of either runtime: inputs per
 * outcome, retries per reason, and the events the settled inputs put on the bus; and the rows an
 * extraction put.
 */
import { DetailType } from '../pipeline/definition.ts';
import type { PutEventsEntry } from '../pipeline/events.ts';
import type { InputOutcome, RetryReason } from './contract.ts';
import type { EventPublisher } from './ports.ts';

export interface OutcomeCounts {
  byOutcome: Map<InputOutcome['status'], number>;
  retriesByReason: Map<RetryReason, number>;
  outputs: number;
}

export function countOutcomes(outcomes: Iterable<InputOutcome>): OutcomeCounts {
  const counts: OutcomeCounts = { byOutcome: new Map(), retriesByReason: new Map(), outputs: 0 };
  for (const outcome of outcomes) {
    counts.byOutcome.set(outcome.status, (counts.byOutcome.get(outcome.status) ?? 0) + 1);
    if (outcome.status === 'retry')
      counts.retriesByReason.set(outcome.reason, (counts.retriesByReason.get(outcome.reason) ?? 0) + 1);
    else counts.outputs += outcome.outputs.length;
  }
  return counts;
}

/** The rows an extraction put on the bus: taken (`s3RecordExtraction`) and failed (`row-failed`). */
export class RowCountingPublisher implements EventPublisher {
  rowsPut = 0;
  rowsFailed = 0;

  constructor(private readonly inner: EventPublisher) {}

  async putEvents(entries: PutEventsEntry[]): Promise<void> {
    await this.inner.putEvents(entries);
    for (const e of entries) this.count(e);
  }

  /** Counts one entry the bus accepted. */
  protected count(entry: PutEventsEntry): void {
    if (entry.DetailType === DetailType.rowExtracted) this.rowsPut += 1;
    else if (entry.DetailType === DetailType.rowFailed) this.rowsFailed += 1;
  }
}
