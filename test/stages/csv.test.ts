import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeCsvLine, encodeCsvLine } from '../../src/stages/csv.ts';

describe('CSV line encoding', () => {
  it('joins plain values with commas, as the seed did', () => {
    expect(encodeCsvLine(['1', '12', 'Main Street', 'Antrim', '22876'])).toBe(
      '1,12,Main Street,Antrim,22876',
    );
  });

  it('quotes values holding commas, quotes or newlines', () => {
    expect(encodeCsvLine(['a,b', 'say "hi"', 'two\r\nlines', ''])).toBe('"a,b","say ""hi""","two\r\nlines",');
  });

  it('decodes what it encodes, for any values', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ unit: 'binary' }), { minLength: 1, maxLength: 8 }), (values) => {
        expect(decodeCsvLine(encodeCsvLine(values))).toEqual(values);
      }),
    );
  });
});
