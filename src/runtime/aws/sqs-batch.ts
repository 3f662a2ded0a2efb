/**
 * The AWS event shape around the stages: an SQS batch whose message bodies are EventBridge events
 * (rule -> SqsQueue target -> SQS event source), answered with a partial batch response.
 *
 * Each message body is parsed with Powertools' EventBridge schema; the events go through the one stage
 * driver (`runStage`), message id as input id, and the inputs it answers to retry become the batch's
 * failures. Powertools' BatchProcessor turns that set into the `batchItemFailures` response (with
 * ReportBatchItemFailures, only those messages come back). With metrics, each batch writes the
 * pipeline's metrics (metrics.ts) as EMF: events in and out, inputs per outcome, retries per reason,
 * and the batch's duration.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { JSONStringified } from '@aws-lambda-powertools/parser/helpers';
import { EventBridgeSchema } from '@aws-lambda-powertools/parser/schemas/eventbridge';
import type { EventEnvelope } from '../../pipeline/events.ts';
import type { InputOutcome, Stage, StageInput, StageLog } from '../../stages/contract.ts';
import type { EventPublisher } from '../../stages/ports.ts';
import { runStage } from '../../stages/run-stage.ts';
import type { EtlMetrics, TargetOfRule } from './metrics.ts';

/** A Lambda handler for an SQS event source with ReportBatchItemFailures. */
export type SqsBatchHandler = (event: SQSEvent, context?: Context) => Promise<SQSBatchResponse>;

/** An SQS message body holding an EventBridge event (Powertools' schema of the envelope). */
const EventBridgeMessageBody = JSONStringified(EventBridgeSchema);

/** The EventBridge event in an SQS message body, or why there is none. */
export function parseEventBody(body: string): { event: EventEnvelope<unknown> } | { error: string } {
  const parsed = EventBridgeMessageBody.safeParse(body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.length ? ` at ${issue.path.join('.')}` : '';
    return { error: `the message body is not an EventBridge event${where}: ${issue?.message ?? 'invalid'}` };
  }
  return { event: parsed.data as EventEnvelope<unknown> };
}

export interface SqsStageDeps {
  publisher: EventPublisher;
  logger: Logger;
  /** Where each batch's metrics go, and the rule and target they are counted for. */
  metrics?: { emf: EtlMetrics; delivery: TargetOfRule };
}

/**
 * A stage as a Lambda handler: the batch's events run through `runStage`, and the inputs it says to
 * deliver again (plus messages that hold no event at all) become the `batchItemFailures`.
 */
export function sqsStageHandler<D>(stage: Stage<D>, deps: SqsStageDeps): SqsBatchHandler {
  const { publisher, logger, metrics } = deps;
  return async (event, context) => {
    const started = performance.now();
    if (context) logger.addContext(context);
    const failed = new Set<string>();
    const inputs: StageInput[] = [];
    for (const record of event.Records) {
      const parsed = parseEventBody(record.body);
      if ('error' in parsed) {
        logger.error('poisoned message', { messageId: record.messageId, reason: parsed.error });
        failed.add(record.messageId);
      } else {
        inputs.push({ id: record.messageId, event: parsed.event });
      }
    }
    const report = await runStage(stage, inputs, publisher, stageLog(logger));
    metrics?.emf.recordBatch(
      { stage: stage.name, size: event.Records.length, seconds: (performance.now() - started) / 1000 },
      // A message that holds no event is an input retried as invalid, as runStage answers such events.
      [...report.outcomes.values(), ...unparsed(failed.size)],
      metrics.delivery,
    );
    for (const [id, why] of report.retry) {
      failed.add(id);
      logger.debug('message to be retried', { messageId: id, ...why });
    }
    logger.debug(`${stage.name} batch`, { messages: event.Records.length, failed: failed.size });
    return reportFailures(event, failed, context);
  };
}

function unparsed(count: number): InputOutcome[] {
  return Array.from({ length: count }, () => ({ status: 'retry', reason: 'invalid' }) as const);
}

/** The stage driver's log on Powertools' Logger. */
function stageLog(logger: Logger): StageLog {
  return {
    error: (message, fields) => logger.error(message, fields ?? {}),
    warn: (message, fields) => logger.warn(message, fields ?? {}),
    debug: (message, fields) => logger.debug(message, fields ?? {}),
  };
}

/** The partial batch response for these failed message ids, by Powertools' BatchProcessor. */
export async function reportFailures(
  event: SQSEvent,
  failed: ReadonlySet<string>,
  context?: Context,
): Promise<SQSBatchResponse> {
  const processor = new BatchProcessor(EventType.SQS);
  const response = await processPartialResponse(
    event,
    (record: SQSRecord) => {
      if (failed.has(record.messageId)) throw new Error(`message ${record.messageId} failed`);
    },
    processor,
    { ...(context ? { context } : {}), throwOnFullBatchFailure: false },
  );
  return { batchItemFailures: response.batchItemFailures };
}
