/** `etl mapping infer` round trip: the proposed mapping loads every row of the file it came from. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { etl, tempDir } from '../support/cli.ts';

describe('etl mapping infer, then etl run with it', () => {
  it.each([
    [
      'a semicolon Latin-1 CSV with numbers, booleans and zip codes',
      'people.csv',
      Buffer.from(
        'Nom;Ville;CP;Actif;Solde\r\n' +
          Array.from({ length: 40 }, (_, i) => `Ann${i};Zürich;0${1000 + i};${i % 2 === 0};${i}.5`).join(
            '\r\n',
          ),
        'latin1',
      ),
      40,
    ],
    [
      'gzipped JSON Lines with nested objects, named .jsonl',
      'rows.jsonl',
      gzipSync(
        Array.from({ length: 25 }, (_, i) =>
          JSON.stringify({ id: `r${i}`, address: { town: 'Larne', zip: i }, tags: [i], flag: i > 3 }),
        ).join('\n'),
      ),
      25,
    ],
  ])('%s: every row loads', async (_, name, content, rows) => {
    const dir = tempDir();
    const file = join(dir, name);
    writeFileSync(file, content);
    const mapping = join(dir, 'mapping.json');
    const inferred = await etl(['mapping', 'infer', file, '--out', mapping]);
    expect(inferred.stderr).toMatch(/^etl mapping infer: \d+ columns from \d+ rows; key /);
    expect(inferred.code).toBe(0);
    const state = join(dir, 'state');
    const run = await etl(['run', file, '--mapping', mapping, '--state-dir', state]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(
      new RegExp(
        `extracted\\s+${rows}\\n\\s+transformed\\s+${rows}\\n\\s+loaded\\s+${rows}\\n\\s+failed\\s+0`,
      ),
    );
    const items = JSON.parse((await etl(['scan', '--json', '--state-dir', state])).stdout) as Record<
      string,
      unknown
    >[];
    expect(items).toHaveLength(rows);
    if (name.endsWith('.csv')) {
      const ann3 = items.find((i) => i.Nom === 'Ann3');
      expect(ann3).toEqual({ Nom: 'Ann3', Ville: 'Zürich', CP: '01003', Actif: false, Solde: 3.5 });
    } else {
      expect(items.find((i) => i.id === 'r7')).toMatchObject({
        id: 'r7',
        'address.town': 'Larne',
        'address.zip': 7,
        flag: true,
      });
    }
  });

  it('without --out prints the mapping; a file with no possible key is one line, exit 2', async () => {
    const dir = tempDir();
    const file = join(dir, 'dup.csv');
    writeFileSync(file, 'a,b\n1,2\n1,2\n');
    const result = await etl(['mapping', 'infer', file]);
    expect(result.code).toBe(2);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      `etl: ${file}: no column is unique and non-empty in the first 2 rows, so none can be the key; add an id column\n`,
    );
    writeFileSync(file, 'id,b\n1,2\n');
    const printed = await etl(['mapping', 'infer', file]);
    expect(printed.code).toBe(0);
    expect(JSON.parse(printed.stdout)).toMatchObject({
      key: 'id',
      columns: { id: { type: 'string' }, b: { type: 'number' } },
    });
  });
});
