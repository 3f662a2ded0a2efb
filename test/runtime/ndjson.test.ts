import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { appendRecordsSync, LineLogs, parseRecords, readRecords } from '../../src/runtime/local/ndjson.ts';
import { tempDir } from '../support/cli.ts';

const pointSchema = z.object({ x: z.number() });

async function collect<T>(records: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const record of records) all.push(record);
  return all;
}

describe('NDJSON files', () => {
  it('round-trip: what the writers append, the reader reads back in order', async () => {
    const path = join(tempDir(), 'deep', 'er', 'points.ndjson');
    appendRecordsSync(path, [{ x: 1 }, { x: 2 }]);
    const logs = new LineLogs();
    await logs.append(path, [{ x: 3 }]);
    await logs.close();
    appendRecordsSync(path, [{ x: 4 }]);
    expect(await collect(readRecords(path, pointSchema))).toEqual([{ x: 1 }, { x: 2 }, { x: 3 }, { x: 4 }]);
  });

  it('skip empty lines and a last line torn by a crash, and read on past a torn line', async () => {
    const path = join(tempDir(), 'torn.ndjson');
    writeFileSync(path, '{"x":1}\n\n{"x":2\n{"x":3}\r\n{"x":4}\n{"x":');
    expect(await collect(readRecords(path, pointSchema))).toEqual([{ x: 1 }, { x: 3 }, { x: 4 }]);
    expect(parseRecords(readFileSync(path, 'utf8'), pointSchema)).toEqual([{ x: 1 }, { x: 3 }, { x: 4 }]);
  });

  it('skip records that parse but do not have the shape asked for', async () => {
    const path = join(tempDir(), 'foreign.ndjson');
    writeFileSync(path, '{"x":1}\n{"x":"one"}\nnull\n[1]\n7\n{"y":2}\n{"x":5}\n');
    expect(await collect(readRecords(path, pointSchema))).toEqual([{ x: 1 }, { x: 5 }]);
  });

  it('read a file not written yet as empty', async () => {
    expect(await collect(readRecords(join(tempDir(), 'none.ndjson'), pointSchema))).toEqual([]);
  });

  it('a truncating open starts the file afresh', async () => {
    const path = join(tempDir(), 'log.ndjson');
    appendRecordsSync(path, [{ x: 1 }]);
    const logs = new LineLogs();
    await logs.open(path, { truncate: true });
    await logs.append(path, [{ x: 2 }]);
    await logs.close(path);
    expect(await collect(readRecords(path, pointSchema))).toEqual([{ x: 2 }]);
  });
});
