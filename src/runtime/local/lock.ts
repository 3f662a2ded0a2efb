/**
 * One process owns a state directory at a time (the embedded DynamoDB's files allow no more).
 * The lock file names the owner's pid and, for `etl up`, its endpoint, so other commands can
 * reach the running stack instead of failing on the lock.
 */
import { closeSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';

export interface LockInfo {
  pid: number;
  endpoint?: string;
}

export class StateDirInUseError extends Error {
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

export function readLock(path: string): LockInfo | undefined {
  try {
    const info = JSON.parse(readFileSync(path, 'utf8')) as LockInfo;
    return isAlive(info.pid) ? info : undefined;
  } catch {
    return undefined;
  }
}

export class StateLock {
  private constructor(private readonly path: string) {}

  static acquire(path: string, stateDir: string): StateLock {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = openSync(path, 'wx');
        writeSync(fd, JSON.stringify({ pid: process.pid }));
        closeSync(fd);
        return new StateLock(path);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const owner = readLock(path);
        if (owner) throw new StateDirInUseError(stateDir, owner);
        // The owner died without releasing it (kill -9): the lock is stale.
        rmSync(path, { force: true });
      }
    }
    throw new Error(`could not lock ${stateDir}`);
  }

  /** Tells other commands where the running stack answers. */
  advertise(endpoint: string): void {
    writeFileSync(this.path, JSON.stringify({ pid: process.pid, endpoint }));
  }

  release(): void {
    rmSync(this.path, { force: true });
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
