import { describe, expect, it } from 'vitest';
import { MappingError, parseMapping, SEED_MAPPING } from '../../src/pipeline/mapping.ts';

describe('mapping files', () => {
  it('accepts the documented shape, defaults type to string and makes the key column required', () => {
    const mapping = parseMapping({
      key: 'id',
      columns: {
        ID: { attribute: 'id', type: 'string' },
        Zip: { attribute: 'zip', type: 'number' },
        Email: { attribute: 'email', sensitive: true },
      },
    });
    expect(mapping.columns.ID).toEqual({ attribute: 'id', type: 'string', required: true });
    expect(mapping.columns.Email).toEqual({ attribute: 'email', type: 'string', sensitive: true });
  });

  it("accepts the seed's mapping", () => {
    expect(parseMapping(structuredClone(SEED_MAPPING))).toEqual(SEED_MAPPING);
  });

  it.each([
    ['a non-object', 'nope', 'm.json: (top level): '],
    ['no columns', { key: 'id' }, 'm.json: columns: '],
    [
      'an unknown type',
      { key: 'id', columns: { ID: { attribute: 'id', type: 'date' } } },
      'm.json: columns.ID.type: ',
    ],
    [
      'an unknown field',
      { key: 'id', columns: { ID: { attribute: 'id', nullable: true } } },
      'm.json: columns.ID: ',
    ],
    [
      'an empty attribute',
      { key: 'id', columns: { ID: { attribute: '' } } },
      'm.json: columns.ID.attribute: ',
    ],
    [
      'no column for the key',
      { key: 'id', columns: { ID: { attribute: 'pk' } } },
      'm.json: key: no column maps to the key attribute "id"',
    ],
    [
      'a duplicate attribute',
      { key: 'id', columns: { ID: { attribute: 'id' }, Other: { attribute: 'id' } } },
      'm.json: columns.Other.attribute: "id" is also the attribute of column "ID"',
    ],
    [
      'a boolean key',
      { key: 'id', columns: { ID: { attribute: 'id', type: 'boolean' } } },
      'm.json: columns.ID.type: the key column must be',
    ],
    [
      'a sensitive key',
      { key: 'id', columns: { ID: { attribute: 'id', sensitive: true } } },
      'm.json: columns.ID.sensitive: the key column cannot be sensitive',
    ],
  ])('rejects %s, naming the bad field', (_, input, message) => {
    expect(() => parseMapping(input, 'm.json')).toThrow(MappingError);
    expect(() => parseMapping(input, 'm.json')).toThrow(message);
  });
});
