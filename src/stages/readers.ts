/**
 * Readers: an input's bytes to records, the same on every runtime (`etl run`, `etl up`'s S3 and
 * landing folder, the Fargate task) and for `etl errors --csv` and `etl mapping infer`.
 *
 * bytes -> gunzip (a gzip stream, by its magic bytes, whatever the name) -> text (a BOM, else the
 * mapping's encoding) -> records: CSV by csv-parse in the mapping's dialect, or JSON Lines (each
 * line one object, columns taken by name or dotted path). The first record is the header.
 */
import { pipeline, Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { CsvError, parse } from 'csv-parse';
import { UserError } from '../pipeline/errors.ts';
import type { CsvEncoding, CsvOptions, InputFormat } from '../pipeline/input-format.ts';
import type { Mapping } from '../pipeline/mapping.ts';

export type RecordInput = Readable | AsyncIterable<Buffer | string>;

/** A file that cannot be read to its end; `line` is 1-based in the file. */
export class ExtractError extends UserError {
  constructor(
    message: string,
    readonly file: string,
    readonly line?: number,
  ) {
    super(line === undefined ? `${file}: ${message}` : `${file}:${line}: ${message}`);
    this.name = 'ExtractError';
  }
}

/**
 * Thrown by an input that finds its source changed while it was read (the runtime checks; extract
 * reports it as a file error, so the run fails with that reason).
 */
export class SourceChangedError extends UserError {
  override readonly name = 'SourceChangedError';
}

export interface ReadOptions {
  format: InputFormat;
  csv?: CsvOptions;
  /** JSON Lines: the columns to take from each object (names or dotted paths), in order. */
  columns?: readonly string[];
  /** JSON Lines: a longer line fails as a row (default MAX_JSON_LINE_CHARS). */
  maxLineChars?: number;
}

/** How a run's mapping reads its file. */
export function readOptionsOf(mapping: Mapping): ReadOptions {
  const format = mapping.format ?? 'csv';
  return format === 'jsonl'
    ? { format, columns: Object.keys(mapping.columns) }
    : { format, ...(mapping.csv ? { csv: mapping.csv } : {}) };
}

export interface InputRecord {
  record: string[];
  /** The line the record ends on (0 for a header the mapping supplies). */
  lines: number;
  /** Why this row cannot be read (a JSON Lines line that is not an object): it fails alone. */
  problem?: string;
}

/**
 * The input's records, the header first; then the reader's error, if any, after every record
 * before it. At most one chunk's records are held at a time.
 */
export async function* readRecords(input: RecordInput, options: ReadOptions): AsyncGenerator<InputRecord> {
  const text = decodedText(input, options);
  if (options.format === 'jsonl')
    yield* jsonLinesRecords(jsonLines(text, options.maxLineChars), options.columns ?? []);
  else yield* csvRecords(text, options.csv ?? {});
}

/** The input is not readable text (binary, a bad encoding, a corrupt gzip stream). */
class InputError extends Error {}

const GZIP_MAGIC = [0x1f, 0x8b];

/** The input's bytes, gunzipped when they start with gzip's magic bytes (never written to disk). */
async function* inputBytes(input: RecordInput): AsyncGenerator<Buffer> {
  const chunks = asBuffers(input);
  const head = await peek(chunks, GZIP_MAGIC.length);
  const isGzip = GZIP_MAGIC.every((byte, i) => head.bytes[i] === byte);
  if (!isGzip) {
    yield* head.replay();
    return;
  }
  const gunzip = createGunzip();
  const source = Readable.from(head.replay(), { objectMode: false });
  // Errors of the source (a changed file, an S3 body cut short) reach the reader as they are.
  pipeline(source, gunzip, () => undefined);
  try {
    for await (const chunk of gunzip) yield chunk as Buffer;
  } catch (error) {
    if (isZlibError(error)) throw new InputError(`not a valid gzip stream (${gzipProblem(error)})`);
    throw error;
  } finally {
    source.destroy();
    gunzip.destroy();
  }
}

function isZlibError(error: unknown): error is NodeJS.ErrnoException {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return typeof code === 'string' && code.startsWith('Z_');
}

function gzipProblem(error: NodeJS.ErrnoException): string {
  return error.code === 'Z_BUF_ERROR'
    ? 'it ends early: the file is cut short'
    : `corrupt data, ${error.code}`;
}

async function* asBuffers(input: RecordInput): AsyncGenerator<Buffer> {
  for await (const chunk of input as AsyncIterable<Buffer | string>)
    yield typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
}

/** The first `count` bytes (fewer at the end), and the whole input again from its start. */
async function peek(
  chunks: AsyncGenerator<Buffer>,
  count: number,
): Promise<{ bytes: Buffer; replay: () => AsyncGenerator<Buffer> }> {
  const taken: Buffer[] = [];
  let length = 0;
  while (length < count) {
    const next = await chunks.next();
    if (next.done) break;
    taken.push(next.value);
    length += next.value.length;
  }
  return {
    bytes: Buffer.concat(taken),
    replay: async function* () {
      yield* taken;
      yield* chunks;
    },
  };
}

const BOMS: { bytes: number[]; encoding: CsvEncoding }[] = [
  { bytes: [0xef, 0xbb, 0xbf], encoding: 'utf-8' },
  { bytes: [0xff, 0xfe], encoding: 'utf-16le' },
  { bytes: [0xfe, 0xff], encoding: 'utf-16be' },
];

const ENCODING_NAMES: Record<CsvEncoding, string> = {
  'utf-8': 'UTF-8',
  'utf-16le': 'UTF-16LE',
  'utf-16be': 'UTF-16BE',
  latin1: 'Latin-1',
};

/**
 * The input as text. A byte-order mark names the encoding whatever the mapping says (and is not
 * part of the text); otherwise the mapping's encoding, UTF-8 by default. Decoding is strict, so
 * bad bytes are reported, not mangled; `latin1` is read as Windows-1252, its superset that Excel
 * writes (0x80 is the euro sign).
 */
async function* decodedText(input: RecordInput, options: ReadOptions): AsyncGenerator<string> {
  const bytes = inputBytes(input);
  const head = await peek(bytes, 3);
  const bom = BOMS.find((b) => b.bytes.every((byte, i) => head.bytes[i] === byte));
  const encoding = bom?.encoding ?? options.csv?.encoding ?? 'utf-8';
  const decoder = new TextDecoder(encoding, { fatal: encoding !== 'latin1', ignoreBOM: true });
  const kind = options.format === 'jsonl' ? 'JSON Lines' : 'CSV';
  let offset = 0;
  let skip = bom?.bytes.length ?? 0;
  const decode = (buffer?: Buffer): string => {
    try {
      return buffer ? decoder.decode(buffer, { stream: true }) : decoder.decode();
    } catch {
      throw new InputError(
        `invalid ${ENCODING_NAMES[encoding]} near byte ${offset}: the file must be ${ENCODING_NAMES[encoding]} text`,
      );
    }
  };
  for await (let buffer of head.replay()) {
    if (skip > 0) {
      const skipped = Math.min(skip, buffer.length);
      buffer = buffer.subarray(skipped);
      skip -= skipped;
      offset += skipped;
    }
    // UTF-16 text is half NUL bytes; in the others a NUL is binary content (checked before decoding,
    // so a binary file is called that rather than bad text).
    const wide = encoding.startsWith('utf-16');
    if (!wide && buffer.includes(0)) throw binaryContent(offset + buffer.indexOf(0), kind);
    const text = decode(buffer);
    if (wide && text.includes('\u0000')) throw binaryContent(offset, kind);
    offset += buffer.length;
    if (text) yield text;
  }
  const rest = decode();
  if (rest) yield rest;
}

function binaryContent(offset: number, kind: string): InputError {
  return new InputError(`binary content (a NUL byte near byte ${offset}), not ${kind} text`);
}

/** CRLF, LF and CR each end a record, mixed in one file too (csv-parse would take the first seen). */
const RECORD_DELIMITERS = ['\r\n', '\n', '\r'];

/**
 * Records are taken from csv-parse's `on_record` as they are parsed, not from its stream: an error
 * destroys the stream and with it every record still buffered there (a whole chunk's worth).
 */
async function* csvRecords(text: AsyncIterable<string>, csv: CsvOptions): AsyncGenerator<InputRecord> {
  if (csv.header === false && csv.columns) yield { record: [...csv.columns], lines: 0 };
  const ready: InputRecord[] = [];
  let parseError: Error | undefined;
  const parser = parse({
    delimiter: csv.delimiter ?? ',',
    quote: csv.quote ?? '"',
    // A quote inside a quoted field is doubled, whichever the quote character is.
    escape: csv.quote ?? '"',
    relax_column_count: true,
    skip_empty_lines: true,
    record_delimiter: RECORD_DELIMITERS,
    on_record: (record: string[], context: { lines: number }) => {
      ready.push({ record, lines: context.lines });
      return null;
    },
  });
  parser.on('error', (error: Error) => {
    parseError ??= error;
  });
  parser.resume();
  const feed = (chunk: string, end: boolean): Promise<void> =>
    new Promise((resolve) => {
      const done = (): void => {
        parser.off('close', done);
        resolve();
      };
      parser.once('close', done);
      if (end) parser.end(chunk, done);
      else parser.write(chunk, done);
    });
  try {
    for await (const chunk of text) {
      await feed(chunk, false);
      yield* ready.splice(0);
      if (parseError) throw parseError;
    }
    await feed('', true);
    yield* ready.splice(0);
    if (parseError) throw parseError;
  } finally {
    parser.destroy();
  }
}

/** JSON Lines: the header is the columns; each non-blank line is a row of their values. */
async function* jsonLinesRecords(
  parsedLines: AsyncIterable<JsonLine>,
  columns: readonly string[],
): AsyncGenerator<InputRecord> {
  yield { record: [...columns], lines: 0 };
  for await (const line of parsedLines) {
    yield 'problem' in line
      ? { record: [], lines: line.lines, problem: line.problem }
      : { record: columns.map((column) => cellText(valueAt(line.object, column))), lines: line.lines };
  }
}

export type JsonLine = { lines: number; object: JsonObject } | { lines: number; problem: string };

/** A JSON Lines input's objects (or why a line is not one), e.g. to infer a mapping from them. */
export function readJsonLines(input: RecordInput): AsyncGenerator<JsonLine> {
  return jsonLines(decodedText(input, { format: 'jsonl' }));
}

/** The longest JSON Lines line kept in memory: far past what one event (256 KB) can carry. */
export const MAX_JSON_LINE_CHARS = 16 * 1024 * 1024;

/**
 * Each non-blank line parsed; `lines` is its line number. A line longer than `maxLineChars` is not
 * held: it is skipped to its end and fails as a row of its own, so memory stays bounded.
 */
async function* jsonLines(
  text: AsyncIterable<string>,
  maxLineChars = MAX_JSON_LINE_CHARS,
): AsyncGenerator<JsonLine> {
  let pending = '';
  let lines = 0;
  let overlong = false;
  const parsed = (raw: string): JsonLine | undefined => {
    lines += 1;
    if (overlong) {
      overlong = false;
      return { lines, problem: `line is longer than ${maxLineChars} characters` };
    }
    if (raw.trim() === '') return undefined;
    const value = parseJsonLine(raw);
    return typeof value === 'string' ? { lines, problem: value } : { lines, object: value };
  };
  for await (const chunk of text) {
    // Only the new text can hold the next line break.
    const searchFrom = pending.length;
    pending += chunk;
    let start = 0;
    for (let end = pending.indexOf('\n', searchFrom); end !== -1; end = pending.indexOf('\n', start)) {
      const line = parsed(pending.slice(start, pending[end - 1] === '\r' ? end - 1 : end));
      if (line) yield line;
      start = end + 1;
    }
    pending = pending.slice(start);
    if (pending.length > maxLineChars) {
      overlong = true;
      pending = '';
    }
  }
  const last = parsed(pending.endsWith('\r') ? pending.slice(0, -1) : pending);
  if (last) yield last;
}

/** The first `count` bytes of the input, gunzipped if it is gzip (to sniff its encoding and dialect). */
export async function headBytes(input: RecordInput, count: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of inputBytes(input)) {
    chunks.push(chunk);
    length += chunk.length;
    if (length >= count) break;
  }
  return Buffer.concat(chunks).subarray(0, count);
}

