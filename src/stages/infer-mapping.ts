/**
 * `etl mapping infer`: a mapping proposed from a sample of a file (its first rows), that `etl run`
 * accepts as it is: the CSV dialect sniffed (encoding, delimiter), a type per column, a key.
 */
import { UserError } from '../pipeline/errors.ts';
import {
  type CsvEncoding,
  type CsvOptions,
  formatOfName,
  type InputFormat,
} from '../pipeline/input-format.ts';
import { type ColumnMapping, type Mapping, parseMapping } from '../pipeline/mapping.ts';
import {
  asExtractError,
  cellText,
  headBytes,
  type JsonObject,
  type JsonValue,
  RawNumber,
  readJsonLines,
  type RecordInput,
  readRecords,
  valueAt,
} from './readers.ts';
import { checkType } from './values.ts';

export const INFER_SAMPLE_ROWS = 10_000;
const SNIFF_BYTES = 64 * 1024;

export interface InferOptions {
  /** How the file is named in messages. */
  file: string;
  format: InputFormat;
  /** Opens the file from its start (it is read twice: to sniff, then to sample). */
  open: () => RecordInput;
  sampleRows?: number;
}

export interface InferredMapping {
  mapping: Mapping;
  rows: number;
  /** The column the key was taken from. */
  keyColumn: string;
}

type Proposal = 'number' | 'boolean' | 'json' | 'string';

/** What the sample showed of one column. */
class ColumnSample {
  nonEmpty = 0;
  /** Types every non-empty value fits, narrowed as values come. */
  fits = new Set<Proposal>(['number', 'boolean', 'json']);
  /** Undefined once a repeat was seen. */
  values: Set<string> | undefined = new Set();

  add(value: string, fits: Set<Proposal>): void {
    if (value === '') return;
    this.nonEmpty += 1;
    for (const type of this.fits) if (!fits.has(type)) this.fits.delete(type);
    if (this.values?.has(value)) this.values = undefined;
    else this.values?.add(value);
  }
}

export async function inferMapping(options: InferOptions): Promise<InferredMapping> {
  const limit = options.sampleRows ?? INFER_SAMPLE_ROWS;
  const sampled =
    options.format === 'jsonl'
      ? await sampleJsonLines(options, limit)
      : await sampleCsvWithEncoding(options, limit);
  const { columns, samples, rows, csv } = sampled;
  if (columns.length === 0) throw new UserError(`${options.file}: no columns to map`);
  const keyColumn = chooseKey(columns, samples, sampled.sampledRows);
  if (keyColumn === undefined)
    throw new UserError(
      `${options.file}: no column is unique and non-empty in the first ${rows} rows, so none can be the key; add an id column`,
    );
  const json = jsonTypeSupported();
  const mapped: Record<string, ColumnMapping> = {};
  const attributes = new Set<string>();
  for (const column of columns) {
    const sample = samples.get(column) as ColumnSample;
    let attribute = column.trim() || column;
    while (attributes.has(attribute)) attribute = `${attribute}_`;
    attributes.add(attribute);
    // The key stays a string: an id of digits keeps its leading zeros and its exact text.
    const type = column === keyColumn ? 'string' : proposeType(sample, json);
    mapped[column] = { attribute, type: type as ColumnMapping['type'] };
  }
  const keyAttribute = (mapped[keyColumn] as ColumnMapping).attribute;
  const mapping: Mapping = {
    key: { partition: keyAttribute },
    // The format is written only where the file's name would not say it.
    ...(options.format === formatOfName(options.file) ? {} : { format: options.format }),
    ...(csv ? { csv } : {}),
    columns: mapped,
  };
  // What is proposed is what `etl run` accepts: checked by the same parser.
  const parsed = parseMapping(mapping, 'the inferred mapping');
  return { mapping: { ...mapping, columns: parsed.columns }, rows, keyColumn };
}

