import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { etl, tempDir, until } from '../support/cli.ts';
import { writeSeedShapedCsv } from '../support/seed.ts';

describe('crash safety', () => {
  it('kill -9 mid-run, then the next etl command finishes the run: every row loaded once, tally right', async () => {
    const dir = tempDir();
    const state = join(dir, 'state');
    const file = join(dir, 'big.csv');
    const rows = 20_000;
    writeSeedShapedCsv(file, rows);
    const child = spawn(
      process.execPath,
      ['bin/etl.js', 'run', file, '--record-events', '--state-dir', state],
      {
        stdio: 'ignore',
      },
    );
    const exited = new Promise((resolve) => child.on('exit', resolve));
    // Kill it once some rows are loaded and the run is well under way.
    const runs = join(state, 'runs');
    await until(() => {
      if (!existsSync(runs) || readdirSync(runs).length === 0) return false;
      const events = join(runs, readdirOne(runs), 'events.ndjson');
      return existsSync(events) && statSync(events).size > 200_000;
    }, 'the run to get going');
    child.kill('SIGKILL');
    await exited;
    const runDir = join(runs, readdirOne(runs));
    expect(existsSync(join(runDir, 'summary.json'))).toBe(false);

    const next = await etl(['run', 'data/test_data.csv', '--state-dir', state]);
    expect(next.stderr).not.toMatch(/\n\s+at /);
    expect(next.code).toBe(0);
    expect(next.stdout).toContain('recovered a run cut short earlier');
    const summary = JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8')) as Record<string, number>;
    expect(summary).toMatchObject({ extracted: rows, transformed: rows, loaded: rows, failed: 0 });

    const items = JSON.parse((await etl(['scan', '--json', '--state-dir', state])).stdout) as {
      id: string;
    }[];
    // The big file's rows plus the sample's 5 (whose ids 1-5 overlap the big file's).
    expect(items).toHaveLength(rows);
    expect(new Set(items.map((i) => i.id)).size).toBe(rows);
  });

  it(
    'kill -9 with the archive off, once acknowledged segments are gone: the next run finishes it exactly',
    { timeout: 300_000 },
    async () => {
      const dir = tempDir();
      const state = join(dir, 'state');
      const file = join(dir, 'big.csv');
      const rows = 40_000;
      writeSeedShapedCsv(file, rows);
      // Default settings: no archive, no per-event record.
      const child = spawn(process.execPath, ['bin/etl.js', 'run', file, '--state-dir', state], {
        stdio: 'ignore',
      });
      const exited = new Promise((resolve) => child.on('exit', resolve));
      const bus = join(state, 'bus');
      // Killed once the checkpoint has moved mid-run and the first segment is deleted.
      await until(
        () =>
          existsSync(join(bus, 'checkpoint.json')) && !existsSync(join(bus, 'segment-000000000001.ndjson')),
        'the first segment to be acknowledged and deleted',
        240_000,
      );
      child.kill('SIGKILL');
      await exited;
      const runs = join(state, 'runs');
      const runDir = join(runs, readdirOne(runs));
      expect(existsSync(join(runDir, 'summary.json'))).toBe(false);

      const next = await etl(['run', 'data/test_data.csv', '--state-dir', state]);
      expect(next.stderr).not.toMatch(/\n\s+at /);
      expect(next.code).toBe(0);
      expect(next.stdout).toContain('recovered a run cut short earlier');
      const summary = JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8')) as Record<
        string,
        number
      >;
      expect(summary).toMatchObject({ extracted: rows, transformed: rows, loaded: rows, failed: 0 });
      const items = JSON.parse((await etl(['scan', '--json', '--state-dir', state])).stdout) as {
        id: string;
      }[];
      expect(items).toHaveLength(rows);
      expect(new Set(items.map((i) => i.id)).size).toBe(rows);
      // And once all is delivered, the journal holds nothing.
      expect(readdirSync(bus).filter((n) => n.startsWith('segment-'))).toEqual([]);
    },
  );

  it('refuses a second process on the same state directory with a clear message', async () => {
    const dir = tempDir();
    const state = join(dir, 'state');
    const file = join(dir, 'big.csv');
    writeFileSync(file, ['ID', ...Array.from({ length: 50_000 }, (_, i) => String(i))].join('\n'));
    const child = spawn(process.execPath, ['bin/etl.js', 'run', file, '--state-dir', state], {
      stdio: 'ignore',
    });
    try {
      await until(() => existsSync(join(state, 'lock')), 'the first process to lock the state');
      const second = await etl(['run', 'data/test_data.csv', '--state-dir', state]);
      expect(second.code).toBe(2);
      expect(second.stderr).toMatch(
        /^etl: the state directory \S+ is in use by another etl process \(pid \d+\)/,
      );
    } finally {
      child.kill('SIGKILL');
    }
  });
});

function readdirOne(dir: string): string {
  const names = readdirSync(dir);
  if (names.length !== 1) throw new Error(`expected one run in ${dir}, found ${names.length}`);
  return names[0] as string;
}

describe('recovery of a run whose file changed', () => {
  it('does not run new content under the old run id; the run is closed with why, once', async () => {
    const { LocalPipeline } = await import('../../src/runtime/local/pipeline.ts');
    const { runIdForFile, statePaths } = await import('../../src/runtime/local/state.ts');
    const { mkdirSync: mkdir } = await import('node:fs');
    const dir = tempDir();
    const state = join(dir, 'state');
    const file = join(dir, 'moving.csv');
    writeFileSync(file, 'ID,HouseNum,Street,Town,Zip\n1,2,A,B,C\n');
    const run = await runIdForFile(file);
    // What a crash mid-run leaves: the recorded source and no summary. Then the file is edited.
    const paths = statePaths(state).run(run);
    mkdir(paths.dir, { recursive: true });
    writeFileSync(paths.source, JSON.stringify({ run, file, descriptor: { kind: 'file', path: file } }));
    writeFileSync(file, 'ID,HouseNum,Street,Town,Zip\n9,9,X,Y,Z\n');

    const pipeline = await LocalPipeline.start({ stateDir: state });
    try {
      const [report] = await pipeline.recover();
      expect(report?.run).toBe(run);
      expect(report?.error?.message).toMatch(
        /cannot be run again: its file is gone or changed since the run began/,
      );
      expect(await pipeline.recover()).toEqual([]);
    } finally {
      await pipeline.close();
    }
    const items = JSON.parse((await etl(['scan', '--json', '--state-dir', state])).stdout) as unknown[];
    expect(items).toEqual([]);
  });
});
