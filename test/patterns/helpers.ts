/** Shared helpers for the event-pattern tests. */
import { compilePattern, InvalidEventPatternException } from '../../src/patterns/index.ts';

export interface MatchCase {
  readonly name: string;
  readonly pattern: unknown;
  readonly event: unknown;
  readonly matches: boolean;
}

export function matches(pattern: unknown, event: unknown): boolean {
  return compilePattern(pattern).matches(event);
}

/** The reason an invalid pattern is refused (fails the test if the pattern is accepted). */
export function refusalOf(pattern: unknown): string {
  try {
    compilePattern(pattern);
  } catch (error) {
    if (error instanceof InvalidEventPatternException) return error.reason;
    throw error;
  }
  throw new Error(`pattern was accepted: ${typeof pattern === 'string' ? pattern : JSON.stringify(pattern)}`);
}

/** A complete EventBridge envelope, as TestEventPattern requires, around `detail`. */
export function envelope(detail: unknown, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    version: '0',
    id: '6a7e8feb-b491-4cf7-a9f1-bf3703467718',
    'detail-type': 'EC2 Instance State-change Notification',
    source: 'aws.ec2',
    account: '111122223333',
    time: '2017-12-22T18:43:48Z',
    region: 'us-west-1',
    resources: ['arn:aws:ec2:us-west-1:123456789012:instance/i-1234567890abcdef0'],
    detail,
    ...overrides,
  };
}
