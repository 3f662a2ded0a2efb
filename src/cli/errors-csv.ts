/** `etl errors --run ID --csv [--out FILE]`: the run's failed rows, read again from its file. */
import { once } from 'node:events';
import { createWriteStream, existsSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import type { Writable } from 'node:stream';
import { SEED_MAPPING } from '../pipeline/mapping.ts';
import type { RunStore } from '../runtime/local/runs.ts';
import { readFileAsRun, runIdForFile } from '../runtime/local/state.ts';
import { FailedRows, writeFailedRowsCsv } from '../stages/failed-rows-csv.ts';
import { UserError } from './errors.ts';

export async function writeErrorsCsv(store: RunStore, run: string, out: string | undefined): Promise<void> {
  const recorded = await store.readRecorded(run);
  if (!recorded) throw new UserError(`run ${run} has no record of its source; its rows cannot be read again`);
  if (recorded.descriptor.kind !== 'file') {
    throw new UserError(
      `run ${run} read ${recorded.file}, an object of etl up's bucket; etl errors --csv reads local files again: ` +
        'download the object, run it with etl run, then ask again',
    );
  }
  // As recovery does: runs recorded before runs carried their mapping were read by the seed's.
  const mapping = (recorded.mappingHash ? recorded.mapping : undefined) ?? SEED_MAPPING;
  const path = recorded.descriptor.path;
  if (!existsSync(path) || (await runIdForFile(path, mapping)) !== run) {
    throw new UserError(
      `${recorded.file}: the file of run ${run} is gone or changed since the run; its failed rows cannot be read again`,
    );
  }
  const failed = new FailedRows();
  for await (const record of store.readErrors(run)) {
    const { row, reason } = record as { row?: unknown; reason?: unknown };
    if (typeof row === 'number' && Number.isSafeInteger(row) && row > 0)
      failed.add(row, typeof reason === 'string' ? reason : 'failed');
  }
  // A file is written whole or not at all: under a temporary name, renamed once complete.
  const temporary = out === undefined ? undefined : `${out}.tmp-${process.pid}`;
  const stream: Writable = temporary === undefined ? process.stdout : createWriteStream(temporary);
  let result;
  try {
    result = await writeFailedRowsCsv({
      file: recorded.file,
      // Read as the content its run id names: a change while reading fails, as a run would.
      input: readFileAsRun(path, run, mapping),
      mapping,
      failed,
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
