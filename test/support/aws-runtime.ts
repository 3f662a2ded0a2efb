/**
 * The AWS runtime in-process, wired the way the stack wires it: PutEvents entries matched against
 * the definition's rules into one SQS-like queue per target; batches delivered to the Lambda
 * handlers; the messages a handler reports in `batchItemFailures` come back until their target's
 * maxReceiveCount, then go to its dead-letter queue.
 */
import type { SQSRecord } from 'aws-lambda';
import type { PipelineDefinition, TargetName } from '../../src/pipeline/definition.ts';
import type { EventEnvelope, PutEventsEntry } from '../../src/pipeline/events.ts';
import { RuleIndex } from '../../src/patterns/index.ts';
import { parsePutEventsEntry, validatePutEventsRequest } from '../../src/pipeline/put-events-request.ts';
import type { SqsBatchHandler } from '../../src/runtime/aws/sqs-batch.ts';
import type { EventPublisher } from '../../src/stages/ports.ts';
import { envelopeOf, sqsRecord } from '../aws/fixtures.ts';

interface Message {
  record: SQSRecord;
  receives: number;
}

export class RuledQueues implements EventPublisher {
  readonly queues = new Map<TargetName, Message[]>();
  /** Every entry accepted, in order. */
  readonly all: PutEventsEntry[] = [];
  /** Every message each target was sent (for redelivering them). */
  readonly sent: { target: TargetName; record: SQSRecord }[] = [];
  readonly deadLetters: { target: TargetName; record: SQSRecord }[] = [];
  /** Messages delivered again after a handler reported them failed. */
  redeliveries = 0;
  private readonly router = new RuleIndex<string>();

  constructor(private readonly definition: PipelineDefinition) {
    for (const rule of definition.rules) this.router.add(rule.name, rule.eventPattern, rule.target);
  }

  async putEvents(entries: PutEventsEntry[]): Promise<void> {
    // EventBridge's own limits, as the local bus applies them: a request over them is refused whole,
    // an entry over them fails (a publisher here fails the call for it).
    validatePutEventsRequest(entries);
    for (const e of entries) {
      const parsed = parsePutEventsEntry(e);
      if ('ErrorCode' in parsed)
        throw new Error(`PutEvents refused an entry: ${parsed.ErrorCode}: ${parsed.ErrorMessage}`);
    }
    for (const e of entries) {
      this.all.push(e);
      const envelope: EventEnvelope<unknown> = envelopeOf(e);
      for (const target of this.router.match(envelope) as TargetName[]) {
        const record = sqsRecord(JSON.stringify(envelope));
        this.sent.push({ target, record });
        this.enqueue(target, record);
      }
    }
  }

  /** Sends a message to its target again, as SQS's at-least-once delivery may. */
  enqueue(target: TargetName, record: SQSRecord): void {
    const queue = this.queues.get(target) ?? [];
    queue.push({ record, receives: 0 });
    this.queues.set(target, queue);
  }

  /** Delivers batches until every queue is empty; failed messages come back until maxReceiveCount. */
  async drain(handlers: Record<TargetName, SqsBatchHandler>): Promise<void> {
    for (let round = 0; round < 10_000; round++) {
      const target = [...this.queues.keys()].find((t) => (this.queues.get(t)?.length ?? 0) > 0);
      if (!target) return;
      const queue = this.queues.get(target) ?? [];
      const batch = queue.splice(0, this.definition.delivery[target].batchSize);
      const response = await handlers[target]({ Records: batch.map((m) => m.record) });
      const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
      for (const message of batch) {
        if (!failed.has(message.record.messageId)) continue;
        message.receives += 1;
        if (message.receives >= this.definition.delivery[target].maxReceiveCount)
          this.deadLetters.push({ target, record: message.record });
        else {
          this.redeliveries += 1;
          queue.push(message);
        }
      }
    }
    throw new Error('the queues did not drain');
  }
}