/** A number kept as written: DynamoDB keeps 38 digits, a JavaScript number 17. */
export class RawNumber {
  constructor(readonly text: string) {}
}

export type JsonValue =
  string | number | boolean | null | RawNumber | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = Record<string, JsonValue>;

/** The line's object, or why it is not one (never quoting the line). */
function parseJsonLine(line: string): JsonObject | string {
  let value: unknown;
  try {
    // Numbers that a double may not hold exactly (long, or with an exponent) are kept as written.
    value = /\d{16}|\d[eE]/.test(line) ? parseKeepingNumbers(line) : JSON.parse(line);
  } catch {
    return 'line is not valid JSON';
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    const kind = Array.isArray(value) ? 'an array' : value === null ? 'null' : `a ${typeof value}`;
    return `line is ${kind}, not a JSON object`;
  }
  return value as JsonObject;
}

const NUMBER_TOKEN = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
const RAW_NUMBER_KEY = '\u0000number';

/** JSON.parse with every number kept as its text (marked, outside strings, then revived). */
function parseKeepingNumbers(line: string): unknown {
  let marked = '';
  let from = 0;
  for (let i = 0; i < line.length; i++) {
    const c = line[i] as string;
    if (c === '"') {
      // Skip the string, escapes and all.
      for (i++; i < line.length && line[i] !== '"'; i++) if (line[i] === '\\') i++;
      continue;
    }
    if (c === '-' || (c >= '0' && c <= '9')) {
      NUMBER_TOKEN.lastIndex = i;
      const match = NUMBER_TOKEN.exec(line);
      if (!match) continue; // JSON.parse reports it
      marked += `${line.slice(from, i)}{${JSON.stringify(RAW_NUMBER_KEY)}:"${match[0]}"}`;
      i += match[0].length - 1;
      from = i + 1;
    }
  }
  marked += line.slice(from);
  return JSON.parse(marked, (_key, value: unknown) => {
    if (value !== null && typeof value === 'object' && RAW_NUMBER_KEY in value) {
      return new RawNumber((value as Record<string, string>)[RAW_NUMBER_KEY] as string);
    }
    return value;
  });
}

