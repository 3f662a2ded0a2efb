/** `etl dlq`, `etl dlq redrive`, `etl replay`: the bus's delivery promises, from the command line. */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Command } from 'commander';
import { compilePattern, InvalidEventPatternException } from '../patterns/index.ts';
import type { DeadLetter } from '../runtime/local/bus.ts';
import { LocalPipeline } from '../runtime/local/pipeline.ts';
import { statePaths } from '../runtime/local/state.ts';
import { UserError } from './errors.ts';
import { withStateDir } from './options.ts';
import { printTable } from './scan.ts';
import { readJsonLines } from './state-reader.ts';

export function registerDelivery(program: Command): void {
  const dlq = withStateDir(
    program
      .command('dlq')
      .description('events that exhausted their retries, per target, with why')
      .option('--target <name>', 'only this target (transform, load, observe, quarantine)')
      .option('--json', 'a JSON array'),
  ).action(async (options: { stateDir: string; target?: string; json?: boolean }) => {
    const dir = statePaths(options.stateDir).dlq;
    const names = (await readdir(dir).catch(() => [] as string[]))
      .filter((n) => n.endsWith('.ndjson'))
      .sort();
    const letters: (DeadLetter & { time: string })[] = [];
    for (const name of names) {
      if (options.target !== undefined && name !== `${options.target}.ndjson`) continue;
      for await (const letter of readJsonLines<DeadLetter & { time: string }>(join(dir, name)))
        letters.push(letter);
    }
    if (options.json) {
      console.log(JSON.stringify(letters, null, 2));
      return;
    }
    printTable(
      letters.map((l) => {
        const detail = (l.event.detail ?? {}) as { run?: string; row?: number };
        return {
          time: l.time,
          target: l.target,
          attempts: l.attempts,
          'detail-type': l.event['detail-type'],
          run: detail.run,
          row: detail.row,
          reason: l.reason,
        };
      }),
    );
    console.log(`${letters.length} dead-lettered event${letters.length === 1 ? '' : 's'}`);
  });

  withStateDir(
    dlq
      .command('redrive')
      .description('deliver dead-lettered events to their targets again')
      .option('--target <name>', 'only this target'),
  ).action(async (options: { stateDir: string; target?: string }, command: Command) => {
    const stateDir = (command.parent?.opts() as { stateDir?: string }).stateDir ?? options.stateDir;
    const pipeline = await LocalPipeline.start({ stateDir });
    try {
      await pipeline.recover();
      const result = await pipeline.redriveDeadLetters(options.target);
      const targets = Object.entries(result);
      if (targets.length === 0) console.log('no dead-lettered events');
      for (const [target, counts] of targets) {
        console.log(`${target}: ${counts.redriven} redriven, ${counts.deadAgain} dead-lettered again`);
      }
      if (targets.some(([, c]) => c.deadAgain > 0)) process.exitCode = 1;
    } finally {
      await pipeline.close();
    }
  });

  withStateDir(
    program
      .command('replay')
      .description('replay archived events through the rules (EventBridge StartReplay)')
      .requiredOption('--from <time>', 'ISO 8601 start time, inclusive')
      .requiredOption('--to <time>', 'ISO 8601 end time, exclusive (default: now)', new Date().toISOString())
      .option('--pattern <json>', 'replay only the events this event pattern matches')
      .option('--name <name>', 'the replay name stamped on replayed events', `replay-${Date.now()}`),
  ).action(
    async (options: { stateDir: string; from: string; to: string; pattern?: string; name: string }) => {
      const from = parseTime(options.from, '--from');
      const to = parseTime(options.to, '--to');
      if (from >= to) throw new UserError('--from must be before --to');
      let filter: ((event: unknown) => boolean) | undefined;
      if (options.pattern !== undefined) {
        try {
          const compiled = compilePattern(options.pattern);
          filter = (event) => compiled.matches(event);
        } catch (error) {
          if (error instanceof InvalidEventPatternException)
            throw new UserError(`InvalidEventPatternException: ${error.message}`);
          throw error;
        }
      }
      const pipeline = await LocalPipeline.start({ stateDir: options.stateDir });
      try {
        await pipeline.recover();
        const count = await pipeline.replay({ from, to, name: options.name, ...(filter ? { filter } : {}) });
        console.log(`replayed ${count} event${count === 1 ? '' : 's'} as ${options.name}`);
      } finally {
        await pipeline.close();
      }
    },
  );
}

function parseTime(text: string, option: string): Date {
  const time = new Date(text);
  if (Number.isNaN(time.getTime()))
    throw new UserError(`${option}: "${text}" is not a time (use ISO 8601, e.g. 2026-11-24T10:00:00Z)`);
  return time;
}
