/** Typing of CSV values by the mapping: the check transform applies and the conversion load applies. */
import type { ColumnMapping } from '../pipeline/mapping.ts';
import type { ItemValue } from './ports.ts';

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const BOOLEAN = new Map([
  ['true', true],
  ['false', false],
]);

/** Why the value does not fit its column, or undefined when it does. Never quotes the value. */
export function checkValue(
  value: string | undefined,
  spec: ColumnMapping,
  present: boolean,
): string | undefined {
  if (!present) return spec.required ? 'required column is missing from the header' : undefined;
  if (value === undefined || value === '') return spec.required ? 'required value is empty' : undefined;
  if (spec.sensitive) return undefined; // ciphertext until load; load checks the plaintext
  return checkType(value, spec);
}

export function checkType(value: string, spec: ColumnMapping): string | undefined {
  if (spec.type === 'number') {
    if (!NUMBER.test(value.trim())) return 'value is not a number';
    return dynamoNumberProblem(value.trim());
  }
  if (spec.type === 'boolean' && !BOOLEAN.has(value.trim().toLowerCase())) {
    return 'value is not a boolean (true or false)';
  }
  return undefined;
}

/**
 * DynamoDB keeps numbers of up to 38 significant digits, from 1E-130 to 9.99...E+125 in magnitude;
 * anything else fails the whole BatchWriteItem, so it must fail its own row first.
 */
function dynamoNumberProblem(text: string): string | undefined {
  const [, whole = '', fraction = '', exponent = '0'] =
    /^[+-]?(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text) ?? [];
  const digits = whole + fraction;
  const first = digits.search(/[1-9]/);
  if (first === -1) return undefined; // zero
  if (digits.slice(first).replace(/0+$/, '').length > 38) {
    return "number has more than 38 significant digits (DynamoDB's limit)";
  }
  // The value is 0.d1d2... x 10^magnitude.
  const magnitude = whole.length - first + Number(exponent);
  if (magnitude > 126 || magnitude - 1 < -130)
    return "number is outside DynamoDB's range (1E-130 to 9.99E+125)";
  return undefined;
}

/** DynamoDB's limit on a partition key value. */
export const MAX_PARTITION_KEY_BYTES = 2048;

/** DynamoDB's limit on an item: names and values, in bytes. */
export const MAX_ITEM_BYTES = 400 * 1024;

/**
 * An item's size as DynamoDB counts it: attribute names and string values in UTF-8 bytes, a number
 * one byte per two significant digits plus one, a boolean one byte.
 */
export function itemSizeBytes(item: Readonly<Record<string, ItemValue>>): number {
  let size = 0;
  for (const [name, value] of Object.entries(item)) {
    size += Buffer.byteLength(name, 'utf8');
    if ('S' in value) size += Buffer.byteLength(value.S, 'utf8');
    else if ('N' in value) size += Math.ceil(value.N.replace(/[^0-9]/g, '').length / 2) + 1;
    else size += 1;
  }
  return size;
}

export function toItemValue(value: string, spec: ColumnMapping): ItemValue {
  // DynamoDB refuses a leading "+" (a whole batch with it); the number is the same without it.
  if (spec.type === 'number') return { N: value.trim().replace(/^\+/, '') };
  if (spec.type === 'boolean') return { BOOL: BOOLEAN.get(value.trim().toLowerCase()) as boolean };
  return { S: value };
}

export function fromItemValue(value: ItemValue): string | number | boolean {
  if ('S' in value) return value.S;
  if ('N' in value) return Number(value.N);
  return value.BOOL;
}
