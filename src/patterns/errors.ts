/** Errors raised by the event-pattern engine: the EventBridge errors they mirror, with AWS's codes. */
import { AwsApiError } from '../pipeline/errors.ts';

/** Prefix AWS puts on every pattern-validation message ("Event pattern is not valid. Reason: ..."). */
const PATTERN_MESSAGE_PREFIX = 'Event pattern is not valid. Reason: ';

/** A pattern that EventBridge would refuse (PutRule / TestEventPattern answer InvalidEventPatternException). */
export class InvalidEventPatternException extends AwsApiError {
  /** The reason alone, without AWS's "Event pattern is not valid." preamble. */
  readonly reason: string;

  constructor(reason: string) {
    super('InvalidEventPatternException', PATTERN_MESSAGE_PREFIX + reason);
    this.reason = reason;
  }
}

/**
 * An event TestEventPattern would refuse: not JSON, not an object, or missing an envelope field.
 * AWS answers these with a ValidationException reading "Parameter Event is not valid."; we add the reason.
 */
export class InvalidEventException extends AwsApiError {
  readonly reason: string;

  constructor(reason: string) {
    super('ValidationException', `Parameter Event is not valid. Reason: ${reason}`);
    this.name = 'InvalidEventException';
    this.reason = reason;
  }
}
