/** Readers: dialects, encodings and BOMs, gzip, JSON Lines; and extract over them. */
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { DetailType } from '../../src/pipeline/definition.ts';
import type { RowExtractedDetail, RowFailedDetail } from '../../src/pipeline/events.ts';
import type { Mapping } from '../../src/pipeline/mapping.ts';
import { decodeCsvLine } from '../../src/stages/csv.ts';
import { extract, ExtractError } from '../../src/stages/extract.ts';
import type { FieldCipher } from '../../src/stages/ports.ts';
import { asExtractError, type ReadOptions, readRecords } from '../../src/stages/readers.ts';
import { chunked, RecordingPublisher } from '../support/collect.ts';

async function records(content: string | Buffer, options: ReadOptions, chunkSize = 5) {
  const out: { record: string[]; problem?: string }[] = [];
  for await (const { record, problem } of readRecords(chunked(content, chunkSize), options))
    out.push(problem === undefined ? { record } : { record, problem });
  return out;
}

async function csvRows(content: string | Buffer, csv: ReadOptions['csv'] = {}, chunkSize = 5) {
  return (await records(content, { format: 'csv', csv }, chunkSize)).map((r) => r.record);
}

/** The error a reader ends with, as extract reports it. */
async function readError(content: string | Buffer, options: ReadOptions): Promise<string> {
  try {
    await records(content, options);
  } catch (error) {
    return asExtractError(error, 'in.csv', []).message;
  }
  throw new Error('expected the read to fail');
}

function utf16be(text: string): Buffer {
  const le = Buffer.from(text, 'utf16le');
  for (let i = 0; i < le.length; i += 2) [le[i], le[i + 1]] = [le[i + 1] as number, le[i] as number];
  return le;
}

const EXPECTED = [
  ['ID', 'Street', 'Town'],
  ['1', 'Rue de l’Église', 'Zürich'],
  ['2', 'a;b|c,d', 'x'],
];

describe('CSV dialects', () => {
  it.each([
    [',', 'ID,Street,Town\n1,Rue de l’Église,Zürich\n2,"a;b|c,d",x\n'],
    [';', 'ID;Street;Town\n1;Rue de l’Église;Zürich\n2;"a;b|c,d";x\n'],
    ['|', 'ID|Street|Town\n1|Rue de l’Église|Zürich\n2|"a;b|c,d"|x\n'],
    ['\t', 'ID\tStreet\tTown\n1\tRue de l’Église\tZürich\n2\ta;b|c,d\tx\n'],
  ] as const)('reads delimiter %j', async (delimiter, text) => {
    expect(await csvRows(text, { delimiter })).toEqual(EXPECTED);
  });

  it('reads another quote character, the standard quote then being plain text', async () => {
    expect(await csvRows("ID,Street\n1,'say \"hi\", ''you'''\n", { quote: "'" })).toEqual([
      ['ID', 'Street'],
      ['1', 'say "hi", \'you\''],
    ]);
  });

  it('with header:false the columns name the fields and the first line is data', async () => {
    const rows = await csvRows('1;Main\n2;Quay\n', {
      delimiter: ';',
      header: false,
      columns: ['ID', 'Street'],
    });
    expect(rows).toEqual([
      ['ID', 'Street'],
      ['1', 'Main'],
      ['2', 'Quay'],
    ]);
  });
});

