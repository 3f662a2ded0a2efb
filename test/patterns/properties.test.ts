/** Invariants of EventBridge's pattern semantics, checked on generated patterns and events. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compilePattern } from '../../src/patterns/index.ts';
import { eventArb, nonEmptyEventArb, simplePatternArb, type Json } from './arbitraries.ts';
import { matches } from './helpers.ts';

const letters = fc.string({ unit: fc.constantFrom('a', 'b', 'A', 'B', '-'), maxLength: 6 });

describe('$or', () => {
  it('{"$or": [p, q]} matches exactly when p or q does', () => {
    fc.assert(
      fc.property(simplePatternArb, simplePatternArb, eventArb, (first, second, event) => {
        const either = compilePattern({ $or: [first, second] }).matches(event);
        expect(either).toBe(matches(first, event) || matches(second, event));
      }),
      { numRuns: 300 },
    );
  });

  it('fields beside a $or are ANDed with it (disjoint top-level fields)', () => {
    fc.assert(
      fc.property(
        simplePatternArb,
        simplePatternArb,
        simplePatternArb,
        eventArb,
        eventArb,
        (base, p, q, event, other) => {
          // Put `base` under its own top-level key so it cannot share an array with the alternatives.
          const combined = { other: base, $or: [p, q] };
          const fullEvent = { ...event, other };
          const expected = matches(base, other) && (matches(p, event) || matches(q, event));
          expect(compilePattern(combined).matches(fullEvent)).toBe(expected);
        },
      ),
    );
  });
});

describe('string operators', () => {
  it('anything-but [v] matches a present string exactly when [v] does not', () => {
    fc.assert(
      fc.property(letters, letters, (excluded, value) => {
        const anythingBut = matches({ f: [{ 'anything-but': [excluded] }] }, { f: value });
        expect(anythingBut).toBe(!matches({ f: [excluded] }, { f: value }));
      }),
    );
  });

  it('anything-but never matches a missing field', () => {
    fc.assert(
      fc.property(letters, (excluded) => {
        expect(matches({ f: [{ 'anything-but': excluded }] }, { g: 'x' })).toBe(false);
      }),
    );
  });

  it('prefix "" matches every string and nothing else', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null)), (value) => {
        expect(matches({ f: [{ prefix: '' }] }, { f: value })).toBe(typeof value === 'string');
      }),
    );
  });

  it('prefix, suffix and equals-ignore-case agree with the string operations (ASCII)', () => {
    fc.assert(
      fc.property(letters, letters, (operand, value) => {
        expect(matches({ f: [{ prefix: operand }] }, { f: value })).toBe(value.startsWith(operand));
        expect(matches({ f: [{ suffix: operand }] }, { f: value })).toBe(value.endsWith(operand));
        expect(matches({ f: [{ 'equals-ignore-case': operand }] }, { f: value })).toBe(
          value.toLowerCase() === operand.toLowerCase(),
        );
        expect(matches({ f: [{ prefix: { 'equals-ignore-case': operand } }] }, { f: value })).toBe(
          value.toLowerCase().startsWith(operand.toLowerCase()),
        );
      }),
    );
  });

  it('a wildcard made by replacing parts of a string with * matches that string', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.constantFrom('a', 'b', '/', '.'), maxLength: 12 }),
        fc.array(fc.nat()),
        (text, cuts) => {
          // Replace the characters at the chosen positions (merged into runs) with one `*` per run.
          const hidden = new Set(cuts.map((cut) => cut % Math.max(text.length, 1)));
          let wildcard = '';
          for (let index = 0; index < text.length; index++) {
            if (!hidden.has(index)) wildcard += text[index];
            else if (!wildcard.endsWith('*')) wildcard += '*';
          }
          expect(matches({ f: [{ wildcard }] }, { f: text })).toBe(true);
        },
      ),
    );
  });

  it('a wildcard without * is an exact match', () => {
    fc.assert(
      fc.property(letters, letters, (operand, value) => {
        expect(matches({ f: [{ wildcard: operand }] }, { f: value })).toBe(operand === value);
      }),
    );
  });
});

describe('numbers', () => {
  /** A comparable number: at most six decimals, within ±5e9. */
  const comparable = fc
    .tuple(fc.integer({ min: -5_000_000_000, max: 5_000_000_000 }), fc.integer({ min: 0, max: 6 }))
    .map(([digits, decimals]) => digits / 10 ** decimals)
    .filter((value) => Math.abs(value) <= 5e9);

  const spellings = (value: number): string[] => [
    String(value),
    value.toExponential(),
    value.toFixed(8),
    `${value * 1000}e-3`,
  ];

  it('numeric equality holds across number spellings', () => {
    fc.assert(
      fc.property(comparable, fc.nat(3), fc.nat(3), (value, patternSpelling, eventSpelling) => {
        const patternText = spellings(value)[patternSpelling] as string;
        const eventText = spellings(value)[eventSpelling] as string;
        // Only spellings that denote the same double are spellings of the same number.
        fc.pre(Number(patternText) === value && Number(eventText) === value);
        const event = JSON.parse(`{"x": ${eventText}}`) as Json;
        expect(compilePattern(`{"x": [{"numeric": ["=", ${patternText}]}]}`).matches(event)).toBe(true);
        expect(compilePattern(`{"x": [${patternText}]}`).matches(event)).toBe(true);
        expect(compilePattern(`{"x": [{"anything-but": [${patternText}]}]}`).matches(event)).toBe(false);
      }),
    );
  });

  it('numeric ranges agree with plain comparison on comparable numbers', () => {
    fc.assert(
      fc.property(comparable, comparable, comparable, (low, high, value) => {
        fc.pre(low < high);
        const inRange = matches({ x: [{ numeric: ['>', low, '<=', high] }] }, { x: value });
        expect(inRange).toBe(value > low && value <= high);
        expect(matches({ x: [{ numeric: ['>=', low] }] }, { x: value })).toBe(value >= low);
      }),
    );
  });
});

