import type { Command } from 'commander';
import { DEFAULT_STATE_DIR } from '../runtime/local/state.ts';

/** Every command takes --state-dir. */
export function withStateDir(command: Command): Command {
  return command.option('--state-dir <dir>', 'where the local stack keeps its state', DEFAULT_STATE_DIR);
}
