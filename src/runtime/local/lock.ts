/**
 * One process owns a state directory at a time (the embedded DynamoDB's files allow no more).
 * The lock file names the owner's pid and, for `etl up`, its endpoint, so other commands can
 * reach the running stack instead of failing on the lock.
 *
 * The file is always whole: it is written to a temporary file first, then linked into place (which
 * fails if a lock exists) or renamed over it, so a reader never sees it empty or half written.
 */
import { linkSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { UserError } from '../../pipeline/errors.ts';

export interface LockInfo {
  pid: number;
  /** The owner's start time (field 22 of /proc/PID/stat): a pid reused by another process differs. */
  started?: string;
  endpoint?: string;
}

export class StateDirInUseError extends UserError {
  override readonly name = 'StateDirInUseError';
  constructor(
    readonly stateDir: string,
    readonly owner: LockInfo,
  ) {
    super(
      `the state directory ${stateDir} is in use by another etl process (pid ${owner.pid}` +
        `${owner.endpoint ? `, serving ${owner.endpoint}` : ''}); stop it or use another --state-dir`,
    );
  }
}

/** The lock's owner, or undefined when there is none or it is dead (a stale lock). */
export function readLock(path: string): LockInfo | undefined {
  const info = readLockFile(path);
  return info && isAlive(info) ? info : undefined;
}

export class StateLock {
  private constructor(
    private readonly path: string,
    private readonly info: LockInfo,
  ) {}

  static acquire(path: string, stateDir: string): StateLock {
    const started = processStartTime(process.pid);
    const info: LockInfo = { pid: process.pid, ...(started ? { started } : {}) };
    for (let attempt = 0; attempt < 3; attempt++) {
      const temp = writeTemp(path, info);
      try {
        linkSync(temp, path);
        return new StateLock(path, info);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      } finally {
        rmSync(temp, { force: true });
      }
      const owner = readLockFile(path);
      if (owner && isAlive(owner)) throw new StateDirInUseError(stateDir, owner);
      removeStale(path, owner);
    }
    throw new Error(`could not lock ${stateDir}`);
  }

  /** Tells other commands where the running stack answers. */
  advertise(endpoint: string): void {
    renameSync(writeTemp(this.path, { ...this.info, endpoint }), this.path);
  }

  release(): void {
    rmSync(this.path, { force: true });
  }
}

function writeTemp(path: string, info: LockInfo): string {
  const temp = `${path}.${process.pid}.tmp`;
  writeFileSync(temp, JSON.stringify(info));
  return temp;
}

function readLockFile(path: string): LockInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
    return Number.isSafeInteger(info.pid) && info.pid > 0 ? info : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Removes a stale lock, but only the one judged stale: it is moved aside first and put back if it
 * turns out to be a fresh one another process took meanwhile.
 */
function removeStale(path: string, stale: LockInfo | undefined): void {
  const aside = `${path}.${process.pid}.stale`;
  try {
    renameSync(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return; // someone else removed it
    throw error;
  }
  const moved = readLockFile(aside);
  if (moved && JSON.stringify(moved) !== JSON.stringify(stale) && isAlive(moved)) {
    try {
      linkSync(aside, path);
    } catch {
      // A third process took the lock meanwhile; the one moved aside has lost it.
    }
  }
  rmSync(aside, { force: true });
}

/**
 * Whether the lock's owner is still running. A zombie (killed but not yet reaped by its parent)
 * holds nothing, and a pid now used by another process (a different start time) is not the owner.
 */
function isAlive(info: LockInfo): boolean {
  try {
    process.kill(info.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const stat = readProcStat(info.pid);
  if (stat === undefined) return process.platform !== 'linux';
  if (stat.state === 'Z' || stat.state === 'X') return false;
  return info.started === undefined || info.started === stat.started;
}

function processStartTime(pid: number): string | undefined {
  return readProcStat(pid)?.started;
}

/** State and start time from /proc/PID/stat (Linux); the command name may hold spaces and parens. */
function readProcStat(pid: number): { state: string; started: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  // Fields after the command: state is field 3 of the file, starttime field 22.
  const state = fields[0];
  const started = fields[19];
  return state && started ? { state, started } : undefined;
}
