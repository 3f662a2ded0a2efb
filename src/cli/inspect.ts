/**
 * `etl events`, `etl errors`, `etl runs`: what the observer and the quarantine recorded. Each streams
 * its logs record by record, so a ten-million-row run lists in constant memory.
 */
import type { Command } from 'commander';
import { readLock } from '../runtime/local/lock.ts';
import { RunStore, runState } from '../runtime/local/runs.ts';
import { statePaths } from '../runtime/local/state.ts';
import { parseLimit, writeListing } from './listing.ts';
import { withStateDir } from './options.ts';
import { UserError } from './errors.ts';
import { selectRuns } from './state-reader.ts';

interface ListingOptions {
  stateDir: string;
  run?: string;
  json?: boolean;
  limit?: number;
}

/** The options every listing of run records takes. */
function withListingOptions(command: Command, json: string): Command {
  return withStateDir(
    command
      .option('--run <id>', 'only this run')
      .option('--json', json)
      .option('--limit <n>', 'at most this many records', parseLimit),
  );
}

export function registerEvents(program: Command): void {
  withListingOptions(
    program.command('events').description('the events the observer saw (no row values)'),
    'a JSON array of the recorded events, one per line',
  ).action(async (options: ListingOptions) => {
    const paths = statePaths(options.stateDir);
    const store = new RunStore(paths);
    const runs = await selectRuns(store, paths.root, options.run);
    warnOfUnrecordedRuns(store, runs);
    await writeListing(
      readRunLogs(runs, (run) => store.readEvents(run)),
      {
        ...options,
        row: (e) => ({
          time: e.time,
          'detail-type': e.detailType,
          status: e.status,
          run: e.run,
          row: e.row,
          reason: e.reason,
        }),
      },
    );
  });
}

/** The per-event record is opt-in: say which runs have none, and how to get one. */
function warnOfUnrecordedRuns(store: RunStore, runs: readonly string[]): void {
  const unrecorded = runs.filter((run) => !store.hasEventsLog(run));
  if (unrecorded.length === 0) return;
  const which = unrecorded.length === 1 ? `run ${unrecorded[0]} has` : `${unrecorded.length} runs have`;
  console.error(
    `etl: ${which} no per-event record; it is opt-in: run the file with etl run --record-events ` +
      '(or etl up --record-events); etl runs and etl errors need none',
  );
}

export function registerErrors(program: Command): void {
  withListingOptions(
    program
      .command('errors')
      .description('rows that failed, with their reasons (the quarantine)')
      .option('--csv', "with --run: the run's failed rows as CSV, to fix and run again")
      .option('--out <file>', 'with --csv: write the CSV there (default: print it)'),
    'a JSON array of the failed rows, one per line',
  ).action(async (options: ListingOptions & { csv?: boolean; out?: string }) => {
    const paths = statePaths(options.stateDir);
    const store = new RunStore(paths);
    if (options.out !== undefined && !options.csv) throw new UserError('--out is for --csv');
    if (options.csv) {
      if (options.run === undefined) throw new UserError('--csv needs --run ID: the failed rows of one run');
      await selectRuns(store, paths.root, options.run);
      const { writeErrorsCsv } = await import('./errors-csv.ts');
      await writeErrorsCsv(store, options.run, options.out);
      return;
    }
    const runs = await selectRuns(store, paths.root, options.run);
    await writeListing(
      readRunLogs(runs, (run) => store.readErrors(run)),
      {
        json: options.json,
        limit: options.limit,
        row: (e) => ({ run: e.run, row: e.row, stage: e.stage, column: e.column, reason: e.reason }),
      },
    );
  });
}

export function registerRuns(program: Command): void {
  withStateDir(
    program
      .command('runs')
      .description('the runs so far, with their tallies, oldest first')
      .option('--json', 'a JSON array of the runs, one per line')
      .option('--limit <n>', 'at most this many runs', parseLimit),
  ).action(async (options: Omit<ListingOptions, 'run'>) => {
    const paths = statePaths(options.stateDir);
    const held = readLock(paths.lock) !== undefined;
    const runs = (await new RunStore(paths).list()).map((listed) => {
      const { unfinished: _, ...summary } = listed;
      return { ...summary, state: runState(listed, held) };
    });
    await writeListing(runs, {
      ...options,
      row: (r) => ({
        run: r.run,
        file: r.file,
        state: r.state,
        extracted: r.extracted,
        loaded: r.loaded,
        failed: r.failed,
        'dead-lettered': r.deadLettered ?? 0,
        overwritten: r.repeatedKeys ?? 0,
        finished: r.finishedAt,
      }),
    });
  });
}

/** The records of each run's log in turn, read line by line. */
async function* readRunLogs<T>(runs: string[], read: (run: string) => AsyncIterable<T>): AsyncGenerator<T> {
  for (const run of runs) yield* read(run);
}
