/** Errors raised by the event-pattern engine, named after the EventBridge errors they mirror. */

/** Prefix AWS puts on every pattern-validation message ("Event pattern is not valid. Reason: ..."). */
const PATTERN_MESSAGE_PREFIX = 'Event pattern is not valid. Reason: ';

/** A pattern that EventBridge would refuse (PutRule / TestEventPattern answer InvalidEventPatternException). */
export class InvalidEventPatternException extends Error {
  /** The reason alone, without AWS's "Event pattern is not valid." preamble. */
  readonly reason: string;

  constructor(reason: string) {
    super(PATTERN_MESSAGE_PREFIX + reason);
    this.name = 'InvalidEventPatternException';
    this.reason = reason;
  }
}

/**
 * An event TestEventPattern would refuse: not JSON, not an object, or missing an envelope field.
 * AWS answers these with a ValidationException reading "Parameter Event is not valid."; we add the reason.
 */
export class InvalidEventException extends Error {
  /** The error code AWS returns for this case. */
  readonly awsErrorCode = 'ValidationException';
  readonly reason: string;

  constructor(reason: string) {
    super(`Parameter Event is not valid. Reason: ${reason}`);
    this.name = 'InvalidEventException';
    this.reason = reason;
  }
}
