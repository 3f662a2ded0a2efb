import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DetailType } from '../../src/pipeline/definition.ts';
import type { RowExtractedDetail } from '../../src/pipeline/events.ts';
import { type Mapping, SEED_MAPPING } from '../../src/pipeline/mapping.ts';
import { MAX_PUT_EVENTS_BYTES, putEventsEntrySize } from '../../src/pipeline/put-events.ts';
import { decodeCsvLine } from '../../src/stages/csv.ts';
import { extract, ExtractError } from '../../src/stages/extract.ts';
import type { FieldCipher } from '../../src/stages/ports.ts';
import { RepeatedKeys } from '../../src/stages/repeated-keys.ts';
import { chunked, RecordingPublisher } from '../support/collect.ts';

const source = 'cdkpatterns.the-eventbridge-etl';

async function run(content: string | Buffer, chunkSize = 7) {
  const publisher = new RecordingPublisher();
  const result = await extract({
    source,
    run: 'r1',
    file: 'in.csv',
    input: chunked(content, chunkSize),
    publisher,
    mapping: SEED_MAPPING,
  });
  const rows = publisher.details<RowExtractedDetail>(DetailType.rowExtracted);
  return { result, publisher, rows, values: rows.map((r) => decodeCsvLine(r.data)) };
}

describe('extract', () => {
  it("puts one s3RecordExtraction event per row of the seed's sample, with the seed's detail", async () => {
    const { result, rows, publisher } = await run(readFileSync('data/test_data.csv'));
    expect(result.rows).toBe(5);
    expect(rows[0]).toEqual({
      status: 'extracted',
      headers: 'ID,HouseNum,Street,Town,Zip',
      data: '1,12,Main Street,Antrim,22876',
      run: 'r1',
      row: 1,
    });
    expect(rows.map((r) => r.row)).toEqual([1, 2, 3, 4, 5]);
    const types = publisher.entries.map((e) => e.DetailType);
    expect(types[0]).toBe(DetailType.extractionStarted);
    expect(types.at(-1)).toBe(DetailType.extractionCompleted);
    expect(publisher.details(DetailType.extractionCompleted)).toEqual([
      { status: 'completed', run: 'r1', file: 'in.csv', rows: 5 },
    ]);
    for (const entry of publisher.entries) expect(entry.Source).toBe(source);
  });

  it('reads quoted fields with embedded commas, quotes and newlines', async () => {
    const { values } = await run('ID,Street\r\n1,"Main St, Apt 2"\r\n2,"say ""hi"""\r\n3,"two\r\nlines"\r\n');
    expect(values).toEqual([
      ['1', 'Main St, Apt 2'],
      ['2', 'say "hi"'],
      ['3', 'two\r\nlines'],
    ]);
  });

  it('strips a UTF-8 BOM and keeps multi-byte characters split across chunks', async () => {
    const { rows, values } = await run(
      Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('ID,Town\n1,Dún Laoghaire\n2,東京\n')]),
      3,
    );
    expect(rows[0]?.headers).toBe('ID,Town');
    expect(values).toEqual([
      ['1', 'Dún Laoghaire'],
      ['2', '東京'],
    ]);
  });

  it('handles LF and CRLF endings and a last line without a newline', async () => {
    expect((await run('ID\n1\n2')).values).toEqual([['1'], ['2']]);
    expect((await run('ID\r\n1\r\n2\r\n')).values).toEqual([['1'], ['2']]);
  });

  it('passes ragged rows on, so transform can report them', async () => {
    expect((await run('ID,B\n1\n1,2,3\n')).values).toEqual([['1'], ['1', '2', '3']]);
  });

  it('puts rows in PutEvents-sized batches: at most 10 entries and 256 KB', async () => {
    const wide = 'x'.repeat(60 * 1024);
    const lines = [
      'ID,Blob',
      ...Array.from({ length: 30 }, (_, i) => `${i},${i % 3 === 0 ? wide : 'small'}`),
    ];
    const { publisher, rows } = await run(lines.join('\n'), 4096);
    expect(rows).toHaveLength(30);
    for (const call of publisher.calls) {
      expect(call.length).toBeLessThanOrEqual(10);
      expect(call.reduce((n, e) => n + putEventsEntrySize(e), 0)).toBeLessThanOrEqual(MAX_PUT_EVENTS_BYTES);
    }
    expect(publisher.calls.filter((c) => c.length === 10).length).toBeGreaterThan(0);
  });

  it('fails a row too large for one event on its own, and extracts the rest of the file', async () => {
    const { result, publisher } = await run(`ID,Blob\n1,small\n2,${'y'.repeat(300 * 1024)}\n3,small\n`);
    expect(result.rows).toBe(3);
    expect(publisher.details(DetailType.rowExtracted).map((d) => d.row)).toEqual([1, 3]);
    expect(publisher.details(DetailType.rowFailed)).toEqual([
      {
        status: 'failed',
        stage: 'extract',
        reason: expect.stringMatching(
          /^the row's s3RecordExtraction event would be \d+ bytes; PutEvents takes at most 262144$/,
        ),
        run: 'r1',
        row: 2,
      },
    ]);
    expect(JSON.stringify(publisher.details(DetailType.rowFailed))).not.toContain('yyy');
  });

  it('a header-only file is a run of 0 rows', async () => {
    const { result, publisher } = await run('ID,HouseNum\r\n');
    expect(result.rows).toBe(0);
    expect(publisher.details(DetailType.extractionCompleted)).toEqual([
      { status: 'completed', run: 'r1', file: 'in.csv', rows: 0 },
    ]);
  });

  it.each([
    ['an empty file', '', /in\.csv: the file is empty/],
    ['an unterminated quote', 'ID,Street\n1,ok\n2,"open\n3,x\n', /in\.csv:\d+: unterminated quoted field/],
    ['a duplicate header', 'ID,ID\n1,2\n', /in\.csv:1: header column "ID" appears twice/],
    ['an empty header name', 'ID,,Town\n1,2,3\n', /in\.csv:1: header column 2 has no name/],
    ['invalid UTF-8', Buffer.from([0x49, 0x44, 0x0a, 0xff, 0xfe, 0x0a]), /in\.csv: invalid UTF-8/],
    ['binary content', Buffer.from([0x49, 0x44, 0x0a, 0x00, 0x01, 0x0a]), /in\.csv: binary content/],
  ])('rejects %s with a message saying what and where', async (_, content, message) => {
    const publisher = new RecordingPublisher();
    const attempt = extract({
      source,
      run: 'r1',
      file: 'in.csv',
      input: chunked(content, 1024),
      publisher,
      mapping: SEED_MAPPING,
    });
    await expect(attempt).rejects.toThrow(ExtractError);
    await expect(attempt).rejects.toThrow(message);
    // The observer is told how many rows were put before the file failed.
    expect(publisher.details(DetailType.extractionFailed)).toHaveLength(1);
  });

  it('reports the rows put before a file error, and they stay put', async () => {
    const publisher = new RecordingPublisher();
    const body = ['ID', ...Array.from({ length: 25 }, (_, i) => String(i)), '"open'].join('\n');
    await expect(
      extract({
        source,
        run: 'r1',
        file: 'in.csv',
        input: chunked(body, 5),
        publisher,
        mapping: SEED_MAPPING,
      }),
    ).rejects.toThrow(/unterminated/);
    const put = publisher.details<RowExtractedDetail>(DetailType.rowExtracted).length;
    const failed = publisher.details<{ rows: number }>(DetailType.extractionFailed);
    // Every row before the bad line, including those still waiting for a full batch.
    expect(put).toBe(25);
    expect(failed[0]?.rows).toBe(25);
  });
});

