/**
 * The stage contract: a stage is a runtime-neutral batch handler. It takes the events a rule
 * delivered to it, each with the id its runtime knows it by (the local bus's event id, an SQS message
 * id), and answers, per input, what it emits and whether the input is done, failed (settled with a
 * `row-failed` event among its outputs) or to be retried, and why. Outputs are tagged with their input
 * by construction, never matched back by re-reading them.
 *
 * `runStage` (run-stage.ts) is the one driver of this contract: it checks the inputs against the
 * stage's schema, publishes the outputs and turns the outcomes into the ids to deliver again. The
 * local bus and the Lambda handlers only translate those ids (journal retries, `batchItemFailures`).
 */
import type { EventEnvelope, PutEventsEntry } from '../pipeline/events.ts';

/** One event of a delivered batch and the id its runtime knows it by. */
export interface StageInput<D = unknown> {
  id: string;
  event: EventEnvelope<D>;
}

/** An event to put, and what to do once it is (or cannot be) put. */
export interface StageOutput {
  entry: PutEventsEntry;
  /**
   * Called once the entry was accepted by the bus (the observer confirms its completion claim). Should
   * it fail, the input is retried, and its redelivery produces the entry again.
   */
  onPublished?: () => void | Promise<void>;
  /**
   * Undoes what producing the entry claimed, when it cannot be put, so that the input's redelivery
   * produces it again (the observer's completion claim).
   */
  release?: () => Promise<void>;
}

/**
 * Why an input is to be delivered again: the table left it unwritten (`throttled`, `unprocessed`),
 * something it depends on failed for now (`transient`), its output could not be put (`unpublished`),
 * or the event is not one this stage takes (`invalid`: poison, dead-lettered once its attempts are
 * spent).
 */
export type RetryReason = 'throttled' | 'unprocessed' | 'transient' | 'unpublished' | 'invalid';

export type InputOutcome =
  | { status: 'done'; outputs: StageOutput[] }
  /** Settled as a failed row: `outputs` holds its `row-failed` event. */
  | { status: 'failed'; reason: string; outputs: StageOutput[] }
  | { status: 'retry'; reason: RetryReason; message?: string };

/** The events a stage takes, and what it makes of a batch of them. */
export interface Stage<D = unknown> {
  readonly name: string;
  /** Whether this is an event the stage takes; any other is `invalid`. */
  accepts(event: EventEnvelope<unknown>): event is EventEnvelope<D>;
  /**
   * The outcome of every input, by its id. Throws only when the batch as a whole cannot be handled
   * (a store unreachable): then every input is retried as `transient`.
   */
  handle(inputs: readonly StageInput<D>[]): Promise<Map<string, InputOutcome>>;
}

/** Where a stage writes what it has to say (Powertools' Logger fits). */
export interface StageLog {
  error(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  debug(message: string, fields?: Record<string, unknown>): void;
}

export const silentLog: StageLog = { error() {}, warn() {}, debug() {} };

/** Outcome helpers for stages. */
export const done = (...entries: PutEventsEntry[]): InputOutcome => ({
  status: 'done',
  outputs: entries.map((entry) => ({ entry })),
});
export const retry = (reason: RetryReason, message?: string): InputOutcome => ({
  status: 'retry',
  reason,
  ...(message === undefined ? {} : { message }),
});
export const failedRow = (reason: string, rowFailed: PutEventsEntry): InputOutcome => ({
  status: 'failed',
  reason,
  outputs: [{ entry: rowFailed }],
});
