/**
 * `etl reset [--yes]`: empties the state directory's data (the table, the runs' records, the
 * queues, the bus's journal and archive) after a confirmation, so the next run starts from nothing.
 * It keeps the master key (deleting a key is never what one expects of a reset, and without the
 * data it decrypts nothing), the archive setting, and the inputs: the landing bucket's objects and
 * the landing folder.
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { StateLock } from '../runtime/local/lock.ts';
import { statePaths } from '../runtime/local/state.ts';
import { UserError } from './errors.ts';
import { withStateDir } from './options.ts';

export function registerReset(program: Command): void {
  withStateDir(
    program
      .command('reset')
      .description(
        'delete the table, runs, dead-letter queues and bus journal/archive (keeps the master key and the inputs)',
      )
      .option('--yes', 'do not ask for confirmation (needed when stdin is not a terminal)'),
  ).action(async (options: { stateDir: string; yes?: boolean }) => {
    const paths = statePaths(options.stateDir);
    if (!existsSync(paths.root)) {
      console.log(`etl reset: nothing to reset (${paths.root} does not exist)`);
      return;
    }
    if (!options.yes && !process.stdin.isTTY)
      throw new UserError('reset deletes data: pass --yes to confirm when stdin is not a terminal');
    // Held throughout: a running etl up or etl run refuses it, and nothing starts while we delete.
    const lock = StateLock.acquire(paths.lock, paths.root);
    try {
      const doomed = [
        { path: paths.dynamodb, what: 'the table' },
        { path: paths.runs, what: 'the runs (summaries, errors, events)' },
        { path: paths.dlq, what: 'the dead-letter queues' },
        { path: paths.ingest, what: 'the landing queue' },
        { path: paths.journal, what: 'the bus journal and archive' },
      ].filter((d) => existsSync(d.path));
      if (doomed.length === 0) {
        console.log(`etl reset: nothing to reset under ${paths.root}`);
        return;
      }
      if (
        !options.yes &&
        !(await confirm(
          paths.root,
          doomed.map((d) => d.what),
        ))
      ) {
        console.log('etl reset: nothing deleted');
        return;
      }
      // The journal last: a reset cut short leaves no table whose events are gone.
      for (const { path } of doomed) await rm(path, { recursive: true, force: true });
      console.log(
        `etl reset: deleted ${doomed.map((d) => d.what).join(', ')} under ${paths.root}; ` +
          'kept the master key, the archive setting and the landing bucket and folder',
      );
    } finally {
      lock.release();
    }
  });
}

async function confirm(root: string, what: string[]): Promise<boolean> {
  const prompt = createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = await prompt.question(`Delete ${what.join(', ')} under ${root}? [y/N] `);
    return /^y(es)?$/i.test(answer.trim());
  } finally {
    prompt.close();
  }
}
