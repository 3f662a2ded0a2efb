/** Cell types: what each accepts, and item sizes counted as DynamoDB counts them. */
import { describe, expect, it } from 'vitest';
import { canonicalNumber, checkCell, parseEpochSeconds, setMembers } from '../../src/pipeline/cell-types.ts';
import { itemSizeBytes, toItemValue } from '../../src/stages/values.ts';

describe('cell types', () => {
  it('reads epochSeconds from ISO 8601 date-times (no zone: UTC) and numbers, whole seconds', () => {
    expect(parseEpochSeconds('1970-01-01T00:00:00Z')).toBe('0');
    expect(parseEpochSeconds('1970-01-01T01:00:00+01:00')).toBe('0');
    expect(parseEpochSeconds('1970-01-01T00:00:00-0130')).toBe('5400');
    expect(parseEpochSeconds('1970-01-02')).toBe('86400');
    expect(parseEpochSeconds('1970-01-01 00:00:01.999')).toBe('1');
    expect(parseEpochSeconds('-1.5')).toBe('-2');
    expect(parseEpochSeconds(' 12 ')).toBe('12');
    for (const bad of [
      '2024-02-30',
      '2024-01-01T24:00',
      '2024-1-1',
      'tomorrow',
      '2024-01-01T00:00+25:00',
      '1e400',
    ]) {
      expect(parseEpochSeconds(bad)).toHaveProperty('reason');
    }
  });

  it('splits sets on their separator, trims, drops empty members and duplicates (numbers by value)', () => {
    expect(setMembers(' a |b||a | ', { type: 'stringSet' })).toEqual(['a', 'b']);
    expect(setMembers('1;1.0;+1;10e-1;2', { type: 'numberSet', separator: ';' })).toEqual(['1', '2']);
    expect(toItemValue('|', { attribute: 's', type: 'stringSet' })).toBeUndefined();
    expect(toItemValue('+3|1', { attribute: 'n', type: 'numberSet' })).toEqual({ NS: ['3', '1'] });
  });

  it('spells each number one way', () => {
    expect(canonicalNumber('1.50')).toBe(canonicalNumber('15e-1'));
    expect(canonicalNumber('-0.0')).toBe('0');
    expect(canonicalNumber('100')).toBe('1e2');
    expect(canonicalNumber('-100')).not.toBe(canonicalNumber('100'));
  });

  it('takes strict base64 only, and JSON objects and arrays only', () => {
    expect(checkCell('aGk=', { type: 'binary' })).toBeUndefined();
    for (const bad of ['aGk', 'aG k=', 'aGk==', 'a-b_'])
      expect(checkCell(bad, { type: 'binary' })).toBeDefined();
    expect(checkCell('[1,{"a":null}]', { type: 'json' })).toBeUndefined();
    expect(checkCell('1', { type: 'json' })).toBe('value is not a JSON object or array');
    expect(checkCell('[1e400]', { type: 'json' })).toBe("a JSON number is outside DynamoDB's range");
    expect(checkCell('['.repeat(33) + ']'.repeat(33), { type: 'json' })).toBe(
      "JSON nests deeper than DynamoDB's 32 levels",
    );
    expect(checkCell('['.repeat(32) + ']'.repeat(32), { type: 'json' })).toBeUndefined();
  });

  it('keeps a JSON key named __proto__ as an attribute of the map', () => {
    const value = toItemValue('{"__proto__":{"x":1}}', { attribute: 'j', type: 'json' });
    expect(value && 'M' in value && Object.keys(value.M)).toEqual(['__proto__']);
  });
});

describe('itemSizeBytes', () => {
  it('counts the types as DynamoDB does', () => {
    expect(itemSizeBytes({ b: { B: new Uint8Array(10) } })).toBe(1 + 10);
    expect(itemSizeBytes({ s: { SS: ['ab', 'é'] } })).toBe(1 + 2 + 2);
    expect(itemSizeBytes({ n: { NS: ['12', '123'] } })).toBe(1 + 2 + 3);
    expect(itemSizeBytes({ z: { NULL: true } })).toBe(1 + 1);
    // A list: 3 bytes, and each element's size plus 1.
    expect(itemSizeBytes({ l: { L: [{ S: 'ab' }, { BOOL: true }] } })).toBe(1 + 3 + (2 + 1) + (1 + 1));
    // A map: 3 bytes, and each element's name and size plus 1.
    expect(itemSizeBytes({ m: { M: { k: { S: 'abc' } } } })).toBe(1 + 3 + (1 + 3 + 1));
  });
});
