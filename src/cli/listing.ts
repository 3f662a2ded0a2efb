/**
 * The output of the listing commands (`scan`, `events`, `errors`, `runs`, `dlq`): records are written as
 * they are read, so memory stays flat whether there are ten records or ten million.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { InvalidArgumentError } from 'commander';

/** Rows that size the table's columns; later rows are fitted (and cut) to those widths. */
export const TABLE_SAMPLE_ROWS = 200;
/** The widest a column grows (except the last, which nothing follows). */
export const MAX_COLUMN_WIDTH = 60;
/** Output is written in chunks of about this size: one write per record would be a syscall per line. */
const CHUNK_BYTES = 64 * 1024;

/** `--limit N`: a whole number, at least 1. */
export function parseLimit(value: string): number {
  const limit = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(limit) || limit < 1)
    throw new InvalidArgumentError('a whole number of 1 or more');
  return limit;
}

/** Text to a stream in chunks, waiting when the reader is slower than we are. */
export class ChunkedOutput {
  private pending: string[] = [];
  private pendingLength = 0;

  constructor(private readonly stream: Writable = process.stdout) {}

  async write(text: string): Promise<void> {
    this.pending.push(text);
    this.pendingLength += text.length;
    if (this.pendingLength >= CHUNK_BYTES) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.pending.length === 0) return;
    const chunk = this.pending.join('');
    this.pending = [];
    this.pendingLength = 0;
    if (!this.stream.write(chunk)) await once(this.stream, 'drain');
  }
}

export interface RecordWriter<T> {
  write(record: T): Promise<void>;
  /** Writes what is still held and returns how many records were written. */
  end(): Promise<number>;
}

/** A JSON array written an element at a time: `[`, one record per line, `]`. */
export class JsonArrayWriter<T> implements RecordWriter<T> {
  private count = 0;

  constructor(
    private readonly out: ChunkedOutput,
    private readonly text: (record: T) => string = (record) => JSON.stringify(record, jsonValue),
  ) {}

  async write(record: T): Promise<void> {
    await this.out.write(`${this.count === 0 ? '[\n  ' : ',\n  '}${this.text(record)}`);
    this.count++;
  }

  async end(): Promise<number> {
    await this.out.write(this.count === 0 ? '[]\n' : '\n]\n');
    await this.out.flush();
    return this.count;
  }
}

/**
 * An aligned table. Its columns (the union of the attributes, `leading` first) and their widths come
 * from the first {@link TABLE_SAMPLE_ROWS} rows. A later, longer cell pushes the rest of its line along
 * rather than lose characters (a row number must stay whole); a cell over {@link MAX_COLUMN_WIDTH} is cut
 * with `…`; a later attribute that no sampled row had is appended to its line as `name=value`.
 */
export class TableWriter implements RecordWriter<Record<string, unknown>> {
  private sample: Record<string, unknown>[] | undefined = [];
  private columns: string[] = [];
  private known = new Set<string>();
  private widths: number[] = [];
  private count = 0;

  constructor(
    private readonly out: ChunkedOutput,
    private readonly leading: readonly string[] = [],
  ) {}

  async write(row: Record<string, unknown>): Promise<void> {
    this.count++;
    if (this.sample) {
      this.sample.push(row);
      if (this.sample.length >= TABLE_SAMPLE_ROWS) await this.startTable();
      return;
    }
    await this.out.write(this.line(row));
  }

  async end(): Promise<number> {
    if (this.sample) await this.startTable();
    await this.out.flush();
    return this.count;
  }

  private async startTable(): Promise<void> {
    const sample = this.sample ?? [];
    this.sample = undefined;
    if (sample.length === 0) return;
    const names = new Set<string>();
    for (const name of this.leading) if (sample.some((row) => name in row)) names.add(name);
    for (const row of sample) for (const name of Object.keys(row)) names.add(name);
    this.columns = [...names];
    this.known = names;
    this.widths = this.columns.map((name) => {
      let width = 0;
      for (const row of sample) width = Math.max(width, cellText(row[name]).length);
      return Math.max(name.length, Math.min(width, MAX_COLUMN_WIDTH));
    });
    await this.out.write(this.join(this.columns));
    for (const row of sample) await this.out.write(this.line(row));
  }

  private line(row: Record<string, unknown>): string {
    const cells = this.columns.map((name) => cellText(row[name]));
    for (const name of Object.keys(row)) {
      if (!this.known.has(name) && row[name] !== undefined) cells.push(`${name}=${cellText(row[name])}`);
    }
    return this.join(cells);
  }

  /** Cells fitted to their columns (the last is not cut: nothing follows it), on one line. */
  private join(cells: string[]): string {
    const last = this.columns.length - 1;
    const fitted = cells.map((text, i) => (i < last ? fit(text, this.widths[i] as number) : text));
    return `${fitted.join('  ').trimEnd()}\n`;
  }
}

/**
 * Writes each record of `records` (up to `limit`) as JSON or as a table row, and returns how many
 * it wrote. `row` picks a record's table columns; the JSON shows the whole record.
 */
export async function writeListing<T>(
  records: AsyncIterable<T> | Iterable<T>,
  options: {
    json?: boolean;
    /** A record's JSON text (default: JSON.stringify, with sets as arrays and binary as base64). */
    jsonText?: (record: T) => string;
    limit?: number;
    row: (record: T) => Record<string, unknown>;
    leadingColumns?: readonly string[];
    out?: ChunkedOutput;
  },
): Promise<number> {
  const out = options.out ?? new ChunkedOutput();
  const limit = options.limit ?? Infinity;
  let writer: RecordWriter<T>;
  if (options.json) writer = new JsonArrayWriter<T>(out, options.jsonText);
  else {
    const table = new TableWriter(out, options.leadingColumns);
    writer = { write: (record) => table.write(options.row(record)), end: () => table.end() };
  }
  let written = 0;
  // Stopping the loop early closes the source (its `return`), so a limit reads no further than it prints.
  for await (const record of records) {
    await writer.write(record);
    if (++written >= limit) break;
  }
  return writer.end();
}

/** A cell's text on one line: control characters are shown escaped, as JSON would. */
export function cellText(value: unknown): string {
  let text: string;
  if (value === undefined) return '';
  if (typeof value === 'string') text = value;
  else if (typeof value === 'object' && value !== null) text = JSON.stringify(value, jsonValue);
  else text = String(value);
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f]/g, (c) => JSON.stringify(c).slice(1, -1));
}

/** A cell padded to its column; a longer one keeps its text (up to the widest a column grows). */
function fit(text: string, width: number): string {
  return text.length > MAX_COLUMN_WIDTH ? `${text.slice(0, MAX_COLUMN_WIDTH - 1)}…` : text.padEnd(width);
}

/** What JSON shows for values JSON.stringify would lose: sets as arrays, binary as base64. */
function jsonValue(_key: string, value: unknown): unknown {
  if (value instanceof Set) return [...(value as Set<unknown>)];
  if (value instanceof Uint8Array) return Buffer.from(value).toString('base64');
  if (typeof value === 'bigint') return value.toString();
  return value;
}
