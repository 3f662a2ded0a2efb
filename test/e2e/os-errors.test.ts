/**
 * Operating-system errors a user can cause end in one line with the path and what to do, exit 2,
 * state intact. Where the OS can be made to fail for real, it is: tests run as root here, where
 * permissions do not stop reads, so permission tests run etl as an unprivileged uid (setpriv); a
 * full disk and a read-only file system are a 1 MiB tmpfs and a tmpfs remounted read-only, each in
 * a private mount namespace (unshare) that vanishes with the test. EMFILE cannot be caused reliably
 * (Node itself needs descriptors to start), so the mapping is also checked on constructed errors.
 */
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { osErrorMessage } from '../../src/cli/errors.ts';
import { etl, tempDir } from '../support/cli.ts';

const root = process.getuid?.() === 0;
/** Runs etl as a user whom permissions bind: `nobody` when the tests run as root. */
const unprivileged = root ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
/** A private mount namespace (as root, or as a mapped root in a user namespace otherwise). */
const privateMounts = root ? ['unshare', '--mount'] : ['unshare', '--user', '--map-root-user', '--mount'];

function sharedTempDir(): string {
  const dir = tempDir();
  chmodSync(dir, 0o777);
  return dir;
}

const SEED_HEADER = 'ID,HouseNum,Street,Town,Zip';

function rows(n: number): string {
  const lines = [SEED_HEADER];
  for (let i = 1; i <= n; i++) lines.push(`${i},${i},Street ${i},Town,${i}`);
  return `${lines.join('\n')}\n`;
}

/** Runs a shell script in a private mount namespace, so its mounts vanish with it. */
function inPrivateMounts(script: string): Promise<{ code: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const [command, ...args] = [...privateMounts, 'sh', '-c', script];
    const child = spawn(command as string, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout }));
  });
}

describe('OS errors: one line with the path and what to do, exit 2', () => {
  it('an input file etl may not read (EACCES): before any run starts', async () => {
    const dir = sharedTempDir();
    const file = join(dir, 'in.csv');
    writeFileSync(file, rows(2));
    chmodSync(file, 0o000);
    const state = join(dir, 'state');
    const result = await etl(['run', file, '--state-dir', state], { wrapper: unprivileged });
    expect(result).toMatchObject({
      code: 2,
      stdout: '',
      stderr: `etl: ${file}: permission denied (EACCES on open); check its permissions or the user etl runs as\n`,
    });
    // No run was begun, so none is left for recovery to trip on: the next run works.
    expect(
      existsSync(join(state, 'runs')) ? (await etl(['runs', '--json', '--state-dir', state])).stdout : '[]',
    ).toMatch(/^\[\]\n?$/);
    chmodSync(file, 0o644);
    expect((await etl(['run', file, '--state-dir', state], { wrapper: unprivileged })).code).toBe(0);
  });

  it.each([['run', 'data/test_data.csv'], ['scan'], ['up', '--port', '0']])(
    'a state directory etl may not write (EACCES): etl %s',
    async (...args) => {
      const dir = sharedTempDir();
      const state = join(dir, 'state');
      mkdirSync(state, { mode: 0o555 });
      chmodSync(state, 0o555);
      const result = await etl([...args, '--state-dir', state], { wrapper: unprivileged });
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(
        new RegExp(
          `^etl: cannot use ${state} as the state directory: ${state}(/runs)?: permission denied \\(EACCES on (mkdir|access)\\); check its permissions or the user etl runs as\\n$`,
        ),
      );
    },
  );

  it('a full disk (ENOSPC): one line; with space again the next run finishes every row', async () => {
    const dir = sharedTempDir();
    const file = join(dir, 'in.csv');
    writeFileSync(file, rows(3_000));
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    const etlCommand = `${process.execPath} ${join(process.cwd(), 'bin/etl.js')}`;
    const state = join(mnt, 'state');
    const result = await inPrivateMounts(
      [
        `mount -t tmpfs -o size=1m tmpfs ${mnt}`,
        `${etlCommand} run ${file} --state-dir ${state} 2>&1; echo "exit=$?"`,
        `mount -o remount,size=256m ${mnt}`,
        `${etlCommand} run ${file} --state-dir ${state} >/dev/null 2>&1; echo "exit=$?"`,
        `${etlCommand} scan --json --state-dir ${state} | grep -c '"id"'`,
      ].join('\n'),
    );
    const out = result.stdout.split('\n').filter((l) => !/rows loaded or failed/.test(l));
    expect(out).toEqual([
      `etl: state directory ${state}: no space left on the device (ENOSPC on write); free some space, then run again`,
      'exit=2',
      'exit=0',
      '3000',
      '',
    ]);
  });

  it('a read-only file system (EROFS): etl run, scan and up say so; etl runs still reads', async () => {
    const dir = sharedTempDir();
    const mnt = join(dir, 'mnt');
    mkdirSync(mnt);
    const etlCommand = `${process.execPath} ${join(process.cwd(), 'bin/etl.js')}`;
    const state = join(mnt, 'state');
    const result = await inPrivateMounts(
      [
        `mount -t tmpfs -o size=64m tmpfs ${mnt}`,
        `${etlCommand} run data/test_data.csv --state-dir ${state} >/dev/null 2>&1; echo "exit=$?"`,
        `mount -o remount,ro ${mnt}`,
        `${etlCommand} run data/test_data.csv --state-dir ${state} 2>&1; echo "exit=$?"`,
        `${etlCommand} scan --state-dir ${state} 2>&1; echo "exit=$?"`,
        `${etlCommand} up --port 0 --state-dir ${state} 2>&1; echo "exit=$?"`,
        `${etlCommand} runs --json --state-dir ${state} | grep -cE '"loaded": ?5'; echo "exit=$?"`,
      ].join('\n'),
    );
    const stateError = `etl: cannot use ${state} as the state directory: ${state}: read-only file system (EROFS on access); use a writable location (--state-dir DIR)`;
    expect(result.stdout.split('\n')).toEqual([
      'exit=0',
      stateError,
      'exit=2',
      stateError,
      'exit=2',
      stateError,
      'exit=2',
      '1',
      'exit=0',
      '',
    ]);
  });

  it('a path too long (ENAMETOOLONG), for the input and for the state directory', async () => {
    const dir = tempDir();
    const long = join(dir, `${'x'.repeat(300)}`);
    expect(await etl(['run', `${long}.csv`, '--state-dir', join(dir, 'state')])).toMatchObject({
      code: 2,
      stderr: `etl: ${long}.csv: file name too long (ENAMETOOLONG on stat); use a shorter path\n`,
    });
    const result = await etl(['runs', '--state-dir', long]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `etl: ${long}/runs: file name too long (ENAMETOOLONG on scandir); use a shorter path\n`,
    );
  });
});

