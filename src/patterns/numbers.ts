/**
 * Number handling with event-ruler's limits (EventBridge user guide, "Numeric matching": values between
 * -5.0e9 and +5.0e9 inclusive, at most six digits right of the decimal point).
 *
 * event-ruler's ComparableNumber turns a number into a fixed-point integer (value x 10^6); a number outside
 * the range, or with more than six decimals, is not "comparable": a pattern refuses it as a numeric operand,
 * and an event value like that never satisfies `numeric` or numeric equality. Within those limits two
 * doubles compare exactly like their fixed-point forms (the double spacing below 5e9 is finer than 10^-6),
 * so comparing the doubles directly is exact.
 */

export const NUMERIC_LIMIT = 5e9;
export const MAX_DECIMAL_PLACES = 6;

/**
 * Digits after the decimal point in the shortest decimal spelling of `value` (String(value) is the shortest
 * round-trip form, so 301.8 and 3.018e2 both give 1). Negative or zero for whole numbers.
 */
export function decimalPlaces(value: number): number {
  if (Number.isInteger(value)) return 0;
  const text = String(value);
  const exponentAt = text.indexOf('e');
  const mantissa = exponentAt === -1 ? text : text.slice(0, exponentAt);
  const exponent = exponentAt === -1 ? 0 : Number(text.slice(exponentAt + 1));
  const point = mantissa.indexOf('.');
  const fractionDigits = point === -1 ? 0 : mantissa.length - point - 1;
  return fractionDigits - exponent;
}

/** True when event-ruler can compare `value` numerically. */
export function isComparableNumber(value: unknown): value is number {
  return (
    typeof value === 'number' &&
    value >= -NUMERIC_LIMIT &&
    value <= NUMERIC_LIMIT &&
    (Number.isInteger(value) || decimalPlaces(value) <= MAX_DECIMAL_PLACES)
  );
}

/** Why a pattern cannot use `value` as a numeric operand, in event-ruler's words; undefined if it can. */
export function comparableNumberProblem(value: number): string | undefined {
  if (!Number.isFinite(value)) return 'Value must be between -5.0E9 and 5.0E9, inclusive';
  if (decimalPlaces(value) > MAX_DECIMAL_PLACES) return 'Only values upto 6 decimals are supported';
  if (value < -NUMERIC_LIMIT || value > NUMERIC_LIMIT)
    return 'Value must be between -5.0E9 and 5.0E9, inclusive';
  return undefined;
}

/** A numeric interval; an unbounded side is the edge of the comparable range, as in event-ruler. */
export interface NumericRange {
  readonly lower: number;
  readonly lowerInclusive: boolean;
  readonly upper: number;
  readonly upperInclusive: boolean;
}

export function isInRange(value: number, range: NumericRange): boolean {
  const aboveLower = range.lowerInclusive ? value >= range.lower : value > range.lower;
  if (!aboveLower) return false;
  return range.upperInclusive ? value <= range.upper : value < range.upper;
}
