/**
 * fast-check generators for patterns and events over a small shared vocabulary, so generated patterns and
 * events actually meet: the same few keys, strings that are prefixes of each other, IP-shaped strings,
 * comparable and non-comparable numbers.
 */
import fc from 'fast-check';

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export const keyArb = fc.constantFrom('a', 'b', 'c');

export const stringArb = fc.constantFrom(
  '',
  'x',
  'xy',
  'y',
  'X',
  'xY',
  'a*b',
  '10.0.0.1',
  '10.0.0.01',
  '10.0.1.7',
);
export const numberArb = fc.constantFrom(0, 1, -1, 2.5, 100, 1e2 + 0.5, 5e9, 6e9, 0.1234567);
export const primitiveArb: fc.Arbitrary<Json> = fc.oneof(
  stringArb,
  numberArb,
  fc.boolean(),
  fc.constant(null),
);

/** One element of a pattern's value array: a literal or a match expression. */
export const valuePatternArb: fc.Arbitrary<Json> = fc.oneof(
  primitiveArb,
  stringArb.map((value) => ({ prefix: value })),
  fc.constantFrom('x', 'X', 'xy').map((value) => ({ prefix: { 'equals-ignore-case': value } })),
  stringArb.map((value) => ({ suffix: value })),
  fc.constantFrom('y', 'Y').map((value) => ({ suffix: { 'equals-ignore-case': value } })),
  fc.constantFrom('x', 'xy', 'XY').map((value) => ({ 'equals-ignore-case': value })),
  fc.constantFrom('x*', '*y', '*', 'x*y', 'a\\*b').map((value) => ({ wildcard: value })),
  fc
    .constantFrom<Json[]>(['>', 0], ['>=', 1, '<', 100], ['<', 2.5], ['=', 100], ['>', -1, '<=', 1])
    .map((terms) => ({ numeric: terms })),
  fc
    .uniqueArray(fc.constantFrom('x', 'y', ''), { minLength: 1, maxLength: 2 })
    .map((values) => ({ 'anything-but': values })),
  fc
    .uniqueArray(fc.constantFrom(1, 100, 2.5), { minLength: 1, maxLength: 2 })
    .map((values) => ({ 'anything-but': values })),
  fc.constantFrom('x', 'y').map((prefix) => ({ 'anything-but': { prefix } })),
  fc.constantFrom('y', 'Y').map((suffix) => ({ 'anything-but': { suffix } })),
  fc.constantFrom('X', 'xy').map((value) => ({ 'anything-but': { 'equals-ignore-case': value } })),
  fc.constantFrom('x*', '*1').map((value) => ({ 'anything-but': { wildcard: value } })),
  fc.boolean().map((exists) => ({ exists })),
  fc.constantFrom('10.0.0.0/24', '10.0.0.0/31', '0.0.0.0/0', '::/0').map((cidr) => ({ cidr })),
);

const { node: patternNodeArb } = fc.letrec<{ node: { [key: string]: Json }; field: Json }>((tie) => ({
  node: fc.dictionary(keyArb, tie('field'), { minKeys: 1, maxKeys: 3 }),
  field: fc.oneof({ maxDepth: 2 }, fc.array(valuePatternArb, { minLength: 1, maxLength: 3 }), tie('node')),
}));

/** A valid pattern without `$or`. */
export const simplePatternArb = patternNodeArb;

/** A valid pattern, sometimes with a `$or` at the top or one level down. */
export const patternArb: fc.Arbitrary<{ [key: string]: Json }> = fc.oneof(
  patternNodeArb,
  fc
    .tuple(patternNodeArb, patternNodeArb, patternNodeArb)
    .map(([base, first, second]) => ({ ...base, $or: [first, second] })),
  fc
    .tuple(keyArb, patternNodeArb, patternNodeArb)
    .map(([key, first, second]) => ({ [key]: { $or: [first, second] } })),
);

const { value: eventValueArb } = fc.letrec<{ value: Json }>((tie) => ({
  value: fc.oneof(
    { maxDepth: 3 },
    primitiveArb,
    fc.array(tie('value'), { maxLength: 3 }),
    fc.dictionary(keyArb, tie('value'), { maxKeys: 3 }),
  ),
}));

/** An event: an object over the shared keys, with nested objects, arrays and arrays of objects. */
export const eventArb: fc.Arbitrary<{ [key: string]: Json }> = fc.dictionary(keyArb, eventValueArb, {
  maxKeys: 3,
});

/** An event with at least one leaf somewhere, for properties that build a pattern from it. */
export const nonEmptyEventArb: fc.Arbitrary<{ [key: string]: Json }> = fc.dictionary(
  keyArb,
  fc.oneof(primitiveArb, eventValueArb),
  { minKeys: 1, maxKeys: 3 },
);

export type { Json };
