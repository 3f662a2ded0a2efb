/**
 * What a stage made of a delivered batch, counted for the metrics of either runtime: inputs per
 * outcome, retries per reason, and the events the settled inputs put on the bus.
 */
import type { InputOutcome, RetryReason } from './contract.ts';

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
