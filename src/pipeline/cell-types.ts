/**
 * What a cell's text means for each column type, checked the same way for a row's cells (transform,
 * load) and a mapping's defaults (when the mapping is read). Every problem is said without quoting
 * the value: a cell may be sensitive.
 */
import type { ColumnMapping } from './mapping.ts';

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const BOOLEANS = new Map([
  ['true', true],
  ['false', false],
]);

/** DynamoDB's nesting limit for maps and lists. */
export const MAX_JSON_DEPTH = 32;

/** Why a non-empty cell does not fit its column's type, or undefined when it does. */
export function checkCell(cell: string, spec: Pick<ColumnMapping, 'type' | 'separator'>): string | undefined {
  switch (spec.type) {
    case 'string':
      return undefined;
    case 'number':
      return numberProblem(cell.trim());
    case 'boolean':
      return parseBoolean(cell) === undefined ? 'value is not a boolean (true or false)' : undefined;
    case 'json': {
      const parsed = parseJsonCell(cell);
      return parsed.ok ? undefined : parsed.reason;
    }
    case 'stringSet':
      return undefined;
    case 'numberSet': {
      for (const member of setMembers(cell, spec)) {
        const problem = numberProblem(member);
        if (problem) return `a set member: ${problem}`;
      }
      return undefined;
    }
    case 'binary':
      return isStrictBase64(cell.trim()) ? undefined : 'value is not base64';
    case 'epochSeconds': {
      const seconds = parseEpochSeconds(cell);
      return typeof seconds === 'string' ? undefined : seconds.reason;
    }
  }
}

export function parseBoolean(cell: string): boolean | undefined {
  return BOOLEANS.get(cell.trim().toLowerCase());
}

/** Why text is not a number DynamoDB keeps, or undefined. */
export function numberProblem(text: string): string | undefined {
  if (!NUMBER.test(text)) return 'value is not a number';
  return dynamoNumberProblem(text);
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

/**
 * One spelling per number (`1.50`, `15e-1` and `+1.5` are the same), to find duplicate set members
 * and compare numbers as DynamoDB does. Text must be a number (NUMBER).
 */
export function canonicalNumber(text: string): string {
  const [, sign = '', whole = '', fraction = '', exponent = '0'] =
    /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text.trim()) ?? [];
  let digits = (whole + fraction).replace(/^0+/, '');
  if (digits === '') return '0';
  let power = Number(exponent) - fraction.length;
  const trailing = /0+$/.exec(digits)?.[0].length ?? 0;
  digits = digits.slice(0, digits.length - trailing);
  power += trailing;
  return `${sign === '-' ? '-' : ''}${digits}e${power}`;
}

/**
 * A set cell's members: split on the separator, each trimmed (so `a | b` is `a` and `b`), empty
 * members dropped and duplicates kept once (DynamoDB refuses both in a set). Numbers are the same
 * member when they are the same number.
 */
export function setMembers(cell: string, spec: Pick<ColumnMapping, 'type' | 'separator'>): string[] {
  const members = new Map<string, string>();
  for (const part of cell.split(spec.separator ?? '|')) {
    const member = part.trim();
    if (member === '') continue;
    const identity = spec.type === 'numberSet' && NUMBER.test(member) ? canonicalNumber(member) : member;
    if (!members.has(identity)) members.set(identity, member);
  }
  return [...members.values()];
}

export type JsonCell =
  { ok: true; value: unknown[] | Record<string, unknown> } | { ok: false; reason: string };

/** A JSON object or array (a map or list in DynamoDB); its numbers must be numbers DynamoDB keeps. */
export function parseJsonCell(cell: string): JsonCell {
  let value: unknown;
  try {
    value = JSON.parse(cell);
  } catch {
    return { ok: false, reason: 'value is not valid JSON' };
  }
  if (value === null || typeof value !== 'object') {
    return { ok: false, reason: 'value is not a JSON object or array' };
  }
  const problem = jsonProblem(value, 1);
  return problem ? { ok: false, reason: problem } : { ok: true, value: value as JsonCell & object };
}

