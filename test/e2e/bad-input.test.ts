import { appendFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { etl, tempDir } from '../support/cli.ts';

function fixture(name: string, content: string | Buffer): { dir: string; file: string; state: string } {
  const dir = tempDir();
  const file = join(dir, name);
  writeFileSync(file, content);
  return { dir, file, state: join(dir, 'state') };
}

function readAll(dir: string): string {
  let text = '';
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) text += readFileSync(join(entry.parentPath, entry.name), 'latin1');
  }
  return text;
}

describe('bad files: one line saying what and where, exit 2, no stack trace, state intact', () => {
  it.each([
    ['an empty file', '', /^etl: \S+\/in\.csv: the file is empty: a header row is required$/m],
    ['an unterminated quote', 'ID,HouseNum\n1,"12\n', /^etl: \S+\/in\.csv:2: unterminated quoted field$/m],
    ['a duplicate header', 'ID,ID\n1,2\n', /^etl: \S+\/in\.csv:1: header column "ID" appears twice$/m],
    ['no header names', ',\n1,2\n', /^etl: \S+\/in\.csv:1: header column 1 has no name$/m],
    [
      'invalid UTF-8',
      Buffer.from('ID,Town\n1,\xff\xfe\n', 'latin1'),
      /^etl: \S+\/in\.csv: invalid UTF-8 near byte \d+/m,
    ],
    [
      'a binary file',
      Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d]),
      /^etl: \S+\/in\.csv: binary content/m,
    ],
    // gzip is read (by its magic bytes); a stream cut short is a bad file.
    [
      'a cut-short gzip file',
      Buffer.from([0x1f, 0x8b, 0x08, 0x00, 0x00, 0x00]),
      /^etl: \S+\/in\.csv: not a valid gzip stream \(it ends early: the file is cut short\)$/m,
    ],
  ])('%s', async (_, content, message) => {
    const { file, state } = fixture('in.csv', content);
    const result = await etl(['run', file, '--state-dir', state]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
    expect(result.stderr).not.toMatch(/\n\s+at |Error:/);
    // The next good run works on the same state.
    const next = await etl(['run', 'data/test_data.csv', '--state-dir', state]);
    expect(next.code).toBe(0);
    expect(JSON.parse((await etl(['scan', '--json', '--state-dir', state])).stdout)).toHaveLength(5);
  });

  it('a directory or a missing file', async () => {
    const dir = tempDir();
    expect(await etl(['run', dir, '--state-dir', join(dir, 'state')])).toMatchObject({
      code: 2,
      stderr: `etl: ${dir}: not a file\n`,
    });
    expect((await etl(['run', join(dir, 'nope.csv'), '--state-dir', join(dir, 'state')])).stderr).toBe(
      `etl: ${join(dir, 'nope.csv')}: no such file\n`,
    );
  });

  it.each([['run', 'data/test_data.csv'], ['scan']])(
    'a state directory that is a file (etl %s)',
    async (...args) => {
      const dir = tempDir();
      const state = join(dir, 'not-a-dir');
      writeFileSync(state, '');
      const result = await etl([...args, '--state-dir', state]);
      expect(result.code).toBe(2);
      expect(result.stderr).toBe(
        `etl: cannot use ${state} as the state directory: ${state}/runs: a part of the path is not a directory (ENOTDIR on mkdir); check the path\n`,
      );
    },
  );

  it('stray directories and a torn last line do not stop etl events, errors or runs', async () => {
    const dir = tempDir();
    const state = join(dir, 'state');
    expect((await etl(['run', 'data/test_data.csv', '--record-events', '--state-dir', state])).code).toBe(0);
    mkdirSync(join(state, 'runs', 'not a run'));
    const [run] = readdirSync(join(state, 'runs')).filter((n) => n.startsWith('run-'));
    appendFileSync(join(state, 'runs', run ?? '', 'events.ndjson'), '{"id":"torn');
    for (const command of ['events', 'errors', 'runs']) {
      const result = await etl([command, '--json', '--state-dir', state]);
      expect(result).toMatchObject({ code: 0, stderr: '' });
    }
    // 17 row and lifecycle events, and run-completed, which arrives after the run's logs closed.
    const events = JSON.parse((await etl(['events', '--json', '--state-dir', state])).stdout) as {
      detailType: string;
    }[];
    expect(events).toHaveLength(18);
    expect(events.at(-1)?.detailType).toBe('run-completed');
  });

  it('a header-only file is a valid run of 0 rows', async () => {
    const { file, state } = fixture('in.csv', 'ID,HouseNum,Street,Town,Zip\r\n');
    const result = await etl(['run', file, '--state-dir', state]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/extracted\s+0\n\s+transformed\s+0\n\s+loaded\s+0\n\s+failed\s+0/);
  });

  it.each([
    ['unreadable', null, /^etl: \S+: cannot read the mapping file$/m],
    ['not JSON', '{"key": ', /^etl: \S+: not valid JSON/],
    [
      'invalid',
      '{"key": "id", "columns": {"ID": {"attribute": "id", "type": "text"}}}',
      /^etl: \S+: columns\.ID\.type: /,
    ],
  ])('a mapping file that is %s', async (_, content, message) => {
    const dir = tempDir();
    const mapping = join(dir, 'mapping.json');
    if (content !== null) writeFileSync(mapping, content);
    const result = await etl([
      'run',
      'data/test_data.csv',
      '--mapping',
      mapping,
      '--state-dir',
      join(dir, 'state'),
    ]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(message);
  });
});

