/** Per-run NDJSON logs under the state directory: what the observer saw, and the quarantine. */
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { dirname } from 'node:path';

/** Appends lines to files, keeping one open stream per file. */
export class LineLogs {
  private readonly streams = new Map<string, WriteStream>();
  private readonly errors = new Map<string, Error>();

  async open(path: string, options: { truncate?: boolean } = {}): Promise<void> {
    await this.close(path);
    this.streams.set(path, this.create(path, options.truncate ? 'w' : 'a'));
  }

  /**
   * Writes records as JSON lines; a log that was not opened is opened for appending (events may
   * name runs this process did not start, e.g. put by `aws events put-events`). Returns a promise
   * to wait on when the file's buffer is full.
   */
  append(path: string, records: readonly unknown[]): Promise<void> | undefined {
    if (records.length === 0) return undefined;
    let stream = this.streams.get(path);
    if (!stream) {
      stream = this.create(path, 'a');
      this.streams.set(path, stream);
    }
    let text = '';
    for (const record of records) text += `${JSON.stringify(record)}\n`;
    // When the disk falls behind, the caller waits: what is written must not pile up in memory.
    if (stream.write(text)) return undefined;
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
