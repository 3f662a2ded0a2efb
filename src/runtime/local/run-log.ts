/** Per-run NDJSON logs under the state directory: what the observer saw, and the quarantine. */
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';

/** Appends lines to files, keeping one open stream per file. */
export class LineLogs {
  private readonly streams = new Map<string, WriteStream>();

  async open(path: string, options: { truncate?: boolean } = {}): Promise<void> {
    await this.close(path);
    await mkdir(dirname(path), { recursive: true });
    this.streams.set(path, createWriteStream(path, { flags: options.truncate ? 'w' : 'a' }));
  }

  /** Writes records as JSON lines; a log that was not opened is opened for appending. */
  append(path: string, records: readonly unknown[]): void {
    if (records.length === 0) return;
    let stream = this.streams.get(path);
    if (!stream) {
      stream = createWriteStream(path, { flags: 'a' });
      this.streams.set(path, stream);
    }
    let text = '';
    for (const record of records) text += `${JSON.stringify(record)}\n`;
    stream.write(text);
  }

  async close(path?: string): Promise<void> {
    const paths = path === undefined ? [...this.streams.keys()] : [path];
    await Promise.all(
      paths.map(async (p) => {
        const stream = this.streams.get(p);
        if (!stream) return;
        this.streams.delete(p);
        await new Promise<void>((resolve, reject) =>
          stream.end((error?: Error | null) => (error ? reject(error) : resolve())),
        );
      }),
    );
  }
}
