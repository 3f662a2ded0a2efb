/**
 * How the local stack bounds its heaps. A run's live set stays small (the bus holds at most a few
 * thousand events), but V8 lets the old generation grow to several times what is live before it
 * collects, and gives every isolate a 32 MB young generation: at a million rows that garbage, in
 * two isolates (this thread's and the embedded DynamoDB's), was most of a 330-370 MB peak RSS.
 */
import { setFlagsFromString } from 'node:v8';

/**
 * The old generation may grow to 1.5 times what survived the last full collection (V8's default
 * factor is up to 4). V8 reads this flag at each collection, so setting it once a process starts
 * its stack is enough; it is process-wide, as the stack is the process's work.
 */
export function boundHeapGrowth(): void {
  setFlagsFromString('--heap-growing-percent=50');
}

/** The embedded DynamoDB's worker allocates short-lived request objects only: a small nursery. */
export const DYNAMO_WORKER_LIMITS = { maxYoungGenerationSizeMb: 12 } as const;
