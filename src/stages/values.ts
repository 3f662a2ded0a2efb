/** Typing of CSV values by the mapping: the check transform applies and the conversion load applies. */
import {
  checkCell,
  defaultCell,
  parseBoolean,
  parseEpochSeconds,
  parseJsonCell,
  setMembers,
} from '../pipeline/cell-types.ts';
import type { ColumnMapping } from '../pipeline/mapping.ts';
import type { ItemValue } from './ports.ts';

/** The cell a column takes: its own, or the column's default when it is empty or absent. */
export function effectiveCell(value: string | undefined, spec: ColumnMapping): string | undefined {
  if (value !== undefined && value !== '') return value;
  return defaultCell(spec);
}

/** Why the value does not fit its column, or undefined when it does. Never quotes the value. */
export function checkValue(
  value: string | undefined,
  spec: ColumnMapping,
  present: boolean,
): string | undefined {
  if (!present && spec.required && spec.default === undefined)
    return 'required column is missing from the header';
  const cell = effectiveCell(present ? value : undefined, spec);
  if (cell === undefined) return spec.required ? 'required value is empty' : undefined;
  if (spec.sensitive && cell === value) return undefined; // ciphertext until load; load checks the plaintext
  return checkType(cell, spec);
}

export function checkType(value: string, spec: ColumnMapping): string | undefined {
  const problem = checkCell(value, spec);
  if (problem) return problem;
  if (spec.required && isSet(spec) && setMembers(value, spec).length === 0) return 'required value is empty';
  return undefined;
}

function isSet(spec: ColumnMapping): boolean {
  return spec.type === 'stringSet' || spec.type === 'numberSet';
}

/** DynamoDB's limit on a partition key value. */
export const MAX_PARTITION_KEY_BYTES = 2048;

/** DynamoDB's limit on a sort key value. */
export const MAX_SORT_KEY_BYTES = 1024;

/** DynamoDB's limit on an item: names and values, in bytes. */
export const MAX_ITEM_BYTES = 400 * 1024;

/**
 * An item's size as DynamoDB counts it: attribute names and string values in UTF-8 bytes, binary in
 * bytes, a number one byte per two significant digits plus one, a boolean or null one byte, a set
 * the sum of its members, a map or list 3 bytes plus each element's size and 1 byte (a map's
 * element also its name).
 */
export function itemSizeBytes(item: Readonly<Record<string, ItemValue>>): number {
  let size = 0;
  for (const [name, value] of Object.entries(item))
    size += Buffer.byteLength(name, 'utf8') + valueSize(value);
  return size;
}

export function valueSize(value: ItemValue): number {
  if ('S' in value) return Buffer.byteLength(value.S, 'utf8');
  if ('N' in value) return numberSize(value.N);
  if ('B' in value) return value.B.byteLength;
  if ('SS' in value) return value.SS.reduce((sum, member) => sum + Buffer.byteLength(member, 'utf8'), 0);
  if ('NS' in value) return value.NS.reduce((sum, member) => sum + numberSize(member), 0);
  if ('L' in value) return value.L.reduce((sum, element) => sum + valueSize(element) + 1, 3);
  if ('M' in value) {
    return Object.entries(value.M).reduce(
      (sum, [name, element]) => sum + Buffer.byteLength(name, 'utf8') + valueSize(element) + 1,
      3,
    );
  }
  return 1;
}

function numberSize(text: string): number {
  return Math.ceil(text.replace(/[^0-9]/g, '').length / 2) + 1;
}

/**
 * The attribute value of a cell that passed checkType; undefined when the cell makes no attribute
 * (a set with no members: DynamoDB refuses empty sets).
 */
export function toItemValue(value: string, spec: ColumnMapping): ItemValue | undefined {
  switch (spec.type) {
    case 'string':
      return { S: value };
    case 'number':
      return { N: dynamoNumber(value) };
    case 'boolean':
      return { BOOL: parseBoolean(value) as boolean };
    case 'binary':
      return { B: Buffer.from(value.trim(), 'base64') };
    case 'epochSeconds':
      return { N: parseEpochSeconds(value) as string };
    case 'json': {
      const parsed = parseJsonCell(value);
      return parsed.ok ? jsonValue(parsed.value) : undefined;
    }
    case 'stringSet':
    case 'numberSet': {
      const members = setMembers(value, spec);
      if (members.length === 0) return undefined;
      return spec.type === 'stringSet' ? { SS: members } : { NS: members.map(dynamoNumber) };
    }
  }
}

/** DynamoDB refuses a leading "+" (a whole batch with it); the number is the same without it. */
function dynamoNumber(text: string): string {
  return text.trim().replace(/^\+/, '');
}

function jsonValue(value: unknown): ItemValue {
  if (value === null) return { NULL: true };
  if (typeof value === 'string') return { S: value };
  if (typeof value === 'number') return { N: String(value) };
  if (typeof value === 'boolean') return { BOOL: value };
  if (Array.isArray(value)) return { L: value.map(jsonValue) };
  // No prototype: a JSON key named __proto__ is an attribute like any other.
  const map = Object.create(null) as Record<string, ItemValue>;
  for (const [name, member] of Object.entries(value as Record<string, unknown>))
    map[name] = jsonValue(member);
  return { M: map };
}

/** An attribute value as plain JSON: sets as arrays, binary as base64, maps and lists as JSON. */
export function fromItemValue(value: ItemValue): unknown {
  if ('S' in value) return value.S;
  if ('N' in value) return Number(value.N);
  if ('BOOL' in value) return value.BOOL;
  if ('B' in value) return Buffer.from(value.B).toString('base64');
  if ('SS' in value) return value.SS;
  if ('NS' in value) return value.NS.map(Number);
  if ('L' in value) return value.L.map(fromItemValue);
  if ('M' in value) {
    const plain: Record<string, unknown> = {};
    for (const [name, member] of Object.entries(value.M)) {
      Object.defineProperty(plain, name, {
        value: fromItemValue(member),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
    return plain;
  }
  return null;
}
