/**
 * testEventPattern mirrors the TestEventPattern API
 * (https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_TestEventPattern.html): JSON text in, a
 * boolean out; a bad pattern is InvalidEventPatternException, a bad event AWS's ValidationException.
 */
import { describe, expect, it } from 'vitest';
import {
  InvalidEventException,
  InvalidEventPatternException,
  REQUIRED_EVENT_FIELDS,
  testEventPattern,
} from '../../src/patterns/index.ts';
import { envelope } from './helpers.ts';

const event = JSON.stringify(envelope({ state: 'terminated', 'instance-id': 'i-1234567890abcdef0' }));

function thrownBy(run: () => unknown): unknown {
  try {
    run();
  } catch (error) {
    return error;
  }
  throw new Error('expected an exception');
}

describe('testEventPattern', () => {
  it('answers true for a matching pattern and false otherwise', () => {
    expect(testEventPattern('{"source": ["aws.ec2"], "detail": {"state": ["terminated"]}}', event)).toBe(
      true,
    );
    expect(testEventPattern('{"source": ["aws.ec2"], "detail": {"state": ["running"]}}', event)).toBe(false);
  });

  it('matches on any envelope field, e.g. a prefix of time', () => {
    expect(testEventPattern('{"time": [{"prefix": "2017-12-22"}]}', event)).toBe(true);
  });

  it('throws InvalidEventPatternException for a bad pattern, before looking at the event', () => {
    const error = thrownBy(() => testEventPattern('{"source": "aws.ec2"}', 'not json'));
    expect(error).toBeInstanceOf(InvalidEventPatternException);
    expect((error as Error).message).toBe(
      'Event pattern is not valid. Reason: "source" must be an object or an array',
    );
  });

  it('throws InvalidEventException (AWS ValidationException) for an event that is not JSON', () => {
    const error = thrownBy(() => testEventPattern('{"source": ["aws.ec2"]}', '{"id": '));
    expect(error).toBeInstanceOf(InvalidEventException);
    expect(error).not.toBeInstanceOf(InvalidEventPatternException);
    expect((error as InvalidEventException).code).toBe('ValidationException');
    expect((error as Error).message).toMatch(/^Parameter Event is not valid\. Reason: not valid JSON/);
  });

  it('throws InvalidEventException for JSON that is not an object', () => {
    for (const notAnObject of ['[]', '"event"', '42', 'null']) {
      expect(() => testEventPattern('{"source": ["aws.ec2"]}', notAnObject)).toThrow(InvalidEventException);
    }
  });

  it.each(REQUIRED_EVENT_FIELDS)('requires the envelope field %s', (field) => {
    const { [field]: _removed, ...withoutField } = envelope({ state: 'x' });
    const error = thrownBy(() =>
      testEventPattern('{"source": [{"exists": true}]}', JSON.stringify(withoutField)),
    );
    expect(error).toBeInstanceOf(InvalidEventException);
    expect((error as Error).message).toBe(
      `Parameter Event is not valid. Reason: missing required field "${field}"`,
    );
  });

  it('requires the six fields AWS enforces, not resources (documented as mandatory, not enforced)', () => {
    expect([...REQUIRED_EVENT_FIELDS].sort()).toEqual([
      'account',
      'detail-type',
      'id',
      'region',
      'source',
      'time',
    ]);
    const withoutResources = envelope({ state: 'x' });
    delete withoutResources.resources;
    expect(testEventPattern('{"source": ["aws.ec2"]}', JSON.stringify(withoutResources))).toBe(true);
  });

  it('keeps numbers numeric from the JSON text (3.018e2 equals 301.8)', () => {
    const withLimit = JSON.stringify(envelope({ 'x-limit': 301.8 })).replace('301.8', '3.018e2');
    expect(testEventPattern('{"detail": {"x-limit": [{"numeric": ["=", 301.8]}]}}', withLimit)).toBe(true);
  });
});
