/**
 * `etl gc`: deletes what the retention allows: the bus's segments that every target acknowledged
 * (without an archive) or that are older than the archive's retention (with one). A run does this
 * as it goes; gc is for a state directory left by an older version, or an archive aging while
 * nothing runs.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { archiveRetentionMs, readArchiveSettings } from '../runtime/local/archive-settings.ts';
import { Journal } from '../runtime/local/journal.ts';
import { StateLock } from '../runtime/local/lock.ts';
import { statePaths } from '../runtime/local/state.ts';
import { withStateDir } from './options.ts';

export function registerGc(program: Command): void {
  withStateDir(
    program
      .command('gc')
      .description("delete the bus's segments that are acknowledged, or past the archive's retention"),
  ).action((options: { stateDir: string }) => {
    const paths = statePaths(options.stateDir);
    if (!existsSync(paths.journal)) {
      console.log('etl gc: nothing to delete');
      return;
    }
    const lock = StateLock.acquire(paths.lock, paths.root);
    try {
      const settings = readArchiveSettings(paths.archiveSettings);
      const retentionMs = archiveRetentionMs(settings);
      const journal = new Journal({
        dir: paths.journal,
        ...(retentionMs === undefined ? {} : { archiveRetentionMs: retentionMs }),
      });
      try {
        const freed = journal.collect();
        const policy = settings.enabled
          ? `the archive keeps ${settings.retentionDays === 0 ? 'everything' : `${settings.retentionDays} days`}`
          : 'no archive';
        console.log(`etl gc: freed ${formatBytes(freed)} (${policy})`);
      } finally {
        journal.close();
      }
    } finally {
      lock.release();
    }
  });
}

function formatBytes(bytes: number): string {
  if (bytes < 1024 * 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}