/**
 * The value a column names: at each level the whole remaining name is tried as a key first, then
 * the name is split at its dots, leftmost first. So `address.town` is `{"address": {"town": ...}}`
 * or a top-level key `"address.town"`, whichever the object has (the whole key first).
 */
export function valueAt(object: JsonObject, path: string): JsonValue | undefined {
  if (Object.hasOwn(object, path)) return object[path];
  for (let dot = path.indexOf('.'); dot !== -1; dot = path.indexOf('.', dot + 1)) {
    const head = path.slice(0, dot);
    if (!Object.hasOwn(object, head)) continue;
    const inner = object[head];
    if (inner === null || typeof inner !== 'object' || Array.isArray(inner) || inner instanceof RawNumber)
      continue;
    const found = valueAt(inner, path.slice(dot + 1));
    if (found !== undefined) return found;
  }
  return undefined;
}

/**
 * A JSON value as the cell of a CSV line: strings as they are; numbers and booleans as their JSON
 * text; objects and arrays as JSON text (for a `json` column); null and missing as empty.
 */
export function cellText(value: JsonValue | undefined): string {
  if (value === undefined || value === null) return '';
  if (typeof value === 'string') return value;
  return jsonText(value);
}

function jsonText(value: JsonValue): string {
  if (value instanceof RawNumber) return value.text;
  if (Array.isArray(value)) return `[${value.map(jsonText).join(',')}]`;
  if (value !== null && typeof value === 'object')
    return `{${Object.entries(value)
      .map(([k, v]) => `${JSON.stringify(k)}:${jsonText(v)}`)
      .join(',')}}`;
  return JSON.stringify(value);
}

