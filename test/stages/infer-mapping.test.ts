import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { UserError } from '../../src/pipeline/errors.ts';
import { inferMapping, sniffDelimiter } from '../../src/stages/infer-mapping.ts';
import { chunked } from '../support/collect.ts';

const infer = (content: string | Buffer, file = 'in.csv', sampleRows?: number) =>
  inferMapping({
    file,
    format: file.includes('.jsonl') ? 'jsonl' : 'csv',
    open: () => chunked(content, 11),
    ...(sampleRows === undefined ? {} : { sampleRows }),
  });

describe('sniffDelimiter', () => {
  it.each([
    ['a,b,c\n1,2,3\n', ','],
    ['a;b;c\n1;"2,5";3\n', ';'],
    ['a\tb\n1\t2\n', '\t'],
    ['a|b|c\n1|2|3\n', '|'],
    ['name,notes\n"x; y; z",1\n', ','],
    ['single\n1\n', ','],
  ])('%j -> %j', (text, delimiter) => {
    expect(sniffDelimiter(text)).toBe(delimiter);
  });
});

describe('inferMapping', () => {
  it('proposes types from every sampled value, keeping zip codes with leading zeros as strings', async () => {
    const { mapping, rows, keyColumn } = await infer(
      'Name;customer_id;Zip;Active;Price;Meta;Empty\n' +
        'Anna;7;01234;true;1.5;"{""a"":1}";\n' +
        'Bob;8;99999;FALSE;-2e3;[1];\n',
    );
    expect(rows).toBe(2);
    expect(keyColumn).toBe('customer_id');
    expect(mapping.key).toEqual({ partition: 'customer_id' });
    expect(mapping.csv).toEqual({ delimiter: ';', quote: '"', encoding: 'utf-8', header: true });
    const types = Object.fromEntries(Object.entries(mapping.columns).map(([c, s]) => [c, s.type]));
    expect(types).toMatchObject({
      Name: 'string',
      customer_id: 'string', // the key stays a string
      Zip: 'string',
      Active: 'boolean',
      Price: 'number',
      Empty: 'string',
    });
    // json where this build's mappings have the type, else the JSON text as a string.
    expect(['json', 'string']).toContain(types.Meta);
  });

  it('prefers a column named id as the key, and refuses when no column is unique and non-empty', async () => {
    expect((await infer('code,ID\n1,a\n2,b\n')).keyColumn).toBe('ID');
    const refused = infer('a,b\n1,x\n1,\n');
    await expect(refused).rejects.toThrow(UserError);
    await expect(refused).rejects.toThrow('no column is unique and non-empty in the first 2 rows');
  });

  it('samples only the first rows: a repeat after them does not count', async () => {
    const lines = ['id,v', ...Array.from({ length: 30 }, (_, i) => `${i},x`), '0,dup'];
    expect((await infer(`${lines.join('\n')}\n`, 'in.csv', 30)).keyColumn).toBe('id');
    await expect(infer(`${lines.join('\n')}\n`, 'in.csv', 31)).rejects.toThrow(/no column is unique/);
  });

  it('sniffs UTF-16 without a BOM, reads one with a BOM, and falls back to Latin-1 for bytes not UTF-8', async () => {
    const text = 'id\tname\n1\tZürich\n';
    expect((await infer(Buffer.from(text, 'utf16le'))).mapping.csv).toMatchObject({
      delimiter: '\t',
      encoding: 'utf-16le',
    });
    const bom = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')]);
    expect(Object.keys((await infer(gzipSync(bom))).mapping.columns)).toEqual(['id', 'name']);
    const latin1 = Buffer.from('id,name\n1,Z\xfcrich\n', 'latin1');
    expect((await infer(latin1)).mapping.csv?.encoding).toBe('latin1');
  });

  it('JSON Lines: a column per leaf path, JSON types, lines that are not objects skipped', async () => {
    const { mapping } = await infer(
      '{"id":"a","address":{"town":"T","zip":1},"tags":["x"],"ok":true}\n[1]\n{"id":"b","address":{"zip":2.5}}\n',
      'in.jsonl',
    );
    expect(mapping.format).toBeUndefined(); // the name says it
    expect(mapping.key).toEqual({ partition: 'id' });
    const types = Object.fromEntries(Object.entries(mapping.columns).map(([c, s]) => [c, s.type]));
    expect(types).toMatchObject({
      id: 'string',
      'address.town': 'string',
      'address.zip': 'number',
      ok: 'boolean',
    });
    expect(Object.keys(types)).toEqual(['id', 'address.town', 'address.zip', 'tags', 'ok']);
  });
});
