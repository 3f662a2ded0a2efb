/** RuleIndex: the same answers as checking every compiled pattern, in insertion order. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { mixedEvents, mixedRules } from '../../bench/patterns.ts';
import { compilePattern, InvalidEventPatternException, RuleIndex } from '../../src/patterns/index.ts';
import { eventArb, patternArb } from './arbitraries.ts';

const SOURCE = 'cdkpatterns.the-eventbridge-etl';
const seedRules = {
  extracted: { source: [SOURCE], 'detail-type': ['s3RecordExtraction'], detail: { status: ['extracted'] } },
  transformed: { source: [SOURCE], 'detail-type': ['transform'], detail: { status: ['transformed'] } },
  everything: { source: [SOURCE] },
};
const extractedEvent = {
  version: '0',
  id: 'e1',
  'detail-type': 's3RecordExtraction',
  source: SOURCE,
  account: '000000000000',
  time: '2026-11-24T00:00:00Z',
  region: 'us-east-1',
  resources: [],
  detail: {
    status: 'extracted',
    headers: 'ID,HouseNum,Street,Town,Zip',
    data: '1,12,Main Street,Antrim,22876',
    run: 'r1',
    row: 1,
  },
};

function seededIndex(): RuleIndex<string> {
  const index = new RuleIndex<string>();
  for (const [name, pattern] of Object.entries(seedRules)) index.add(name, pattern, `${name}-target`);
  return index;
}

/** What the index must return: every rule checked one by one, in insertion order. */
function oneByOne(patterns: readonly unknown[], event: unknown): number[] {
  return patterns.flatMap((pattern, position) => (compilePattern(pattern).matches(event) ? [position] : []));
}

