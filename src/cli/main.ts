/**
 * `etl`: the command line. Each command is a thin layer over the local runtime. A command's module (and
 * the AWS SDK, the embedded DynamoDB... behind it) loads only when that command runs, so `etl --version`
 * or `etl test-event-pattern` start in a blink; help and unknown commands load them all.
 */
import { Command, CommanderError } from 'commander';
import { osErrorMessage, UserError } from './errors.ts';
import { COMMANDS } from './commands.ts';
import { etlVersion } from './version.ts';

/** The running command's state directory, to name where an OS error without a path happened. */
let currentStateDir: string | undefined;

/** The program with the commands `argv` needs: the one it names, or all of them. */
export async function buildProgram(argv: readonly string[] = []): Promise<Command> {
  const program = new Command('etl')
    .description('Event-driven CSV-to-DynamoDB ETL: every row an event on an EventBridge bus')
    .version(etlVersion(), '-V, --version', 'print the version')
    .showHelpAfterError()
    .exitOverride()
    .hook('preAction', (_, action) => {
      const { stateDir } = action.opts<{ stateDir?: unknown }>();
      if (typeof stateDir === 'string') currentStateDir = stateDir;
    });
  const first = argv[2];
  const named = COMMANDS.find((command) => first !== undefined && command.names.includes(first));
  const needed = named ? [named] : first === '-V' || first === '--version' ? [] : COMMANDS;
  for (const register of await Promise.all(needed.map((command) => command.load()))) register(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await (await buildProgram(argv)).parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    return reportError(error);
  }
}

/** The one top-level error handler: a user's error is one line and exit 2; anything else exit 1. */
async function reportError(error: unknown): Promise<number> {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
  const { StateDirError } = await import('../runtime/local/state.ts');
  if (error instanceof StateDirError && error.cause !== undefined) {
    const why = osErrorMessage(error.cause) ?? String(error.cause);
    console.error(`etl: ${error.message}: ${why}`);
    return 2;
  }
  if (await isUserError(error)) {
    console.error(`etl: ${(error as Error).message}`);
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

/**
 * Errors that are the user's to fix. The classes thrown deep in the runtime are imported only here,
 * when something failed, so that loading them does not slow every start.
 */
async function isUserError(error: unknown): Promise<boolean> {
  if (error instanceof UserError) return true;
  const [
    { ExtractError },
    { InputFileError },
    { TableKeyMismatchError },
    { StateDirInUseError },
    { StateDirError },
  ] = await Promise.all([
    import('../stages/extract.ts'),
    import('../runtime/local/pipeline.ts'),
    import('../runtime/local/dynalite.ts'),
    import('../runtime/local/lock.ts'),
    import('../runtime/local/state.ts'),
  ]);
  return (
    error instanceof InputFileError ||
    error instanceof ExtractError ||
    error instanceof TableKeyMismatchError ||
    error instanceof StateDirInUseError ||
    error instanceof StateDirError
  );
}

// A reader that stops early (`etl events | head`) closes our stdout: finish quietly, as Unix tools do.
process.stdout.on('error', (error: NodeJS.ErrnoException) => {
  if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw error;
});

// A failure outside the command's own promise chain (a synchronous journal write failing inside a
// delivery, say) ends the process the same way: one line, no stack. The state stays as the next
// run's recovery expects after any crash.
let crashed = false;
const crash = (error: unknown): void => {
  // One line for the first failure; others that follow it while it is reported add nothing.
  if (crashed) return;
  crashed = true;
  void reportError(error).then((code) => process.exit(code));
};
process.on('uncaughtException', crash);
process.on('unhandledRejection', crash);

process.exitCode = await main(process.argv);
