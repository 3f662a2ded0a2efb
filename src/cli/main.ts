/** `etl`: the command line. Each command is a thin layer over the local runtime. */
import { Command, CommanderError } from 'commander';
import { registerEvents, registerErrors, registerRuns } from './inspect.ts';
import { registerRun } from './run.ts';
import { registerScan } from './scan.ts';
import { registerUp } from './up.ts';
import { registerTestEventPattern } from './test-event-pattern.ts';
import { registerDelivery } from './delivery.ts';
import { registerGc } from './gc.ts';
import { registerReset } from './reset.ts';
import { UserError } from './errors.ts';
import { ExtractError } from '../stages/extract.ts';
import { InputFileError } from '../runtime/local/pipeline.ts';
import { TableKeyMismatchError } from '../runtime/local/dynalite.ts';
import { StateDirInUseError } from '../runtime/local/lock.ts';
import { StateDirError } from '../runtime/local/state.ts';

export function buildProgram(): Command {
  const program = new Command('etl')
    .description('Event-driven CSV-to-DynamoDB ETL: every row an event on an EventBridge bus')
    .showHelpAfterError()
    .exitOverride();
  registerRun(program);
  registerScan(program);
  registerUp(program);
  registerEvents(program);
  registerErrors(program);
  registerRuns(program);
  registerTestEventPattern(program);
  registerDelivery(program);
  registerReset(program);
  registerGc(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (
      error instanceof UserError ||
      error instanceof InputFileError ||
      error instanceof ExtractError ||
      error instanceof TableKeyMismatchError ||
      error instanceof StateDirInUseError ||
      error instanceof StateDirError
    ) {
      console.error(`etl: ${error.message}`);
      return error instanceof UserError ? error.exitCode : 2;
    }
    const message = error instanceof Error ? error.message : String(error);
    if (process.env.ETL_DEBUG) console.error(error);
    else console.error(`etl: internal error: ${message} (set ETL_DEBUG=1 for the stack trace)`);
    return 1;
  }
}

// A reader that stops early (`etl events | head`) closes our stdout: finish quietly, as Unix tools do.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

process.exitCode = await main(process.argv);
