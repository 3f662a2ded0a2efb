import { describe, expect, it } from 'vitest';
import { mappingHash, MappingError, parseMapping, SEED_MAPPING } from '../../src/pipeline/mapping.ts';

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
    [
      'a bad table name',
      { table: 'x', key: 'id', columns: { ID: { attribute: 'id' } } },
      'm.json: table: must be a DynamoDB table name',
    ],
    [
      'an unknown write mode',
      { write: 'upsert', key: 'id', columns: { ID: { attribute: 'id' } } },
      'm.json: write: ',
    ],
    [
      'a json key',
      { key: 'id', columns: { ID: { attribute: 'id', type: 'json' } } },
      'm.json: columns.ID.type: the key column must be of type "string", "number" or "binary"',
    ],
    [
      'a sort key nothing builds',
      { key: { partition: 'id', sort: 'sk' }, columns: { ID: { attribute: 'id' } } },
      'm.json: key.sort: no column maps to the key attribute "sk"',
    ],
    [
      'a separator on a column that is no set',
      { key: 'id', columns: { ID: { attribute: 'id' }, A: { attribute: 'a', separator: ';' } } },
      'm.json: columns.A.separator: only stringSet and numberSet columns take a separator',
    ],
    [
      'a default that is not of its type',
      {
        key: 'id',
        columns: { ID: { attribute: 'id' }, T: { attribute: 't', type: 'epochSeconds', default: 'soon' } },
      },
      'm.json: columns.T.default: the default is not a valid epochSeconds',
    ],
    [
      'a template over a sensitive column',
      {
        key: { partition: 'id', sort: 'sk' },
        columns: { ID: { attribute: 'id' }, Email: { attribute: 'email', sensitive: true } },
        templates: { sk: 'MAIL#{Email}' },
      },
      'm.json: templates.sk: template reads the sensitive column "Email"',
    ],
    [
      'a template without a column',
      { key: 'id', columns: { ID: { attribute: 'id' } }, templates: { t: 'plain' } },
      'm.json: templates.t: must name at least one {Column}',
    ],
    [
      'a template named like a column attribute',
      { key: 'id', columns: { ID: { attribute: 'id' } }, templates: { id: '{A}' } },
      'm.json: templates.id: "id" is also the attribute of column "ID"',
    ],
  ])('rejects %s, naming the bad field', (_, input, message) => {
    expect(() => parseMapping(input, 'm.json')).toThrow(MappingError);
    expect(() => parseMapping(input, 'm.json')).toThrow(message);
  });
});

describe('the extended mapping', () => {
  it('takes the key as a string or as partition and sort, in one shape, and keeps the key columns required', () => {
    const composite = parseMapping({
      table: 'Addresses',
      key: { partition: 'pk', sort: 'sk' },
      write: 'update',
      columns: {
        Town: { attribute: 'pk' },
        N: { attribute: 'n', type: 'numberSet', separator: ';', default: [1, 2] },
      },
      templates: { sk: '{Street}#{N}' },
    });
    expect(composite.key).toEqual({ partition: 'pk', sort: 'sk' });
    expect(composite.columns.Town?.required).toBe(true);
    expect(parseMapping({ key: 'id', columns: { ID: { attribute: 'id' } } }).key).toEqual({
      partition: 'id',
    });
  });

  it('hashes a mapping as before composite keys (runs keep their ids), and differently when anything changes', () => {
    // The seed mapping's hash before the key took an object form.
    expect(mappingHash(SEED_MAPPING)).toBe('e4e68a3273e20dcd');
    const base = { key: 'id', columns: { ID: { attribute: 'id' }, A: { attribute: 'a' } } };
    const hashes = [
      base,
      { ...base, table: 'Other' },
      { ...base, write: 'insert' },
      { ...base, key: { partition: 'id', sort: 'a' } },
      { ...base, columns: { ...base.columns, A: { attribute: 'a', type: 'stringSet' } } },
      { ...base, columns: { ...base.columns, A: { attribute: 'a', type: 'stringSet', separator: ';' } } },
      { ...base, columns: { ...base.columns, A: { attribute: 'a', default: 'x' } } },
      { ...base, templates: { t: '{A}' } },
    ].map((m) => mappingHash(parseMapping(m)));
    expect(new Set(hashes).size).toBe(hashes.length);
  });
});
