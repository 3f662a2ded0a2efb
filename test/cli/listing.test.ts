/**
 * The listing commands at a scale the old code could not take: a table sized by spreading every cell
 * into Math.max overflowed the stack at about 125,000 rows.
 */
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { ChunkedOutput, MAX_COLUMN_WIDTH, TABLE_SAMPLE_ROWS, writeListing } from '../../src/cli/listing.ts';

/** A stream that keeps only its line count and the lines asked for. */
class LineSink extends Writable {
  lines = 0;
  kept = new Map<number, string>();
  private partial = '';
  constructor(private readonly keep: (index: number) => boolean) {
    super();
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    const parts = (this.partial + chunk.toString()).split('\n');
    this.partial = parts.pop() ?? '';
    for (const line of parts) {
      if (this.keep(this.lines)) this.kept.set(this.lines, line);
      this.lines++;
    }
    done();
  }
}

function* records(count: number): Generator<{ id: number; name: string }> {
  for (let i = 1; i <= count; i++) yield { id: i, name: `row ${i}` };
}

const ROWS = 1_000_000;

describe('writeListing', () => {
  it(`writes ${ROWS.toLocaleString('en')} rows as a table, columns sized from the first rows`, async () => {
    const sink = new LineSink((i) => i <= 2 || i >= ROWS - 1);
    const written = await writeListing(records(ROWS), { row: (r) => r, out: new ChunkedOutput(sink) });
    expect(written).toBe(ROWS);
    expect(sink.lines).toBe(ROWS + 1);
    expect(sink.kept.get(0)).toBe('id   name');
    expect(sink.kept.get(1)).toBe('1    row 1');
    // The sample's widest id has 3 digits: a later, longer id is kept whole and pushes its line along.
    expect(sink.kept.get(ROWS)).toBe('1000000  row 1000000');
  });

  it(`writes ${ROWS.toLocaleString('en')} rows as one JSON array, one element per line`, async () => {
    const sink = new LineSink((i) => i <= 1 || i >= ROWS);
    expect(
      await writeListing(records(ROWS), { json: true, row: (r) => r, out: new ChunkedOutput(sink) }),
    ).toBe(ROWS);
    expect(sink.lines).toBe(ROWS + 2);
    expect([sink.kept.get(0), sink.kept.get(1), sink.kept.get(ROWS), sink.kept.get(ROWS + 1)]).toEqual([
      '[',
      '  {"id":1,"name":"row 1"},',
      '  {"id":1000000,"name":"row 1000000"}',
      ']',
    ]);
  });

  it('stops reading at --limit', async () => {
    let read = 0;
    function* counted(): Generator<{ n: number }> {
      for (;;) yield { n: ++read };
    }
    const sink = new LineSink(() => true);
    expect(await writeListing(counted(), { limit: 3, row: (r) => r, out: new ChunkedOutput(sink) })).toBe(3);
    expect(read).toBe(3);
    expect([...sink.kept.values()]).toEqual(['n', '1', '2', '3']);
  });

  it('cuts cells over the widest width, escapes line breaks, and shows attributes the sample lacked as name=value', async () => {
    const rows: Record<string, unknown>[] = [];
    for (let i = 0; i < TABLE_SAMPLE_ROWS; i++) rows.push({ id: 'a', note: 'x' });
    rows.push({ id: 'b'.repeat(100), note: 'two\nlines', extra: { n: 1 }, tags: new Set(['t']) });
    const sink = new LineSink(() => true);
    await writeListing(rows, { row: (r) => r, out: new ChunkedOutput(sink) });
    const last = sink.kept.get(TABLE_SAMPLE_ROWS + 1) ?? '';
    expect(last).toBe(`${'b'.repeat(MAX_COLUMN_WIDTH - 1)}…  two\\nlines  extra={"n":1}  tags=["t"]`);
    expect(sink.kept.get(0)).toBe('id  note');
  });

  it('gives a column no more than the widest width, whatever the sample holds', async () => {
    const sink = new LineSink(() => true);
    await writeListing([{ long: 'y'.repeat(500), next: 1 }], { row: (r) => r, out: new ChunkedOutput(sink) });
    expect(sink.kept.get(1)).toBe(`${'y'.repeat(MAX_COLUMN_WIDTH - 1)}…  1`);
  });
});
