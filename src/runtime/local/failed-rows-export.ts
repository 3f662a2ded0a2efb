/**
 * A run's failed rows as a CSV to fix and run again: its errors log says which rows failed and why,
 * its source is read again for their values (see stages/failed-rows-csv.ts). Shared by
 * `etl errors --run ID --csv` and the dashboard's download.
 */
import { existsSync } from 'node:fs';
import type { Mapping } from '../../pipeline/mapping.ts';
import { SEED_MAPPING } from '../../pipeline/mapping.ts';
import { UserError } from '../../pipeline/errors.ts';
import type { RecordInput } from '../../stages/readers.ts';
import { FailedRows, type FailedRowsCsvResult, writeFailedRowsCsv } from '../../stages/failed-rows-csv.ts';
import type { RunStore, SourceDescriptor } from './runs.ts';
import { readFileAsRun, runIdForFile } from './state.ts';

export interface FailedRowsExportOptions {
  /** Takes the output's bytes; resolves when it can take more. */
  write: (bytes: Buffer) => Promise<void>;
  /**
   * Opens the S3 object version a run read (etl up reads it back through its edge). Without it, a
   * run of an S3 object cannot be exported.
   */
  openObject?: (descriptor: Extract<SourceDescriptor, { kind: 's3' }>) => RecordInput;
}

export interface FailedRowsExport extends FailedRowsCsvResult {
  /** The run's own mapping: how its file was read. */
  mapping: Mapping;
}

/** Writes the failed rows of `run`; a run whose source cannot be read again as it was is a UserError. */
export async function exportFailedRowsCsv(
  store: RunStore,
  run: string,
  options: FailedRowsExportOptions,
): Promise<FailedRowsExport> {
  const recorded = await store.readRecorded(run);
  if (!recorded) throw new UserError(`run ${run} has no record of its source; its rows cannot be read again`);
  // As recovery does: runs recorded before runs carried their mapping were read by the seed's.
  const mapping = (recorded.mappingHash ? recorded.mapping : undefined) ?? SEED_MAPPING;
  const { descriptor } = recorded;
  let input: RecordInput;
  if (descriptor.kind === 's3') {
    if (!options.openObject) {
      throw new UserError(
        `run ${run} read ${recorded.file}, an object of etl up's bucket; etl errors --csv reads local files again: ` +
          "download the object, run it with etl run, then ask again (or use etl up's dashboard)",
      );
    }
    // The version the run read (its ETag is checked): a newer upload is another run.
    input = options.openObject(descriptor);
  } else {
    if (!existsSync(descriptor.path) || (await runIdForFile(descriptor.path, mapping)) !== run) {
      throw new UserError(
        `${recorded.file}: the file of run ${run} is gone or changed since the run; its failed rows cannot be read again`,
      );
    }
    // Read as the content its run id names: a change while reading fails, as a run would.
    input = readFileAsRun(descriptor.path, run, mapping);
  }
  const failed = new FailedRows();
  for await (const record of store.readErrors(run)) {
    const { row, reason } = record as { row?: unknown; reason?: unknown };
    if (typeof row === 'number' && Number.isSafeInteger(row) && row > 0)
      failed.add(row, typeof reason === 'string' ? reason : 'failed');
  }
  const result = await writeFailedRowsCsv({
    file: recorded.file,
    input,
    mapping,
    failed,
    write: options.write,
  });
  return { ...result, mapping };
}
