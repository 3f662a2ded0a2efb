/**
 * `etl errors --run ID --csv`: a run's failed rows as a CSV to fix and run again. Failed-row records
 * hold no values, so the run's file is read again with the readers that read it, and only the failed
 * rows are written: the file's header (sensitive columns left out) plus `_row` and `_reason`. It
 * streams: memory holds the failed rows' numbers and reasons, never the file.
 */
import type { CsvEncoding } from '../pipeline/input-format.ts';
import type { Mapping } from '../pipeline/mapping.ts';
import { asExtractError, type RecordInput, readOptionsOf, readRecords } from './readers.ts';

/** The columns added after the file's own; a file written here and run again keeps them once. */
export const ROW_COLUMN = '_row';
export const REASON_COLUMN = '_reason';

/** Failed rows by row number, each with its reasons (repeats interned: memory is per failed row). */
export class FailedRows {
  private readonly reasons: string[] = [];
  private readonly reasonIndex = new Map<string, number>();
  private readonly rows = new Map<number, number[]>();

  add(row: number, reason: string): void {
    let index = this.reasonIndex.get(reason);
    if (index === undefined) {
      index = this.reasons.push(reason) - 1;
      this.reasonIndex.set(reason, index);
    }
    const known = this.rows.get(row);
    if (!known) this.rows.set(row, [index]);
    else if (!known.includes(index)) known.push(index);
  }

  get size(): number {
    return this.rows.size;
  }

  reasonOf(row: number): string | undefined {
    return this.rows
      .get(row)
      ?.map((i) => this.reasons[i])
      .join('; ');
  }
}

export interface FailedRowsCsvOptions {
  /** How the file is named in messages. */
  file: string;
  input: RecordInput;
  /** The run's own mapping: how its file was read, and which columns are sensitive. */
  mapping: Mapping;
  failed: FailedRows;
  /** Takes the output's bytes; resolves when it can take more. */
  write: (bytes: Buffer) => Promise<void>;
}

export interface FailedRowsCsvResult {
  written: number;
  /** Sensitive columns left out. */
  leftOut: string[];
  /** Failed rows that had no values to write (a JSON Lines line that is not an object). */
  unreadable: number[];
}

/**
 * Writes the failed rows in the file's own dialect (delimiter, quote, encoding; a BOM for UTF-16),
 * always with a header row. A row whose field count differs from the header's keeps its fields as
 * they are, unless the mapping has sensitive columns: then none of its values can be told safe, and
 * they are left empty.
 */
export async function writeFailedRowsCsv(options: FailedRowsCsvOptions): Promise<FailedRowsCsvResult> {
  const { mapping, failed } = options;
  const csv = mapping.format === 'jsonl' ? {} : (mapping.csv ?? {});
  const sensitive = new Set(
    Object.entries(mapping.columns)
      .filter(([, c]) => c.sensitive)
      .map(([name]) => name),
  );
  const encode = lineEncoder(csv.delimiter ?? ',', csv.quote ?? '"');
  const bytes = textEncoder(csv.encoding ?? 'utf-8');
  let kept: number[] = [];
  let headerLength = 0;
  let header: string[] | undefined;
  let row = 0;
  const result: FailedRowsCsvResult = { written: 0, leftOut: [], unreadable: [] };
  const writeLine = (values: string[]): Promise<void> => options.write(bytes(`${encode(values)}\n`));
  try {
    if (csv.encoding?.startsWith('utf-16')) await options.write(bytes('\ufeff'));
    for await (const { record, problem } of readRecords(options.input, readOptionsOf(mapping))) {
      if (header === undefined) {
        header = record;
        headerLength = record.length;
        // Columns this command added before are written afresh, not twice.
        kept = record.flatMap((name, i) =>
          sensitive.has(name) || name === ROW_COLUMN || name === REASON_COLUMN ? [] : [i],
        );
        result.leftOut = record.filter((name) => sensitive.has(name));
        await writeLine([...kept.map((i) => record[i] as string), ROW_COLUMN, REASON_COLUMN]);
        continue;
      }
      row += 1;
      const reason = failed.reasonOf(row);
      if (reason === undefined) continue;
      if (problem !== undefined) {
        result.unreadable.push(row);
        continue;
      }
      const values =
        record.length === headerLength
          ? kept.map((i) => record[i] as string)
          : sensitive.size > 0
            ? kept.map(() => '')
            : record;
      await writeLine([...values, String(row), reason]);
      result.written += 1;
    }
  } catch (error) {
    throw asExtractError(error, options.file, header ?? []);
  }
  return result;
}

/** A CSV line in the dialect: a value is quoted when it holds the delimiter, the quote or a line break. */
function lineEncoder(delimiter: string, quote: string): (values: readonly string[]) => string {
  const needsQuotes = (value: string): boolean =>
    value.includes(delimiter) || value.includes(quote) || value.includes('\n') || value.includes('\r');
  return (values) =>
    values
      .map((value) =>
        needsQuotes(value) ? `${quote}${value.replaceAll(quote, quote + quote)}${quote}` : value,
      )
      .join(delimiter);
}

/** Windows-1252's characters at 0x80-0x9F (what `latin1` reads there). */
const WINDOWS_1252_HIGH = '€\u0081‚ƒ„…†‡ˆ‰Š‹Œ\u008dŽ\u008f\u0090‘’“”•–—˜™š›œ\u009džŸ';

function textEncoder(encoding: CsvEncoding): (text: string) => Buffer {
  if (encoding === 'utf-16le') return (text) => Buffer.from(text, 'utf16le');
  if (encoding === 'utf-16be') return (text) => Buffer.from(text, 'utf16le').swap16();
  if (encoding === 'latin1') {
    return (text) => {
      const out = Buffer.alloc(text.length);
      let n = 0;
      for (const c of text) {
        const code = c.codePointAt(0) as number;
        const high = WINDOWS_1252_HIGH.indexOf(c);
        // A character Windows-1252 lacks cannot be written in it: `?`, as Windows does.
        out[n++] = high !== -1 ? 0x80 + high : code <= 0xff && (code < 0x80 || code > 0x9f) ? code : 0x3f;
      }
      return out.subarray(0, n);
    };
  }
  return (text) => Buffer.from(text, 'utf8');
}
