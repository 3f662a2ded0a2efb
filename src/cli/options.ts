import { type Command, InvalidArgumentError } from 'commander';
import {
  DEFAULT_EVENT_SOURCE,
  DEFAULT_MAX_EVENT_AGE_SECONDS,
  definePipeline,
  type PipelineDefinition,
} from '../pipeline/definition.ts';
import { readMappingFile } from '../pipeline/mapping-file.ts';
import { MappingError } from '../pipeline/mapping.ts';
import { DEFAULT_STATE_DIR } from '../runtime/local/state.ts';
import { UserError } from './errors.ts';

/** Every command takes --state-dir. */
export function withStateDir(command: Command): Command {
  return command.option('--state-dir <dir>', 'where the local stack keeps its state', DEFAULT_STATE_DIR);
}

export interface PipelineOptions {
  mapping?: string;
  source?: string;
  maxEventAge?: number;
}

function parseSeconds(value: string): number {
  const seconds = Number(value);
  // EventBridge's MaximumEventAgeInSeconds: 60 s to 24 h.
  if (!/^\d+$/.test(value) || seconds < 60 || seconds > 86_400)
    throw new InvalidArgumentError('a whole number of seconds from 60 to 86400');
  return seconds;
}

/** The commands that run the pipeline choose its mapping and event source. */
export function withPipelineOptions(command: Command): Command {
  return command
    .option('--mapping <file>', "columns to attributes, as JSON (default: the seed's five columns)")
    .option('--source <name>', `the event source (default: ${DEFAULT_EVENT_SOURCE})`)
    .option(
      '--max-event-age <seconds>',
      `how long a failing event is retried before it is dead-lettered (default: ${DEFAULT_MAX_EVENT_AGE_SECONDS})`,
      parseSeconds,
    );
}

/** The pipeline definition those options describe. */
export function definitionFromOptions(options: PipelineOptions): PipelineDefinition {
  let mapping;
  if (options.mapping !== undefined) {
    try {
      mapping = readMappingFile(options.mapping);
    } catch (error) {
      if (error instanceof MappingError) throw new UserError(error.message);
      throw error;
    }
  }
  if (options.source !== undefined && options.source.trim() === '')
    throw new UserError('--source: must not be empty');
  return definePipeline({
    ...(mapping ? { mapping } : {}),
    ...(options.source ? { source: options.source } : {}),
    ...(options.maxEventAge === undefined ? {} : { maxEventAgeSeconds: options.maxEventAge }),
  });
}
