/**
 * `test-event-pattern`, which mirrors `aws events test-event-pattern`: in process (commander with
 * exitOverride) and as a real subprocess through test/patterns/cli-runner.ts.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { registerTestEventPattern } from '../../src/cli/test-event-pattern.ts';
import { envelope } from './helpers.ts';

const event = JSON.stringify(envelope({ state: 'terminated' }));
const matching = '{"source": ["aws.ec2"], "detail": {"state": ["terminated"]}}';
const directory = mkdtempSync(join(tmpdir(), 'test-event-pattern-'));
const patternFile = join(directory, 'pattern.json');
const eventFile = join(directory, 'event.json');
writeFileSync(patternFile, matching);
writeFileSync(eventFile, event);

afterAll(() => rmSync(directory, { recursive: true, force: true }));

interface Outcome {
  stdout: string;
  stderr: string;
  exitCode: number;
}

async function runInProcess(...args: string[]): Promise<Outcome> {
  let stdout = '';
  let stderr = '';
  const capture = (sink: 'out' | 'err') => (chunk: string | Uint8Array) => {
    if (sink === 'out') stdout += String(chunk);
    else stderr += String(chunk);
    return true;
  };
  const out = vi.spyOn(process.stdout, 'write').mockImplementation(capture('out'));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation(capture('err'));
  const program = new Command('etl').exitOverride();
  registerTestEventPattern(program);
  let exitCode = 0;
  try {
    await program.parseAsync(['test-event-pattern', ...args], { from: 'user' });
    exitCode = typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (error) {
    if (!(error instanceof CommanderError)) throw error;
    exitCode = error.exitCode;
  } finally {
    out.mockRestore();
    err.mockRestore();
    process.exitCode = undefined;
  }
  return { stdout, stderr, exitCode };
}

afterEach(() => {
  process.exitCode = undefined;
});

describe('test-event-pattern (in process)', () => {
  it('prints {"Result": true} and exits 0 for a match', async () => {
    expect(await runInProcess('--event-pattern', matching, '--event', event)).toEqual({
      stdout: '{"Result": true}\n',
      stderr: '',
      exitCode: 0,
    });
  });

  it('prints {"Result": false} and exits 0 for no match', async () => {
    const outcome = await runInProcess('--event-pattern', '{"source": ["aws.s3"]}', '--event', event);
    expect(outcome).toEqual({ stdout: '{"Result": false}\n', stderr: '', exitCode: 0 });
  });

  it('reads file:// arguments', async () => {
    const outcome = await runInProcess(
      '--event-pattern',
      `file://${patternFile}`,
      '--event',
      `file://${eventFile}`,
    );
    expect(outcome.stdout).toBe('{"Result": true}\n');
  });

  it('reports an invalid pattern on one stderr line, exit code 2', async () => {
    const outcome = await runInProcess('--event-pattern', '{"source": "aws.ec2"}', '--event', event);
    expect(outcome.stdout).toBe('');
    expect(outcome.stderr).toBe(
      'InvalidEventPatternException: Event pattern is not valid. Reason: "source" must be an object or an array\n',
    );
    expect(outcome.exitCode).toBe(2);
  });

  it('reports an event that is not JSON', async () => {
    const outcome = await runInProcess('--event-pattern', matching, '--event', '{not json');
    expect(outcome.stderr).toMatch(
      /^ValidationException: Parameter Event is not valid\. Reason: not valid JSON[^\n]*\n$/,
    );
    expect(outcome.exitCode).toBe(2);
  });

  it('reports an event missing a required envelope field', async () => {
    const outcome = await runInProcess('--event-pattern', matching, '--event', '{"source": "aws.ec2"}');
    expect(outcome.stderr).toBe(
      'ValidationException: Parameter Event is not valid. Reason: missing required field "id"\n',
    );
    expect(outcome.exitCode).toBe(2);
  });

  it('reports an unreadable file:// path', async () => {
    const missing = join(directory, 'missing.json');
    const outcome = await runInProcess('--event-pattern', `file://${missing}`, '--event', event);
    expect(outcome.stderr).toBe(`--event-pattern: cannot read file://${missing} (ENOENT)\n`);
    expect(outcome.exitCode).toBe(2);
  });

  it('requires both options', async () => {
    const outcome = await runInProcess('--event-pattern', matching);
    expect(outcome.stderr).toMatch(/required option '--event <json>' not specified/);
    expect(outcome.exitCode).not.toBe(0);
  });
});

describe('test-event-pattern (subprocess)', () => {
  const run = (...args: string[]) =>
    spawnSync(
      process.execPath,
      ['--import', 'tsx', 'test/patterns/cli-runner.ts', 'test-event-pattern', ...args],
      {
        encoding: 'utf8',
        cwd: join(import.meta.dirname, '..', '..'),
      },
    );

  it('prints the result and exits 0', () => {
    const result = run('--event-pattern', `file://${patternFile}`, '--event', event);
    expect(result.stdout).toBe('{"Result": true}\n');
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
  });

  it('fails with one line, no stack trace, exit code 2', () => {
    const result = run(
      '--event-pattern',
      '{"detail": {"n": [{"numeric": [">", 5, "<", 1]}]}}',
      '--event',
      event,
    );
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      'InvalidEventPatternException: Event pattern is not valid. Reason: Bottom must be less than top\n',
    );
    expect(result.status).toBe(2);
  });

  it('fails on an unreadable file with exit code 2', () => {
    const result = run('--event-pattern', matching, '--event', 'file:///nonexistent/event.json');
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(/--event: cannot read file:\/\/\/nonexistent\/event\.json/);
    expect(result.status).toBe(2);
  });
});
