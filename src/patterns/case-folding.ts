/**
 * `equals-ignore-case` (alone, and inside `prefix`, `suffix` and `anything-but`).
 *
 * event-ruler (EqualsIgnoreCaseParser.java) does not fold the event value: each UTF-16 unit `c` of the operand
 * matches exactly `c.toLowerCase()` or `c.toUpperCase()` (Locale.ROOT), which may be longer than one unit
 * ("ß" matches "ß" or "SS"; "K" does not match the Kelvin sign). JavaScript's toLowerCase/toUpperCase apply
 * the same locale-independent Unicode mappings, so each operand unit becomes a two-way alternative.
 */

export type CaseInsensitiveMode = 'equals' | 'prefix' | 'suffix';

/** Tests a string against one case-insensitive operand. */
export type CaseInsensitiveTest = (value: string) => boolean;

function isAscii(text: string): boolean {
  for (let index = 0; index < text.length; index++) if (text.charCodeAt(index) > 0x7f) return false;
  return true;
}

function unitEscape(text: string): string {
  let escaped = '';
  for (let index = 0; index < text.length; index++) {
    escaped += `\\u${text.charCodeAt(index).toString(16).padStart(4, '0')}`;
  }
  return escaped;
}

/** Builds the test for `operand`: a unit-by-unit loop for ASCII operands, a regular expression otherwise. */
export function compileCaseInsensitive(operand: string, mode: CaseInsensitiveMode): CaseInsensitiveTest {
  if (isAscii(operand)) return compileAscii(operand, mode);
  let source = '';
  for (let index = 0; index < operand.length; index++) {
    const unit = operand[index] as string;
    const lower = unit.toLowerCase();
    const upper = unit.toUpperCase();
    source += lower === upper ? unitEscape(lower) : `(?:${unitEscape(lower)}|${unitEscape(upper)})`;
  }
  const expression = new RegExp(
    mode === 'equals' ? `^${source}$` : mode === 'prefix' ? `^${source}` : `${source}$`,
  );
  return (value) => expression.test(value);
}

function compileAscii(operand: string, mode: CaseInsensitiveMode): CaseInsensitiveTest {
  const lower = operand.toLowerCase();
  const upper = operand.toUpperCase();
  const length = operand.length;
  const unitsMatchAt = (value: string, offset: number): boolean => {
    for (let index = 0; index < length; index++) {
      const unit = value.charCodeAt(offset + index);
      if (unit !== lower.charCodeAt(index) && unit !== upper.charCodeAt(index)) return false;
    }
    return true;
  };
  if (mode === 'equals') return (value) => value.length === length && unitsMatchAt(value, 0);
  if (mode === 'prefix') return (value) => value.length >= length && unitsMatchAt(value, 0);
  return (value) => value.length >= length && unitsMatchAt(value, value.length - length);
}
