import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DetailType } from '../../src/pipeline/definition.ts';
import type { RowExtractedDetail } from '../../src/pipeline/events.ts';
import { SEED_MAPPING } from '../../src/pipeline/mapping.ts';
import { MAX_PUT_EVENTS_BYTES, putEventsEntrySize } from '../../src/pipeline/put-events.ts';
import { decodeCsvLine } from '../../src/stages/csv.ts';
import { extract, ExtractError } from '../../src/stages/extract.ts';
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
    expect((await run('A,B\n1\n1,2,3\n')).values).toEqual([['1'], ['1', '2', '3']]);
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
    [
      'a row too large for one event',
      `ID,Blob\n1,${'y'.repeat(300 * 1024)}\n`,
      /in\.csv:2: row 1 is too large for one event/,
    ],
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
