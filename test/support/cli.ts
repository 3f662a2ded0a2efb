import { spawn } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `etl` as a user would, through bin/etl.js, in a subprocess. */
export function etl(
  args: string[],
  options: {
    cwd?: string;
    input?: string;
    /** A command etl runs under (setpriv ...). */ wrapper?: string[];
  } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const [command, ...prefix] = [...(options.wrapper ?? []), process.execPath];
    const child = spawn(command as string, [...prefix, join(process.cwd(), 'bin/etl.js'), ...args], {
      cwd: options.cwd ?? process.cwd(),
      env: { ...process.env, FORCE_COLOR: '0' },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

export function tempDir(prefix = 'etl-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** Polls `condition` until it holds, or fails naming `what` after `deadlineMs`. */
export async function until(condition: () => boolean, what: string, deadlineMs = 60_000): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`gave up waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
