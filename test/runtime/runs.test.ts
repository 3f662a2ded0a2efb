import { appendFileSync, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MappingError, SEED_MAPPING } from '../../src/pipeline/mapping.ts';
import { RunStore } from '../../src/runtime/local/runs.ts';
import { statePaths } from '../../src/runtime/local/state.ts';
import { tempDir } from '../support/cli.ts';

async function collect<T>(records: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const record of records) all.push(record);
  return all;
}

const counts = { extracted: 2, transformed: 2, loaded: 1, failed: 1 };

describe('the run store', () => {
  it('records a run from its start to its summary, and lists it', async () => {
    const paths = statePaths(join(tempDir(), 'state'));
    const store = new RunStore(paths);
    const descriptor = { kind: 'file' as const, path: '/data/a.csv' };
    await store.begin(
      { run: 'run-a', file: 'a.csv', descriptor, mapping: SEED_MAPPING, mappingHash: 'h' },
      { recordEvents: false },
    );
    expect(await store.readRecorded('run-a')).toEqual({
      run: 'run-a',
      file: 'a.csv',
      descriptor,
      mapping: SEED_MAPPING,
      mappingHash: 'h',
    });
    expect(await store.unfinished()).toEqual(['run-a']);
    expect(await store.list()).toEqual([
      { run: 'run-a', file: 'a.csv', extracted: 0, transformed: 0, loaded: 0, failed: 0, unfinished: true },
    ]);
    // While it runs, its counts so far.
    await store.writeProgress('run-a', { run: 'run-a', ...counts, settled: 2, completed: false });
    expect(await store.list()).toEqual([
      expect.objectContaining({ run: 'run-a', file: 'a.csv', ...counts, unfinished: true }),
    ]);

    await store.writeSummary('run-a', { run: 'run-a', ...counts, startedAt: '2026-01-01T00:00:00.000Z' });
    expect(await store.unfinished()).toEqual([]);
    expect(existsSync(paths.run('run-a').progress)).toBe(false);
    expect(await store.readSummary('run-a')).toEqual({
      run: 'run-a',
      ...counts,
      startedAt: '2026-01-01T00:00:00.000Z',
    });

    // Starting the same run again: no summary until it ends.
    await store.begin({ run: 'run-a', file: 'a.csv', descriptor }, { recordEvents: false });
    expect(store.hasSummary('run-a')).toBe(false);
    expect(await store.unfinished()).toEqual(['run-a']);
  });

  it("keeps a run's logs, fresh at each start; the events log only when asked", async () => {
    const paths = statePaths(join(tempDir(), 'state'));
    const store = new RunStore(paths);
    const recorded = { run: 'run-b', file: 'b.csv', descriptor: { kind: 'file' as const, path: '/b.csv' } };
    await store.begin(recorded, { recordEvents: true });
    const observed = {
      id: 'e1',
      time: '2026-01-01T00:00:00Z',
      detailType: 'transform',
      run: 'run-b',
      row: 1,
    };
    const failed = { run: 'run-b', row: 2, stage: 'transform', reason: 'bad', time: 't', id: 'e2' };
    await store.append('events', 'run-b', [observed], true);
    await store.append('errors', 'run-b', [failed], true);
    await store.closeLogs('run-b');
    // A late event of a finished run: opened for the write, closed again.
    await store.append('errors', 'run-b', [{ run: 'run-b', reason: 'late' }], false);
    expect(store.hasEventsLog('run-b')).toBe(true);
    expect(await collect(store.readEvents('run-b'))).toEqual([observed]);
    expect(await collect(store.readErrors('run-b'))).toEqual([failed, { run: 'run-b', reason: 'late' }]);

    await store.begin(recorded, { recordEvents: false });
    await store.closeLogs('run-b');
    expect(store.hasEventsLog('run-b')).toBe(false);
    expect(await collect(store.readEvents('run-b'))).toEqual([]);
    expect(await collect(store.readErrors('run-b'))).toEqual([]);
  });

  it('reads past torn and foreign lines in the logs', async () => {
    const paths = statePaths(join(tempDir(), 'state'));
    const files = paths.run('run-c');
    mkdirSync(files.dir, { recursive: true });
    writeFileSync(files.errors, '{"run":"run-c","row":1}\n{"row":2}\n\n{"run":"run-c","row":3}\n{"run":"ru');
    appendFileSync(
      files.events,
      '{"id":"e1","time":"t","detailType":"x"}\n{"id":1}\n{"id":"e2","time":"t","detailType":"y"}\n',
    );
    const store = new RunStore(paths);
    expect(await collect(store.readErrors('run-c'))).toEqual([
      { run: 'run-c', row: 1 },
      { run: 'run-c', row: 3 },
    ]);
    expect((await collect(store.readEvents('run-c'))).map((e) => e.id)).toEqual(['e1', 'e2']);
  });

  it('treats a torn or foreign start record or summary as none, and a bad recorded mapping as an error', async () => {
    const paths = statePaths(join(tempDir(), 'state'));
    const store = new RunStore(paths);
    for (const [run, source] of [
      ['run-torn', '{"run":"run-torn","fi'],
      ['run-foreign', '{"run":"run-foreign","file":"f","descriptor":{"kind":"ftp","host":"h"}}'],
    ] as const) {
      mkdirSync(paths.run(run).dir, { recursive: true });
      writeFileSync(paths.run(run).source, source);
      writeFileSync(paths.run(run).summary, '{"run":');
    }
    expect(await store.readRecorded('run-torn')).toBeUndefined();
    expect(await store.readRecorded('run-foreign')).toBeUndefined();
    expect(await store.readRecorded('run-none')).toBeUndefined();
    expect(await store.readSummary('run-torn')).toBeUndefined();
    writeFileSync(paths.run('run-foreign').summary, '{"run":"run-foreign","extracted":"many"}');
    expect(await store.readSummary('run-foreign')).toBeUndefined();
    // Listed all the same, with zero counts: a run whose summary cannot be read was cut short.
    expect((await store.list()).map((r) => [r.run, r.extracted])).toEqual([
      ['run-foreign', 0],
      ['run-torn', 0],
    ]);

    writeFileSync(
      paths.run('run-torn').source,
      JSON.stringify({
        run: 'run-torn',
        file: 'f',
        descriptor: { kind: 'file', path: 'f' },
        mapping: { key: 1 },
      }),
    );
    await expect(store.readRecorded('run-torn')).rejects.toThrow(MappingError);
  });

  it('lists only what a run could have written, oldest first', async () => {
    const paths = statePaths(join(tempDir(), 'state'));
    const store = new RunStore(paths);
    expect(await store.list()).toEqual([]);
    mkdirSync(join(paths.runs, 'not a run'), { recursive: true });
    for (const [run, startedAt] of [
      ['run-late', '2026-01-02T00:00:00.000Z'],
      ['run-early', '2026-01-01T00:00:00.000Z'],
    ] as const) {
      mkdirSync(paths.run(run).dir, { recursive: true });
      await store.writeSummary(run, { run, ...counts, startedAt });
    }
    expect((await store.list()).map((r) => r.run)).toEqual(['run-early', 'run-late']);
    expect(store.hasSummary('../run-late')).toBe(false);
    expect(existsSync(paths.run('run-late').summary)).toBe(true);
  });

  it('logs a failed row once per (row, stage), and again after a write that failed', async () => {
    const paths = statePaths(join(tempDir(), 'state'));
    const store = new RunStore(paths);
    const failure = (row: number, stage: string) => ({
      run: 'run-f',
      row,
      stage,
      reason: 'r',
      id: `e${row}`,
      time: 't',
    });
    // The run's directory is a file: the write fails, and the row is not counted as logged.
    mkdirSync(paths.runs, { recursive: true });
    writeFileSync(paths.run('run-f').dir, 'in the way');
    await expect(store.appendFailedRows('run-f', [failure(1, 'transform')], false)).rejects.toThrow();
    rmSync(paths.run('run-f').dir);
    await store.appendFailedRows('run-f', [failure(1, 'transform'), failure(2, 'load')], false);
    await store.appendFailedRows('run-f', [failure(1, 'transform'), failure(1, 'load')], false);
    expect((await collect(store.readErrors('run-f'))).map((r) => [r.row, r.stage])).toEqual([
      [1, 'transform'],
      [2, 'load'],
      [1, 'load'],
    ]);
  });

  it('reads each (row, stage) once, though another process logged it again', async () => {
    const paths = statePaths(join(tempDir(), 'state'));
    mkdirSync(paths.run('run-d').dir, { recursive: true });
    const line = (row: number, stage: string) =>
      `${JSON.stringify({ run: 'run-d', row, stage, reason: 'r', id: 'e', time: 't' })}\n`;
    writeFileSync(
      paths.run('run-d').errors,
      line(3, 'transform') + line(3, 'transform') + line(3, 'load') + line(4, 'transform'),
    );
    const rows = await collect(new RunStore(paths).readErrors('run-d'));
    expect(rows.map((r) => [r.row, r.stage])).toEqual([
      [3, 'transform'],
      [3, 'load'],
      [4, 'transform'],
    ]);
  });
});
