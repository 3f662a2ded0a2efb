/**
 * Every operator, with matching and non-matching events, from the EventBridge user guide's examples
 * (each table cites its page) and, where the guide is silent, event-ruler's documentation and source.
 */
import { describe, expect, it } from 'vitest';
import { envelope, matches, type MatchCase } from './helpers.ts';

function table(cases: readonly MatchCase[]): void {
  it.each(cases)('$name', ({ pattern, event, matches: expected }) => {
    expect(matches(pattern, event)).toBe(expected);
    // A pattern given as JSON text must behave exactly like the object.
    if (typeof pattern !== 'string') expect(matches(JSON.stringify(pattern), event)).toBe(expected);
  });
}

const ec2Event = envelope({ 'instance-id': 'i-1234567890abcdef0', state: 'terminated' });

// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern.html (Event pattern syntax)
describe('exact values and nesting', () => {
  table([
    {
      name: 'the guide’s EC2 termination pattern matches its event',
      pattern: {
        source: ['aws.ec2'],
        'detail-type': ['EC2 Instance State-change Notification'],
        detail: { state: ['terminated'] },
      },
      event: ec2Event,
      matches: true,
    },
    {
      name: 'a different state does not match',
      pattern: { source: ['aws.ec2'], detail: { state: ['running'] } },
      event: ec2Event,
      matches: false,
    },
    {
      name: 'values in a field’s array are alternatives (aws.ec2 or aws.fargate)',
      pattern: { source: ['aws.ec2', 'aws.fargate'] },
      event: ec2Event,
      matches: true,
    },
    {
      name: 'every field named in the pattern must be present',
      pattern: { source: ['aws.ec2'], detail: { missing: ['x'] } },
      event: ec2Event,
      matches: false,
    },
    {
      name: 'field names must appear with the same nesting',
      pattern: { state: ['terminated'] },
      event: ec2Event,
      matches: false,
    },
    {
      name: 'matching is exact: no case folding',
      pattern: { source: ['AWS.EC2'] },
      event: ec2Event,
      matches: false,
    },
    {
      name: 'a string value does not match the same number',
      pattern: { detail: { count: ['5'] } },
      event: { detail: { count: 5 } },
      matches: false,
    },
    {
      name: 'a number value does not match the same string',
      pattern: { detail: { count: [5] } },
      event: { detail: { count: '5' } },
      matches: false,
    },
    {
      name: 'booleans match booleans only',
      pattern: { detail: { enabled: [true] } },
      event: { detail: { enabled: true } },
      matches: true,
    },
    {
      name: 'a boolean pattern does not match the string "true"',
      pattern: { detail: { enabled: [true] } },
      event: { detail: { enabled: 'true' } },
      matches: false,
    },
    {
      name: 'a field named like an Object.prototype member is read from the event only',
      pattern: { detail: { constructor: [{ exists: true }] } },
      event: { detail: {} },
      matches: false,
    },
    {
      name: 'a field named like an Object.prototype member matches its own value',
      pattern: JSON.parse('{"detail": {"constructor": ["x"], "__proto__": ["y"]}}'),
      event: JSON.parse('{"detail": {"constructor": "x", "__proto__": "y"}}'),
      matches: true,
    },
    {
      name: 'a pattern field naming an object in the event is not a leaf: no match',
      pattern: { detail: ['x'] },
      event: { detail: { state: 'x' } },
      matches: false,
    },
  ]);
});

// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html ("Equals", numeric)
// and event-ruler's JsonRuleCompiler: numbers in a pattern match numerically when comparable.
describe('numbers compare as numbers', () => {
  table([
    { name: '3.018e2 equals 301.8', pattern: { x: [3.018e2] }, event: { x: 301.8 }, matches: true },
    { name: '100 equals 100.0', pattern: { x: [100] }, event: JSON.parse('{"x": 100.0}'), matches: true },
    { name: '100 is not 100.5', pattern: { x: [100] }, event: { x: 100.5 }, matches: false },
    { name: '0 equals -0', pattern: { x: [0] }, event: JSON.parse('{"x": -0}'), matches: true },
    {
      name: 'a number outside ±5e9 still matches an equal number',
      pattern: { account: [123456789012] },
      event: { account: 123456789012 },
      matches: true,
    },
  ]);
});

// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-arrays.html
describe('arrays in events', () => {
  const resourcesPattern = {
    resources: [
      'arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f',
      'arn:aws:ec2:us-east-1:111122223333:instance/i-b188560f',
      'arn:aws:ec2:us-east-1:444455556666:instance/i-b188560f',
    ],
  };
  table([
    {
      name: 'the guide’s example: the pattern’s first value is the event array’s second element',
      pattern: resourcesPattern,
      event: {
        resources: [
          'arn:aws:autoscaling:us-east-1:123456789012:autoScalingGroup:eb56d16b-bbf0-401d-b893-d5978ed4a025:autoScalingGroupName/ASGTerminate',
          'arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f',
        ],
      },
      matches: true,
    },
    {
      name: 'no common element: no match',
      pattern: resourcesPattern,
      event: { resources: ['arn:aws:ec2:us-east-1:999999999999:instance/i-b188560f'] },
      matches: false,
    },
    {
      name: 'an empty event array has no values',
      pattern: { resources: [''] },
      event: { resources: [] },
      matches: false,
    },
    {
      name: 'arrays of arrays are flattened',
      pattern: { tags: ['b'] },
      event: { tags: [['a'], ['b', 'c']] },
      matches: true,
    },
  ]);
});

// event-ruler README, "JSON Array Matching" (array-consistent matching, rulesForJSONEvent).
describe('arrays of objects (array consistency)', () => {
  const employees = {
    employees: [
      { firstName: 'John', lastName: 'Doe' },
      { firstName: 'Anna', lastName: 'Smith' },
      { firstName: 'Peter', lastName: 'Jones' },
    ],
  };
  table([
    {
      name: 'a field inside an array of objects matches any element',
      pattern: { employees: { firstName: ['Anna'] } },
      event: employees,
      matches: true,
    },
    {
      name: 'two fields must come from the same element (Anna Smith)',
      pattern: { employees: { firstName: ['Anna'], lastName: ['Smith'] } },
      event: employees,
      matches: true,
    },
    {
      name: 'fields from different elements do not combine (Anna Jones)',
      pattern: { employees: { firstName: ['Anna'], lastName: ['Jones'] } },
      event: employees,
      matches: false,
    },
    {
      name: 'multi-level arrays: still one element per array',
      pattern: { employees: { firstName: ['John'], lastName: ['Jones'] } },
      event: { employees: [[employees.employees[0], employees.employees[1]], [employees.employees[2]]] },
      matches: false,
    },
    {
      name: 'multi-level arrays: a consistent pair matches',
      pattern: { employees: { firstName: ['Peter'], lastName: ['Jones'] } },
      event: { employees: [[employees.employees[0], employees.employees[1]], [employees.employees[2]]] },
      matches: true,
    },
    {
      name: 'a top-level field and a field inside the array combine freely',
      pattern: { team: ['core'], employees: { firstName: ['Peter'] } },
      event: { team: 'core', ...employees },
      matches: true,
    },
    {
      name: 'independent arrays choose their elements independently',
      pattern: { a: { x: ['1'] }, b: { y: ['2'] } },
      event: { a: [{ x: '0' }, { x: '1' }], b: [{ y: '2' }, { y: '3' }] },
      matches: true,
    },
  ]);
});

// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-null-values.html
describe('null values and empty strings', () => {
  const launch = {
    version: '0',
    id: '3e3c153a-8339-4e30-8c35-687ebef853fe',
    'detail-type': 'EC2 Instance Launch Successful',
    source: 'aws.autoscaling',
    account: '123456789012',
    time: '2015-11-11T21:31:47Z',
    region: 'us-east-1',
    resources: [],
    detail: { eventVersion: '', responseElements: null },
  };
  table([
    {
      name: '[""] matches the empty string',
      pattern: { detail: { eventVersion: [''] } },
      event: launch,
      matches: true,
    },
    {
      name: '[null] matches null',
      pattern: { detail: { responseElements: [null] } },
      event: launch,
      matches: true,
    },
    {
      name: 'null and "" are not interchangeable ("" vs null)',
      pattern: { detail: { responseElements: [''] } },
      event: launch,
      matches: false,
    },
    {
      name: 'null and "" are not interchangeable (null vs "")',
      pattern: { detail: { eventVersion: [null] } },
      event: launch,
      matches: false,
    },
    {
      name: '[null] does not match a missing field',
      pattern: { detail: { other: [null] } },
      event: launch,
      matches: false,
    },
    {
      name: '[null] does not match the string "null"',
      pattern: { x: [null] },
      event: { x: 'null' },
      matches: false,
    },
  ]);
});

// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html ("Begins with",
// "Ends with", with and without ignore case)
describe('prefix and suffix', () => {
  table([
    {
      name: 'prefix us- matches us-east-1',
      pattern: { Region: [{ prefix: 'us-' }] },
      event: { Region: 'us-east-1' },
      matches: true,
    },
    {
      name: 'prefix us- rejects eu-west-1',
      pattern: { Region: [{ prefix: 'us-' }] },
      event: { Region: 'eu-west-1' },
      matches: false,
    },
    {
      name: 'the guide’s time prefix 2017-10-02',
      pattern: { time: [{ prefix: '2017-10-02' }] },
      event: { time: '2017-10-02T18:43:48Z' },
      matches: true,
    },
    {
      name: 'prefix works on strings only, not numbers',
      pattern: { n: [{ prefix: '12' }] },
      event: { n: 123 },
      matches: false,
    },
    {
      name: 'prefix is case-sensitive',
      pattern: { Region: [{ prefix: 'US-' }] },
      event: { Region: 'us-east-1' },
      matches: false,
    },
    {
      name: 'prefix with equals-ignore-case: EventBridge starts with eventb',
      pattern: { service: [{ prefix: { 'equals-ignore-case': 'eventb' } }] },
      event: { service: 'EventBridge' },
      matches: true,
    },
    {
      name: 'prefix with equals-ignore-case: EVENTB... too',
      pattern: { detail: { service: [{ prefix: { 'equals-ignore-case': 'EventB' } }] } },
      event: { detail: { service: 'EVENTBRIDGE' } },
      matches: true,
    },
    {
      name: 'prefix with equals-ignore-case still needs the prefix',
      pattern: { service: [{ prefix: { 'equals-ignore-case': 'eventb' } }] },
      event: { service: 'Bridge' },
      matches: false,
    },
    {
      name: 'suffix .png matches photo.png',
      pattern: { FileName: [{ suffix: '.png' }] },
      event: { FileName: 'photo.png' },
      matches: true,
    },
    {
      name: 'suffix .png rejects photo.PNG',
      pattern: { FileName: [{ suffix: '.png' }] },
      event: { FileName: 'photo.PNG' },
      matches: false,
    },
    {
      name: 'suffix with equals-ignore-case: .PNG ends with .png',
      pattern: { detail: { FileName: [{ suffix: { 'equals-ignore-case': '.png' } }] } },
      event: { detail: { FileName: 'photo.PNG' } },
      matches: true,
    },
    {
      name: 'suffix with equals-ignore-case: EventBridge ends with tBridge',
      pattern: { service: [{ suffix: { 'equals-ignore-case': 'tBridge' } }] },
      event: { service: 'EVENTBRIDGE' },
      matches: true,
    },
    {
      name: 'suffix with equals-ignore-case still needs the suffix',
      pattern: { service: [{ suffix: { 'equals-ignore-case': 'tBridge' } }] },
      event: { service: 'EventBus' },
      matches: false,
    },
    {
      name: 'an empty prefix matches any string',
      pattern: { x: [{ prefix: '' }] },
      event: { x: 'anything' },
      matches: true,
    },
    {
      name: 'an empty prefix matches the empty string',
      pattern: { x: [{ prefix: '' }] },
      event: { x: '' },
      matches: true,
    },
    {
      name: 'an empty prefix does not match null',
      pattern: { x: [{ prefix: '' }] },
      event: { x: null },
      matches: false,
    },
  ]);
});

// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html ("Anything-but" and
// its begins-with, ends-with, ignore-case and wildcard forms; "Not")
describe('anything-but', () => {
  table([
    {
      name: 'anything-but initializing matches running',
      pattern: { detail: { state: [{ 'anything-but': 'initializing' }] } },
      event: { detail: { state: 'running' } },
      matches: true,
    },
    {
      name: 'anything-but initializing rejects initializing',
      pattern: { detail: { state: [{ 'anything-but': 'initializing' }] } },
      event: { detail: { state: 'initializing' } },
      matches: false,
    },
    {
      name: 'anything-but does not match a missing field',
      pattern: { detail: { state: [{ 'anything-but': 'initializing' }] } },
      event: { detail: {} },
      matches: false,
    },
    {
      name: 'anything-but 123 rejects 123',
      pattern: { detail: { 'x-limit': [{ 'anything-but': 123 }] } },
      event: { detail: { 'x-limit': 123 } },
      matches: false,
    },
    {
      name: 'anything-but 123 matches 124',
      pattern: { detail: { 'x-limit': [{ 'anything-but': 123 }] } },
      event: { detail: { 'x-limit': 124 } },
      matches: true,
    },
    {
      name: 'anything-but a list of strings rejects a listed one',
      pattern: { detail: { state: [{ 'anything-but': ['stopped', 'overloaded'] }] } },
      event: { detail: { state: 'overloaded' } },
      matches: false,
    },
    {
      name: 'anything-but a list of strings matches an unlisted one',
      pattern: { detail: { state: [{ 'anything-but': ['stopped', 'overloaded'] }] } },
      event: { detail: { state: 'running' } },
      matches: true,
    },
    {
      name: 'anything-but a list of numbers rejects 2e2 (= 200)',
      pattern: { detail: { 'x-limit': [{ 'anything-but': [100, 200, 300] }] } },
      event: { detail: { 'x-limit': 2e2 } },
      matches: false,
    },
    {
      name: 'anything-but a list of numbers matches 150',
      pattern: { detail: { 'x-limit': [{ 'anything-but': [100, 200, 300] }] } },
      event: { detail: { 'x-limit': 150 } },
      matches: true,
    },
    {
      name: 'anything-but numbers matches the string "200" (a different type)',
      pattern: { x: [{ 'anything-but': [100, 200, 300] }] },
      event: { x: '200' },
      matches: true,
    },
    {
      name: 'Weather is anything but Raining: Sunny matches',
      pattern: { Weather: [{ 'anything-but': ['Raining'] }] },
      event: { Weather: 'Sunny' },
      matches: true,
    },
    {
      name: 'anything-but prefix us-: eu-west-1 matches',
      pattern: { Region: [{ 'anything-but': { prefix: 'us-' } }] },
      event: { Region: 'eu-west-1' },
      matches: true,
    },
    {
      name: 'anything-but prefix us-: us-east-1 does not',
      pattern: { Region: [{ 'anything-but': { prefix: 'us-' } }] },
      event: { Region: 'us-east-1' },
      matches: false,
    },
    {
      name: 'anything-but prefix aws. keeps custom sources',
      pattern: { source: [{ 'anything-but': { prefix: 'aws.' } }] },
      event: { source: 'cdkpatterns.the-eventbridge-etl' },
      matches: true,
    },
    {
      name: 'anything-but a list of prefixes',
      pattern: { Region: [{ 'anything-but': { prefix: ['us-', 'eu-'] } }] },
      event: { Region: 'eu-west-1' },
      matches: false,
    },
    {
      name: 'anything-but suffix .png: a .jpg matches',
      pattern: { FileName: [{ 'anything-but': { suffix: '.png' } }] },
      event: { FileName: 'photo.jpg' },
      matches: true,
    },
    {
      name: 'anything-but suffix .png: a .png does not',
      pattern: { FileName: [{ 'anything-but': { suffix: '.png' } }] },
      event: { FileName: 'photo.png' },
      matches: false,
    },
    {
      name: 'anything-but equals-ignore-case initializing rejects INITIALIZING',
      pattern: { state: [{ 'anything-but': { 'equals-ignore-case': 'initializing' } }] },
      event: { state: 'INITIALIZING' },
      matches: false,
    },
    {
      name: 'anything-but equals-ignore-case initializing matches running',
      pattern: { state: [{ 'anything-but': { 'equals-ignore-case': 'initializing' } }] },
      event: { state: 'running' },
      matches: true,
    },
    {
      name: 'anything-but equals-ignore-case with a list',
      pattern: { state: [{ 'anything-but': { 'equals-ignore-case': ['Stopped', 'Overloaded'] } }] },
      event: { state: 'STOPPED' },
      matches: false,
    },
    {
      name: 'anything-but wildcard */lib/*: a path outside lib matches',
      pattern: { FilePath: [{ 'anything-but': { wildcard: '*/lib/*' } }] },
      event: { FilePath: '/usr/bin/env' },
      matches: true,
    },
    {
      name: 'anything-but wildcard */lib/*: a path inside lib does not',
      pattern: { FilePath: [{ 'anything-but': { wildcard: '*/lib/*' } }] },
      event: { FilePath: '/usr/lib/node' },
      matches: false,
    },
    {
      name: 'anything-but wildcard with a list',
      pattern: { FilePath: [{ 'anything-but': { wildcard: ['*/lib/*', '*.tmp'] } }] },
      event: { FilePath: 'build/out.tmp' },
      matches: false,
    },
    {
      name: 'anything-but matches when any element of an event array is not excluded',
      pattern: { x: [{ 'anything-but': 'a' }] },
      event: { x: ['a', 'b'] },
      matches: true,
    },
    {
      name: 'anything-but fails when every element of an event array is excluded',
      pattern: { x: [{ 'anything-but': 'a' }] },
      event: { x: ['a', 'a'] },
      matches: false,
    },
    {
      name: 'anything-but numbers matches a number it cannot compare (beyond 5e9)',
      pattern: { x: [{ 'anything-but': [100] }] },
      event: { x: 6e9 },
      matches: true,
    },
    // event-ruler JsonRuleCompiler: unlike exact values, anything-but compares IP-shaped strings as text.
    {
      name: 'anything-but an IP-shaped string excludes only that spelling',
      pattern: { ip: [{ 'anything-but': '2001:db8::1' }] },
      event: { ip: '2001:DB8:0:0:0:0:0:1' },
      matches: true,
    },
    // event-ruler ByteMachine: anything-but only fails on an excluded value, so other types pass.
    {
      name: 'anything-but a string matches a number',
      pattern: { x: [{ 'anything-but': 'a' }] },
      event: { x: 1 },
      matches: true,
    },
    {
      name: 'anything-but a string matches null',
      pattern: { x: [{ 'anything-but': 'a' }] },
      event: { x: null },
      matches: true,
    },
    {
      name: 'anything-but a string does not match an object (not a leaf)',
      pattern: { x: [{ 'anything-but': 'a' }] },
      event: { x: { y: 'b' } },
      matches: false,
    },
  ]);
});

// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html ("Numeric")
describe('numeric', () => {
  const limits = {
    detail: {
      'c-count': [{ numeric: ['>', 0, '<=', 5] }],
      'd-count': [{ numeric: ['<', 10] }],
      'x-limit': [{ numeric: ['=', 3.018e2] }],
    },
  };
  table([
    {
      name: 'the guide’s c-count/d-count/x-limit pattern matches 5, 3, 301.8',
      pattern: limits,
      event: { detail: { 'c-count': 5, 'd-count': 3, 'x-limit': 301.8 } },
      matches: true,
    },
    {
      name: 'every numeric field must hold (c-count 0 is not > 0)',
      pattern: limits,
      event: { detail: { 'c-count': 0, 'd-count': 3, 'x-limit': 301.8 } },
      matches: false,
    },
    {
      name: 'Price = 100 matches 100',
      pattern: { Price: [{ numeric: ['=', 100] }] },
      event: { Price: 100 },
      matches: true,
    },
    {
      name: 'Price = 100 rejects the string "100"',
      pattern: { Price: [{ numeric: ['=', 100] }] },
      event: { Price: '100' },
      matches: false,
    },
    {
      name: 'Price > 10 <= 20: 10 is out',
      pattern: { Price: [{ numeric: ['>', 10, '<=', 20] }] },
      event: { Price: 10 },
      matches: false,
    },
    {
      name: 'Price > 10 <= 20: 10.000001 is in',
      pattern: { Price: [{ numeric: ['>', 10, '<=', 20] }] },
      event: { Price: 10.000001 },
      matches: true,
    },
    {
      name: 'Price > 10 <= 20: 20 is in',
      pattern: { Price: [{ numeric: ['>', 10, '<=', 20] }] },
      event: { Price: 20 },
      matches: true,
    },
    {
      name: 'Price > 10 <= 20: 20.000001 is out',
      pattern: { Price: [{ numeric: ['>', 10, '<=', 20] }] },
      event: { Price: 20.000001 },
      matches: false,
    },
    {
      name: '>= includes its bound',
      pattern: { n: [{ numeric: ['>=', -1.5, '<', 0] }] },
      event: { n: -1.5 },
      matches: true,
    },
    {
      name: '< excludes its bound',
      pattern: { n: [{ numeric: ['>=', -1.5, '<', 0] }] },
      event: { n: 0 },
      matches: false,
    },
    // "limited to values between -5.0e9 and +5.0e9 inclusive ... six digits to the right of the decimal point"
    {
      name: '5e9 itself is comparable',
      pattern: { n: [{ numeric: ['>', 0] }] },
      event: { n: 5e9 },
      matches: true,
    },
    {
      name: 'beyond 5e9 never matches numeric',
      pattern: { n: [{ numeric: ['>', 0] }] },
      event: { n: 5000000001 },
      matches: false,
    },
    {
      name: 'more than six decimals never matches numeric',
      pattern: { n: [{ numeric: ['>', 0] }] },
      event: { n: 0.1234567 },
      matches: false,
    },
    {
      name: 'six decimals match',
      pattern: { n: [{ numeric: ['>', 0] }] },
      event: { n: 0.123456 },
      matches: true,
    },
    {
      name: 'numeric against an event array: any element',
      pattern: { n: [{ numeric: ['>', 5] }] },
      event: { n: [1, 7] },
      matches: true,
    },
  ]);
});

// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html ("IP address")
describe('cidr', () => {
  table([
    {
      name: '10.0.0.0/24 contains 10.0.0.255',
      pattern: { detail: { sourceIPAddress: [{ cidr: '10.0.0.0/24' }] } },
      event: { detail: { sourceIPAddress: '10.0.0.255' } },
      matches: true,
    },
    {
      name: '10.0.0.0/24 does not contain 10.0.1.0',
      pattern: { detail: { sourceIPAddress: [{ cidr: '10.0.0.0/24' }] } },
      event: { detail: { sourceIPAddress: '10.0.1.0' } },
      matches: false,
    },
    {
      name: 'IPv6 block contains an address',
      pattern: { ip: [{ cidr: '2001:db8::/32' }] },
      event: { ip: '2001:db8:ffff::1' },
      matches: true,
    },
    {
      name: 'IPv6 block excludes another',
      pattern: { ip: [{ cidr: '2001:db8::/32' }] },
      event: { ip: '2001:db9::1' },
      matches: false,
    },
    {
      name: 'an IPv4 address is never in an IPv6 block',
      pattern: { ip: [{ cidr: '::/0' }] },
      event: { ip: '10.0.0.1' },
      matches: false,
    },
    {
      name: 'a non-address string is never in a block',
      pattern: { ip: [{ cidr: '0.0.0.0/0' }] },
      event: { ip: 'localhost' },
      matches: false,
    },
    // event-ruler CIDR.java masks the base address: 10.0.0.5/24 is the whole 10.0.0.0/24 block.
    {
      name: 'the base address is masked',
      pattern: { ip: [{ cidr: '10.0.0.5/24' }] },
      event: { ip: '10.0.0.1' },
      matches: true,
    },
    // event-ruler JsonRuleCompiler: an IP-shaped exact value is compared as an address.
    {
      name: 'an exact IPv6 value matches another spelling of the address',
      pattern: { ip: ['2001:db8::1'] },
      event: { ip: '2001:DB8:0:0:0:0:0:1' },
      matches: true,
    },
    {
      name: 'an exact IPv4 value matches itself',
      pattern: { ip: ['10.0.0.1'] },
      event: { ip: '10.0.0.1' },
      matches: true,
    },
    {
      name: 'an exact IPv4 value rejects a neighbour',
      pattern: { ip: ['10.0.0.1'] },
      event: { ip: '10.0.0.2' },
      matches: false,
    },
  ]);
});

// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html ("Exists", "Does not
// exist"; exists matching only works on leaf nodes)
describe('exists', () => {
  table([
    {
      name: 'exists true: a present field',
      pattern: { ProductName: [{ exists: true }] },
      event: { ProductName: 'x' },
      matches: true,
    },
    {
      name: 'exists true: a missing field',
      pattern: { ProductName: [{ exists: true }] },
      event: {},
      matches: false,
    },
    {
      name: 'exists true: a null value is a present leaf',
      pattern: { ProductName: [{ exists: true }] },
      event: { ProductName: null },
      matches: true,
    },
    {
      name: 'exists true: an empty array has no leaf',
      pattern: { ProductName: [{ exists: true }] },
      event: { ProductName: [] },
      matches: false,
    },
    {
      name: 'exists false: a missing field',
      pattern: { ProductName: [{ exists: false }] },
      event: { Other: 1 },
      matches: true,
    },
    {
      name: 'exists false: a present field',
      pattern: { ProductName: [{ exists: false }] },
      event: { ProductName: 'x' },
      matches: false,
    },
    {
      name: 'the guide: exists false matches when detail.c-count is missing',
      pattern: { detail: { 'c-count': [{ exists: false }] } },
      event: { 'detail-type': 'EC2 Instance State-change Notification', detail: { state: 'running' } },
      matches: true,
    },
    {
      name: 'the guide: exists false also matches when c-count is an object (not a leaf)',
      pattern: { detail: { 'c-count': [{ exists: false }] } },
      event: { detail: { state: 'running', 'c-count': { c1: 100 } } },
      matches: true,
    },
    {
      name: 'the guide: exists true does not match an intermediate node',
      pattern: { detail: { state: [{ exists: true }] } },
      event: { detail: { 'c-count': { c1: 100 } } },
      matches: false,
    },
    {
      name: 'exists false or a value: missing',
      pattern: { x: [{ exists: false }, 'a'] },
      event: {},
      matches: true,
    },
    {
      name: 'exists false or a value: the value',
      pattern: { x: [{ exists: false }, 'a'] },
      event: { x: 'a' },
      matches: true,
    },
    {
      name: 'exists false or a value: another value',
      pattern: { x: [{ exists: false }, 'a'] },
      event: { x: 'b' },
      matches: false,
    },
    // event-ruler ACFinder/NameState: a field in any element of an unpinned array counts as present.
    {
      name: 'exists false inside an array of objects: present in some element means present',
      pattern: { a: { x: [{ exists: false }] } },
      event: { a: [{ x: 1 }, { y: 2 }] },
      matches: false,
    },
    {
      name: 'exists false after a field pinned the element: only that element counts',
      pattern: { a: { w: [2], x: [{ exists: false }] } },
      event: { a: [{ x: 1 }, { w: 2 }] },
      matches: true,
    },
    {
      name: 'exists false before (in path order) the pinning field: the whole array counts',
      pattern: { a: { b: [{ exists: false }], y: [2] } },
      event: { a: [{ b: 1 }, { y: 2 }] },
      matches: false,
    },
  ]);
});

// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html ("Equals (ignore case)")
describe('equals-ignore-case', () => {
  table([
    {
      name: 'alice matches Alice',
      pattern: { Name: [{ 'equals-ignore-case': 'alice' }] },
      event: { Name: 'Alice' },
      matches: true,
    },
    {
      name: 'alice matches ALICE',
      pattern: { Name: [{ 'equals-ignore-case': 'alice' }] },
      event: { Name: 'ALICE' },
      matches: true,
    },
    {
      name: 'alice rejects Alicia',
      pattern: { Name: [{ 'equals-ignore-case': 'alice' }] },
      event: { Name: 'Alicia' },
      matches: false,
    },
    {
      name: 'strings only',
      pattern: { n: [{ 'equals-ignore-case': '1' }] },
      event: { n: 1 },
      matches: false,
    },
    {
      name: 'non-ASCII letters fold too',
      pattern: { city: [{ 'equals-ignore-case': 'münchen' }] },
      event: { city: 'MÜNCHEN' },
      matches: true,
    },
    // event-ruler EqualsIgnoreCaseParser: each pattern character matches its own lower or upper case only.
    {
      name: 'k does not match the Kelvin sign',
      pattern: { u: [{ 'equals-ignore-case': 'k' }] },
      event: { u: '\u212a' },
      matches: false,
    },
    {
      name: 'ß matches its upper case SS',
      pattern: { w: [{ 'equals-ignore-case': 'straße' }] },
      event: { w: 'STRASSE' },
      matches: true,
    },
  ]);
});

// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html ("Wildcard"); escapes
// from the event-ruler README ("Wildcard matching").
describe('wildcard', () => {
  table([
    {
      name: 'dir/*.png matches dir/photo.png',
      pattern: { FileName: [{ wildcard: 'dir/*.png' }] },
      event: { FileName: 'dir/photo.png' },
      matches: true,
    },
    {
      name: '* crosses slashes',
      pattern: { FileName: [{ wildcard: 'dir/*.png' }] },
      event: { FileName: 'dir/sub/photo.png' },
      matches: true,
    },
    {
      name: '* may match nothing',
      pattern: { FileName: [{ wildcard: 'dir/*.png' }] },
      event: { FileName: 'dir/.png' },
      matches: true,
    },
    {
      name: 'the literal parts must match',
      pattern: { FileName: [{ wildcard: 'dir/*.png' }] },
      event: { FileName: 'dir/photo.jpg' },
      matches: false,
    },
    {
      name: 'the whole value must match',
      pattern: { FileName: [{ wildcard: 'dir/*.png' }] },
      event: { FileName: 'x/dir/a.png' },
      matches: false,
    },
    {
      name: 'several wildcards',
      pattern: { s: [{ wildcard: '*Simple*Service*' }] },
      event: { s: 'Amazon Simple Notification Service' },
      matches: true,
    },
    {
      name: '\\* is a literal asterisk',
      pattern: { s: [{ wildcard: 'a\\*b' }] },
      event: { s: 'a*b' },
      matches: true,
    },
    {
      name: '\\* does not match other text',
      pattern: { s: [{ wildcard: 'a\\*b' }] },
      event: { s: 'axb' },
      matches: false,
    },
    {
      name: '\\\\ is a literal backslash',
      pattern: { s: [{ wildcard: 'a\\\\*' }] },
      event: { s: 'a\\bc' },
      matches: true,
    },
    {
      name: 'wildcard works on strings only',
      pattern: { s: [{ wildcard: '1*' }] },
      event: { s: 12 },
      matches: false,
    },
    {
      name: 'a lone * matches any string',
      pattern: { s: [{ wildcard: '*' }] },
      event: { s: '' },
      matches: true,
    },
  ]);
});

// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-create-pattern-operators.html ("Or", "Or (multiple
// fields)") and the event-ruler README ("$or" examples).
describe('$or', () => {
  const cloudwatch = {
    source: ['aws.cloudwatch'],
    $or: [{ metricName: ['CPUUtilization', 'ReadLatency'] }, { namespace: ['AWS/EC2', 'AWS/ES'] }],
  };
  table([
    {
      name: 'Location is New York, or Day is Monday: the second holds',
      pattern: { $or: [{ Location: ['New York'] }, { Day: ['Monday'] }] },
      event: { Location: 'Paris', Day: 'Monday' },
      matches: true,
    },
    {
      name: 'Location is New York, or Day is Monday: neither holds',
      pattern: { $or: [{ Location: ['New York'] }, { Day: ['Monday'] }] },
      event: { Location: 'Paris', Day: 'Tuesday' },
      matches: false,
    },
    {
      name: 'source and (metricName or namespace): namespace',
      pattern: cloudwatch,
      event: { source: 'aws.cloudwatch', namespace: 'AWS/ES' },
      matches: true,
    },
    {
      name: 'source and (metricName or namespace): wrong source',
      pattern: cloudwatch,
      event: { source: 'aws.ec2', metricName: 'ReadLatency' },
      matches: false,
    },
    {
      name: 'an "and" inside an alternative needs both fields',
      pattern: { $or: [{ metricType: ['MetricType'], namespace: ['AWS/EC2'] }, { scope: ['Service'] }] },
      event: { metricType: 'MetricType' },
      matches: false,
    },
    {
      name: 'nested $or',
      pattern: {
        source: ['aws.cloudwatch'],
        $or: [
          { metricName: ['CPUUtilization'] },
          { namespace: ['AWS/EC2'], $or: [{ metricId: [1234] }, { spaceId: [1000] }] },
        ],
      },
      event: { source: 'aws.cloudwatch', namespace: 'AWS/EC2', spaceId: 1000 },
      matches: true,
    },
    {
      name: '$or inside a nested object',
      pattern: {
        detail: {
          $or: [{ 'c-count': [{ numeric: ['>', 0, '<=', 5] }] }, { 'd-count': [{ numeric: ['<', 10] }] }],
        },
      },
      event: { detail: { 'c-count': 50, 'd-count': 3 } },
      matches: true,
    },
    {
      name: 'parallel $or at two levels: both must hold',
      pattern: {
        $or: [{ metricName: ['CPUUtilization'] }, { namespace: ['AWS/EC2'] }],
        detail: {
          $or: [{ source: ['aws.cloudwatch'] }, { 'detail-type': ['CloudWatch Alarm State Change'] }],
        },
      },
      event: { namespace: 'AWS/EC2', detail: { source: 'aws.s3' } },
      matches: false,
    },
  ]);
});

// https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns-content-based-filtering.html
// ("Complex example with multiple matching" and the note on repeated keys).
describe('combined filters', () => {
  const complex = {
    time: [{ prefix: '2017-10-02' }],
    detail: {
      state: [{ 'anything-but': 'initializing' }],
      'c-count': [{ numeric: ['>', 0, '<=', 5] }],
      'd-count': [{ numeric: ['<', 10] }],
      'x-limit': [{ 'anything-but': [100, 200, 300] }],
      'source-ip': [{ cidr: '10.0.0.0/8' }],
    },
  };
  const event = {
    time: '2017-10-02T16:24:49Z',
    detail: { 'c-count': 5, 'd-count': 3, 'x-limit': 301.8, 'source-ip': '10.0.0.33', state: 'running' },
  };
  table([
    { name: 'the complex example matches the sample event', pattern: complex, event, matches: true },
    {
      name: 'the complex example fails on one field (x-limit 200)',
      pattern: complex,
      event: { ...event, detail: { ...event.detail, 'x-limit': 200 } },
      matches: false,
    },
    {
      name: 'a key repeated in the pattern text: the last one wins',
      pattern: '{"detail": {"location": [{"prefix": "us-"}], "location": [{"anything-but": "us-east"}]}}',
      event: { detail: { location: 'eu-west' } },
      matches: true,
    },
  ]);
});
