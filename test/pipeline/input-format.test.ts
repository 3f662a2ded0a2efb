import { describe, expect, it } from 'vitest';
import { formatOfName, mappingForInput } from '../../src/pipeline/input-format.ts';
import { mappingHash, MappingError, parseMapping, SEED_MAPPING } from '../../src/pipeline/mapping.ts';

const columns = { ID: { attribute: 'id' } };

describe('the mapping’s csv and format fields', () => {
  it('accepts every dialect and encoding, and header:false with columns', () => {
    for (const delimiter of [',', ';', '|', '\t'])
      for (const encoding of ['utf-8', 'utf-16le', 'utf-16be', 'latin1'])
        expect(parseMapping({ key: 'id', columns, csv: { delimiter, encoding, quote: "'" } }).csv).toEqual({
          delimiter,
          encoding,
          quote: "'",
        });
    const mapping = parseMapping({
      key: 'id',
      columns,
      format: 'jsonl',
      csv: { header: false, columns: ['ID', 'B'] },
    });
    expect(mapping).toMatchObject({ format: 'jsonl', csv: { header: false, columns: ['ID', 'B'] } });
  });

  it.each([
    ['a delimiter not offered', { delimiter: ':' }, 'm.json: csv.delimiter: must be one of'],
    ['an unknown encoding', { encoding: 'cp1252' }, 'm.json: csv.encoding: '],
    ['a quote of two characters', { quote: '""' }, 'm.json: csv.quote: must be one character'],
    ['the delimiter as quote', { delimiter: ';', quote: ';' }, 'm.json: csv.quote: '],
    [
      'header:false without columns',
      { header: false },
      'm.json: csv.columns: is required with "header": false',
    ],
    ['columns with a header', { columns: ['A'] }, 'm.json: csv.columns: is only for "header": false'],
    [
      'a column named twice',
      { header: false, columns: ['A', 'A'] },
      'm.json: csv.columns.1: "A" appears twice',
    ],
    ['an unknown field', { separator: ';' }, 'm.json: csv: '],
  ])('rejects %s, naming the field', (_, csv, message) => {
    expect(() => parseMapping({ key: 'id', columns, csv }, 'm.json')).toThrow(MappingError);
    expect(() => parseMapping({ key: 'id', columns, csv }, 'm.json')).toThrow(message);
  });

  it('rejects an unknown format, naming the field', () => {
    expect(() => parseMapping({ key: 'id', columns, format: 'xml' }, 'm.json')).toThrow('m.json: format: ');
  });
});

describe('the format a file is read in', () => {
  it('comes from --format, else the mapping, else the name (.jsonl, .ndjson, gzipped or not)', () => {
    expect(['a.jsonl', 'b.NDJSON', 'c.jsonl.gz', 'd.csv', 'e.json', 'f'].map(formatOfName)).toEqual([
      'jsonl',
      'jsonl',
      'jsonl',
      'csv',
      'csv',
      'csv',
    ]);
    expect(mappingForInput(SEED_MAPPING, 'x.csv')).toBe(SEED_MAPPING);
    expect(mappingForInput(SEED_MAPPING, 'x.jsonl').format).toBe('jsonl');
    expect(mappingForInput(SEED_MAPPING, 'x.csv', 'jsonl').format).toBe('jsonl');
    expect(mappingForInput({ ...SEED_MAPPING, format: 'jsonl' }, 'x.csv').format).toBe('jsonl');
    expect(mappingForInput({ ...SEED_MAPPING, format: 'jsonl' }, 'x.jsonl', 'csv').format).toBe('csv');
  });

  it('a JSON Lines run has a mapping (and so a run id) of its own; a CSV one keeps the seed’s', () => {
    expect(mappingHash(mappingForInput(SEED_MAPPING, 'x.jsonl'))).not.toBe(mappingHash(SEED_MAPPING));
    expect(mappingHash(mappingForInput(SEED_MAPPING, 'x.csv'))).toBe(mappingHash(SEED_MAPPING));
  });
});
