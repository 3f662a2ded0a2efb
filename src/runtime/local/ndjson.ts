/**
 * NDJSON, the format of every log under the state directory: one JSON record per line, appended.
 * A crash mid-write can leave the last line torn, and a record written by another version may not
 * have the shape expected; readers skip both and read on, so one bad line never hides the rest.
 */
import { appendFileSync, createReadStream, createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';
import { createInterface } from 'node:readline';
import type { z } from 'zod';

/** The non-empty lines of a file (its first `bytes` only, if given), streamed; a file not written yet has none. */
export async function* readLines(path: string, bytes?: number): AsyncGenerator<string> {
  if (bytes === 0) return;
  const stream = createReadStream(path, bytes === undefined ? {} : { end: bytes - 1 });
  try {
    for await (const line of createInterface({ input: stream, crlfDelay: Infinity })) {
      if (line) yield line;
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  } finally {
    // A reader that stops early (--limit) closes the file now, not at exit.
    stream.destroy();
  }
}

/** A line's (or a JSON file's) record if it parses and has the schema's shape; else undefined. */
export function parseLine<T>(line: string, schema: z.ZodType<T>): T | undefined {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return undefined; // torn by a crash mid-write
  }
  const parsed = schema.safeParse(value);
  return parsed.success ? parsed.data : undefined;
}

/** The records of an NDJSON file that have the schema's shape, streamed. */
export async function* readRecords<T>(path: string, schema: z.ZodType<T>): AsyncGenerator<T> {
  for await (const line of readLines(path)) {
    const record = parseLine(line, schema);
    if (record !== undefined) yield record;
  }
}

/** The records of NDJSON text already in memory (small files read whole). */
export function parseRecords<T>(text: string, schema: z.ZodType<T>): T[] {
  const records: T[] = [];
  for (const line of text.split('\n')) {
    const record = line ? parseLine(line, schema) : undefined;
    if (record !== undefined) records.push(record);
  }
  return records;
}

/** Records as NDJSON text. */
export function toLines(records: readonly unknown[]): string {
  let text = '';
  for (const record of records) text += `${JSON.stringify(record)}\n`;
  return text;
}

/** Appends records synchronously: on disk (in the OS's pages) before the caller acknowledges anything. */
export function appendRecordsSync(path: string, records: readonly unknown[]): void {
  mkdirSync(dirname(path), { recursive: true });
  appendFileSync(path, toLines(records));
}

/** Appends records to files, keeping one open stream per file. */
export class LineLogs {
  private readonly streams = new Map<string, WriteStream>();
  private readonly errors = new Map<string, Error>();

  async open(path: string, options: { truncate?: boolean } = {}): Promise<void> {
    await this.close(path);
    this.streams.set(path, this.create(path, options.truncate ? 'w' : 'a'));
  }

  /**
   * Writes records as JSON lines; a log that was not opened is opened for appending. Returns a
   * promise to wait on when the file's buffer is full.
   */
  append(path: string, records: readonly unknown[]): Promise<void> | undefined {
    if (records.length === 0) return undefined;
    let stream = this.streams.get(path);
    if (!stream) {
      stream = this.create(path, 'a');
      this.streams.set(path, stream);
    }
    // When the disk falls behind, the caller waits: what is written must not pile up in memory.
    if (stream.write(toLines(records))) return undefined;
    // Drained, or failed (the error is kept and raised on close): either way nothing more to wait for.
    return new Promise((resolve) => {
      const done = (): void => {
        stream.off('drain', done);
        stream.off('close', done);
        resolve();
      };
      stream.on('drain', done);
      stream.on('close', done);
    });
  }

  async close(path?: string): Promise<void> {
    const paths = path === undefined ? [...this.streams.keys()] : [path];
    await Promise.all(
      paths.map(async (p) => {
        const stream = this.streams.get(p);
        if (!stream) return;
        this.streams.delete(p);
        if (!stream.destroyed) await new Promise<void>((resolve) => stream.end(resolve));
        const error = this.errors.get(p);
        this.errors.delete(p);
        if (error) throw error;
      }),
    );
  }

  private create(path: string, flags: 'a' | 'w'): WriteStream {
    mkdirSync(dirname(path), { recursive: true });
    const stream = createWriteStream(path, { flags });
    // Kept and raised on close: a failing log must not crash the pipeline mid-run.
    stream.on('error', (error) => this.errors.set(path, error));
    return stream;
  }
}
