/**
 * Patterns EventBridge refuses. Reasons follow event-ruler's JsonRuleCompiler, CIDR and WildcardParser
 * messages (github.com/aws/event-ruler), which AWS returns after "Event pattern is not valid. Reason: ".
 */
import { describe, expect, it } from 'vitest';
import { compilePattern, InvalidEventPatternException } from '../../src/patterns/index.ts';
import { refusalOf } from './helpers.ts';

interface RefusalCase {
  readonly name: string;
  readonly pattern: unknown;
  readonly reason: string | RegExp;
}

function refusals(cases: readonly RefusalCase[]): void {
  it.each(cases)('$name', ({ pattern, reason }) => {
    const refused = refusalOf(pattern);
    if (typeof reason === 'string') expect(refused).toBe(reason);
    else expect(refused).toMatch(reason);
  });
}

describe('the exception', () => {
  it('is an InvalidEventPatternException carrying AWS’s preamble and the reason', () => {
    let caught: unknown;
    try {
      compilePattern({ source: 'aws.ec2' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidEventPatternException);
    expect(caught).toBeInstanceOf(Error);
    const exception = caught as InvalidEventPatternException;
    expect(exception.name).toBe('InvalidEventPatternException');
    expect(exception.message).toBe(
      'Event pattern is not valid. Reason: "source" must be an object or an array',
    );
    expect(exception.reason).toBe('"source" must be an object or an array');
  });
});

// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern.html (values are arrays)
describe('pattern shape', () => {
  refusals([
    { name: 'a pattern that is an array', pattern: [], reason: 'Filter is not an object' },
    {
      name: 'a pattern that is a string of JSON array',
      pattern: '[{"source": ["a"]}]',
      reason: 'Filter is not an object',
    },
    { name: 'a pattern that is a number', pattern: 5, reason: 'Filter is not an object' },
    { name: 'null', pattern: null, reason: 'Filter is not an object' },
    { name: 'malformed JSON text', pattern: '{"source": [', reason: /^Malformed JSON: / },
    { name: 'an empty pattern', pattern: {}, reason: 'Empty objects are not allowed' },
    { name: 'an empty nested object', pattern: { detail: {} }, reason: 'Empty objects are not allowed' },
    {
      name: 'a leaf that is not an array',
      pattern: { source: 'aws.ec2' },
      reason: '"source" must be an object or an array',
    },
    {
      name: 'a nested leaf that is a number',
      pattern: { detail: { n: 5 } },
      reason: '"n" must be an object or an array',
    },
    { name: 'a leaf that is null', pattern: { x: null }, reason: '"x" must be an object or an array' },
    { name: 'an empty value array', pattern: { source: [] }, reason: 'Empty arrays are not allowed' },
    {
      name: 'an array inside a value array',
      pattern: { source: [['a']] },
      reason: 'Match value must be String, number, true, false, or null',
    },
    { name: 'a non-JSON value (undefined)', pattern: { source: [undefined] }, reason: /not a JSON value/ },
    { name: 'a non-JSON number (NaN)', pattern: { n: [Number.NaN] }, reason: /not a JSON value/ },
    { name: 'a class instance', pattern: { when: [new Date(0)] }, reason: /not a JSON value/ },
  ]);
});

// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html ("Event pattern size": 2,048 characters)
describe('pattern length', () => {
  const patternOfLength = (length: number): string => {
    const skeleton = '{"source":[""]}';
    return `{"source":["${'x'.repeat(length - skeleton.length)}"]}`;
  };
  it('accepts a pattern of exactly 2,048 characters', () => {
    expect(() => compilePattern(patternOfLength(2048))).not.toThrow();
  });
  refusals([
    {
      name: 'JSON text of 2,049 characters',
      pattern: patternOfLength(2049),
      reason: /2049 characters long; the maximum is 2048/,
    },
    {
      name: 'an object whose JSON exceeds 2,048 characters',
      pattern: JSON.parse(patternOfLength(3000)),
      reason: /maximum is 2048/,
    },
  ]);
  it('honours a raised quota', () => {
    expect(() => compilePattern(patternOfLength(3000), { maxLength: 4096 })).not.toThrow();
  });
});

describe('match expressions', () => {
  refusals([
    {
      name: 'an unknown operator',
      pattern: { a: [{ contains: 'x' }] },
      reason: 'Unrecognized match type contains',
    },
    {
      name: 'event-ruler’s undocumented "exactly"',
      pattern: { a: [{ exactly: 'x' }] },
      reason: 'Unrecognized match type exactly',
    },
    { name: 'an empty match expression', pattern: { a: [{}] }, reason: 'Match expression name not found' },
    {
      name: 'two operators in one expression',
      pattern: { a: [{ prefix: 'x', suffix: 'y' }] },
      reason: 'Only one key allowed in match expression',
    },
    {
      name: 'prefix with a number',
      pattern: { a: [{ prefix: 5 }] },
      reason: 'prefix match pattern must be a string',
    },
    {
      name: 'prefix with a list',
      pattern: { a: [{ prefix: ['x'] }] },
      reason: 'prefix match pattern must be a string',
    },
    {
      name: 'prefix with an unknown inner operator',
      pattern: { a: [{ prefix: { wildcard: 'x' } }] },
      reason: 'Unsupported prefix pattern: wildcard',
    },
    {
      name: 'prefix with an empty object',
      pattern: { a: [{ prefix: {} }] },
      reason: 'Prefix expression name not found',
    },
    {
      name: 'prefix equals-ignore-case with a number',
      pattern: { a: [{ prefix: { 'equals-ignore-case': 1 } }] },
      reason: 'equals-ignore-case match pattern must be a string',
    },
    {
      name: 'suffix with null',
      pattern: { a: [{ suffix: null }] },
      reason: 'suffix match pattern must be a string',
    },
    {
      name: 'suffix with an unknown inner operator',
      pattern: { a: [{ suffix: { prefix: 'x' } }] },
      reason: 'Unsupported suffix pattern: prefix',
    },
    {
      name: 'equals-ignore-case with a number',
      pattern: { a: [{ 'equals-ignore-case': 1 }] },
      reason: 'equals-ignore-case match pattern must be a string',
    },
    {
      name: 'exists with a string',
      pattern: { a: [{ exists: 'true' }] },
      reason: 'exists match pattern must be either true or false.',
    },
    {
      name: 'exists with an extra key',
      pattern: { a: [{ exists: true, prefix: 'x' }] },
      reason: 'Only one key allowed in match expression',
    },
  ]);
});

// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html ("Numeric")
describe('numeric', () => {
  refusals([
    {
      name: 'not an array',
      pattern: { n: [{ numeric: '>5' }] },
      reason: 'Value of numeric must be an array.',
    },
    {
      name: 'an empty array',
      pattern: { n: [{ numeric: [] }] },
      reason: 'Invalid member in numeric match: ]',
    },
    {
      name: 'a number first',
      pattern: { n: [{ numeric: [5, '>'] }] },
      reason: 'Invalid member in numeric match: 5',
    },
    {
      name: 'an unknown operator',
      pattern: { n: [{ numeric: ['!=', 5] }] },
      reason: 'Unrecognized numeric range operator: !=',
    },
    { name: 'a missing operand', pattern: { n: [{ numeric: ['>'] }] }, reason: 'Value of > must be numeric' },
    {
      name: 'a string operand',
      pattern: { n: [{ numeric: ['>=', '5'] }] },
      reason: 'Value of >= must be numeric',
    },
    {
      name: '= with a string',
      pattern: { n: [{ numeric: ['=', '3'] }] },
      reason: 'Value of equals must be numeric',
    },
    {
      name: '= with a second comparison',
      pattern: { n: [{ numeric: ['=', 3, '<', 5] }] },
      reason: 'Too many elements in numeric expression',
    },
    {
      name: 'upper bound first',
      pattern: { n: [{ numeric: ['<', 5, '>', 0] }] },
      reason: 'Too many elements in numeric expression',
    },
    {
      name: 'two lower bounds',
      pattern: { n: [{ numeric: ['>', 0, '>', 5] }] },
      reason: 'Bad numeric range operator: >',
    },
    {
      name: 'a number where the second operator belongs',
      pattern: { n: [{ numeric: ['>', 0, 5] }] },
      reason: 'Bad value in numeric range: 5',
    },
    {
      name: 'a missing upper operand',
      pattern: { n: [{ numeric: ['>', 0, '<'] }] },
      reason: 'Value of < must be numeric',
    },
    {
      name: 'five terms',
      pattern: { n: [{ numeric: ['>', 0, '<', 5, '<'] }] },
      reason: 'Too many terms in numeric range expression',
    },
    {
      name: 'an empty range',
      pattern: { n: [{ numeric: ['>', 5, '<', 5] }] },
      reason: 'Bottom must be less than top',
    },
    {
      name: 'a single-point range',
      pattern: { n: [{ numeric: ['>=', 5, '<=', 5] }] },
      reason: 'Bottom must be less than top',
    },
    {
      name: 'extra terms are reported before an out-of-range operand',
      pattern: { n: [{ numeric: ['=', 6e9, '<', 5] }] },
      reason: 'Too many elements in numeric expression',
    },
    {
      name: 'an inverted range',
      pattern: { n: [{ numeric: ['>=', 10, '<=', 1] }] },
      reason: 'Bottom must be less than top',
    },
    {
      name: 'a lower bound at the top of the range',
      pattern: { n: [{ numeric: ['>', 5e9] }] },
      reason: 'Bottom must be less than top',
    },
    {
      name: 'an operand above 5e9',
      pattern: { n: [{ numeric: ['<', 5.5e9] }] },
      reason: 'Value must be between -5.0E9 and 5.0E9, inclusive',
    },
    {
      name: 'an operand below -5e9',
      pattern: { n: [{ numeric: ['=', -6e9] }] },
      reason: 'Value must be between -5.0E9 and 5.0E9, inclusive',
    },
    {
      name: 'seven decimals',
      pattern: { n: [{ numeric: ['>', 0.1234567] }] },
      reason: 'Only values upto 6 decimals are supported',
    },
    {
      name: 'an extra key beside numeric',
      pattern: { n: [{ numeric: ['>', 0], exists: true }] },
      reason: 'Too many elements in numeric expression',
    },
  ]);
});

// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html ("Anything-but")
describe('anything-but', () => {
  refusals([
    {
      name: 'null',
      pattern: { a: [{ 'anything-but': null }] },
      reason: 'Value of anything-but must be an array or single string/number value.',
    },
    {
      name: 'a boolean',
      pattern: { a: [{ 'anything-but': true }] },
      reason: 'Value of anything-but must be an array or single string/number value.',
    },
    {
      name: 'a list mixing strings and numbers',
      pattern: { a: [{ 'anything-but': ['a', 1] }] },
      reason: 'Inside anything but list, either all values are number or string, mixed type is not supported',
    },
    {
      name: 'an empty list',
      pattern: { a: [{ 'anything-but': [] }] },
      reason: 'Inside anything but list, either all values are number or string, mixed type is not supported',
    },
    {
      name: 'a list with null',
      pattern: { a: [{ 'anything-but': ['a', null] }] },
      reason: 'Inside anything but list, start|null|boolean is not supported.',
    },
    {
      name: 'a number out of range',
      pattern: { a: [{ 'anything-but': 6e9 }] },
      reason: 'Value must be between -5.0E9 and 5.0E9, inclusive',
    },
    {
      name: 'an unsupported inner operator',
      pattern: { a: [{ 'anything-but': { numeric: ['>', 1] } }] },
      reason: 'Unsupported anything-but pattern: numeric',
    },
    {
      name: 'an empty inner object',
      pattern: { a: [{ 'anything-but': {} }] },
      reason: 'Anything-But expression name not found',
    },
    {
      name: 'an empty prefix',
      pattern: { a: [{ 'anything-but': { prefix: '' } }] },
      reason: 'Null prefix/suffix not allowed',
    },
    {
      name: 'an empty suffix in a list',
      pattern: { a: [{ 'anything-but': { suffix: ['.png', ''] } }] },
      reason: 'Null prefix/suffix not allowed',
    },
    {
      name: 'a numeric prefix',
      pattern: { a: [{ 'anything-but': { prefix: 5 } }] },
      reason: 'prefix/suffix match pattern must be a string',
    },
    {
      name: 'a number for equals-ignore-case',
      pattern: { a: [{ 'anything-but': { 'equals-ignore-case': [1] } }] },
      reason: 'Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.',
    },
    {
      name: 'a bad wildcard',
      pattern: { a: [{ 'anything-but': { wildcard: 'a**' } }] },
      reason: 'Consecutive wildcard characters at pos 2',
    },
    {
      name: 'an empty list of prefixes',
      pattern: { a: [{ 'anything-but': { prefix: [] } }] },
      reason: 'Empty arrays are not allowed',
    },
    {
      name: 'two inner operators',
      pattern: { a: [{ 'anything-but': { prefix: 'a', suffix: 'b' } }] },
      // event-ruler's JsonRuleCompiler reports a second key next to anything-but with its numeric message.
      reason: 'Too many elements in numeric expression',
    },
    {
      name: 'a second key beside anything-but',
      pattern: { a: [{ 'anything-but': 'x', prefix: 'y' }] },
      reason: 'Too many elements in numeric expression',
    },
  ]);
});

// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html ("IP address");
// messages from event-ruler CIDR.java, which also refuses /32 and /128.
describe('cidr', () => {
  refusals([
    { name: 'not a string', pattern: { ip: [{ cidr: 24 }] }, reason: 'cidr match pattern must be a string' },
    { name: 'no slash', pattern: { ip: [{ cidr: '10.0.0.0' }] }, reason: "Malformed CIDR, one '/' required" },
    {
      name: 'two slashes',
      pattern: { ip: [{ cidr: '10.0.0.0/8/8' }] },
      reason: "Malformed CIDR, one '/' required",
    },
    {
      name: 'a non-integer mask',
      pattern: { ip: [{ cidr: '10.0.0.0/x' }] },
      reason: 'Malformed CIDR, mask bits must be an integer',
    },
    {
      name: 'a negative mask',
      pattern: { ip: [{ cidr: '10.0.0.0/-1' }] },
      reason: 'Malformed CIDR, mask bits must not be negative',
    },
    {
      name: 'a host name',
      pattern: { ip: [{ cidr: 'example.com/8' }] },
      reason: 'Nonstandard IP address: example.com',
    },
    {
      name: 'an octet above 255',
      pattern: { ip: [{ cidr: '10.0.0.256/24' }] },
      reason: 'Invalid IP address: 10.0.0.256',
    },
    {
      name: 'a broken IPv6 address',
      pattern: { ip: [{ cidr: '2001:db8:::1/64' }] },
      reason: 'Invalid IP address: 2001:db8:::1',
    },
    {
      name: 'an IPv4 /32',
      pattern: { ip: [{ cidr: '10.0.0.1/32' }] },
      reason: 'IPv4 mask bits must be < 32',
    },
    {
      name: 'an IPv6 /128',
      pattern: { ip: [{ cidr: '2001:db8::1/128' }] },
      reason: 'IPv6 mask bits must be < 128',
    },
  ]);
});

// Wildcard rules from the event-ruler README ("Wildcard matching").
describe('wildcard', () => {
  refusals([
    {
      name: 'consecutive wildcards',
      pattern: { a: [{ wildcard: 'a**b' }] },
      reason: 'Consecutive wildcard characters at pos 2',
    },
    {
      name: 'escaping another character',
      pattern: { a: [{ wildcard: 'a\\b' }] },
      reason: 'Invalid escape character at pos 2',
    },
    {
      name: 'a trailing backslash',
      pattern: { a: [{ wildcard: 'ab\\' }] },
      reason: 'Invalid escape character at pos 3',
    },
    {
      name: 'positions count UTF-8 bytes',
      pattern: { a: [{ wildcard: 'é**' }] },
      reason: 'Consecutive wildcard characters at pos 3',
    },
    {
      name: 'not a string',
      pattern: { a: [{ wildcard: 1 }] },
      reason: 'wildcard match pattern must be a string',
    },
  ]);
  it('accepts an escaped asterisk next to a wildcard', () => {
    expect(() => compilePattern({ a: [{ wildcard: '\\**' }] })).not.toThrow();
  });
});

// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html ("Or") and the
// event-ruler README ("The $or Primitive").
describe('$or', () => {
  refusals([
    {
      name: 'a single alternative',
      pattern: { $or: [{ a: ['1'] }] },
      reason: 'There must have at least 2 Objects in $or relationship.',
    },
    {
      name: 'no alternatives',
      pattern: { $or: [] },
      reason: 'There must have at least 2 Objects in $or relationship.',
    },
    {
      name: 'not an array',
      pattern: { $or: { a: ['1'] } },
      reason: 'It must be an Array followed with $or.',
    },
    {
      name: 'an alternative that is not an object',
      pattern: { $or: [{ a: ['1'] }, ['b']] },
      reason: 'Only JSON object is allowed in array of $or relationship.',
    },
    {
      name: 'an empty alternative',
      pattern: { $or: [{ a: ['1'] }, {}] },
      reason: 'Empty objects are not allowed',
    },
    {
      name: 'an operator name used as a field inside $or',
      pattern: { $or: [{ numeric: [123] }, { prefix: ['abc'] }] },
      reason: 'numeric is Ruler reserved fieldName which cannot be used inside $or.',
    },
    {
      name: 'a reserved name deeper inside an alternative',
      pattern: { $or: [{ detail: { exists: ['x'] } }, { b: ['1'] }] },
      reason: 'exists is Ruler reserved fieldName which cannot be used inside $or.',
    },
    {
      name: 'an alternative with an invalid leaf',
      pattern: { $or: [{ a: ['1'] }, { b: 'x' }] },
      reason: '"b" must be an object or an array',
    },
    {
      name: '$or combinations beyond the local limit',
      pattern: Object.fromEntries(
        Array.from({ length: 10 }, (_, level) => [`l${level}`, { $or: [{ a: ['1'] }, { b: ['2'] }] }]),
      ),
      reason: /more than 1000 combinations/,
    },
  ]);
  it('allows operator names as field names outside $or', () => {
    expect(() => compilePattern({ detail: { prefix: ['x'], numeric: [1] } })).not.toThrow();
  });
});