describe('extract: line endings, parse errors after many rows, sensitive columns, repeated keys', () => {
  /** A fake cipher: marks values so a test can see which were encrypted. */
  const cipher: FieldCipher = {
    encrypt: async (_run, value) => `enc(${Buffer.from(value).toString('hex')})`,
    decrypt: async () => {
      throw new Error('extract never decrypts');
    },
  };
  const sensitiveMapping: Mapping = {
    key: { partition: 'id' },
    columns: {
      ID: { attribute: 'id', type: 'string', required: true },
      Street: { attribute: 'street', type: 'string', sensitive: true },
      Zip: { attribute: 'zip', type: 'string' },
    },
  };

  async function attempt(content: string, options: { mapping?: Mapping; chunkSize?: number } = {}) {
    const publisher = new RecordingPublisher();
    const outcome = await extract({
      source,
      run: 'r1',
      file: 'in.csv',
      input: chunked(content, options.chunkSize ?? 64 * 1024),
      publisher,
      mapping: options.mapping ?? sensitiveMapping,
      cipher,
    }).then(
      (result) => ({ result, error: undefined }),
      (error: unknown) => ({ result: undefined, error: error as Error }),
    );
    const rows = publisher.details<RowExtractedDetail>(DetailType.rowExtracted);
    return { ...outcome, publisher, rows, values: rows.map((r) => decodeCsvLine(r.data)) };
  }

  it.each([1, 7, 4096])(
    'reads LF, CRLF and CR mixed in one file as separate rows (chunks of %d)',
    async (size) => {
      const { values } = await attempt('ID,Town,Zip\r\n1,a,5\n2,b,6\r\n3,c,7\n4,d,8\r5,e,9', {
        mapping: SEED_MAPPING,
        chunkSize: size,
      });
      expect(values).toEqual([
        ['1', 'a', '5'],
        ['2', 'b', '6'],
        ['3', 'c', '7'],
        ['4', 'd', '8'],
        ['5', 'e', '9'],
      ]);
    },
  );

  it.each([1_000, 5_000])(
    'carries every row before a stray quote after %d good rows, and names the line without its value',
    async (good) => {
      const lines = ['ID,Street,Zip'];
      for (let i = 1; i <= good; i++) lines.push(`${i},street ${i},${i % 97}`);
      lines.push(`${good + 1},SECRET"VALUE,9`, `${good + 2},after,1`);
      const { error, rows, publisher } = await attempt(lines.join('\n'));
      expect(error).toBeInstanceOf(ExtractError);
      expect(error?.message).toBe(
        `in.csv:${good + 2}: a quote inside an unquoted field (field 2, Street): quote the whole field and double the quote inside it`,
      );
      expect(rows).toHaveLength(good);
      expect(rows.at(-1)?.row).toBe(good);
      expect(publisher.details(DetailType.extractionFailed)).toEqual([
        { status: 'failed', run: 'r1', file: 'in.csv', reason: error?.message, rows: good },
      ]);
      expect(JSON.stringify(publisher.entries)).not.toContain('SECRET');
    },
  );

  it.each([
    ['a stray quote', 'ID,Street,Zip\n1,SECRET"VALUE,2\n'],
    ['text after a closing quote', 'ID,Street,Zip\n1,"SECRET"VALUE,2\n'],
    ['an unterminated quote', 'ID,Street,Zip\n1,"SECRETVALUE,2\n'],
  ])('never quotes the value in a parse error: %s', async (_, content) => {
    const { error, publisher } = await attempt(content);
    expect(error).toBeInstanceOf(ExtractError);
    expect(error?.message).toMatch(/^in\.csv:2: /);
    expect(error?.message).not.toContain('SECRET');
    expect(JSON.stringify(publisher.entries)).not.toContain('SECRET');
  });

  it.each([
    [
      'a trailing space',
      'ID,Street ,Zip',
      'sensitive column `Street` not in the header; did you mean `Street `?',
    ],
    ['another case', 'ID,STREET,Zip', 'sensitive column `Street` not in the header; did you mean `STREET`?'],
    ['no such column', 'ID,Road,Zip', 'sensitive column `Street` not in the header'],
    [
      'a near-miss beside the exact name',
      'ID,Street,street ,Zip',
      'header column `street ` differs from the sensitive column `Street` only by case or spaces; rename it so its values are not read in clear',
    ],
  ])(
    'stops before any row when a sensitive column is missing from the header: %s',
    async (_, header, why) => {
      const { error, rows, publisher } = await attempt(`${header}\n1,SECRETVALUE,5,6\n`);
      expect(error?.message).toBe(`in.csv:1: ${why}`);
      expect(rows).toHaveLength(0);
      expect(publisher.details(DetailType.extractionFailed)).toMatchObject([{ rows: 0 }]);
      expect(JSON.stringify(publisher.entries)).not.toContain('SECRET');
    },
  );

  it('encrypts every cell of a row whose fields shifted (an unquoted comma before a sensitive value)', async () => {
    const { values } = await attempt('ID,Street,Zip\n1,Main,5\n2,Smith, SECRETVALUE,5\n');
    expect(values[0]?.[1]).toMatch(/^enc\(/);
    expect(values[0]?.[2]).toBe('5');
    expect(values[1]).toHaveLength(4);
    for (const value of values[1] ?? []) expect(value).toMatch(/^enc\(/);
  });

  it('counts rows whose key repeats an earlier row, and says so in extraction-completed', async () => {
    const { result, publisher } = await attempt(
      'ID,Street,Zip\n1,a,5\n1,b,6\n2,c,7\n2,d,8\n1,e,9\n,f,1\n,g,2\n',
    );
    expect(result).toEqual({ rows: 7, repeatedKeys: 3 });
    expect(publisher.details(DetailType.extractionCompleted)).toEqual([
      { status: 'completed', run: 'r1', file: 'in.csv', rows: 7, repeatedKeys: 3 },
    ]);
  });
});

describe('RepeatedKeys', () => {
  it('counts repeats exactly across table growth', () => {
    const keys = new RepeatedKeys();
    for (let i = 0; i < 50_000; i++) keys.add(`k${i}`);
    for (let i = 0; i < 50_000; i += 7) keys.add(`k${i}`);
    expect(keys.repeated).toBe(Math.ceil(50_000 / 7));
    expect(keys.complete).toBe(true);
  });
});