/**
 * csv-parse's own messages quote the field they stopped in (`value is "..."`), which may be a
 * sensitive value: the message is built from its code and position only.
 */
const CSV_PROBLEMS: Record<string, (where: string) => string> = {
  CSV_QUOTE_NOT_CLOSED: () => 'unterminated quoted field',
  // (csv-parse 6 names this one without the CSV_ prefix)
  INVALID_OPENING_QUOTE: (where) =>
    `a quote inside an unquoted field${where}: quote the whole field and double the quote inside it`,
  CSV_INVALID_CLOSING_QUOTE: (where) =>
    `text after a closing quote${where}: a quote inside a quoted field must be doubled`,
  CSV_NON_TRIMABLE_CHAR_AFTER_CLOSING_QUOTE: (where) =>
    `text after a closing quote${where}: a quote inside a quoted field must be doubled`,
  CSV_MAX_RECORD_SIZE: () => 'a record larger than the parser allows',
};

/** A reader's error as the file error it is, naming the file, line and column where known. */
export function asExtractError(error: unknown, file: string, header: readonly string[]): Error {
  if (error instanceof ExtractError) return error;
  if (error instanceof CsvError) {
    const { lines, index } = error as CsvError & { lines?: number; index?: number };
    const where =
      typeof index === 'number'
        ? ` (field ${index + 1}${header[index] === undefined ? '' : `, ${header[index]}`})`
        : '';
    const problem = CSV_PROBLEMS[error.code]?.(where) ?? `malformed CSV (${error.code})`;
    return new ExtractError(problem, file, lines);
  }
  if (error instanceof InputError || error instanceof SourceChangedError) {
    return new ExtractError(error.message, file);
  }
  return error instanceof Error ? error : new Error(String(error));
}

export function destroyInput(input: RecordInput): void {
  const destroy = (input as { destroy?: unknown }).destroy;
  if (typeof destroy === 'function') (destroy as () => void).call(input);
}
