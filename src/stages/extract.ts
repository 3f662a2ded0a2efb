/**
 * Extract: streams a file (CSV or JSON Lines, read by readers.ts) and puts one `s3RecordExtraction`
 * event per data row, in PutEvents-sized batches, bracketed by extraction-started and extraction-completed (which carries the row count).
 */
import PQueue from 'p-queue';
import { DetailType, Status } from '../pipeline/definition.ts';
import { entry, type PutEventsEntry, tooLargeReason } from '../pipeline/events.ts';
import {
  columnsOfAttribute,
  fillTemplate,
  keyAttributes,
  type Mapping,
  templateColumns,
} from '../pipeline/mapping.ts';
import { PutEventsBatcher } from '../pipeline/put-events.ts';
import { decodeCsvLine, encodeCsvLine } from './csv.ts';
import {
  asExtractError,
  destroyInput,
  ExtractError,
  type RecordInput,
  readOptionsOf,
  readRecords,
} from './readers.ts';
import { RepeatedKeys } from './repeated-keys.ts';
import type { EventPublisher, FieldCipher } from './ports.ts';

export interface ExtractOptions {
  source: string;
  run: string;
  /** How the file is named in events and messages (a path or an s3:// URL). */
  file: string;
  /** The file's bytes: CSV or JSON Lines as the mapping says, gzipped or not. */
  input: RecordInput;
  publisher: EventPublisher;
  mapping: Mapping;
  /** Encrypts the mapping's sensitive columns before they leave in an event. */
  cipher?: FieldCipher;
  /** PutEvents calls in flight at once. */
  maxPutsInFlight?: number;
  /** Called after each batch is accepted, with the rows put so far. */
  onProgress?: (rows: number) => void;
  /** Told what is worth a warning about the file (mapped columns it lacks), once, before any row. */
  onWarning?: (message: string) => void;
}

export interface ExtractResult {
  rows: number;
  /** Rows whose key an earlier row of the file had: each overwrote that item. */
  repeatedKeys: number;
}

export { ExtractError, SourceChangedError } from './readers.ts';

export async function extract(options: ExtractOptions): Promise<ExtractResult> {
  const { source, run, file, publisher } = options;
  const puts = new PQueue({ concurrency: options.maxPutsInFlight ?? 4 });
  let failure: unknown;
  let rowsPut = 0;
  let rowsSent = 0;

  const send = async (batch: PutEventsEntry[]): Promise<void> => {
    // The file is read no faster than its events are put: at most one batch waits for a slot.
    await puts.onSizeLessThan(1);
    if (failure) throw failure;
    const rowsInBatch = batch.length;
    rowsSent += rowsInBatch;
    void puts.add(async () => {
      if (failure) return;
      try {
        await publisher.putEvents(batch);
        rowsPut += rowsInBatch;
        options.onProgress?.(rowsPut);
      } catch (error) {
        failure ??= error;
      }
    });
  };
  const drain = async (): Promise<void> => {
    await puts.onIdle();
    if (failure) throw failure;
  };

  // The rows already put are still carried through; this tells the observer how many there are.
  const reportFailure = (error: ExtractError, rows: number): Promise<void> =>
    publisher.putEvents([
      entry(source, DetailType.extractionFailed, {
        status: Status.failed,
        run,
        file,
        reason: error.message,
        rows,
      }),
    ]);

  await publisher.putEvents([
    entry(source, DetailType.extractionStarted, { status: Status.started, run, file }),
  ]);

  const sensitive = sensitiveColumns(options.mapping);
  const keyTemplates = keyTemplatesOf(options.mapping);
  const repeated = new RepeatedKeys();
  const batcher = new PutEventsBatcher<PutEventsEntry>();
  let headers: string | undefined;
  let headerLength = 0;
  let sensitiveIndexes: number[] = [];
  let columnIndex = new Map<string, number>();
  let row = 0;
  try {
    for await (const { record, problem } of readRecords(options.input, readOptionsOf(options.mapping))) {
      if (headers === undefined) {
        headers = validateHeader(record, file);
        checkSensitiveColumns(record, sensitive, file);
        checkMappedColumns(record, options.mapping, file, options.onWarning);
        headerLength = record.length;
        sensitiveIndexes = record.flatMap((name, i) => (sensitive.has(name) ? [i] : []));
        columnIndex = new Map(record.map((name, i) => [name, i]));
        continue;
      }
      row += 1;
      if (problem !== undefined) {
        // A JSON Lines line that is not an object fails its own row; the file goes on.
        const full = batcher.push(
          entry(source, DetailType.rowFailed, {
            status: Status.failed,
            stage: 'extract',
            reason: problem,
            run,
            row,
          }),
        );
        if (full) await send(full);
        continue;
      }
      const key = record.length === headerLength ? fullKey(record, keyTemplates, columnIndex) : undefined;
      if (key !== undefined) repeated.add(key);
      const values = options.cipher
        ? await encryptCells(record, headerLength, sensitiveIndexes, run, options.cipher)
        : record;
      const extracted = entry(source, DetailType.rowExtracted, {
        status: Status.extracted,
        headers,
        data: encodeCsvLine(values),
        run,
        row,
      });
      // A row too large for one event is a bad row, not a bad file: it fails alone, the file goes on.
      const tooLarge = tooLargeReason(extracted);
      const event = tooLarge
        ? entry(source, DetailType.rowFailed, {
            status: Status.failed,
            stage: 'extract',
            reason: tooLarge,
            run,
            row,
          })
        : extracted;
      const full = batcher.push(event);
      if (full) await send(full);
    }
  } catch (error) {
    // The file stops here: release it (an early error leaves it half read).
    destroyInput(options.input);
    await puts.onIdle();
    const fileError = asExtractError(error, file, headers === undefined ? [] : decodeCsvLine(headers));
    if (fileError instanceof ExtractError && !failure) {
      // Rows read before the bad line are carried through, as the observer is told.
      const rest = batcher.flush();
      if (rest) await send(rest);
      await drain();
      await reportFailure(fileError, rowsSent);
    }
    throw fileError;
  }
  if (headers === undefined) {
    const error = new ExtractError('the file is empty: a header row is required', file);
    await reportFailure(error, 0);
    throw error;
  }
  const rest = batcher.flush();
  if (rest) await send(rest);
  await drain();
  const repeatedKeys = repeated.repeated;
  await publisher.putEvents([
    entry(source, DetailType.extractionCompleted, {
      status: Status.completed,
      run,
      file,
      rows: row,
      ...(repeatedKeys > 0 ? { repeatedKeys } : {}),
    }),
  ]);
  return { rows: row, repeatedKeys };
}

