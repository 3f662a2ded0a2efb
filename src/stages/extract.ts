/**
 * Extract: streams a CSV and puts one `s3RecordExtraction` event per data row, in PutEvents-sized
 * batches, bracketed by extraction-started and extraction-completed (which carries the row count).
 */
import type { Readable } from 'node:stream';
import { CsvError, parse } from 'csv-parse';
import { DetailType, Status } from '../pipeline/definition.ts';
import { entry, type PutEventsEntry } from '../pipeline/events.ts';
import type { Mapping } from '../pipeline/mapping.ts';
import { EntryTooLargeError, PutEventsBatcher } from '../pipeline/put-events.ts';
import { encodeCsvLine } from './csv.ts';
import type { EventPublisher, FieldCipher } from './ports.ts';

export interface ExtractOptions {
  source: string;
  run: string;
  /** How the file is named in events and messages (a path or an s3:// URL). */
  file: string;
  input: Readable | AsyncIterable<Buffer | string>;
  publisher: EventPublisher;
  mapping: Mapping;
  /** Encrypts the mapping's sensitive columns before they leave in an event. */
  cipher?: FieldCipher;
  /** PutEvents calls in flight at once. */
  maxPutsInFlight?: number;
  /** Called after each batch is accepted, with the rows put so far. */
  onProgress?: (rows: number) => void;
}

export interface ExtractResult {
  rows: number;
}

/** A file that cannot be read to its end; `line` is 1-based in the file. */
export class ExtractError extends Error {
  constructor(
    message: string,
    readonly file: string,
    readonly line?: number,
  ) {
    super(line === undefined ? `${file}: ${message}` : `${file}:${line}: ${message}`);
    this.name = 'ExtractError';
  }
}

export async function extract(options: ExtractOptions): Promise<ExtractResult> {
  const { source, run, file, publisher } = options;
  const maxInFlight = options.maxPutsInFlight ?? 4;
  const inFlight = new Set<Promise<void>>();
  let failure: unknown;
  let rowsPut = 0;
  let rowsSent = 0;

  const send = async (batch: PutEventsEntry[]): Promise<void> => {
    while (inFlight.size >= maxInFlight) await Promise.race(inFlight);
    if (failure) throw failure;
    const rowsInBatch = batch.length;
    rowsSent += rowsInBatch;
    const put = publisher.putEvents(batch).then(
      () => {
        rowsPut += rowsInBatch;
        options.onProgress?.(rowsPut);
      },
      (error: unknown) => {
        failure ??= error;
      },
    );
    const tracked = put.finally(() => inFlight.delete(tracked));
    inFlight.add(tracked);
  };
  const drain = async (): Promise<void> => {
    await Promise.all(inFlight);
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

  const parser = parse({ bom: true, relax_column_count: true, skip_empty_lines: true, info: true });
  const sensitive = sensitiveColumnIndexes(options.mapping);
  const batcher = new PutEventsBatcher<PutEventsEntry>();
  let headers: string | undefined;
  let sensitiveIndexes: number[] = [];
  let row = 0;
  let lastLine = 0;
  const pump = pipeInput(options.input, parser);
  try {
    for await (const { record, info } of parser as AsyncIterable<{
      record: string[];
      info: { lines: number };
    }>) {
      // `info.lines` is where the record ends; it starts on the line after the previous one ended.
      const line = lastLine + 1;
      lastLine = info.lines;
      if (headers === undefined) {
        headers = validateHeader(record, file);
        sensitiveIndexes = record.flatMap((name, i) => (sensitive.has(name) ? [i] : []));
        continue;
      }
      row += 1;
      const values = options.cipher
        ? await encryptCells(record, sensitiveIndexes, run, options.cipher)
        : record;
      const event = entry(source, DetailType.rowExtracted, {
        status: Status.extracted,
        headers,
        data: encodeCsvLine(values),
        run,
        row,
      });
      let full: PutEventsEntry[] | undefined;
      try {
        full = batcher.push(event);
      } catch (error) {
        if (error instanceof EntryTooLargeError) {
          throw new ExtractError(`row ${row} is too large for one event (${error.message})`, file, line);
        }
        throw error;
      }
      if (full) await send(full);
    }
    await pump;
  } catch (error) {
    // The file stops here: release it (an early error leaves it half read).
    destroyInput(options.input);
    await Promise.allSettled(inFlight);
    const fileError = asExtractError(error, file);
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
  await publisher.putEvents([
    entry(source, DetailType.extractionCompleted, { status: Status.completed, run, file, rows: row }),
  ]);
  return { rows: row };
}

function sensitiveColumnIndexes(mapping: Mapping): Set<string> {
  return new Set(
    Object.entries(mapping.columns)
      .filter(([, column]) => column.sensitive)
      .map(([name]) => name),
  );
}

async function encryptCells(
  record: string[],
  indexes: number[],
  run: string,
  cipher: FieldCipher,
): Promise<string[]> {
  if (indexes.length === 0) return record;
  const values = [...record];
  for (const i of indexes) {
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

/** Feeds the input to the parser, decoding strictly so that invalid UTF-8 is reported, not mangled. */
async function pipeInput(input: ExtractOptions['input'], parser: ReturnType<typeof parse>): Promise<void> {
  const decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });
  let bytes = 0;
  const decode = (buffer?: Buffer): string => {
    try {
      return buffer ? decoder.decode(buffer, { stream: true }) : decoder.decode();
    } catch {
      throw new InputError(`invalid UTF-8 near byte ${bytes}: the file must be UTF-8 text`);
    }
  };
  try {
    for await (const chunk of input) {
      const buffer = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      if (buffer.includes(0))
        throw new InputError(`binary content (a NUL byte near byte ${bytes}), not CSV text`);
      const text = decode(buffer);
      bytes += buffer.length;
      if (!parser.write(text)) await drained(parser);
    }
    parser.end(decode());
  } catch (error) {
    parser.destroy(error instanceof Error ? error : new Error(String(error)));
  }
}

/** Resolves when the parser wants more, or can take no more (closed by an error). */
function drained(parser: ReturnType<typeof parse>): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      parser.off('drain', done);
      parser.off('close', done);
      resolve();
    };
    parser.on('drain', done);
    parser.on('close', done);
  });
}

function destroyInput(input: ExtractOptions['input']): void {
  const destroy = (input as { destroy?: unknown }).destroy;
  if (typeof destroy === 'function') (destroy as () => void).call(input);
}

/** The input is not CSV text. */
class InputError extends Error {}

function asExtractError(error: unknown, file: string): Error {
  if (error instanceof ExtractError) return error;
  if (error instanceof CsvError) {
    const line = (error as CsvError & { lines?: number }).lines;
    const what = error.code === 'CSV_QUOTE_NOT_CLOSED' ? 'unterminated quoted field' : error.message;
    return new ExtractError(what, file, line);
  }
  if (error instanceof InputError) return new ExtractError(error.message, file);
  return error instanceof Error ? error : new Error(String(error));
}
