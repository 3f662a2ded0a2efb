/**
 * Whether the local bus keeps an archive, and for how long. Opt-in, as on AWS; the choice is kept in
 * the state directory (`archive.json`), so a later `etl run`, `etl replay` or `etl gc` knows it
 * without being told again. `--archive` turns it on, `--no-archive` off (which lets the archived
 * segments go at the next checkpoint). The EventBridge API's CreateArchive, UpdateArchive and
 * DeleteArchive on `etl up`'s edge change the same file (the local bus keeps at most one archive),
 * with the name, description and event pattern they give.
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { z } from 'zod';
import { UserError } from '../../pipeline/errors.ts';
import { parseLine } from './ndjson.ts';

export interface ArchiveSettings {
  enabled: boolean;
  /** Days an archived event is kept; 0 keeps it indefinitely (as AWS's RetentionDays does). */
  retentionDays: number;
  /** The archive's name, when CreateArchive named it (otherwise `<bus>-archive`). */
  name?: string;
  description?: string;
  /** Only events matching this pattern (JSON) are replayed from the archive. */
  eventPattern?: string;
  /** When CreateArchive created it, epoch seconds. */
  creationTime?: number;
}

/** What a command asks for; undefined fields keep what the state directory says. */
export interface ArchiveRequest {
  enabled?: boolean;
  retentionDays?: number;
}

export const DEFAULT_ARCHIVE_RETENTION_DAYS = 7;

const OFF: ArchiveSettings = { enabled: false, retentionDays: DEFAULT_ARCHIVE_RETENTION_DAYS };

/** Replay was asked for, but the bus keeps no archive. */
export class NoArchiveError extends UserError {
  override readonly name = 'NoArchiveError';
  constructor() {
    super(
      'there is no archive to replay: the local bus keeps events only until they are delivered, ' +
        'unless it runs with --archive (etl up --archive, etl run --archive)',
    );
  }
}

/** What `archive.json` holds; a field that is not what it should be reads as its default. */
const storedSettingsSchema = z.object({
  enabled: z.boolean().catch(false),
  retentionDays: z.number().int().nonnegative().catch(DEFAULT_ARCHIVE_RETENTION_DAYS),
  name: z.string().optional().catch(undefined),
  description: z.string().optional().catch(undefined),
  eventPattern: z.string().optional().catch(undefined),
  creationTime: z.number().optional().catch(undefined),
}) satisfies z.ZodType<ArchiveSettings>;

export function readArchiveSettings(path: string): ArchiveSettings {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return OFF;
  }
  return parseLine(text, storedSettingsSchema) ?? OFF;
}

/** The settings a command runs with: what it asks for over what is stored; stored when changed. */
export function applyArchiveSettings(path: string, request: ArchiveRequest): ArchiveSettings {
  const stored = readArchiveSettings(path);
  const settings: ArchiveSettings = {
    ...stored,
    enabled: request.enabled ?? stored.enabled,
    retentionDays: request.retentionDays ?? stored.retentionDays,
  };
  if (settings.enabled !== stored.enabled || settings.retentionDays !== stored.retentionDays) {
    writeArchiveSettings(path, settings);
  }
  return settings;
}

/** Replaces what the state directory says (the edge's CreateArchive, UpdateArchive, DeleteArchive). */
export function writeArchiveSettings(path: string, settings: ArchiveSettings): ArchiveSettings {
  writeFileSync(`${path}.tmp`, `${JSON.stringify(settings)}\n`);
  renameSync(`${path}.tmp`, path);
  return settings;
}

/** The journal's retention for these settings; undefined when there is no archive. */
export function archiveRetentionMs(settings: ArchiveSettings): number | undefined {
  if (!settings.enabled) return undefined;
  return settings.retentionDays === 0 ? Infinity : settings.retentionDays * 24 * 3600 * 1000;
}
