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

/**
 * The one top-level error handler: a user's error is one line and its exit code (2); an OS error a
 * user can cause is one line and exit 2; anything else is a bug, exit 1.
 */
function reportError(error: unknown): number {
  if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
  if (error instanceof UserError) {
    console.error(`etl: ${userErrorLine(error)}`);
    return error.exitCode;
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

/** A user error caused by another (a state directory on a read-only disk) says what that was too. */
function userErrorLine(error: UserError): string {
  if (error.cause === undefined) return error.message;
  return `${error.message}: ${osErrorMessage(error.cause) ?? String(error.cause)}`;
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
  process.exit(reportError(error));
};
process.on('uncaughtException', crash);
process.on('unhandledRejection', crash);

process.exitCode = await main(process.argv);
