/**
 * `wildcard` operands: `*` matches any run of characters (including none), `\*` a literal asterisk, `\\` a
 * literal backslash. Consecutive `**` and a backslash before anything else are refused, with event-ruler's
 * messages (WildcardParser.java). event-ruler parses the operand wrapped in quotes and counts UTF-8 bytes, so
 * the reported position is the byte offset plus one.
 */

/** The literal runs between wildcards: "a*b\\*c" is ["a", "b*c"]. One piece means no wildcard. */
export type WildcardPieces = readonly string[];

function utf8Length(codePoint: number): number {
  if (codePoint < 0x80) return 1;
  if (codePoint < 0x800) return 2;
  return codePoint < 0x10000 ? 3 : 4;
}

/** Splits a wildcard operand into literal pieces, or returns why event-ruler refuses it. */
export function parseWildcard(operand: string): WildcardPieces | string {
  const pieces: string[] = [];
  let literal = '';
  let bytePosition = 1; // the opening quote event-ruler adds
  const chars = Array.from(operand);
  for (let index = 0; index < chars.length; index++) {
    const char = chars[index] as string;
    if (char === '*') {
      if (chars[index + 1] === '*') return `Consecutive wildcard characters at pos ${bytePosition}`;
      pieces.push(literal);
      literal = '';
      bytePosition += 1;
    } else if (char === '\\') {
      const next = chars[index + 1];
      if (next !== '*' && next !== '\\') return `Invalid escape character at pos ${bytePosition}`;
      literal += next;
      index++;
      bytePosition += 2;
    } else {
      literal += char;
      bytePosition += utf8Length(char.codePointAt(0) as number);
    }
  }
  pieces.push(literal);
  return pieces;
}

/** Whole-string glob match; greedy leftmost placement is exact when `*` is the only wildcard. */
export function matchesWildcard(value: string, pieces: WildcardPieces): boolean {
  const first = pieces[0] as string;
  if (pieces.length === 1) return value === first;
  const last = pieces[pieces.length - 1] as string;
  if (value.length < first.length + last.length) return false;
  if (!value.startsWith(first) || !value.endsWith(last)) return false;
  const end = value.length - last.length;
  let cursor = first.length;
  for (let index = 1; index < pieces.length - 1; index++) {
    const piece = pieces[index] as string;
    const at = value.indexOf(piece, cursor);
    if (at === -1 || at + piece.length > end) return false;
    cursor = at + piece.length;
  }
  return true;
}
