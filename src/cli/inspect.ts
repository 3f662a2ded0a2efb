/** `etl events`, `etl errors`, `etl runs`: what the observer and the quarantine recorded. */
import type { Command } from 'commander';
import type { RowFailedDetail } from '../pipeline/events.ts';
import { statePaths } from '../runtime/local/state.ts';
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
    await printRecords<ObservedEvent>(
      (run) => paths.run(run).events,
      await selectRuns(paths, options.run),
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
