/** The CSV line encoding of the seed's `headers` and `data` fields, made correct for RFC 4180. */
import { parse } from 'csv-parse/sync';

const NEEDS_QUOTES = /[",\r\n]/;

/** Joins values with commas as the seed did, quoting only the values that need it. */
export function encodeCsvLine(values: readonly string[]): string {
  let line = '';
  for (let i = 0; i < values.length; i++) {
    const value = values[i] as string;
    if (i > 0) line += ',';
    line += NEEDS_QUOTES.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
  }
  return line;
}

/** Parses one encoded line back into its values. */
export function decodeCsvLine(line: string): string[] {
  // Without a quote no value can hold a comma or newline, so splitting is exact and much cheaper.
  if (!line.includes('"')) return line.split(',');
  const records = parse(line, { relax_column_count: true }) as string[][];
  return records[0] ?? [''];
}