describe('osErrorMessage: the one mapping from an OS error to a line', () => {
  const osError = (code: string, path?: string, syscall?: string): NodeJS.ErrnoException =>
    Object.assign(new Error(`${code}: raw`), {
      code,
      ...(path ? { path } : {}),
      ...(syscall ? { syscall } : {}),
    });

  it.each([
    ['EACCES', 'permission denied (EACCES on open); check its permissions or the user etl runs as'],
    ['EROFS', 'read-only file system (EROFS on open); use a writable location (--state-dir DIR)'],
    ['ENOSPC', 'no space left on the device (ENOSPC on open); free some space, then run again'],
    ['ENAMETOOLONG', 'file name too long (ENAMETOOLONG on open); use a shorter path'],
    ['EMFILE', 'too many open files (EMFILE on open); raise the limit (ulimit -n), then run again'],
    ['ENOENT', 'no such file or directory (ENOENT on open); check the path'],
  ])('%s', (code, line) => {
    expect(osErrorMessage(osError(code, '/data/in.csv', 'open'))).toBe(`/data/in.csv: ${line}`);
  });

  it('names the state directory when the error has no path, finds a cause, reads LevelDB text, and leaves other errors alone', () => {
    expect(osErrorMessage(osError('ENOSPC', undefined, 'write'), '.etl')).toBe(
      'state directory .etl: no space left on the device (ENOSPC on write); free some space, then run again',
    );
    expect(osErrorMessage(new Error('wrapped', { cause: osError('EMFILE', undefined, 'open') }))).toBe(
      'too many open files (EMFILE on open); raise the limit (ulimit -n), then run again',
    );
    expect(osErrorMessage(new Error('IO error: /s/dynamodb/000005.log: No space left on device'), '/s')).toBe(
      'state directory /s: no space left on the device (ENOSPC); free some space, then run again',
    );
    expect(osErrorMessage(osError('ECONNRESET'))).toBeUndefined();
    expect(osErrorMessage(new Error('not an OS error'))).toBeUndefined();
  });
});
