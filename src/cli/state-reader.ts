/** Reads what runs left under the state directory: summaries, the observer's events, the quarantine. */
import { createReadStream } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import type { DeadLetter } from '../runtime/local/bus.ts';
import type { StatePaths } from '../runtime/local/state.ts';
import { isSafeRunId } from '../pipeline/run-id.ts';
import type { RunCounts } from '../stages/ports.ts';
import { UserError } from './errors.ts';

/** What `runs/<run>/summary.json` holds: the observer's counts and when the run ran. */
export type RunSummary = Omit<RunCounts, 'settled' | 'completed'> &
  Partial<Pick<RunCounts, 'settled' | 'completed'>> & {
    startedAt?: string;
    finishedAt?: string;
    error?: string;
    /** Rows whose key an earlier row of the file had: each overwrote that item. */
    repeatedKeys?: number;
  };

export async function listRuns(paths: StatePaths): Promise<RunSummary[]> {
  let names: string[];
  try {
    names = await readdir(paths.runs);
  } catch (error) {
    // No runs yet; anything else (no permission, say) is for the one-line OS error handler.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const summaries: RunSummary[] = [];
  for (const name of names) {
    // Only what a run could have written: stray names are not runs.
    if (!isSafeRunId(name)) continue;
    try {
      summaries.push(JSON.parse(await readFile(paths.run(name).summary, 'utf8')) as RunSummary);
    } catch {
      // A run without a summary was cut short; its events are still readable.
      summaries.push({ run: name, extracted: 0, transformed: 0, loaded: 0, failed: 0 });
    }
  }
  return summaries.sort((a, b) => (a.startedAt ?? '').localeCompare(b.startedAt ?? ''));
}

/** The runs to read: the one asked for (which must exist) or all of them. */
export async function selectRuns(paths: StatePaths, run: string | undefined): Promise<string[]> {
  const runs = (await listRuns(paths)).map((r) => r.run);
  if (run === undefined) return runs;
  if (!runs.includes(run)) throw new UserError(`no run ${run} under ${paths.root} (see: etl runs)`);
  return [run];
}

/** The records of an NDJSON log, one line at a time; a log not written yet has none. */
export async function* readJsonLines<T>(path: string): AsyncGenerator<T> {
  const stream = createReadStream(path);
  try {
    const lines = createInterface({ input: stream, crlfDelay: Infinity });
    for await (const line of lines) {
      if (!line) continue;
      try {
        yield JSON.parse(line) as T;
      } catch {
        // A line torn by a crash mid-write: the rest of the log still reads.
      }
    }
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw error;
  } finally {
    // A reader that stops early (--limit) closes the file now, not at exit.
    stream.destroy();
  }
}

/** A dead letter as the DLQ file holds it: the event, why it failed, and when. */
export type DeadLetterRecord = DeadLetter & { time: string };

/** The dead letters of every target (or one), target by target, optionally only one run's. */
export async function* readDeadLetters(
  paths: StatePaths,
  filter: { target?: string; run?: string } = {},
): AsyncGenerator<DeadLetterRecord> {
  const names = (await readdir(paths.dlq).catch(() => [] as string[]))
    .filter((n) => n.endsWith('.ndjson'))
    .sort();
  for (const name of names) {
    if (filter.target !== undefined && name !== `${filter.target}.ndjson`) continue;
    for await (const letter of readJsonLines<DeadLetterRecord>(join(paths.dlq, name))) {
      if (
        filter.run !== undefined &&
        (letter.event.detail as { run?: unknown } | undefined)?.run !== filter.run
      )
        continue;
      yield letter;
    }
  }
}
