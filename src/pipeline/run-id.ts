/**
 * Run ids name the content, so the same input run twice is the same run: its items land on the
 * same keys and its tally starts afresh instead of doubling.
 */
import { createHash } from 'node:crypto';

const PREFIX = 'run-';

/** A run id from a digest of the file's bytes (local files). */
export function runIdFromDigest(sha256Hex: string): string {
  return `${PREFIX}${sha256Hex.slice(0, 16)}`;
}

/**
 * A run id for an S3 object: its bucket, key and ETag name its content; in a versioned bucket the
 * version id names the upload too, so the same content uploaded again is a new run (with a tally
 * of its own) while a redelivered notification of one upload stays the same run.
 */
export function runIdForObject(bucket: string, key: string, etag: string, versionId?: string): string {
  const unquoted = etag.replace(/^"|"$/g, '');
  const upload = versionId ? `\n${versionId}` : '';
  return runIdFromDigest(
    createHash('sha256').update(`${bucket}\n${key}\n${unquoted}${upload}`).digest('hex'),
  );
}

/** Run ids come from events anyone may put; only these become file names. */
const SAFE_RUN_ID = /^(?!\.{1,2}$)[A-Za-z0-9._-]{1,128}$/;

export function isSafeRunId(run: string): boolean {
  return SAFE_RUN_ID.test(run);
}
