/**
 * The local queues as a rule target or a dead-letter config sees them: somewhere to send a message by
 * queue ARN. The SQS store (src/runtime/local/queues.ts) implements it; the bus's user targets use it,
 * so neither has to know the other's files.
 */
export interface QueueSink {
  /** Whether the ARN names a queue that exists now. */
  has(queueArn: string): boolean;
  /**
   * Sends one message (the body as SQS holds it) to the queue the ARN names, with string message
   * attributes when given (a dead letter's RULE_ARN, ERROR_MESSAGE, ...). Throws when the queue
   * does not exist, so a target's delivery fails and is retried, then dead-lettered, as on AWS.
   */
  send(queueArn: string, body: string, attributes?: Readonly<Record<string, string>>): void;
}
