/**
 * A throwaway program holding only `test-event-pattern`, so its tests can run it as a subprocess before it
 * is wired into the main CLI: `node --import tsx test/patterns/cli-runner.ts test-event-pattern ...`.
 */
import { Command, CommanderError } from 'commander';
import { registerTestEventPattern } from '../../src/cli/test-event-pattern.ts';

const program = new Command('etl').exitOverride();
registerTestEventPattern(program);
try {
  await program.parseAsync(process.argv);
} catch (error) {
  if (!(error instanceof CommanderError)) throw error;
  process.exitCode = error.exitCode === 0 ? 0 : 2;
}
