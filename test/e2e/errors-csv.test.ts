/** `etl errors --run ID --csv`: failed rows written to fix and run again. */
import { appendFileSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { etl, tempDir } from '../support/cli.ts';

function setup(content: string | Buffer, mapping: unknown, name = 'in.csv') {
  const dir = tempDir();
  const file = join(dir, name);
  writeFileSync(file, content);
  const mappingFile = join(dir, 'mapping.json');
  writeFileSync(mappingFile, JSON.stringify(mapping));
  return { dir, file, mapping: mappingFile, state: join(dir, 'state') };
}

async function runOf(state: string): Promise<string> {
  const runs = JSON.parse((await etl(['runs', '--json', '--state-dir', state])).stdout) as { run: string }[];
  return runs.at(-1)?.run as string;
}

const dialectMapping = {
  key: 'id',
  csv: { delimiter: ';', encoding: 'latin1' },
  columns: {
    ID: { attribute: 'id', required: true },
    Zip: { attribute: 'zip', type: 'number' },
    Town: { attribute: 'town' },
  },
};

describe('etl errors --csv', () => {
  it('writes the failed rows in the file’s dialect with _row and _reason; fixed, the file runs with the same mapping', async () => {
    const csv = Buffer.from(
      'ID;Zip;Town;Unmapped\n1;100;Zürich;a\n2;abc;"Genève; GE";b\n3;300;Bern;c\n;400;Köln;d\n',
      'latin1',
    );
    const { dir, file, mapping, state } = setup(csv, dialectMapping);
    const first = await etl(['run', file, '--mapping', mapping, '--state-dir', state]);
    expect(first.code).toBe(1);
    const run = await runOf(state);
    const out = join(dir, 'failed.csv');
    const written = await etl(['errors', '--run', run, '--csv', '--out', out, '--state-dir', state]);
    expect(written.code).toBe(0);
    expect(written.stderr).toBe(`etl errors: 2 failed rows of run ${run} written to ${out}\n`);
    expect(readFileSync(out, 'latin1')).toBe(
      'ID;Zip;Town;Unmapped;_row;_reason\n2;abc;"Genève; GE";b;2;value is not a number\n;400;Köln;d;4;required value is empty\n',
    );
    // To stdout, the same rows (Latin-1 bytes, so only the ASCII of them compared here).
    const printed = await etl(['errors', '--run', run, '--csv', '--state-dir', state]);
    expect(printed.stdout.split('\n').map((line) => line.slice(0, 5))).toEqual([
      'ID;Zi',
      '2;abc',
      ';400;',
      '',
    ]);

    writeFileSync(
      out,
      readFileSync(out, 'latin1').replace(';abc;', ';200;').replace('\n;400;', '\n4;400;'),
      'latin1',
    );
    const rerun = await etl(['run', out, '--mapping', mapping, '--state-dir', state]);
    expect(rerun.stderr).toBe('');
    expect(rerun.code).toBe(0);
    const items = JSON.parse((await etl(['scan', '--json', '--state-dir', state])).stdout) as Record<
      string,
      unknown
    >[];
    expect(items.sort((a, b) => String(a.id).localeCompare(String(b.id)))).toEqual([
      { id: '1', zip: 100, town: 'Zürich' },
      { id: '2', zip: 200, town: 'Genève; GE' },
      { id: '3', zip: 300, town: 'Bern' },
      { id: '4', zip: 400, town: 'Köln' },
    ]);
    // A fixed file that fails again keeps one _row and one _reason column, numbered in that file.
    appendFileSync(out, Buffer.from('5;bad;X;e;9;old reason\n', 'latin1'));
    await etl(['run', out, '--mapping', mapping, '--state-dir', state]);
    const again = await etl(['errors', '--run', await runOf(state), '--csv', '--state-dir', state]);
    expect(again.stdout).toBe('ID;Zip;Town;Unmapped;_row;_reason\n5;bad;X;e;3;value is not a number\n');
  });

  it('leaves sensitive columns out, their values too', async () => {
    const { file, mapping, state } = setup('ID,Email,Zip\n1,SECRET1@x,zz\n2,SECRET2@x,7\n', {
      key: 'id',
      columns: {
        ID: { attribute: 'id' },
        Email: { attribute: 'email', sensitive: true },
        Zip: { attribute: 'zip', type: 'number' },
      },
    });
    await etl(['run', file, '--mapping', mapping, '--state-dir', state]);
    const result = await etl(['errors', '--run', await runOf(state), '--csv', '--state-dir', state]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('ID,Zip,_row,_reason\n1,zz,1,value is not a number\n');
    expect(result.stderr).toMatch(
      /sensitive column left out \(put it back, or run the file with a mapping without it\): Email/,
    );
    expect(result.stdout + result.stderr).not.toContain('SECRET');
  });

  it('a JSON Lines run’s failed rows come out as CSV of the mapped columns, a non-object line named', async () => {
    const lines = '{"id":"1","address":{"zip":"x1"}}\n[2]\n{"id":"3","address":{"zip":3}}\n';
    const { file, mapping, state } = setup(
      lines,
      {
        key: 'id',
        columns: { id: { attribute: 'id' }, 'address.zip': { attribute: 'zip', type: 'number' } },
      },
      'in.jsonl',
    );
    await etl(['run', file, '--mapping', mapping, '--state-dir', state]);
    const result = await etl(['errors', '--run', await runOf(state), '--csv', '--state-dir', state]);
    expect(result.stdout).toBe('id,address.zip,_row,_reason\n1,x1,1,value is not a number\n');
    expect(result.stderr).toContain('rows with no values to write (lines that are not JSON objects): 2');
  });

  it('refuses in one line when the file changed or is gone since the run, or without --run', async () => {
    const { file, mapping, state } = setup('ID,Zip,Town\n1,x,T\n', dialectMapping);
    await etl(['run', file, '--mapping', mapping, '--state-dir', state]);
    const run = await runOf(state);
    appendFileSync(file, '2,3,U\n');
    const changed = await etl(['errors', '--run', run, '--csv', '--state-dir', state]);
    expect(changed.code).toBe(2);
    expect(changed.stdout).toBe('');
    expect(changed.stderr).toBe(
      `etl: ${file}: the file of run ${run} is gone or changed since the run; its failed rows cannot be read again\n`,
    );
    rmSync(file);
    expect((await etl(['errors', '--run', run, '--csv', '--state-dir', state])).stderr).toBe(changed.stderr);
    const noRun = await etl(['errors', '--csv', '--state-dir', state]);
    expect(noRun.code).toBe(2);
    expect(noRun.stderr).toBe('etl: --csv needs --run ID: the failed rows of one run\n');
  });
});
