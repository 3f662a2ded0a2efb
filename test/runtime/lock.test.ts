import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { readLock, StateDirInUseError, StateLock } from '../../src/runtime/local/lock.ts';
import { tempDir } from '../support/cli.ts';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

/** A process that stays alive, and the pid of a child of it that exited and is never reaped. */
async function zombie(): Promise<{ parent: ChildProcess; zombiePid: number }> {
  // `exec sleep` replaces the shell, and sleep never waits for the child the shell started. The child
  // exits only once its parent is sleep: before the exec, the shell could reap it and leave no zombie.
  const child = `sh -c 'until [ "$(cat /proc/$PPID/comm)" = sleep ]; do sleep 0.01; done'`;
  const parent = spawn('sh', ['-c', `${child} & echo $!; exec sleep 60`], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  children.push(parent);
  const zombiePid = await new Promise<number>((resolve) =>
    parent.stdout?.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))),
  );
  // Wait until the kernel shows it as a zombie (state Z).
  while (!/\) Z /.test(readFileSync(`/proc/${zombiePid}/stat`, 'utf8'))) {
    await new Promise((r) => setTimeout(r, 20));
  }
  return { parent, zombiePid };
}

function startTime(pid: number): string {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ')[19] as string;
}

describe('the state directory lock', () => {
  it('takes over a lock whose holder is a zombie (killed, not reaped)', async () => {
    const { zombiePid } = await zombie();
    const dir = tempDir();
    const path = join(dir, 'lock');
    writeFileSync(path, JSON.stringify({ pid: zombiePid }));
    expect(readLock(path)).toBeUndefined();
    const lock = StateLock.acquire(path, dir);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toMatchObject({ pid: process.pid });
    lock.release();
  });

  it('takes over a lock whose pid now belongs to another process (another start time)', async () => {
    const { parent } = await zombie();
    const pid = parent.pid as number;
    const dir = tempDir();
    const path = join(dir, 'lock');
    writeFileSync(path, JSON.stringify({ pid, started: String(Number(startTime(pid)) - 1) }));
    StateLock.acquire(path, dir).release();
    // The same pid with its own start time is a live owner.
    writeFileSync(path, JSON.stringify({ pid, started: startTime(pid) }));
    expect(() => StateLock.acquire(path, dir)).toThrow(StateDirInUseError);
    expect(readLock(path)).toMatchObject({ pid });
  });

  it('writes the lock whole (pid and start time), leaves no temporary file, and advertises atomically', () => {
    const dir = tempDir();
    const path = join(dir, 'lock');
    const lock = StateLock.acquire(path, dir);
    expect(JSON.parse(readFileSync(path, 'utf8'))).toEqual({
      pid: process.pid,
      started: startTime(process.pid),
    });
    lock.advertise('http://127.0.0.1:4566');
    expect(readLock(path)).toEqual({
      pid: process.pid,
      started: startTime(process.pid),
      endpoint: 'http://127.0.0.1:4566',
    });
    expect(readdirSync(dir)).toEqual(['lock']);
    expect(() => StateLock.acquire(path, dir)).toThrow(StateDirInUseError);
    lock.release();
    expect(readdirSync(dir)).toEqual([]);
  });
});
