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
import { osErrorMessage, UserError } from './errors.ts';
import { ExtractError } from '../stages/extract.ts';
import { InputFileError } from '../runtime/local/pipeline.ts';
import { TableKeyMismatchError } from '../runtime/local/dynalite.ts';
import { StateDirInUseError } from '../runtime/local/lock.ts';
import { StateDirError } from '../runtime/local/state.ts';

/** The running command's state directory, to name where an OS error without a path happened. */
let currentStateDir: string | undefined;

export function buildProgram(): Command {
  const program = new Command('etl')
    .description('Event-driven CSV-to-DynamoDB ETL: every row an event on an EventBridge bus')
    .showHelpAfterError()
    .exitOverride()
    .hook('preAction', (_, action) => {
      const { stateDir } = action.opts<{ stateDir?: unknown }>();
      if (typeof stateDir === 'string') currentStateDir = stateDir;
    });
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
    return reportError(error);
  }
}

/** The one top-level error handler: a user's error is one line and exit 2; anything else exit 1. */
function reportError(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
  if (error instanceof StateDirError && error.cause !== undefined) {
    const why = osErrorMessage(error.cause) ?? String(error.cause);
    console.error(`etl: ${error.message}: ${why}`);
    return 2;
  }
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
  const osError = osErrorMessage(error, currentStateDir);
  if (osError !== undefined) {
    console.error(`etl: ${osError}`);
    if (process.env.ETL_DEBUG) console.error(error);
    return 2;
  }
  const message = error instanceof Error ? error.message : String(error);
  if (process.env.ETL_DEBUG) console.error(error);
  else console.error(`etl: internal error: ${message} (set ETL_DEBUG=1 for the stack trace)`);
  return 1;
}

// A reader that stops early (`etl events | head`) closes our stdout: finish quietly, as Unix tools do.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

// A failure outside the command's own promise chain (a synchronous journal write failing inside a
// delivery, say) ends the process the same way: one line, no stack. The state stays as the next
// run's recovery expects after any crash.
const crash = (error: unknown): void => {
  process.exit(reportError(error));
};
process.on('uncaughtException', crash);
process.on('unhandledRejection', crash);

process.exitCode = await main(process.argv);
