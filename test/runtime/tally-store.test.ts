import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Bitset } from '../../src/runtime/local/bitset.ts';
import { RunStore } from '../../src/runtime/local/runs.ts';
import { statePaths } from '../../src/runtime/local/state.ts';
import { MemoryTallyStore } from '../../src/runtime/local/tally-store.ts';
import { tempDir } from '../support/cli.ts';

describe("a run's saved tally", () => {
  it('keeps every row set exactly, far-out rows included', () => {
    const rows = [0, 1, 31, 32, 4095, 4096, 1_000_000, 2 ** 40];
    const set = new Bitset();
    for (const row of rows) set.add(row);
    const back = Bitset.fromPages(JSON.parse(JSON.stringify(set.toPages())) as Record<string, string>);
    for (const row of rows) expect(back.has(row)).toBe(true);
    for (const row of [2, 30, 33, 4094, 4097, 999_999, 2 ** 40 + 1]) expect(back.has(row)).toBe(false);
    expect(() => Bitset.fromPages({ 0: 'AAAA' })).toThrow(RangeError);
  });

  it('is taken up where it stopped: a row marked again counts once, the rest complete the run', async () => {
    const paths = statePaths(join(tempDir(), 'state'));
    const store = new RunStore(paths);
    mkdirSync(paths.run('run-t').dir, { recursive: true });
    const first = new MemoryTallyStore();
    await first.setRun('run-t', { file: 'a.csv', expected: 3 });
    await first.markRows('run-t', 'extracted', [1, 2, 3]);
    await first.markRows('run-t', 'loaded', [1, 2]);
    first.markDeadLettered('run-t', 3);
    await store.writeTally('run-t', first.save('run-t') ?? expect.fail('no tally'));

    const later = new MemoryTallyStore();
    later.restore((await store.readTally('run-t')) ?? expect.fail('not saved'));
    await later.markRows('run-t', 'loaded', [2, 3]);
    later.setDeadLettered('run-t', []);
    expect(await later.counts('run-t')).toMatchObject({
      expected: 3,
      extracted: 3,
      loaded: 3,
      settled: 3,
      deadLettered: 0,
      completed: false,
    });
  });

  it('is none when its file is not a saved tally', async () => {
    const paths = statePaths(join(tempDir(), 'state'));
    const store = new RunStore(paths);
    expect(await store.readTally('run-none')).toBeUndefined();
    mkdirSync(paths.run('run-x').dir, { recursive: true });
    writeFileSync(paths.run('run-x').tally, '{"counts":');
    expect(await store.readTally('run-x')).toBeUndefined();
  });
});
