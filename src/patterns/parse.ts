/**
 * Validates an event pattern and turns it into sub-rules, mirroring event-ruler's JsonRuleCompiler (the
 * compiler behind EventBridge): every `$or` forks the rule, so a pattern becomes a list of sub-rules, each a
 * map from a dotted field path to the value patterns that field accepts. The pattern matches an event when
 * any sub-rule does. Refusals carry event-ruler's messages.
 */
import { parseCidr, parseIpAddress, type AddressRange } from './cidr.ts';
import { MAX_WILDCARD_COMPLEXITY, patternComplexity } from './complexity.ts';
import { InvalidEventPatternException } from './errors.ts';
import { findNonJsonPart, isJsonObject, type JsonObject, type JsonValue } from './json.ts';
import { comparableNumberProblem, NUMERIC_LIMIT, type NumericRange } from './numbers.ts';
import { parseWildcard, type WildcardPieces } from './wildcard.ts';

/** EventBridge's default quota on an event pattern's length, in characters (adjustable up to 4096). */
export const DEFAULT_MAX_PATTERN_LENGTH = 2048;
/**
 * Local safeguard: nested `$or`s multiply, so a short pattern could expand to billions of sub-rules. The
 * user guide documents no figure; patterns near this size are far beyond any realistic rule.
 */
export const MAX_SUB_RULES = 1000;

export type AnythingButOperator = 'equals' | 'prefix' | 'suffix' | 'equals-ignore-case' | 'wildcard';

/** One accepted value shape for a field, e.g. `"running"` or `{ "prefix": "us-" }`. */
export type ValuePattern =
  | { readonly kind: 'exact'; readonly value: string | number | boolean | null }
  | { readonly kind: 'ip-address'; readonly text: string; readonly address: Uint8Array }
  | { readonly kind: 'prefix' | 'suffix'; readonly value: string; readonly ignoreCase: boolean }
  | { readonly kind: 'equals-ignore-case'; readonly value: string }
  | { readonly kind: 'wildcard'; readonly value: string; readonly pieces: WildcardPieces }
  | { readonly kind: 'numeric'; readonly range: NumericRange }
  | { readonly kind: 'cidr'; readonly value: string; readonly range: AddressRange }
  | { readonly kind: 'exists' }
  | { readonly kind: 'anything-but'; readonly operator: 'equals'; readonly values: readonly string[] }
  | { readonly kind: 'anything-but-number'; readonly values: readonly number[] }
  | {
      readonly kind: 'anything-but';
      readonly operator: Exclude<AnythingButOperator, 'equals'>;
      readonly values: readonly string[];
    };

/** What one sub-rule requires of one field. */
export interface FieldCondition {
  /**
   * event-ruler's field name: the keys from the root joined with dots. A key may itself hold dots, so
   * `{"a": {"b": [1]}}` and `{"a.b": [1]}` name the same field, and match the same event fields.
   */
  readonly path: string;
  readonly patterns: readonly ValuePattern[];
  /** `{ "exists": false }` is among the alternatives: a missing field satisfies the condition. */
  readonly matchesAbsence: boolean;
}

/** One `$or`-free alternative: every condition must hold. Conditions are sorted by path, like event-ruler's. */
export type SubRule = readonly FieldCondition[];

export interface ParsedPattern {
  readonly subRules: readonly SubRule[];
  /** The pattern as compact JSON. */
  readonly source: string;
}

export interface ParseOptions {
  /** Longest pattern accepted, in characters; defaults to EventBridge's default quota, 2048. */
  readonly maxLength?: number;
}

/** Field names event-ruler reserves inside `$or` objects (Constants.RESERVED_FIELD_NAMES_IN_OR_RELATIONSHIP). */
const RESERVED_IN_OR = new Set([
  'exactly',
  'equals-ignore-case',
  'prefix',
  'suffix',
  'anything-but',
  'exists',
  'wildcard',
  'numeric',
  'cidr',
  'html',
  '=',
  '<',
  '<=',
  '>',
  '>=',
  'regex',
  'not-wildcard',
  'not-equals-ignore-case',
  'date-after',
  'date-on-or-after',
  'date-before',
  'date-on-or-before',
  'in-date-range',
  'ip-address-in-range',
  'ip-address-not-in-range',
]);

type MutableSubRule = Map<string, FieldCondition>;

function refuse(reason: string): never {
  throw new InvalidEventPatternException(reason);
}