function jsonProblem(value: unknown, depth: number): string | undefined {
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) return "a JSON number is outside DynamoDB's range";
    const problem = dynamoNumberProblem(String(value));
    return problem ? `a JSON ${problem}` : undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  if (depth > MAX_JSON_DEPTH) return `JSON nests deeper than DynamoDB's ${MAX_JSON_DEPTH} levels`;
  for (const member of Object.values(value)) {
    const problem = jsonProblem(member, depth + 1);
    if (problem) return problem;
  }
  return undefined;
}

/** Base64 as RFC 4648 writes it: the standard alphabet, padded, nothing else. */
export function isStrictBase64(text: string): boolean {
  return text.length > 0 && /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/.test(text);
}

/**
 * `2024-05-01T12:30:00Z`, `2024-05-01T12:30:00+02:00`, `2024-05-01 12:30`, `2024-05-01`: date, then
 * optionally time (seconds and fraction optional) and zone (Z, +hh, +hhmm, +hh:mm).
 */
const ISO_DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,]\d+)?)?([Zz]|[+-]\d{2}(?::?\d{2})?)?)?$/;

const SAFE_SECONDS = 1e15;

/**
 * Whole seconds since 1970-01-01T00:00:00Z, as DynamoDB number text: from a number (fractions
 * floored) or an ISO 8601 date-time. A date-time without a zone is UTC (the same on every machine
 * and runtime); a date alone is its midnight, UTC.
 */
export function parseEpochSeconds(cell: string): string | { reason: string } {
  const text = cell.trim();
  if (NUMBER.test(text)) {
    const seconds = Math.floor(Number(text));
    if (!Number.isFinite(seconds) || Math.abs(seconds) > SAFE_SECONDS) {
      return { reason: 'number of seconds is out of range' };
    }
    return String(Object.is(seconds, -0) ? 0 : seconds);
  }
  const match = ISO_DATE_TIME.exec(text);
  if (!match) return { reason: 'value is not an ISO 8601 date-time or a number of seconds' };
  const [, year, month, day, hour = '0', minute = '0', second = '0', zone] = match.map((m) => m);
  const date = new Date(0);
  date.setUTCFullYear(Number(year), Number(month) - 1, Number(day));
  date.setUTCHours(Number(hour), Number(minute), Number(second), 0);
  if (
    date.getUTCMonth() !== Number(month) - 1 ||
    date.getUTCDate() !== Number(day) ||
    Number(hour) > 23 ||
    Number(minute) > 59 ||
    Number(second) > 59
  ) {
    return { reason: 'value is not a valid date-time' };
  }
  let offsetMinutes = 0;
  if (zone !== undefined && zone.toUpperCase() !== 'Z') {
    const [, sign = '+', hours = '0', minutes = '0'] = /^([+-])(\d{2}):?(\d{2})?$/.exec(zone) ?? [];
    if (Number(hours) > 23 || Number(minutes) > 59)
      return { reason: 'value has an invalid time zone offset' };
    offsetMinutes = (sign === '-' ? -1 : 1) * (Number(hours) * 60 + Number(minutes));
  }
  return String(Math.floor(date.getTime() / 1000) - offsetMinutes * 60);
}

/**
 * A column's default as cell text, checked and used like a cell; undefined when it cannot be one
 * (an object for a number column, an empty text).
 */
export function defaultCell(spec: ColumnMapping): string | undefined {
  const value = spec.default;
  if (value === undefined) return undefined;
  let cell: string | undefined;
  if (typeof value === 'string') cell = value;
  else if (typeof value === 'number' || typeof value === 'boolean') {
    cell = spec.type === 'json' ? undefined : String(value);
  } else if (spec.type === 'json') cell = JSON.stringify(value);
  else if (Array.isArray(value) && (spec.type === 'stringSet' || spec.type === 'numberSet')) {
    const separator = spec.separator ?? '|';
    const members = value.map((m) =>
      typeof m === 'string' || typeof m === 'number' ? String(m) : undefined,
    );
    if (members.some((m) => m === undefined || m.includes(separator))) return undefined;
    cell = members.join(separator);
  }
  return cell === undefined || cell.trim() === '' ? undefined : cell;
}
