// The CLI's errors: the code base's two error kinds (one line and an exit code for a UserError), and
// what an operating-system error a user can cause says.
export { AwsApiError, UserError } from '../pipeline/errors.ts';

/** What each operating-system error a user can cause means, and what to do about it. */
const OS_PROBLEMS: Record<string, { what: string; fix: string }> = {
  EACCES: { what: 'permission denied', fix: 'check its permissions or the user etl runs as' },
  EPERM: { what: 'operation not permitted', fix: 'check its permissions or the user etl runs as' },
  EROFS: { what: 'read-only file system', fix: 'use a writable location (--state-dir DIR)' },
  ENOSPC: { what: 'no space left on the device', fix: 'free some space, then run again' },
  EDQUOT: { what: 'disk quota exceeded', fix: 'free some space, then run again' },
  ENAMETOOLONG: { what: 'file name too long', fix: 'use a shorter path' },
  EMFILE: { what: 'too many open files', fix: 'raise the limit (ulimit -n), then run again' },
  ENFILE: { what: 'the system has too many open files', fix: 'close some programs, then run again' },
  ENOENT: { what: 'no such file or directory', fix: 'check the path' },
  ENOTDIR: { what: 'a part of the path is not a directory', fix: 'check the path' },
  EISDIR: { what: 'a directory where a file was expected', fix: 'name a file' },
  ELOOP: { what: 'too many levels of symbolic links', fix: 'check the links in the path' },
  EIO: { what: 'input/output error', fix: 'check the disk' },
};

/** LevelDB (the embedded DynamoDB's store) reports OS errors as text, not codes. */
const LEVELDB_PROBLEMS: [RegExp, string][] = [
  [/No space left on device/i, 'ENOSPC'],
  [/Read-only file system/i, 'EROFS'],
  [/Permission denied/i, 'EACCES'],
  [/Too many open files/i, 'EMFILE'],
  [/Disk quota exceeded/i, 'EDQUOT'],
];

interface OsError {
  code: string;
  path?: string;
  syscall?: string;
}

/** The OS error behind `error` (itself or a cause), if it is one a user can cause. */
function findOsError(error: unknown): OsError | undefined {
  for (let e = error, depth = 0; e instanceof Error && depth < 5; e = e.cause, depth++) {
    const { code, path, syscall } = e as NodeJS.ErrnoException;
    if (typeof code === 'string' && code in OS_PROBLEMS) {
      return { code, ...(path ? { path } : {}), ...(syscall ? { syscall } : {}) };
    }
    for (const [pattern, mapped] of LEVELDB_PROBLEMS) if (pattern.test(e.message)) return { code: mapped };
  }
  return undefined;
}

/**
 * One line for an OS error a user can cause (EACCES, EROFS, ENOSPC, ENAMETOOLONG, EMFILE, ENOENT...):
 * the path, what went wrong and what to do. `stateDir` names where it happened when the error does
 * not say (a write to an open file has no path). Undefined for any other error.
 */
export function osErrorMessage(error: unknown, stateDir?: string): string | undefined {
  const os = findOsError(error);
  if (!os) return undefined;
  const problem = OS_PROBLEMS[os.code] as { what: string; fix: string };
  const where = os.path ?? (stateDir === undefined ? undefined : `state directory ${stateDir}`);
  const how = os.syscall ? `${os.code} on ${os.syscall}` : os.code;
  return `${where === undefined ? '' : `${where}: `}${problem.what} (${how}); ${problem.fix}`;
}