/** A column unique and non-empty in every sampled row; one named like an id first. */
function chooseKey(columns: string[], samples: Map<string, ColumnSample>, rows: number): string | undefined {
  const candidates = columns.filter((c) => {
    const sample = samples.get(c) as ColumnSample;
    return rows > 0 && sample.nonEmpty === rows && sample.values !== undefined;
  });
  const rank = (name: string): number => {
    const n = name.trim().toLowerCase();
    if (n === 'id') return 0;
    if (/(^|[^a-z])id$/.test(n) || /^id([^a-z]|$)/.test(n)) return 1;
    if (/(id|key)$/.test(n)) return 2;
    return 3;
  };
  return candidates.sort((a, b) => rank(a) - rank(b))[0];
}

function proposeType(sample: ColumnSample, json: boolean): Proposal {
  if (sample.nonEmpty === 0) return 'string';
  for (const type of ['boolean', 'number', ...(json ? ['json' as const] : [])] as const)
    if (sample.fits.has(type)) return type;
  return 'string';
}

/** Whether this build's mappings take a `json` column type (else JSON text stays a string). */
function jsonTypeSupported(): boolean {
  try {
    parseMapping({ key: 'k', columns: { k: { attribute: 'k' }, j: { attribute: 'j', type: 'json' } } });
    return true;
  } catch {
    return false;
  }
}

/** A plain number only: `007` or `+44...` would lose their zeros or sign as DynamoDB numbers. */
const PLAIN_NUMBER = /^-?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?$/;