describe('cidr', () => {
  const ipv4 = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255));
  const text = (octets: readonly number[]): string => octets.join('.');
  const asInteger = (octets: readonly number[]): bigint =>
    octets.reduce((sum, octet) => (sum << 8n) + BigInt(octet), 0n);

  it('an IPv4 address is in a block exactly when its first mask bits equal the base’s', () => {
    fc.assert(
      fc.property(ipv4, fc.integer({ min: 0, max: 31 }), ipv4, (base, maskBits, address) => {
        const shift = BigInt(32 - maskBits);
        const expected = asInteger(base) >> shift === asInteger(address) >> shift;
        expect(matches({ ip: [{ cidr: `${text(base)}/${maskBits}` }] }, { ip: text(address) })).toBe(
          expected,
        );
      }),
    );
  });
});

describe('patterns built from an event', () => {
  /** Picks leaves of `event` into a pattern, one element per array so the picks stay array-consistent. */
  function patternFrom(
    event: { [key: string]: Json },
    choose: () => number,
  ): { [key: string]: Json } | undefined {
    const pattern: { [key: string]: Json } = {};
    const entries = Object.entries(event);
    // Keep a random subset of the keys, falling back to all of them rather than none.
    const kept = entries.filter(() => choose() >= 0.3);
    for (const [key, value] of kept.length > 0 ? kept : entries) {
      const part = partFrom(value, choose);
      if (part !== undefined) pattern[key] = part;
    }
    return Object.keys(pattern).length > 0 ? pattern : undefined;
  }

  function partFrom(value: Json, choose: () => number): Json | undefined {
    if (value === null || typeof value !== 'object') return [value];
    if (!Array.isArray(value)) return patternFrom(value, choose);
    // One element per array; start at a random one and take the first that yields a pattern.
    const start = Math.floor(choose() * value.length);
    for (let offset = 0; offset < value.length; offset++) {
      const part = partFrom(value[(start + offset) % value.length] as Json, choose);
      if (part !== undefined) return part;
    }
    return undefined;
  }

  it('a pattern of an event’s own leaf values (plus exists) matches that event', () => {
    fc.assert(
      fc.property(
        nonEmptyEventArb,
        fc.infiniteStream(fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true })),
        (event, stream) => {
          const iterator = stream[Symbol.iterator]();
          const choose = (): number => iterator.next().value as number;
          const pattern = patternFrom(event, choose);
          fc.pre(pattern !== undefined);
          expect(matches(pattern, event)).toBe(true);
          expect(matches({ ...pattern, missing: [{ exists: false }] }, event)).toBe(true);
          expect(matches({ ...pattern, missing: [{ exists: true }] }, event)).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });
});
