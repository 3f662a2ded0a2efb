/**
 * How `etl scan` shows DynamoDB's attribute values: strings as they are, numbers as numbers (their
 * exact decimal text, never rounded through a double), sets as JSON arrays, maps and lists as JSON,
 * binary as base64, NULL as null. The JSON is written here rather than by JSON.stringify, which
 * cannot emit a 38-digit number without rounding it.
 */
import type { AttributeValue } from '@aws-sdk/client-dynamodb';

export type Item = Record<string, AttributeValue>;

/** JSON's number grammar: DynamoDB's number text that matches it is written as it is. */
const JSON_NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?$/;

/** A DynamoDB number as a JSON number literal (a string only if its text is not one, which DynamoDB never sends). */
function numberJson(text: string): string {
  if (JSON_NUMBER.test(text)) return text;
  const value = Number(text);
  return Number.isFinite(value) && String(value) === text ? text : JSON.stringify(text);
}

function base64(bytes: Uint8Array | undefined): string {
  return Buffer.from(bytes ?? new Uint8Array()).toString('base64');
}

/** One attribute value as JSON text. */
export function attributeJson(value: AttributeValue): string {
  if (value.S !== undefined) return JSON.stringify(value.S);
  if (value.N !== undefined) return numberJson(value.N);
  if (value.BOOL !== undefined) return value.BOOL ? 'true' : 'false';
  if (value.NULL !== undefined) return 'null';
  if (value.B !== undefined) return JSON.stringify(base64(value.B));
  if (value.SS !== undefined) return `[${value.SS.map((s) => JSON.stringify(s)).join(',')}]`;
  if (value.NS !== undefined) return `[${value.NS.map(numberJson).join(',')}]`;
  if (value.BS !== undefined) return `[${value.BS.map((b) => JSON.stringify(base64(b))).join(',')}]`;
  if (value.L !== undefined) return `[${value.L.map(attributeJson).join(',')}]`;
  if (value.M !== undefined) return itemJson(value.M);
  // A type newer than this code: say so rather than drop it.
  return JSON.stringify(value, (_key, v: unknown) => (v instanceof Uint8Array ? base64(v) : v));
}

/** An item (or a map) as one JSON object. */
export function itemJson(item: Item): string {
  const members = Object.entries(item).map(
    ([name, value]) => `${JSON.stringify(name)}:${attributeJson(value)}`,
  );
  return `{${members.join(',')}}`;
}

/** One attribute value as a table cell: a string as it is, anything else as its JSON. */
export function attributeText(value: AttributeValue): string {
  if (value.S !== undefined) return value.S;
  if (value.B !== undefined) return base64(value.B);
  return attributeJson(value);
}

/** An item's cells for the table view. */
export function itemCells(item: Item): Record<string, string> {
  const cells: Record<string, string> = {};
  for (const [name, value] of Object.entries(item)) cells[name] = attributeText(value);
  return cells;
}