function sensitiveColumns(mapping: Mapping): Set<string> {
  return new Set(
    Object.entries(mapping.columns)
      .filter(([, column]) => column.sensitive)
      .map(([name]) => name),
  );
}

/** Each key attribute as a template over columns: `{ID}` for a column, its template for a template. */
function keyTemplatesOf(mapping: Mapping): string[] {
  return keyAttributes(mapping).map(
    (attribute) => mapping.templates?.[attribute] ?? `{${columnsOfAttribute(mapping, attribute)?.[0] ?? ''}}`,
  );
}

/** A row's whole key (partition and sort), as text; undefined when a part of it is empty. */
function fullKey(
  record: readonly string[],
  templates: readonly string[],
  columnIndex: ReadonlyMap<string, number>,
): string | undefined {
  const parts: string[] = [];
  for (const template of templates) {
    const part = fillTemplate(template, (column) => record[columnIndex.get(column) ?? -1]);
    if (part === undefined) return undefined;
    parts.push(part);
  }
  return parts.join('\u0000');
}

/**
 * The file's header against the mapping, before any row: a column every row needs (required, a key
 * column, a column a template reads) that the header lacks fails the file, not each row; mapped
 * optional columns it lacks are one warning.
 */
function checkMappedColumns(
  header: readonly string[],
  mapping: Mapping,
  file: string,
  onWarning: ((message: string) => void) | undefined,
): void {
  const present = new Set(header);
  const needed = new Set<string>();
  for (const [column, spec] of Object.entries(mapping.columns)) {
    if (spec.required && spec.default === undefined) needed.add(column);
  }
  for (const attribute of keyAttributes(mapping)) {
    const column = Object.entries(mapping.columns).find(([, c]) => c.attribute === attribute);
    if (column && column[1].default === undefined) needed.add(column[0]);
  }
  for (const template of Object.values(mapping.templates ?? {})) {
    for (const column of templateColumns(template)) needed.add(column);
  }
  const missing = [...needed].filter((column) => !present.has(column));
  if (missing.length > 0) {
    const names = missing.map((c) => `\`${c}\``).join(', ');
    throw new ExtractError(
      `${missing.length === 1 ? 'required column' : 'required columns'} ${names} not in the header`,
      file,
      1,
    );
  }
  const absent = Object.keys(mapping.columns).filter((column) => !present.has(column));
  if (absent.length > 0) {
    const names = absent.map((c) => `\`${c}\``).join(', ');
    onWarning?.(
      `${file}: mapped optional columns not in the header: ${names} (left out of every item, or their defaults used)`,
    );
  }
}

/**
 * A sensitive column is encrypted only under its exact header name: a header that differs by case
 * or spaces (`Street ` for `Street`) would put its values on the bus in clear. Stop before any row.
 */
function checkSensitiveColumns(header: readonly string[], sensitive: Set<string>, file: string): void {
  const fold = (name: string): string => name.trim().toLowerCase();
  for (const column of sensitive) {
    const nearMiss = header.find((name) => name !== column && fold(name) === fold(column));
    if (nearMiss !== undefined) {
      const present = header.includes(column);
      throw new ExtractError(
        present
          ? `header column \`${nearMiss}\` differs from the sensitive column \`${column}\` only by case or spaces; rename it so its values are not read in clear`
          : `sensitive column \`${column}\` not in the header; did you mean \`${nearMiss}\`?`,
        file,
        1,
      );
    }
    if (!header.includes(column)) {
      throw new ExtractError(`sensitive column \`${column}\` not in the header`, file, 1);
    }
  }
}

/**
 * Encrypts the sensitive cells. A row whose field count differs from the header's cannot be trusted
 * to hold each value under its column (an unquoted comma shifts them): every cell of it is
 * encrypted. Transform fails it for its field count and never needs the values.
 */
async function encryptCells(
  record: string[],
  headerLength: number,
  indexes: number[],
  run: string,
  cipher: FieldCipher,
): Promise<string[]> {
  if (indexes.length === 0) return record;
  const values = [...record];
  const all = record.length !== headerLength;
  for (const i of all ? values.keys() : indexes) {
    const value = values[i];
    if (value) values[i] = await cipher.encrypt(run, value);
  }
  return values;
}

function validateHeader(record: string[], file: string): string {
  const seen = new Set<string>();
  for (const [i, raw] of record.entries()) {
    const name = raw.trim();
    if (name === '') throw new ExtractError(`header column ${i + 1} has no name`, file, 1);
    if (seen.has(name)) throw new ExtractError(`header column "${name}" appears twice`, file, 1);
    seen.add(name);
  }
  return encodeCsvLine(record);
}
