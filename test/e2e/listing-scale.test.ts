/**
 * `etl events`, `errors` and `scan` at a size the old table code could not print: it spread every
 * cell into Math.max, which overflowed the stack at about 125,000 rows (`internal error: Maximum call
 * stack size exceeded`), and a run that large broke `etl events` for good.
 */
import { appendFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DynamoItemWriter } from '../../src/adapters/dynamodb-writer.ts';
import { ensureTable, startDynalite } from '../../src/runtime/local/dynalite.ts';
import { DEFAULT_TABLE_NAME } from '../../src/runtime/local/state.ts';
import { etl, tempDir } from '../support/cli.ts';

const ROWS = 200_000;
const RUN = 'run-00000000000000aa';

/** A run's logs as the observer writes them, for ROWS rows, written straight to disk. */
function stateWithLargeRun(): string {
  const state = join(tempDir(), 'state');
  const dir = join(state, 'runs', RUN);
  mkdirSync(dir, { recursive: true });
  const time = '2026-11-29T12:00:00.000Z';
  const reason = 'required value is empty';
  for (let start = 1; start <= ROWS; start += 10_000) {
    const events: string[] = [];
    const errors: string[] = [];
    for (let row = start; row < start + 10_000; row++) {
      events.push(
        JSON.stringify({
          id: `e${row}`,
          time,
          detailType: 'row-failed',
          status: 'failed',
          run: RUN,
          row,
          reason,
        }),
      );
      errors.push(
        JSON.stringify({ status: 'failed', stage: 'transform', column: 'ID', reason, run: RUN, row, time }),
      );
    }
    appendFileSync(join(dir, 'events.ndjson'), `${events.join('\n')}\n`);
    appendFileSync(join(dir, 'errors.ndjson'), `${errors.join('\n')}\n`);
  }
  writeFileSync(
    join(dir, 'summary.json'),
    JSON.stringify({ run: RUN, file: 'big.csv', extracted: ROWS, transformed: 0, loaded: 0, failed: ROWS }),
  );
  return state;
}

describe(`listing commands over a ${ROWS.toLocaleString('en')}-row run`, () => {
  it('print every event and error as a table, and as JSON', { timeout: 240_000 }, async () => {
    const state = stateWithLargeRun();

    const events = await etl(['events', '--state-dir', state]);
    expect(events.stderr).toBe('');
    expect(events.code).toBe(0);
    const lines = events.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(ROWS + 1);
    expect(lines[0]).toMatch(/^time\s+detail-type\s+status\s+run\s+row\s+reason$/);
    expect(lines.at(-1)).toMatch(
      new RegExp(`row-failed\\s+failed\\s+${RUN}\\s+${ROWS}\\s+required value is empty$`),
    );

    const errors = await etl(['errors', '--json', '--run', RUN, '--state-dir', state]);
    expect(errors.code).toBe(0);
    const failed = JSON.parse(errors.stdout) as { row: number }[];
    expect(failed).toHaveLength(ROWS);
    expect(failed.at(-1)?.row).toBe(ROWS);

    const first = await etl(['errors', '--limit', '2', '--state-dir', state]);
    expect(first.stdout).toMatch(
      new RegExp(`^run\\s+row\\s+stage\\s+column\\s+reason\\n${RUN}\\s+1\\s+transform\\s+ID\\s+`),
    );
    expect(first.stdout.trimEnd().split('\n')).toHaveLength(3);
  });

  it('refuses a --limit that is not a whole number of 1 or more, in one line', async () => {
    const result = await etl(['events', '--limit', '0', '--state-dir', join(tempDir(), 'state')]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /^error: option '--limit <n>' argument '0' is invalid\. a whole number of 1 or more\n/,
    );
  });
});

describe('etl scan pages through the table', () => {
  const ITEMS = 2_500;

  it(
    'prints every item across pages, as a table and as JSON, and stops at --limit',
    { timeout: 180_000 },
    async () => {
      const state = join(tempDir(), 'state');
      const dynamo = await startDynalite({ path: join(state, 'dynamodb') });
      try {
        await ensureTable(dynamo.client, DEFAULT_TABLE_NAME, 'id');
        const writer = new DynamoItemWriter({
          client: dynamo.client,
          tableName: DEFAULT_TABLE_NAME,
          key: 'id',
        });
        for (let start = 1; start <= ITEMS; start += 100) {
          const items = Array.from({ length: 100 }, (_, i) => ({
            id: { S: String(start + i) },
            town: { S: `town ${start + i}` },
          }));
          expect(await writer.writeItems(items)).toEqual([]);
        }
      } finally {
        await dynamo.close();
      }

      const table = await etl(['scan', '--state-dir', state]);
      expect(table.code).toBe(0);
      const lines = table.stdout.trimEnd().split('\n');
      expect(lines[0]).toMatch(/^id\s+town$/);
      expect(lines.at(-1)).toBe(`${ITEMS} items`);
      expect(lines).toHaveLength(ITEMS + 2);

      const json = await etl(['scan', '--json', '--state-dir', state]);
      const items = JSON.parse(json.stdout) as { id: string; town: string }[];
      expect(new Set(items.map((i) => i.id)).size).toBe(ITEMS);
      expect(items.find((i) => i.id === '2500')).toEqual({ id: '2500', town: 'town 2500' });

      // Past the first page (1,000 items), and no further than asked.
      const limited = JSON.parse(
        (await etl(['scan', '--json', '--limit', '1200', '--state-dir', state])).stdout,
      ) as unknown[];
      expect(limited).toHaveLength(1200);
      expect(items.slice(0, 1200)).toEqual(limited);
    },
  );
});