describe('RuleIndex', () => {
  it('routes the seed’s events to the seed’s rules', () => {
    const index = seededIndex();
    expect(index.match(extractedEvent)).toEqual(['extracted-target', 'everything-target']);
    const transformed = { ...extractedEvent, 'detail-type': 'transform', detail: { status: 'transformed' } };
    expect(index.match(transformed)).toEqual(['transformed-target', 'everything-target']);
    expect(index.match({ ...extractedEvent, source: 'other' })).toEqual([]);
    expect(index.matchNames(extractedEvent)).toEqual(['extracted', 'everything']);
  });

  it('returns targets in insertion order, not in order of discovery', () => {
    const index = new RuleIndex<number>();
    index.add('catch-all-first', { detail: { row: [{ numeric: ['>', 0] }] } }, 1);
    index.add('exact-second', { source: [SOURCE] }, 2);
    index.add('prefix-third', { source: [{ prefix: 'cdk' }] }, 3);
    expect(index.match(extractedEvent)).toEqual([1, 2, 3]);
  });

  it('counts, removes and replaces rules', () => {
    const index = seededIndex();
    expect(index.size).toBe(3);
    expect(index.remove('everything')).toBe(true);
    expect(index.remove('everything')).toBe(false);
    expect(index.size).toBe(2);
    expect(index.match(extractedEvent)).toEqual(['extracted-target']);
    // Re-adding a name replaces its pattern and target but keeps its place.
    index.add('extracted', { source: [SOURCE] }, 'replaced');
    expect(index.size).toBe(2);
    index.add('later', { source: [SOURCE] }, 'later');
    expect(index.match(extractedEvent)).toEqual(['replaced', 'later']);
    expect(index.has('later')).toBe(true);
  });

  it('refuses an invalid pattern and leaves the index unchanged', () => {
    const index = seededIndex();
    expect(() => index.add('bad', { source: 'x' }, 'bad')).toThrow(InvalidEventPatternException);
    expect(() => index.add('extracted', { source: [] }, 'bad')).toThrow(InvalidEventPatternException);
    expect(index.size).toBe(3);
    expect(index.match(extractedEvent)).toEqual(['extracted-target', 'everything-target']);
  });

  it('never matches something that is not an object', () => {
    const index = seededIndex();
    for (const notAnEvent of [null, undefined, 'event', 42, [extractedEvent]])
      expect(index.match(notAnEvent)).toEqual([]);
    expect(new RuleIndex().match(extractedEvent)).toEqual([]);
  });

  it('finds rules filed under values inside event arrays and arrays of objects', () => {
    const index = new RuleIndex<string>();
    index.add('resource', { resources: ['arn:b'] }, 'resource');
    index.add('employee', { staff: { name: ['Anna'], role: ['dev'] } }, 'employee');
    index.add('inconsistent', { staff: { name: ['Anna'], role: ['ops'] } }, 'inconsistent');
    const event = {
      resources: ['arn:a', 'arn:b'],
      staff: [
        { name: 'Anna', role: 'dev' },
        { name: 'Bo', role: 'ops' },
      ],
    };
    expect(index.match(event)).toEqual(['resource', 'employee']);
  });

  it('finds rules filed under a prefix or a numeric equality', () => {
    const index = new RuleIndex<string>();
    index.add('aws', { source: [{ prefix: 'aws.' }] }, 'aws');
    index.add('aws-ec2', { source: [{ prefix: 'aws.ec2' }] }, 'aws-ec2');
    index.add('row-3', { detail: { row: [{ numeric: ['=', 3] }] } }, 'row-3');
    expect(index.match({ source: 'aws.ec2', detail: { row: 3.0 } })).toEqual(['aws', 'aws-ec2', 'row-3']);
    expect(index.match({ source: 'aws.s3', detail: { row: 4 } })).toEqual(['aws']);
    expect(index.match({ source: 'aw', detail: { row: '3' } })).toEqual([]);
  });

  it('handles $or alternatives filed under different fields', () => {
    const index = new RuleIndex<string>();
    index.add('either', { $or: [{ source: ['a'] }, { 'detail-type': ['b'] }] }, 'either');
    expect(index.match({ source: 'a' })).toEqual(['either']);
    expect(index.match({ 'detail-type': 'b' })).toEqual(['either']);
    expect(index.match({ source: 'a', 'detail-type': 'b' })).toEqual(['either']);
    expect(index.match({ source: 'b' })).toEqual([]);
  });

  it('agrees with checking each pattern on the benchmark’s 1,000 rules', () => {
    const rules = mixedRules();
    const index = new RuleIndex<number>();
    rules.forEach((rule, position) => index.add(`rule-${position}`, rule, position));
    const events = mixedEvents();
    const compiled = rules.map((rule) => compilePattern(rule));
    let matchesSeen = 0;
    for (const event of events) {
      const expected = compiled.flatMap((pattern, position) => (pattern.matches(event) ? [position] : []));
      matchesSeen += expected.length;
      expect(index.match(event)).toEqual(expected);
    }
    expect(matchesSeen).toBeGreaterThan(events.length); // the comparison is not vacuous
  });

  it('agrees with checking each pattern, on random rule sets and events', () => {
    fc.assert(
      fc.property(
        fc.array(patternArb, { minLength: 1, maxLength: 25 }),
        fc.array(eventArb, { minLength: 1, maxLength: 8 }),
        (patterns, events) => {
          const index = new RuleIndex<number>();
          patterns.forEach((pattern, position) => index.add(`r${position}`, pattern, position));
          for (const event of events) expect(index.match(event)).toEqual(oneByOne(patterns, event));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('stays in agreement while rules are added and removed between events', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(fc.nat(5), fc.option(patternArb, { nil: undefined }), eventArb), {
          minLength: 1,
          maxLength: 20,
        }),
        (steps) => {
          const index = new RuleIndex<string>();
          const live = new Map<string, unknown>();
          for (const [slot, pattern, event] of steps) {
            const name = `r${slot}`;
            if (pattern === undefined) {
              expect(index.remove(name)).toBe(live.delete(name));
            } else {
              index.add(name, pattern, name);
              live.set(name, pattern);
            }
            const expected = [...live].filter(([, livePattern]) =>
              compilePattern(livePattern).matches(event),
            );
            expect(index.match(event)).toEqual(expected.map(([liveName]) => liveName));
          }
        },
      ),
    );
  });
});
