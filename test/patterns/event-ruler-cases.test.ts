/**
 * Parity with aws/event-ruler, the engine behind EventBridge, as a table: event-ruler-cases.json.
 *
 * Where the inputs come from (each group's `source` names its file):
 * - event-ruler's own cases: src/test/resources/correctness-cases.json; src/test/data/arrayRule1-4.json x
 *   arrayEvent1-4.json, orRelationshipRules.json, wrongOrRelationshipRules.json,
 *   normalRulesWithOrWording.json; and the JSON rules and events written in RulerTest.java, MachineTest.java
 *   and JsonRuleCompilerTest.java (within one test method, every rule against every event).
 * - cases of ours ("ours, after ...") on what the brief and the user guide single out: field names with dots
 *   (event-ruler's README, "Compiled rules and JSON keys with dots"), arrays of objects, numeric edges inside
 *   the documented range, exists/null/empty arrays, `$or` inside fields, the string operators.
 * Every expected answer was produced by event-ruler itself (Machine.rulesForJSONEvent, JsonRuleCompiler, and
 * MachineComplexityEvaluator the way its README validates a rule), not written by hand.
 *
 * Left out, because EventBridge documents otherwise: the newest event-ruler compares numbers over the whole
 * double range with any precision, while the user guide limits numeric matching to -5.0e9..5.0e9 and six
 * decimals (our engine keeps the documented limit); and event-ruler's "exactly" operator, which EventBridge
 * does not document.
 *
 * matching: per group, `matches[p][e]` is "1" when pattern p matches event e, "0" when not, "-" untested.
 * refused: the pattern is refused with that reason. complexity: event-ruler's complexity of the pattern's
 * wildcards; EventBridge refuses a rule above 10 with "Rule is too complex".
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compilePattern, RuleIndex } from '../../src/patterns/index.ts';
import { MAX_WILDCARD_COMPLEXITY } from '../../src/patterns/complexity.ts';
import { refusalOf } from './helpers.ts';

interface MatchingGroup {
  readonly source: string;
  readonly patterns: readonly string[];
  readonly events: readonly string[];
  readonly matches: readonly string[];
}

interface Table {
  readonly matching: readonly MatchingGroup[];
  readonly refused: readonly { source: string; pattern: string; reason: string }[];
  readonly complexity: readonly { source: string; pattern: string; complexity: number }[];
}

const table = JSON.parse(readFileSync(new URL('./event-ruler-cases.json', import.meta.url), 'utf8')) as Table;

/** Patterns longer than EventBridge's default 2,048 characters appear in event-ruler's tests. */
const options = { maxLength: 100_000 };

describe('event-ruler cases: matching', () => {
  it('covers the table', () => {
    const pairs = table.matching.reduce(
      (count, group) => count + group.matches.join('').replace(/-/g, '').length,
      0,
    );
    expect(pairs).toBeGreaterThan(1000);
  });

  it.each(table.matching.map((group) => [group.source, group] as const))('%s', (_source, group) => {
    const compiled = group.patterns.map((pattern) => compilePattern(pattern, options));
    const index = new RuleIndex<number>(options);
    group.patterns.forEach((pattern, position) => index.add(String(position), pattern, position));
    group.events.forEach((eventText, eventPosition) => {
      const event: unknown = JSON.parse(eventText);
      const expected: number[] = [];
      const tested: number[] = [];
      group.patterns.forEach((pattern, position) => {
        const outcome = group.matches[position]?.[eventPosition];
        if (outcome === '-') return;
        tested.push(position);
        if (outcome === '1') expected.push(position);
        expect
          .soft(compiled[position]?.matches(event), `pattern ${pattern}\nevent ${eventText}`)
          .toBe(outcome === '1');
      });
      const routed = index.match(event).filter((position) => tested.includes(position));
      expect.soft(routed, `RuleIndex, event ${eventText}`).toEqual(expected);
    });
  });
});

describe('event-ruler cases: refused patterns', () => {
  it.each(table.refused.map((entry) => [entry.source, entry] as const))('%s', (_source, entry) => {
    expect(refusalOf(entry.pattern)).toBe(entry.reason);
  });
});

describe('event-ruler cases: wildcard complexity', () => {
  it.each(table.complexity.map((entry) => [entry.complexity, entry.pattern, entry] as const))(
    'complexity %i: %s',
    (_complexity, _pattern, entry) => {
      if (entry.complexity > MAX_WILDCARD_COMPLEXITY) {
        expect(refusalOf(entry.pattern)).toBe('Rule is too complex');
      } else {
        expect(() => compilePattern(entry.pattern)).not.toThrow();
      }
    },
  );
});