/** The types a CSV cell fits. */
function cellFits(value: string): Set<Proposal> {
  const fits = new Set<Proposal>();
  if (PLAIN_NUMBER.test(value) && checkType(value, { attribute: 'x', type: 'number' }) === undefined)
    fits.add('number');
  if (/^(true|false)$/i.test(value)) fits.add('boolean');
  if (/^[[{]/.test(value)) {
    try {
      JSON.parse(value);
      fits.add('json');
    } catch {
      // not JSON
    }
  }
  return fits;
}

/** The types a JSON value fits: its own JSON type. */
function jsonFits(value: JsonValue): Set<Proposal> {
  if (value instanceof RawNumber || typeof value === 'number') return new Set(['number']);
  if (typeof value === 'boolean') return new Set(['boolean']);
  if (value !== null && typeof value === 'object') return new Set(['json']);
  return new Set();
}

interface Sampled {
  columns: string[];
  samples: Map<string, ColumnSample>;
  rows: number;
  /** The rows whose values were sampled (not those of another field count, or not objects). */
  sampledRows: number;
  csv?: CsvOptions;
}

/** UTF-8 unless the sample says otherwise; a file that turns out not to be UTF-8 is read as Latin-1. */
async function sampleCsvWithEncoding(options: InferOptions, limit: number): Promise<Sampled> {
  const head = await headBytes(options.open(), SNIFF_BYTES);
  const encoding = sniffEncoding(head);
  try {
    return await sampleCsv(options, limit, head, encoding);
  } catch (error) {
    if (encoding === 'utf-8' && /invalid UTF-8/.test((error as Error).message))
      return sampleCsv(options, limit, head, 'latin1');
    throw error;
  }
}

async function sampleCsv(
  options: InferOptions,
  limit: number,
  head: Buffer,
  encoding: CsvEncoding,
): Promise<Sampled> {
  const text = new TextDecoder(encoding, { ignoreBOM: false }).decode(head);
  const csv: CsvOptions = { delimiter: sniffDelimiter(text), quote: '"', encoding, header: true };
  const samples = new Map<string, ColumnSample>();
  let columns: string[] | undefined;
  let rows = 0;
  let sampledRows = 0;
  try {
    for await (const { record } of readRecords(options.open(), { format: 'csv', csv })) {
      if (columns === undefined) {
        columns = record;
        for (const c of columns) samples.set(c, new ColumnSample());
        continue;
      }
      if (rows >= limit) break;
      rows += 1;
      // A row of another length is skipped: its values may not be under their columns.
      if (record.length !== columns.length) continue;
      sampledRows += 1;
      record.forEach((value, i) => samples.get(columns?.[i] as string)?.add(value, cellFits(value)));
    }
  } catch (error) {
    throw asExtractError(error, options.file, columns ?? []);
  }
  if (columns === undefined)
    throw new UserError(`${options.file}: the file is empty: a header row is required`);
  return { columns, samples, rows, sampledRows, csv };
}

/** A BOM is read by the reader itself; without one, UTF-16 shows as NULs at every other byte. */
function sniffEncoding(head: Buffer): CsvEncoding {
  if (head[0] === 0xff && head[1] === 0xfe) return 'utf-16le';
  if (head[0] === 0xfe && head[1] === 0xff) return 'utf-16be';
  let evenNul = 0;
  let oddNul = 0;
  for (let i = 0; i < head.length; i++) {
    if (head[i] !== 0) continue;
    if (i % 2 === 0) evenNul++;
    else oddNul++;
  }
  const half = head.length / 4;
  if (oddNul > half && evenNul === 0) return 'utf-16le';
  if (evenNul > half && oddNul === 0) return 'utf-16be';
  return 'utf-8';
}

const DELIMITERS = [',', ';', '\t', '|'] as const;

/**
 * The delimiter that splits the first lines most consistently: the most lines with the header's
 * count of it (outside quotes), then the most fields. A comma when none splits the header.
 */
export function sniffDelimiter(text: string): (typeof DELIMITERS)[number] {
  const lines = text.split(/\r\n|\n|\r/).slice(0, 50);
  if (lines.length > 1) lines.pop(); // possibly cut short by the sample
  let best: { delimiter: (typeof DELIMITERS)[number]; score: number; fields: number } = {
    delimiter: ',',
    score: 0,
    fields: 0,
  };
  for (const delimiter of DELIMITERS) {
    const counts = lines.map((line) => countOutsideQuotes(line, delimiter));
    const fields = counts[0] ?? 0;
    if (fields === 0) continue;
    const score = counts.filter((c) => c === fields).length;
    if (score > best.score || (score === best.score && fields > best.fields))
      best = { delimiter, score, fields };
  }
  return best.delimiter;
}

function countOutsideQuotes(line: string, delimiter: string): number {
  let count = 0;
  let quoted = false;
  for (const c of line) {
    if (c === '"') quoted = !quoted;
    else if (c === delimiter && !quoted) count += 1;
  }
  return count;
}

/**
 * JSON Lines: a column per leaf path of the objects (`address.town`), in the order first seen;
 * arrays and empty objects are leaves (json columns). Lines that are not objects are skipped.
 */
async function sampleJsonLines(options: InferOptions, limit: number): Promise<Sampled> {
  const samples = new Map<string, ColumnSample>();
  const columns: string[] = [];
  let rows = 0;
  let sampledRows = 0;
  try {
    for await (const line of readJsonLines(options.open())) {
      if (rows >= limit) break;
      rows += 1;
      if ('problem' in line) continue;
      sampledRows += 1;
      for (const path of leafPaths(line.object)) {
        if (!samples.has(path)) {
          samples.set(path, new ColumnSample());
          columns.push(path);
        }
      }
      for (const column of columns) {
        const value = valueAt(line.object, column);
        if (value === undefined || value === null) continue;
        (samples.get(column) as ColumnSample).add(cellText(value), jsonFits(value));
      }
    }
  } catch (error) {
    throw asExtractError(error, options.file, []);
  }
  return { columns, samples, rows, sampledRows };
}

function leafPaths(object: JsonObject, prefix = ''): string[] {
  const paths: string[] = [];
  for (const [key, value] of Object.entries(object)) {
    const path = `${prefix}${key}`;
    if (isPlainObject(value) && Object.keys(value).length > 0) paths.push(...leafPaths(value, `${path}.`));
    else paths.push(path);
  }
  return paths;
}

function isPlainObject(value: JsonValue | undefined): value is JsonObject {
  return (
    value !== null && typeof value === 'object' && !Array.isArray(value) && !(value instanceof RawNumber)
  );
}
