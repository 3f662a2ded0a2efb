/** `etl errors --run ID --csv [--out FILE]`: the run's failed rows, read again from its file. */
import { once } from 'node:events';
import { createWriteStream } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { exportFailedRowsCsv } from '../runtime/local/failed-rows-export.ts';
import type { RunStore } from '../runtime/local/runs.ts';

export async function writeErrorsCsv(store: RunStore, run: string, out: string | undefined): Promise<void> {
  // A file is written whole or not at all: under a temporary name, renamed once complete.
  const temporary = out === undefined ? undefined : `${out}.tmp-${process.pid}`;
  const stream: Writable = temporary === undefined ? process.stdout : createWriteStream(temporary);
  let result;
  try {
    result = await exportFailedRowsCsv(store, run, {
      write: async (bytes) => {
        if (!stream.write(bytes)) await once(stream, 'drain');
      },
    });
    if (temporary !== undefined && out !== undefined) {
      stream.end();
      await once(stream, 'finish');
      await rename(temporary, out);
    }
  } catch (error) {
    if (temporary !== undefined) {
      stream.destroy();
      await rm(temporary, { force: true });
    }
    throw error;
  }
  const notes = [
    `${result.written} failed row${result.written === 1 ? '' : 's'} of run ${run}${out === undefined ? '' : ` written to ${out}`}`,
  ];
  if (result.leftOut.length > 0)
    notes.push(
      `sensitive column${result.leftOut.length === 1 ? ' left out (put it back' : 's left out (put them back'}, ` +
        `or run the file with a mapping without ${result.leftOut.length === 1 ? 'it' : 'them'}): ${result.leftOut.join(', ')}`,
    );
  if (result.unreadable.length > 0)
    notes.push(
      `rows with no values to write (lines that are not JSON objects): ${result.unreadable.join(', ')}`,
    );
  const { mapping } = result;
  if (mapping.format === 'jsonl')
    notes.push(
      'the run read JSON Lines; these rows are CSV: run them with --format csv if the mapping says "format"',
    );
  else if (mapping.csv?.header === false)
    notes.push(
      'this file has a header row: run it with a mapping whose csv has "header": true and no "columns"',
    );
  console.error(`etl errors: ${notes.join('; ')}`);
}
