import { type Command, InvalidArgumentError } from 'commander';
import {
  DEFAULT_EVENT_SOURCE,
  DEFAULT_MAX_EVENT_AGE_SECONDS,
  DEFAULT_STAGE_CONCURRENCY,
  DefinitionError,
  definePipeline,
  MAX_STAGE_CONCURRENCY,
  MIN_STAGE_CONCURRENCY,
  type PipelineDefinition,
} from '../pipeline/definition.ts';
import { INPUT_FORMATS, type InputFormat } from '../pipeline/input-format.ts';
import { readMappingFile } from '../pipeline/mapping-file.ts';
import { type ArchiveRequest, DEFAULT_ARCHIVE_RETENTION_DAYS } from '../runtime/local/archive-settings.ts';
import { DEFAULT_STATE_DIR } from '../runtime/local/state.ts';
import { UserError } from './errors.ts';

/** Every command takes --state-dir. */
export function withStateDir(command: Command): Command {
  return command.option('--state-dir <dir>', 'where the local stack keeps its state', DEFAULT_STATE_DIR);
}

export interface PipelineOptions extends DiskOptions {
  mapping?: string;
  source?: string;
  maxEventAge?: number;
  concurrency?: number;
  maxWritesPerSecond?: number;
}

/** The option that sets each definition setting. */
const DEFINITION_OPTIONS: Record<DefinitionError['setting'], string> = {
  concurrency: 'concurrency',
  maxWritesPerSecond: 'max-writes-per-second',
};

function parseWholeNumber(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)))
    throw new InvalidArgumentError('a whole number');
  return Number(value);
}

export function parseInputFormat(value: string): InputFormat {
  if (!(INPUT_FORMATS as readonly string[]).includes(value))
    throw new InvalidArgumentError(`one of ${INPUT_FORMATS.join(', ')}`);
  return value as InputFormat;
}

function parseSeconds(value: string): number {
  const seconds = Number(value);
  // EventBridge's MaximumEventAgeInSeconds: 60 s to 24 h.
  if (!/^\d+$/.test(value) || seconds < 60 || seconds > 86_400)
    throw new InvalidArgumentError('a whole number of seconds from 60 to 86400');
  return seconds;
}

/** The commands that run the pipeline choose its mapping, event source and what it keeps on disk. */
export function withPipelineOptions(command: Command): Command {
  return withDiskOptions(command)
    .option('--mapping <file>', "columns to attributes, as JSON (default: the seed's five columns)")
    .option('--source <name>', `the event source (default: ${DEFAULT_EVENT_SOURCE})`)
    .option(
      '--max-event-age <seconds>',
      `how long a failing event is retried before it is dead-lettered (default: ${DEFAULT_MAX_EVENT_AGE_SECONDS})`,
      parseSeconds,
    )
    .option(
      '--concurrency <n>',
      `batches each stage handles at once, ${MIN_STAGE_CONCURRENCY} to ${MAX_STAGE_CONCURRENCY} (default: ${DEFAULT_STAGE_CONCURRENCY}, the seed's throttle)`,
      parseWholeNumber,
    )
    .option(
      '--max-writes-per-second <n>',
      "items written to the table a second at most (a provisioned table's write capacity; default: unlimited)",
      parseWholeNumber,
    );
}

/** The pipeline definition those options describe. */
export function definitionFromOptions(options: PipelineOptions): PipelineDefinition {
  let mapping;
  // A bad mapping file throws a MappingError: a UserError, one line.
  if (options.mapping !== undefined) mapping = readMappingFile(options.mapping);
  if (options.source !== undefined && options.source.trim() === '')
    throw new UserError('--source: must not be empty');
  try {
    return definePipeline({
      ...(mapping ? { mapping } : {}),
      ...(options.source ? { source: options.source } : {}),
      ...(options.maxEventAge === undefined ? {} : { maxEventAgeSeconds: options.maxEventAge }),
      ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
      ...(options.maxWritesPerSecond === undefined ? {} : { maxWritesPerSecond: options.maxWritesPerSecond }),
    });
  } catch (error) {
    if (error instanceof DefinitionError)
      throw new UserError(`--${DEFINITION_OPTIONS[error.setting]}: ${error.message}`);
    throw error;
  }
}

export interface DiskOptions {
  /** true for --archive, false for --no-archive, undefined: as the state directory says. */
  archive?: boolean;
  archiveRetention?: number;
  recordEvents?: boolean;
}

function parseDays(value: string): number {
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(Number(value)))
    throw new InvalidArgumentError('a whole number of days (0: keep indefinitely)');
  return Number(value);
}

/** What the pipeline keeps on disk. */
function withDiskOptions(command: Command): Command {
  return command
    .option('--archive', "keep an archive of the bus's events for replay (remembered in the state directory)")
    .option('--no-archive', 'keep no archive (the default): events go once delivered, the archive too')
    .option(
      '--archive-retention <days>',
      `days the archive keeps an event (default ${DEFAULT_ARCHIVE_RETENTION_DAYS}; 0: indefinitely); implies --archive`,
      parseDays,
    )
    .option(
      '--record-events',
      "record every event the observer sees in the run's events.ndjson (etl events)",
    );
}

/** The archive those options ask for. */
export function archiveRequestFromOptions(options: DiskOptions): ArchiveRequest {
  if (options.archiveRetention !== undefined && options.archive === false)
    throw new UserError('--archive-retention and --no-archive contradict each other');
  const enabled = options.archiveRetention !== undefined ? true : options.archive;
  return {
    ...(enabled === undefined ? {} : { enabled }),
    ...(options.archiveRetention === undefined ? {} : { retentionDays: options.archiveRetention }),
  };
}

/** A TCP port from the command line. */
export function parsePort(value: string): number {
  const port = Number(value);
  if (!/^\d+$/.test(value) || port > 65_535)
    throw new InvalidArgumentError('a port is 0 to 65535 (0: any free port)');
  return port;
}
