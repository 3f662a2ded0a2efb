/**
 * The one driver of the stage contract, shared by every runtime: checks a delivered batch against
 * the stage, hands it the events it takes, puts the outputs in PutEvents-sized requests (several in
 * flight) and answers which inputs are to be delivered again. The local bus and the Lambda handlers
 * only translate that answer.
 */
import PQueue from 'p-queue';
import type { PutEventsEntry } from '../pipeline/events.ts';
import { EntryTooLargeError, PutEventsBatcher } from '../pipeline/put-events.ts';
import {
  type InputOutcome,
  type RetryReason,
  retry,
  silentLog,
  type Stage,
  type StageInput,
  type StageLog,
  type StageOutput,
} from './contract.ts';
import type { EventPublisher } from './ports.ts';

/** PutEvents requests in flight at once for one batch's outputs. */
export const PUTS_IN_FLIGHT = 4;

export interface StageReport {
  /** Every input's outcome by id, after publishing: an input whose output could not be put is a retry. */
  outcomes: Map<string, InputOutcome>;
  /** The inputs to deliver again, and why. */
  retry: Map<string, { reason: RetryReason; message?: string }>;
}

export async function runStage<D>(
  stage: Stage<D>,
  inputs: readonly StageInput[],
  publisher: EventPublisher,
  log: StageLog = silentLog,
): Promise<StageReport> {
  const outcomes = new Map<string, InputOutcome>();
  const accepted: StageInput<D>[] = [];
  for (const input of inputs) {
    if (stage.accepts(input.event)) {
      accepted.push(input as StageInput<D>);
      continue;
    }
    const detailType = input.event['detail-type'];
    log.error(`not an event ${stage.name} takes`, { id: input.id, detailType });
    outcomes.set(input.id, retry('invalid', `${stage.name} does not take this ${detailType} event`));
  }
  if (accepted.length > 0) {
    try {
      const handled = await stage.handle(accepted);
      for (const { id } of accepted)
        outcomes.set(id, handled.get(id) ?? retry('transient', `${stage.name} gave no outcome`));
    } catch (error) {
      // The stage failed as a whole (e.g. the table unreachable): every input is retried.
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      log.error(`${stage.name} failed; the batch is retried`, { error: message, inputs: accepted.length });
      for (const { id } of accepted) outcomes.set(id, retry('transient', message));
    }
  }
  await publishOutputs(outcomes, publisher, log);
  const again = new Map<string, { reason: RetryReason; message?: string }>();
  for (const [id, outcome] of outcomes) {
    if (outcome.status !== 'retry') continue;
    again.set(id, { reason: outcome.reason, ...(outcome.message ? { message: outcome.message } : {}) });
  }
  return { outcomes, retry: again };
}

/**
 * Puts the outputs of settled inputs. An input any of whose outputs could not be put becomes a retry
 * (its redelivery produces them again: downstream stages are idempotent), and whatever producing
 * that output claimed is released.
 */
async function publishOutputs(
  outcomes: Map<string, InputOutcome>,
  publisher: EventPublisher,
  log: StageLog,
): Promise<void> {
  const unpublished = new Map<string, { output: StageOutput; message: string }[]>();
  const notPut = (input: string, output: StageOutput, message: string): void => {
    const list = unpublished.get(input);
    if (list) list.push({ output, message });
    else unpublished.set(input, [{ output, message }]);
  };
  // Each entry is sized once, by the batcher; its input is found by the entry itself.
  const tags = new Map<PutEventsEntry, { input: string; output: StageOutput }>();
  const batcher = new PutEventsBatcher<PutEventsEntry>();
  const requests: PutEventsEntry[][] = [];
  for (const [input, outcome] of outcomes) {
    if (outcome.status === 'retry') continue;
    for (const output of outcome.outputs) {
      try {
        const full = batcher.push(output.entry);
        tags.set(output.entry, { input, output });
        if (full) requests.push(full);
      } catch (error) {
        if (!(error instanceof EntryTooLargeError)) throw error;
        log.error('output event too large for PutEvents', { input, size: error.size });
        notPut(input, output, `its ${output.entry.DetailType} event is ${error.size} bytes`);
      }
    }
  }
  const rest = batcher.flush();
  if (rest) requests.push(rest);
  const errors = await putRequests(publisher, requests);
  const unconfirmed = new Map<string, string>();
  for (const [i, request] of requests.entries()) {
    const error = errors[i];
    for (const entry of request) {
      const tag = tags.get(entry) as { input: string; output: StageOutput };
      if (error) {
        notPut(tag.input, tag.output, `PutEvents failed: ${error.message}`);
        continue;
      }
      try {
        await tag.output.onPublished?.();
      } catch (failure) {
        // Retried, the input puts its output again: at least once beats never.
        log.error('could not record a put event', { input: tag.input, error: String(failure) });
        unconfirmed.set(tag.input, `${entry.DetailType} was put but not recorded: ${String(failure)}`);
        await releaseClaim(tag.output, tag.input, log);
      }
    }
    if (error) log.error('PutEvents failed', { error: error.message, entries: request.length });
  }
  for (const [input, message] of unconfirmed) outcomes.set(input, retry('transient', message));
  for (const [input, failures] of unpublished) {
    for (const { output } of failures) await releaseClaim(output, input, log);
    outcomes.set(input, retry('unpublished', failures[0]?.message));
  }
}

/** Releases what producing an output claimed; a claim that cannot be released lapses (see TallyStore). */
async function releaseClaim(output: StageOutput, input: string, log: StageLog): Promise<void> {
  try {
    await output.release?.();
  } catch (error) {
    log.error('could not release a claim', { input, error: String(error) });
  }
}

/** Each request's error, undefined where it was accepted; in one go when the publisher can. */
async function putRequests(
  publisher: EventPublisher,
  requests: PutEventsEntry[][],
): Promise<(Error | undefined)[]> {
  if (requests.length === 0) return [];
  if (publisher.putRequests) return publisher.putRequests(requests);
  const queue = new PQueue({ concurrency: PUTS_IN_FLIGHT });
  return Promise.all(
    requests.map((request) =>
      queue.add(async () => {
        try {
          await publisher.putEvents(request);
          return undefined;
        } catch (error) {
          return error instanceof Error ? error : new Error(String(error));
        }
      }),
    ),
  );
}