describe('encodings', () => {
  const text = 'ID,Street,Town\n1,Rue de l’Église,Zürich\n2,"a;b|c,d",x\n';
  it.each([
    ['utf-16le', Buffer.from(text, 'utf16le')],
    ['utf-16be', utf16be(text)],
  ] as const)('reads %s when the mapping names it (no BOM)', async (encoding, bytes) => {
    expect(await csvRows(bytes, { encoding }, 3)).toEqual(EXPECTED);
  });

  it('reads latin1 as Windows-1252 (Excel): é, ü and the euro sign at 0x80', async () => {
    const bytes = Buffer.from([...Buffer.from('ID,Name\n1,'), 0xe9, 0xfc, 0x80, 0x0a]);
    expect(await csvRows(bytes, { encoding: 'latin1' })).toEqual([
      ['ID', 'Name'],
      ['1', 'éü€'],
    ]);
  });

  it.each([
    ['UTF-8 BOM', Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(text)])],
    ['UTF-16LE BOM', Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, 'utf16le')])],
    ['UTF-16BE BOM', Buffer.concat([Buffer.from([0xfe, 0xff]), utf16be(text)])],
  ])('a %s wins over the mapping’s encoding and is not part of the first header', async (_, bytes) => {
    for (const encoding of ['latin1', 'utf-8', 'utf-16be'] as const)
      expect(await csvRows(bytes, { encoding }, 1)).toEqual(EXPECTED);
  });

  it('invalid UTF-8 stays a file error with its byte offset; invalid UTF-16 names UTF-16', async () => {
    const bad = Buffer.concat([Buffer.from('ID\n1\n'), Buffer.from([0xc3, 0x28]), Buffer.from('\n')]);
    expect(await readError(bad, { format: 'csv' })).toBe(
      'in.csv: invalid UTF-8 near byte 5: the file must be UTF-8 text',
    );
    const loneSurrogate = Buffer.concat([
      Buffer.from('ID\n', 'utf16le'),
      Buffer.from([0x00, 0xd8, 0x41, 0x00]),
    ]);
    expect(await readError(loneSurrogate, { format: 'csv', csv: { encoding: 'utf-16le' } })).toMatch(
      /^in\.csv: invalid UTF-16LE near byte \d+/,
    );
  });

  it('a NUL byte is binary content in UTF-8, not in UTF-16 text', async () => {
    expect(await readError(Buffer.from('ID\n\u0000\n'), { format: 'csv' })).toBe(
      'in.csv: binary content (a NUL byte near byte 3), not CSV text',
    );
  });
});