describe('bad rows become error events; sensitive values never appear in clear', () => {
  const mapping = {
    key: 'id',
    columns: {
      ID: { attribute: 'id', type: 'string', required: true },
      Name: { attribute: 'name', type: 'string' },
      Email: { attribute: 'email', type: 'string', sensitive: true },
      Age: { attribute: 'age', type: 'number' },
      Active: { attribute: 'active', type: 'boolean' },
    },
  };
  const csv = [
    'ID,Name,Email,Age,Active,Ignored',
    '1,Ann,ann@example.com,34,true,x',
    '2,Bob,bob@example.com,forty,true,x',
    '3,"Cy, Jr.",cy@example.com,51,FALSE,x',
    ',Dee,dee@example.com,20,true,x',
    '5,Eve,eve@example.com,20',
    '6,Fay,,7,false,x',
  ].join('\r\n');

  it('loads the good rows typed by the mapping, reports the bad ones, exits 1', async () => {
    const { dir, file, state } = fixture('people.csv', csv);
    writeFileSync(join(dir, 'mapping.json'), JSON.stringify(mapping));
    // With the per-event record on, so that it too is checked for plaintext.
    const run = await etl([
      'run',
      file,
      '--mapping',
      join(dir, 'mapping.json'),
      '--record-events',
      '--state-dir',
      state,
    ]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/extracted\s+6\n\s+transformed\s+3\n\s+loaded\s+3\n\s+failed\s+3/);
    expect(run.stderr).toMatch(
      /^etl: 3 rows failed; see them with: etl errors --run (run-[0-9a-f]{16}) --state-dir /m,
    );

    const items = JSON.parse((await etl(['scan', '--json', '--state-dir', state])).stdout) as {
      id: string;
    }[];
    // Scan order is the table's, as DynamoDB's: sort by key to compare.
    expect(items.sort((a, b) => a.id.localeCompare(b.id))).toEqual([
      { id: '1', name: 'Ann', email: 'ann@example.com', age: 34, active: true },
      { id: '3', name: 'Cy, Jr.', email: 'cy@example.com', age: 51, active: false },
      { id: '6', name: 'Fay', age: 7, active: false },
    ]);

    const errors = JSON.parse((await etl(['errors', '--json', '--state-dir', state])).stdout) as Record<
      string,
      unknown
    >[];
    expect(errors.map(({ row, column, reason, stage }) => ({ row, column, reason, stage }))).toEqual(
      expect.arrayContaining([
        { row: 2, column: 'Age', reason: 'value is not a number', stage: 'transform' },
        { row: 4, column: 'ID', reason: 'required value is empty', stage: 'transform' },
        { row: 5, column: undefined, reason: 'row has 4 fields; the header has 6', stage: 'transform' },
      ]),
    );
    expect(errors).toHaveLength(3);

    // No plaintext email anywhere in what the pipeline kept: events, errors, summaries.
    const kept = readAll(join(state, 'runs'));
    expect(kept).toContain('s3RecordExtraction');
    for (const email of ['ann@', 'bob@', 'cy@', 'dee@', 'eve@']) expect(kept).not.toContain(email);
    const text = (await etl(['errors', '--state-dir', state])).stdout;
    expect(text).toMatch(/2\s+transform\s+Age\s+value is not a number/);
  });

  it('fails a row too large for one event on its own row, and loads the rest of the file', async () => {
    const { file, state } = fixture(
      'wide.csv',
      `ID,HouseNum,Street,Town,Zip\n1,1,A Road,T,1\n2,2,${'x'.repeat(300_000)},T,2\n3,3,C Road,T,3\n`,
    );
    const run = await etl(['run', file, '--state-dir', state]);
    expect(run.code).toBe(1);
    expect(run.stderr).toMatch(/^etl: 1 row failed; see it with: etl errors --run run-[0-9a-f]{16}/m);
    const errors = JSON.parse((await etl(['errors', '--json', '--state-dir', state])).stdout) as Record<
      string,
      unknown
    >[];
    expect(errors.map(({ row, stage, reason }) => ({ row, stage, reason }))).toEqual([
      {
        row: 2,
        stage: 'extract',
        reason: expect.stringMatching(/would be \d+ bytes; PutEvents takes at most 262144$/),
      },
    ]);
    const items = JSON.parse((await etl(['scan', '--json', '--state-dir', state])).stdout) as {
      id: string;
    }[];
    expect(items.map((i) => i.id).sort()).toEqual(['1', '3']);
  });
});