/** How event-ruler's parser prints a token it did not expect. */
function tokenText(value: JsonValue | undefined): string {
  if (value === undefined) return ']';
  if (Array.isArray(value)) return '[';
  if (isJsonObject(value)) return '{';
  return typeof value === 'string' ? value : String(value);
}

/** Accepts a pattern as an object or JSON text and returns it as a validated JSON object. */
function readPattern(pattern: unknown, maxLength: number): { object: JsonObject; source: string } {
  let object: unknown = pattern;
  if (typeof pattern === 'string') {
    if (pattern.length > maxLength) tooLong(pattern.length, maxLength);
    try {
      object = JSON.parse(pattern);
    } catch (error) {
      refuse(`Malformed JSON: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (!isJsonObject(object)) refuse('Filter is not an object');
  const problem = findNonJsonPart(object);
  if (problem !== undefined) refuse(problem);
  const source = JSON.stringify(object);
  // An object is measured as compact JSON, the shortest text that could be sent for it.
  if (typeof pattern !== 'string' && source.length > maxLength) tooLong(source.length, maxLength);
  return { object, source };
}

function tooLong(length: number, maxLength: number): never {
  refuse(`Event pattern is ${length} characters long; the maximum is ${maxLength}`);
}

export function parsePattern(pattern: unknown, options: ParseOptions = {}): ParsedPattern {
  const { object, source } = readPattern(pattern, options.maxLength ?? DEFAULT_MAX_PATTERN_LENGTH);
  const rules: MutableSubRule[] = [];
  parseObject(rules, [], object, false);
  const subRules = rules.map((rule) =>
    [...rule.values()].sort((left, right) => compareUtf16(left.path, right.path)),
  );
  if (patternComplexity(subRules) > MAX_WILDCARD_COMPLEXITY) refuse('Rule is too complex');
  return { subRules, source };
}

/** Java's String.compareTo: UTF-16 code-unit order, which is also JavaScript's `<` on strings. */
function compareUtf16(left: string, right: string): number {
  return left < right ? -1 : left > right ? 1 : 0;
}

function parseObject(
  rules: MutableSubRule[],
  path: readonly string[],
  object: JsonObject,
  insideOr: boolean,
): void {
  const keys = Object.keys(object);
  if (keys.length === 0) refuse('Empty objects are not allowed');
  for (const key of keys) {
    const value = object[key] as JsonValue;
    // "$or" forks the rule; it is not a step of the field path.
    if (key === '$or') {
      parseOr(rules, path, value);
      continue;
    }
    if (insideOr && RESERVED_IN_OR.has(key))
      refuse(`${key} is Ruler reserved fieldName which cannot be used inside $or.`);
    if (Array.isArray(value)) writeCondition(rules, [...path, key], value);
    else if (isJsonObject(value)) parseObject(rules, [...path, key], value, insideOr);
    else refuse(`"${key}" must be an object or an array`);
  }
}

function parseOr(rules: MutableSubRule[], path: readonly string[], value: JsonValue): void {
  if (!Array.isArray(value)) refuse('It must be an Array followed with $or.');
  const before = rules.map((rule) => new Map(rule));
  rules.length = 0;
  for (const alternative of value) {
    if (!isJsonObject(alternative)) refuse('Only JSON object is allowed in array of $or relationship.');
    const forked =
      before.length === 0 ? [new Map<string, FieldCondition>()] : before.map((rule) => new Map(rule));
    parseObject(forked, path, alternative, true);
    rules.push(...forked);
    if (rules.length > MAX_SUB_RULES) {
      refuse(`The $or alternatives expand to more than ${MAX_SUB_RULES} combinations`);
    }
  }
  if (value.length < 2) refuse('There must have at least 2 Objects in $or relationship.');
}

function writeCondition(
  rules: MutableSubRule[],
  segments: readonly string[],
  values: readonly JsonValue[],
): void {
  const patterns: ValuePattern[] = [];
  let matchesAbsence = false;
  for (const value of values) {
    if (Array.isArray(value)) refuse('Match value must be String, number, true, false, or null');
    if (isJsonObject(value)) {
      const pattern = parseMatchExpression(value);
      if (pattern === 'absent') matchesAbsence = true;
      else patterns.push(pattern);
    } else if (typeof value === 'string') {
      // event-ruler compares an IP-shaped exact value as an address: "10.0.0.1" also matches "10.0.0.01".
      const address = parseIpAddress(value);
      patterns.push(address ? { kind: 'ip-address', text: value, address } : { kind: 'exact', value });
    } else {
      patterns.push({ kind: 'exact', value });
    }
  }
  if (values.length === 0) refuse('Empty arrays are not allowed');
  const path = segments.join('.');
  const condition: FieldCondition = { path, patterns, matchesAbsence };
  if (rules.length === 0) rules.push(new Map());
  // A path given twice (also as `a.b` and `a` -> `b`) keeps its last value, as the user guide says of
  // duplicate keys.
  for (const rule of rules) rule.set(path, condition);
}

const TOO_MANY_ELEMENTS = 'Too many elements in numeric expression';

function onlyOneKey(expression: JsonObject, message = 'Only one key allowed in match expression'): void {
  if (Object.keys(expression).length > 1) refuse(message);
}

function requireString(value: JsonValue, message: string): string {
  if (typeof value !== 'string') refuse(message);
  return value;
}

function parseMatchExpression(expression: JsonObject): ValuePattern | 'absent' {
  const operator = Object.keys(expression)[0];
  if (operator === undefined) refuse('Match expression name not found');
  const operand = expression[operator] as JsonValue;
  let pattern: ValuePattern | 'absent';
  switch (operator) {
    case 'prefix':
    case 'suffix':
      pattern = parsePrefixOrSuffix(operator, operand);
      break;
    case 'equals-ignore-case':
      pattern = {
        kind: operator,
        value: requireString(operand, 'equals-ignore-case match pattern must be a string'),
      };
      break;
    case 'wildcard': {
      const value = requireString(operand, 'wildcard match pattern must be a string');
      const pieces = parseWildcard(value);
      if (typeof pieces === 'string') refuse(pieces);
      pattern = { kind: 'wildcard', value, pieces };
      break;
    }
    case 'numeric':
      if (!Array.isArray(operand)) refuse('Value of numeric must be an array.');
      pattern = { kind: 'numeric', range: parseNumeric(operand) };
      onlyOneKey(expression, TOO_MANY_ELEMENTS);
      return pattern;
    case 'anything-but':
      pattern = parseAnythingBut(operand);
      // event-ruler reuses its numeric message for a second key beside anything-but.
      onlyOneKey(expression, TOO_MANY_ELEMENTS);
      return pattern;
    case 'exists':
      if (typeof operand !== 'boolean') refuse('exists match pattern must be either true or false.');
      pattern = operand ? { kind: 'exists' } : 'absent';
      break;
    case 'cidr': {
      const value = requireString(operand, 'cidr match pattern must be a string');
      const range = parseCidr(value);
      if (typeof range === 'string') refuse(range);
      pattern = { kind: 'cidr', value, range };
      break;
    }
    default:
      // event-ruler also knows "exactly", which the EventBridge user guide does not document.
      refuse(`Unrecognized match type ${operator}`);
  }
  onlyOneKey(expression);
  return pattern;
}

function parsePrefixOrSuffix(operator: 'prefix' | 'suffix', operand: JsonValue): ValuePattern {
  if (typeof operand === 'string') return { kind: operator, value: operand, ignoreCase: false };
  const title = operator === 'prefix' ? 'Prefix' : 'Suffix';
  if (!isJsonObject(operand)) refuse(`${operator} match pattern must be a string`);
  const inner = Object.keys(operand)[0];
  if (inner === undefined) refuse(`${title} expression name not found`);
  if (inner !== 'equals-ignore-case') refuse(`Unsupported ${operator} pattern: ${inner}`);
  const value = requireString(
    operand[inner] as JsonValue,
    'equals-ignore-case match pattern must be a string',
  );
  onlyOneKey(operand);
  return { kind: operator, value, ignoreCase: true };
}

/** The numeric operand, read token by token as event-ruler does, so the first problem is the one reported. */
function parseNumeric(terms: readonly JsonValue[]): NumericRange {
  const operator = terms[0];
  if (typeof operator !== 'string') refuse(`Invalid member in numeric match: ${tokenText(operator)}`);
  const requireNumber = (term: JsonValue | undefined, name: string): number => {
    if (typeof term !== 'number') refuse(`Value of ${name} must be numeric`);
    return term;
  };
  switch (operator) {
    case '=': {
      const equal = requireNumber(terms[1], 'equals');
      if (terms.length > 2) refuse('Too many elements in numeric expression');
      requireComparable(equal);
      return { lower: equal, lowerInclusive: true, upper: equal, upperInclusive: true };
    }
    case '>':
    case '>=': {
      const lower = requireNumber(terms[1], operator);
      if (terms.length === 2) return bounded(lower, operator === '>=', NUMERIC_LIMIT, true);
      const upperOperator = terms[2];
      if (typeof upperOperator !== 'string')
        refuse(`Bad value in numeric range: ${tokenText(upperOperator)}`);
      if (upperOperator !== '<' && upperOperator !== '<=')
        refuse(`Bad numeric range operator: ${upperOperator}`);
      const upper = requireNumber(terms[3], upperOperator);
      if (terms.length > 4) refuse('Too many terms in numeric range expression');
      return bounded(lower, operator === '>=', upper, upperOperator === '<=');
    }
    case '<':
    case '<=': {
      const upper = requireNumber(terms[1], operator);
      if (terms.length > 2) refuse('Too many elements in numeric expression');
      return bounded(-NUMERIC_LIMIT, true, upper, operator === '<=');
    }
    default:
      refuse(`Unrecognized numeric range operator: ${operator}`);
  }
}

function requireComparable(value: number): void {
  const problem = comparableNumberProblem(value);
  if (problem !== undefined) refuse(problem);
}

/**
 * Checks a range as event-ruler does once the expression is read: both bounds comparable, and the range
 * neither empty nor a single point, so `[">=", 5, "<=", 5]` and even `[">", 5e9]` are refused.
 */
function bounded(
  lower: number,
  lowerInclusive: boolean,
  upper: number,
  upperInclusive: boolean,
): NumericRange {
  requireComparable(lower);
  requireComparable(upper);
  if (lower >= upper) refuse('Bottom must be less than top');
  return { lower, lowerInclusive, upper, upperInclusive };
}

const ANYTHING_BUT_VALUE_TYPE = 'Value of anything-but must be an array or single string/number value.';

function parseAnythingBut(operand: JsonValue): ValuePattern {
  if (isJsonObject(operand)) return parseAnythingButOperator(operand);
  if (typeof operand === 'string') return { kind: 'anything-but', operator: 'equals', values: [operand] };
  if (typeof operand === 'number')
    return { kind: 'anything-but-number', values: [anythingButNumber(operand)] };
  if (!Array.isArray(operand)) refuse(ANYTHING_BUT_VALUE_TYPE);

  const strings: string[] = [];
  const numbers: number[] = [];
  for (const value of operand) {
    if (typeof value === 'string') strings.push(value);
    else if (typeof value === 'number') numbers.push(anythingButNumber(value));
    else refuse('Inside anything but list, start|null|boolean is not supported.');
  }
  if (strings.length > 0 === numbers.length > 0) {
    refuse('Inside anything but list, either all values are number or string, mixed type is not supported');
  }
  return strings.length > 0
    ? { kind: 'anything-but', operator: 'equals', values: strings }
    : { kind: 'anything-but-number', values: numbers };
}

function anythingButNumber(value: number): number {
  const problem = comparableNumberProblem(value);
  if (problem !== undefined) refuse(problem);
  return value;
}

function parseAnythingButOperator(expression: JsonObject): ValuePattern {
  const operator = Object.keys(expression)[0];
  if (operator === undefined) refuse('Anything-But expression name not found');
  if (
    operator !== 'prefix' &&
    operator !== 'suffix' &&
    operator !== 'equals-ignore-case' &&
    operator !== 'wildcard'
  ) {
    refuse(`Unsupported anything-but pattern: ${operator}`);
  }
  const operand = expression[operator] as JsonValue;
  if (typeof operand !== 'string' && typeof operand !== 'number' && !Array.isArray(operand)) {
    refuse(ANYTHING_BUT_VALUE_TYPE);
  }
  const notAString =
    operator === 'equals-ignore-case'
      ? 'Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.'
      : operator === 'wildcard'
        ? 'wildcard match pattern must be a string'
        : 'prefix/suffix match pattern must be a string';
  const values: string[] = [];
  for (const value of Array.isArray(operand) ? operand : [operand]) {
    if (typeof value !== 'string') refuse(notAString);
    if ((operator === 'prefix' || operator === 'suffix') && value === '')
      refuse('Null prefix/suffix not allowed');
    if (operator === 'wildcard') {
      const pieces = parseWildcard(value);
      if (typeof pieces === 'string') refuse(pieces);
    }
    values.push(value);
  }
  // event-ruler compiles an empty list here but then fails (TestEventPattern answers InternalFailure).
  if (values.length === 0) refuse('Empty arrays are not allowed');
  onlyOneKey(expression, TOO_MANY_ELEMENTS);
  return { kind: 'anything-but', operator, values };
}
