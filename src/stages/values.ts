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
  if (spec.type === 'number' && !(NUMBER.test(value.trim()) && Number.isFinite(Number(value)))) {
    return 'value is not a number';
  }
  if (spec.type === 'boolean' && !BOOLEAN.has(value.trim().toLowerCase())) {
    return 'value is not a boolean (true or false)';
  }
  return undefined;
}

export function toItemValue(value: string, spec: ColumnMapping): ItemValue {
  if (spec.type === 'number') return { N: value.trim() };
  if (spec.type === 'boolean') return { BOOL: BOOLEAN.get(value.trim().toLowerCase()) as boolean };
  return { S: value };
}

export function fromItemValue(value: ItemValue): string | number | boolean {
  if ('S' in value) return value.S;
  if ('N' in value) return Number(value.N);
  return value.BOOL;
}
