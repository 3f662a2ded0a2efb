/**
 * Compiles a field's value patterns into one test over a leaf value, with event-ruler's typing rules:
 * prefix, suffix, wildcard, equals-ignore-case and cidr only ever match strings; numeric only matches
 * numbers it can compare (see numbers.ts); exact values match by type and value (numbers numerically);
 * anything-but matches every leaf that is not excluded, whatever its type, so `"anything-but": "x"` matches
 * a number, `true` or `null`.
 */
import { compileCaseInsensitive, type CaseInsensitiveTest } from './case-folding.ts';
import { isAddressInRange, isSameAddress } from './cidr.ts';
import type { JsonPrimitive } from './json.ts';
import { isComparableNumber, isInRange } from './numbers.ts';
import type { ValuePattern } from './parse.ts';
import { matchesWildcard, parseWildcard, type WildcardPieces } from './wildcard.ts';

export type LeafTest = (value: JsonPrimitive) => boolean;

const ALWAYS: LeafTest = () => true;

function anyOf(tests: readonly LeafTest[]): LeafTest {
  if (tests.length === 1) return tests[0] as LeafTest;
  return (value) => {
    for (const test of tests) if (test(value)) return true;
    return false;
  };
}

function exactValues(values: readonly JsonPrimitive[]): LeafTest {
  if (values.length === 1) {
    const only = values[0];
    return (value) => value === only;
  }
  // SameValueZero keeps "1" and 1 apart and treats 0 and -0 as equal, as event-ruler does.
  const set = new Set(values);
  return (value) => set.has(value);
}

function caseInsensitiveAny(tests: readonly CaseInsensitiveTest[], value: string): boolean {
  for (const test of tests) if (test(value)) return true;
  return false;
}

function compileValuePattern(pattern: Exclude<ValuePattern, { kind: 'exact' }>): LeafTest {
  switch (pattern.kind) {
    case 'ip-address': {
      const { address } = pattern;
      return (value) => typeof value === 'string' && isSameAddress(address, value);
    }
    case 'prefix': {
      const { value: prefix } = pattern;
      if (!pattern.ignoreCase) return (value) => typeof value === 'string' && value.startsWith(prefix);
      const test = compileCaseInsensitive(prefix, 'prefix');
      return (value) => typeof value === 'string' && test(value);
    }
    case 'suffix': {
      const { value: suffix } = pattern;
      if (!pattern.ignoreCase) return (value) => typeof value === 'string' && value.endsWith(suffix);
      const test = compileCaseInsensitive(suffix, 'suffix');
      return (value) => typeof value === 'string' && test(value);
    }
    case 'equals-ignore-case': {
      const test = compileCaseInsensitive(pattern.value, 'equals');
      return (value) => typeof value === 'string' && test(value);
    }
    case 'wildcard': {
      const { pieces } = pattern;
      return (value) => typeof value === 'string' && matchesWildcard(value, pieces);
    }
    case 'numeric': {
      const { range } = pattern;
      return (value) => typeof value === 'number' && isInRange(value, range) && isComparableNumber(value);
    }
    case 'cidr': {
      const { range } = pattern;
      return (value) => typeof value === 'string' && isAddressInRange(value, range);
    }
    case 'exists':
      return ALWAYS;
    case 'anything-but-number': {
      const excluded = new Set(pattern.values);
      return (value) => !(typeof value === 'number' && excluded.has(value) && isComparableNumber(value));
    }
    case 'anything-but':
      return compileAnythingBut(pattern);
  }
}

function compileAnythingBut(pattern: Extract<ValuePattern, { kind: 'anything-but' }>): LeafTest {
  const { values } = pattern;
  switch (pattern.operator) {
    case 'equals': {
      const excluded = new Set(values);
      return (value) => typeof value !== 'string' || !excluded.has(value);
    }
    case 'prefix':
      return (value) => typeof value !== 'string' || !values.some((prefix) => value.startsWith(prefix));
    case 'suffix':
      return (value) => typeof value !== 'string' || !values.some((suffix) => value.endsWith(suffix));
    case 'equals-ignore-case': {
      const tests = values.map((operand) => compileCaseInsensitive(operand, 'equals'));
      return (value) => typeof value !== 'string' || !caseInsensitiveAny(tests, value);
    }
    case 'wildcard': {
      const pieces = values.map(validatedWildcardPieces);
      return (value) => typeof value !== 'string' || !pieces.some((glob) => matchesWildcard(value, glob));
    }
  }
}

/** Operands were validated when the pattern was parsed, so this cannot fail. */
function validatedWildcardPieces(operand: string): WildcardPieces {
  const pieces = parseWildcard(operand);
  if (typeof pieces === 'string') throw new Error(`unvalidated wildcard operand: ${pieces}`);
  return pieces;
}

/** One test for a field: exact values share a set; the other patterns are tried in turn. */
export function compileValueTest(patterns: readonly ValuePattern[]): LeafTest | undefined {
  const exact: JsonPrimitive[] = [];
  const tests: LeafTest[] = [];
  for (const pattern of patterns) {
    if (pattern.kind === 'exact') exact.push(pattern.value);
    else tests.push(compileValuePattern(pattern));
  }
  if (exact.length > 0) tests.unshift(exactValues(exact));
  return tests.length === 0 ? undefined : anyOf(tests);
}
