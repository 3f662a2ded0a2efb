/** `etl events`, `etl errors`, `etl runs`: what the observer and the quarantine recorded. */
import type { Command } from 'commander';
import type { RowFailedDetail } from '../pipeline/events.ts';
import { existsSync } from 'node:fs';
import { type StatePaths, statePaths } from '../runtime/local/state.ts';
import type { ObservedEvent } from '../stages/observe.ts';
import { withStateDir } from './options.ts';
import { printTable } from './scan.ts';
import { listRuns, readJsonLines, selectRuns } from './state-reader.ts';

export function registerEvents(program: Command): void {
  withStateDir(
    program
      .command('events')
      .description('the events the observer saw')
      .option('--run <id>', 'only this run')
      .option('--json', 'a JSON array'),
  ).action(async (options: { stateDir: string; run?: string; json?: boolean }) => {
    const paths = statePaths(options.stateDir);
    const runs = await selectRuns(paths, options.run);
    warnOfUnrecordedRuns(paths, runs);
    await printRecords<ObservedEvent>(
      (run) => paths.run(run).events,
      runs,
      options.json,
      (e) => ({
        time: e.time,
        'detail-type': e.detailType,
        status: e.status,
        run: e.run,
        row: e.row,
        reason: e.reason,
      }),
    );
  });
}

/** The per-event record is opt-in: say which runs have none, and how to get one. */
function warnOfUnrecordedRuns(paths: StatePaths, runs: readonly string[]): void {
  const unrecorded = runs.filter((run) => !existsSync(paths.run(run).events));
  if (unrecorded.length === 0) return;
  const which = unrecorded.length === 1 ? `run ${unrecorded[0]} has` : `${unrecorded.length} runs have`;
  console.error(
    `etl: ${which} no per-event record; it is opt-in: run the file with etl run --record-events ` +
      '(or etl up --record-events); etl runs and etl errors need none',
  );
}

export function registerErrors(program: Command): void {
  withStateDir(
    program
      .command('errors')
      .description('rows that failed, with their reasons (the quarantine)')
      .option('--run <id>', 'only this run')
      .option('--json', 'a JSON array'),
  ).action(async (options: { stateDir: string; run?: string; json?: boolean }) => {
    const paths = statePaths(options.stateDir);
    await printRecords<RowFailedDetail & { time: string }>(
      (run) => paths.run(run).errors,
      await selectRuns(paths, options.run),
      options.json,
      (e) => ({ run: e.run, row: e.row, stage: e.stage, column: e.column, reason: e.reason }),
    );
  });
}

export function registerRuns(program: Command): void {
  withStateDir(
    program
      .command('runs')
      .description('the runs so far, with their tallies')
      .option('--json', 'a JSON array'),
  ).action(async (options: { stateDir: string; json?: boolean }) => {
    const runs = await listRuns(statePaths(options.stateDir));
    if (options.json) console.log(JSON.stringify(runs, null, 2));
    else
      printTable(
        runs.map((r) => ({
          run: r.run,
          file: r.file,
          extracted: r.extracted,
          loaded: r.loaded,
          failed: r.failed,
          'dead-lettered': r.deadLettered ?? 0,
          overwritten: r.repeatedKeys ?? 0,
          finished: r.finishedAt,
        })),
      );
  });
}

async function printRecords<T>(
  pathOf: (run: string) => string,
  runs: string[],
  json: boolean | undefined,
  row: (record: T) => Record<string, unknown>,
): Promise<void> {
  if (json) {
    // Streamed, so a million-row run prints without holding its events in memory.
    let first = true;
    process.stdout.write('[');
    for (const run of runs) {
      for await (const record of readJsonLines<T>(pathOf(run))) {
        process.stdout.write(`${first ? '\n  ' : ',\n  '}${JSON.stringify(record)}`);
        first = false;
      }
    }
    process.stdout.write(first ? ']\n' : '\n]\n');
    return;
  }
  const rows: Record<string, unknown>[] = [];
  for (const run of runs) for await (const record of readJsonLines<T>(pathOf(run))) rows.push(row(record));
  printTable(rows);
}
