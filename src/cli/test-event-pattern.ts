/**
 * `etl test-event-pattern`: the local twin of `aws events test-event-pattern`. Each option takes inline JSON
 * or file://PATH; prints {"Result": true|false}. A bad pattern, a bad event or an unreadable file is the
 * user's to fix: one line on stderr and exit code 2, never a stack trace.
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { testEventPattern } from '../patterns/index.ts';
import { AwsApiError, UserError } from './errors.ts';

const USER_ERROR_EXIT_CODE = 2;
const FILE_PREFIX = 'file://';

/** Inline JSON, or the contents of file://PATH (relative to the working directory, as in the AWS CLI). */
async function readArgument(option: string, value: string): Promise<string> {
  if (!value.startsWith(FILE_PREFIX)) return value;
  const path = value.slice(FILE_PREFIX.length);
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const reason = error instanceof Error && 'code' in error ? String(error.code) : String(error);
    throw new UserError(`${option}: cannot read ${value} (${reason})`);
  }
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ');
}

function failWith(message: string): void {
  process.stderr.write(`${oneLine(message)}\n`);
  process.exitCode = USER_ERROR_EXIT_CODE;
}

export function registerTestEventPattern(program: Command): void {
  program
    .command('test-event-pattern')
    .description('test whether an event matches an event pattern, as `aws events test-event-pattern` does')
    .requiredOption('--event-pattern <json>', 'the event pattern, as JSON or file://PATH')
    .requiredOption('--event <json>', 'the event, a full EventBridge envelope, as JSON or file://PATH')
    .action(async (options: { eventPattern: string; event: string }) => {
      try {
        const pattern = await readArgument('--event-pattern', options.eventPattern);
        const event = await readArgument('--event', options.event);
        const result = testEventPattern(pattern, event);
        process.stdout.write(`{"Result": ${result}}\n`);
      } catch (error) {
        // An AWS-shaped error prints its code first, as EventBridge names it.
        if (error instanceof AwsApiError) failWith(`${error.code}: ${error.message}`);
        else if (error instanceof UserError) failWith(error.message);
        else throw error;
      }
    });
}
