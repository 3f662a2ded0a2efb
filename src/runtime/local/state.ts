/** The state directory (default `.etl/`): everything the local stack keeps between commands. */
import { createHash } from 'node:crypto';
import { constants, createReadStream, existsSync } from 'node:fs';
import { access, mkdir, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { mappingHash, SEED_MAPPING, type Mapping } from '../../pipeline/mapping.ts';
import { UserError } from '../../pipeline/errors.ts';
import { isSafeRunId, runIdFromDigest } from '../../pipeline/run-id.ts';
import { SourceChangedError } from '../../stages/extract.ts';
import { QUARANTINE_FILE } from './journal.ts';

export const DEFAULT_STATE_DIR = '.etl';
/** The seed's table name (a mapping's `table` names another). */
export { DEFAULT_TABLE_NAME } from '../../pipeline/mapping.ts';

export interface StatePaths {
  root: string;
  dynamodb: string;
  runs: string;
  /** The master key for sensitive fields. */
  masterKey: string;
  /** The bus's journal and archive. */
  journal: string;
  /** Whether the bus keeps an archive (see archive-settings.ts). */
  archiveSettings: string;
  /** Journal records set aside at recovery, with why (written by the journal). */
  quarantine: string;
  /** Dead-letter queues, a file per target (see dead-letters.ts). */
  dlq: string;
  /** The user's SQS queues, a directory per queue (see queues.ts). */
  queues: string;
  lock: string;
  /** `etl up`'s landing queue: the bucket's notifications not yet run. */
  ingest: string;
  /** `etl up`'s S3 objects. */
  s3: string;
  /** `etl up`'s landing folder, unless another is given. */
  landing: string;
  /** Users' own rules, their targets, connections and API destinations (see user-rules.ts). */
  userRules: string;
  /** What user rules' log-group targets write, a `<group>.ndjson` file each. */
  logs: string;
  run(run: string): {
    dir: string;
    events: string;
    errors: string;
    summary: string;
    source: string;
    tally: string;
    progress: string;
  };
}

export function statePaths(stateDir: string = DEFAULT_STATE_DIR): StatePaths {
  const root = resolve(stateDir);
  const runs = join(root, 'runs');
  return {
    root,
    dynamodb: join(root, 'dynamodb'),
    runs,
    masterKey: join(root, 'keys', 'master.key'),
    journal: join(root, 'bus'),
    quarantine: join(root, 'bus', QUARANTINE_FILE),
    archiveSettings: join(root, 'archive.json'),
    dlq: join(root, 'dlq'),
    queues: join(root, 'queues'),
    lock: join(root, 'lock'),
    ingest: join(root, 'ingest.ndjson'),
    s3: join(root, 's3'),
    landing: join(root, 'landing'),
    userRules: join(root, 'user-rules.json'),
    logs: join(root, 'logs'),
    run(run: string) {
      if (!isSafeRunId(run)) throw new Error(`unsafe run id ${JSON.stringify(run)}`);
      const dir = join(runs, run);
      return {
        dir,
        events: join(dir, 'events.ndjson'),
        errors: join(dir, 'errors.ndjson'),
        summary: join(dir, 'summary.json'),
        source: join(dir, 'source.json'),
        tally: join(dir, 'tally.json'),
        progress: join(dir, 'progress.json'),
      };
    },
  };
}

/** The state directory cannot be used (a file is in the way, no permission, a read-only disk). */
export class StateDirError extends UserError {
  override readonly name = 'StateDirError';
}

/** Creates the state directory's layout, or says in one line why it cannot. */
export async function ensureStateDir(paths: StatePaths): Promise<void> {
  try {
    await makeDirectory(paths.runs);
    // Every command that gets here writes (the lock, the table's store): say so now, not mid-run.
    await access(paths.root, constants.W_OK);
  } catch (error) {
    throw new StateDirError(`cannot use ${paths.root} as the state directory`, { cause: error });
  }
}

/** mkdir -p, with the real reason: Node's recursive mkdir says ENOENT when it fails for another. */
async function makeDirectory(dir: string): Promise<void> {
  try {
    await mkdir(dir, { recursive: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    const missing: string[] = [];
    for (let d = dir; !existsSync(d) && dirname(d) !== d; d = dirname(d)) missing.unshift(d);
    for (const d of missing) await mkdir(d); // throws the real error (EROFS, EACCES...)
    throw error;
  }
}

/**
 * A run is named by its file's content and its mapping, so running the same file again the same way
 * is the same run, and with another mapping a run of its own (the seed mapping's runs keep the
 * content's name alone).
 */
export async function runIdForFile(path: string, mapping: Mapping = SEED_MAPPING): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return runIdFromContent(hash.digest('hex'), mapping);
}

function runIdFromContent(content: string, mapping: Mapping): string {
  const mapped = mappingHash(mapping);
  if (mapped === mappingHash(SEED_MAPPING)) return runIdFromDigest(content);
  return runIdFromDigest(createHash('sha256').update(`${content}\n${mapped}`).digest('hex'));
}

/**
 * Reads a file as the content its run id names. A file changed while its run reads it (truncated,
 * rewritten, appended to) would load part of other content under this run id: at the end the bytes
 * read must hash to the run id, and the size and modification time must be as they were when
 * reading began; otherwise the read fails with SourceChangedError, which fails the run.
 */
export async function* readFileAsRun(
  path: string,
  run: string,
  mapping: Mapping = SEED_MAPPING,
  /** Told the size of each chunk as it is read (for progress). */
  onBytes?: (bytes: number) => void,
): AsyncGenerator<Buffer> {
  const before = await stat(path);
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(path)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
    onBytes?.((chunk as Buffer).length);
    yield chunk as Buffer;
  }
  const after = await stat(path).catch(() => undefined);
  const sameContent = runIdFromContent(hash.digest('hex'), mapping) === run;
  if (!sameContent || after?.size !== bytes || after.mtimeMs !== before.mtimeMs) {
    const now = after === undefined ? 'is gone' : `is ${after.size} bytes`;
    throw new SourceChangedError(
      `the file changed while its run read it (${bytes} bytes read; it now ${now}): run it again once it is complete`,
    );
  }
}