describe('gzip', () => {
  const text = 'ID,Street,Town\n1,Rue de l’Église,Zürich\n2,"a;b|c,d",x\n';
  it('is detected by its magic bytes whatever the name, and streamed', async () => {
    expect(await csvRows(gzipSync(text), {}, 3)).toEqual(EXPECTED);
  });

  it('combines with a dialect, an encoding and a BOM inside', async () => {
    const inner = Buffer.concat([
      Buffer.from([0xff, 0xfe]),
      Buffer.from(text.replaceAll(',', ';').replace('"a;b|c;d"', '"a;b|c,d"'), 'utf16le'),
    ]);
    expect(await csvRows(gzipSync(inner), { delimiter: ';' }, 2)).toEqual(EXPECTED);
  });

  it('a corrupt or cut-short stream is one clear file error', async () => {
    const gz = gzipSync(Buffer.from(text.repeat(50)));
    const corrupt = Buffer.from(gz);
    corrupt.fill(0x55, 12, 40);
    expect(await readError(corrupt, { format: 'csv' })).toMatch(
      /^in\.csv: not a valid gzip stream \(corrupt data/,
    );
    expect(await readError(gz.subarray(0, gz.length - 20), { format: 'csv' })).toBe(
      'in.csv: not a valid gzip stream (it ends early: the file is cut short)',
    );
  });
});

describe('JSON Lines', () => {
  const columns = ['id', 'address.town', 'address.zip', 'tags', 'active', 'note'];
  const read = (text: string) => records(text, { format: 'jsonl', columns }, 4);

  it('takes columns by name or dotted path; numbers, booleans, objects and arrays as JSON text, null as empty', async () => {
    const out = await read(
      '{"id":"a1","address":{"town":"Antrim","zip":22876},"tags":["x",{"y":1}],"active":true,"note":null}\r\n' +
        '\n' +
        '{"id":"a2","address":{"zip":123456789012345678901234.5e3}}\n',
    );
    expect(out).toEqual([
      { record: columns },
      { record: ['a1', 'Antrim', '22876', '["x",{"y":1}]', 'true', ''] },
      // Numbers keep every digit as written: DynamoDB keeps 38.
      { record: ['a2', '', '123456789012345678901234.5e3', '', '', ''] },
    ]);
  });

  it('a key holding a dot is matched whole first, then the name is split at its dots', async () => {
    const out = await records(
      '{"a.b":"whole","a":{"b":"nested"}}\n{"a":{"b.c":"inner whole"}}\n{"a":{"b":{"c":"deep"}}}\n',
      { format: 'jsonl', columns: ['a.b', 'a.b.c'] },
    );
    expect(out.slice(1).map((r) => r.record)).toEqual([
      ['whole', ''],
      ['', 'inner whole'],
      ['{"c":"deep"}', 'deep'],
    ]);
  });

  it('a line that is not a JSON object is a problem of that row only, never quoting it', async () => {
    const out = await read('{"id":"1"}\n[1,2]\n"SECRET"\nnot json SECRET\n{"id":"5"}\n');
    expect(out.slice(1)).toEqual([
      { record: ['1', '', '', '', '', ''] },
      { record: [], problem: 'line is an array, not a JSON object' },
      { record: [], problem: 'line is a string, not a JSON object' },
      { record: [], problem: 'line is not valid JSON' },
      { record: ['5', '', '', '', '', ''] },
    ]);
  });

  it('a line longer than the limit is not held: it fails as its own row and the next lines are read', async () => {
    const long = JSON.stringify({ id: 'x'.repeat(200) });
    const out = await records(`{"id":"1"}\n${long}\n{"id":"3"}\n${long}`, {
      format: 'jsonl',
      columns: ['id'],
      maxLineChars: 50,
    });
    expect(out.slice(1)).toEqual([
      { record: ['1'] },
      { record: [], problem: 'line is longer than 50 characters' },
      { record: ['3'] },
      { record: [], problem: 'line is longer than 50 characters' },
    ]);
  });

  it('gzipped JSON Lines are read too', async () => {
    const out = await records(gzipSync('{"id":"1"}\n{"id":"2"}'), { format: 'jsonl', columns: ['id'] });
    expect(out.map((r) => r.record)).toEqual([['id'], ['1'], ['2']]);
  });
});

describe('extract over the readers', () => {
  const jsonMapping: Mapping = {
    key: { partition: 'id' },
    format: 'jsonl',
    columns: {
      id: { attribute: 'id', type: 'string', required: true },
      'address.town': { attribute: 'town', type: 'string', sensitive: true },
    },
  };
  const cipher: FieldCipher = {
    encrypt: async (_run, plaintext) => `enc(${plaintext})`,
    decrypt: async (_run, ciphertext) => ciphertext.slice(4, -1),
  };

  it('puts JSON Lines rows as CSV lines, encrypting sensitive values; a bad line fails its row, stage extract', async () => {
    const publisher = new RecordingPublisher();
    const result = await extract({
      source: 's',
      run: 'r1',
      file: 'in.jsonl',
      input: chunked('{"id":"1","address":{"town":"Antrim"}}\n42\n{"id":"3"}\n', 6),
      publisher,
      mapping: jsonMapping,
      cipher,
    });
    expect(result.rows).toBe(3);
    const rows = publisher.details<RowExtractedDetail>(DetailType.rowExtracted);
    expect(rows.map((r) => [r.row, r.headers, decodeCsvLine(r.data)])).toEqual([
      [1, 'id,address.town', ['1', 'enc(Antrim)']],
      [3, 'id,address.town', ['3', '']],
    ]);
    expect(publisher.details<RowFailedDetail>(DetailType.rowFailed)).toEqual([
      {
        status: 'failed',
        stage: 'extract',
        reason: 'line is a number, not a JSON object',
        run: 'r1',
        row: 2,
      },
    ]);
    expect(publisher.details(DetailType.extractionCompleted)).toEqual([
      { status: 'completed', run: 'r1', file: 'in.jsonl', rows: 3 },
    ]);
  });

  it('events keep comma-encoded CSV lines whatever the file’s dialect; header:false rows count from 1', async () => {
    const publisher = new RecordingPublisher();
    await extract({
      source: 's',
      run: 'r1',
      file: 'in.csv',
      input: chunked(gzipSync('1;"Main, Street"\n2;Quay\n'), 4),
      publisher,
      mapping: {
        key: { partition: 'id' },
        csv: { delimiter: ';', header: false, columns: ['ID', 'Street'] },
        columns: { ID: { attribute: 'id', type: 'string', required: true } },
      },
    });
    const rows = publisher.details<RowExtractedDetail>(DetailType.rowExtracted);
    expect(rows.map((r) => [r.row, r.headers, r.data])).toEqual([
      [1, 'ID,Street', '1,"Main, Street"'],
      [2, 'ID,Street', '2,Quay'],
    ]);
  });

  it('a corrupt gzip file fails the file with extraction-failed', async () => {
    const publisher = new RecordingPublisher();
    const gz = gzipSync('ID\n1\n'.repeat(100));
    await expect(
      extract({
        source: 's',
        run: 'r1',
        file: 'in.csv',
        input: chunked(gz.subarray(0, gz.length - 10)),
        publisher,
        mapping: { key: { partition: 'id' }, columns: { ID: { attribute: 'id', type: 'string' } } },
      }),
    ).rejects.toThrow(ExtractError);
    expect(publisher.details(DetailType.extractionFailed)).toHaveLength(1);
  });
});
