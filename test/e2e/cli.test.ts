import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { etl, tempDir } from '../support/cli.ts';

describe('etl CLI', () => {
  it('runs the sample, prints the tally, and scan shows the items', async () => {
    const state = join(tempDir(), 'state');
    const run = await etl(['run', 'data/test_data.csv', '--record-events', '--state-dir', state]);
    expect(run.stderr).not.toMatch(/Error|at .*\.ts/);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/extracted\s+5\n\s+transformed\s+5\n\s+loaded\s+5\n\s+failed\s+0/);

    const scan = await etl(['scan', '--json', '--state-dir', state]);
    expect(scan.code).toBe(0);
    const items = JSON.parse(scan.stdout) as Record<string, string>[];
    expect(items).toHaveLength(5);
    // In the table's scan order, as DynamoDB's Scan returns them: not sorted.
    expect(items.find((item) => item.id === '1')).toEqual({
      id: '1',
      house_number: '12',
      street_address: 'Main Street',
      town: 'Antrim',
      zip: '22876',
    });

    const events = await etl(['events', '--json', '--state-dir', state]);
    const observed = JSON.parse(events.stdout) as { detailType: string; row?: number }[];
    const count = (type: string) => observed.filter((e) => e.detailType === type).length;
    expect([
      count('s3RecordExtraction'),
      count('transform'),
      count('data-loaded'),
      count('run-completed'),
    ]).toEqual([5, 5, 5, 1]);
  });

  it('with --json, prints one JSON object per line: progress, then the run', async () => {
    const dir = tempDir();
    const file = join(dir, 'rows.csv');
    const lines = ['ID,HouseNum,Street,Town,Zip'];
    for (let i = 1; i <= 15_000; i++) lines.push(`${i},1,Main Street,Antrim,${i}`);
    writeFileSync(file, `${lines.join('\n')}\n`);
    const run = await etl(['run', file, '--json', '--state-dir', join(dir, 'state')]);
    expect(run.code).toBe(0);
    const objects = run.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string; fraction?: number });
    expect(objects.at(-1)).toMatchObject({
      type: 'run',
      file,
      counts: { extracted: 15_000, loaded: 15_000, failed: 0, completed: true },
    });
    const progress = objects.slice(0, -1);
    for (const p of progress) expect(p).toMatchObject({ type: 'progress', file, run: expect.any(String) });
    const fractions = progress.map((p) => p.fraction as number);
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b));
  });

  it('persists the table between commands and runs the same file again without duplicates', async () => {
    const state = join(tempDir(), 'state');
    expect((await etl(['run', 'data/test_data.csv', '--state-dir', state])).code).toBe(0);
    const again = await etl(['run', 'data/test_data.csv', '--state-dir', state]);
    expect(again.code).toBe(0);
    expect(again.stdout).toMatch(/loaded\s+5/);
    const items = JSON.parse((await etl(['scan', '--json', '--state-dir', state])).stdout) as unknown[];
    expect(items).toHaveLength(5);
  });

  it('puts events under the source --source names, and refuses an empty one', async () => {
    const state = join(tempDir(), 'state');
    // With the archive on, the journal is kept to be read here.
    const run = await etl([
      'run',
      'data/test_data.csv',
      '--source',
      'acme.etl',
      '--archive',
      '--state-dir',
      state,
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/loaded\s+5/);
    const journal = readdirSync(join(state, 'bus')).find((n) => n.startsWith('segment-')) ?? '';
    const sources = new Set(
      readFileSync(join(state, 'bus', journal), 'utf8')
        .trim()
        .split('\n')
        .map((line) => (JSON.parse(line) as { event: { source: string } }).event.source),
    );
    expect([...sources]).toEqual(['acme.etl']);
    const empty = await etl(['run', 'data/test_data.csv', '--source', '', '--state-dir', state]);
    expect(empty).toMatchObject({ code: 2, stderr: 'etl: --source: must not be empty\n' });
  });

  it('loads at the concurrency and write rate it is given', async () => {
    const state = join(tempDir(), 'state');
    const run = await etl([
      'run',
      'data/test_data.csv',
      '--concurrency',
      '2',
      '--max-writes-per-second',
      '7',
      '--state-dir',
      state,
    ]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/loaded\s+5/);
    expect(JSON.parse((await etl(['scan', '--json', '--state-dir', state])).stdout)).toHaveLength(5);
  });

  it('exits 1 and says how to see the failed rows', async () => {
    const dir = tempDir();
    const file = join(dir, 'bad.csv');
    writeFileSync(file, 'ID,HouseNum,Street,Town,Zip\n1,2,3\n');
    const result = await etl(['run', file, '--state-dir', join(dir, 'state')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/1 row failed; see it with: etl errors --run run-[0-9a-f]{16}/);
  });

  it.each([
    ['a missing file', ['run', 'no-such.csv'], /^etl: no-such\.csv: no such file\n$/],
    ['an unknown command', ['frobnicate'], /unknown command 'frobnicate'/],
    [
      'a concurrency an SQS event source cannot have',
      ['run', 'data/test_data.csv', '--concurrency', '1'],
      /^etl: --concurrency: concurrency must be a whole number from 2 to 1000 \(an SQS event source's maximum concurrency\), not 1\n$/,
    ],
    [
      'a write rate too low for a load batch to fit the load timeout',
      ['run', 'data/test_data.csv', '--concurrency', '4', '--max-writes-per-second', '10'],
      /^etl: --max-writes-per-second: max writes per second must be a whole number of at least 14 at concurrency 4 \(each load batch of 100 rows must be written within 30 s\), not 10; a lower concurrency allows a lower rate\n$/,
    ],
    [
      'a write rate that is not a number',
      ['run', 'data/test_data.csv', '--max-writes-per-second', 'fast'],
      /argument 'fast' is invalid\. a whole number/,
    ],
  ])('gives %s one clear line and exit 2, no stack trace', async (_, args, message) => {
    const result = await etl([...args, '--state-dir', join(tempDir(), 'state')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('etl CLI output into a pipe that closes early', () => {
  it('ends quietly, with no stack trace, when the reader stops (etl events | head -1)', async () => {
    const { spawn } = await import('node:child_process');
    const state = join(tempDir(), 'state');
    expect((await etl(['run', 'data/test_data.csv', '--record-events', '--state-dir', state])).code).toBe(0);
    const child = spawn(process.execPath, ['bin/etl.js', 'events', '--state-dir', state]);
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    // Read one chunk, then close the pipe as `head` would.
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    child.stdout.destroy();
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).not.toMatch(/EPIPE|\n\s+at /);
    expect(code).toBe(0);
  });
});
