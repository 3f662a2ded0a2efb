/** `etl scan`: the table's items, as `aws dynamodb scan` would show them but as plain values. */
import { paginateScan } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { Command } from 'commander';
import { ensureTable, startDynalite } from '../runtime/local/dynalite.ts';
import { DEFAULT_TABLE_NAME, statePaths } from '../runtime/local/state.ts';
import { definePipeline } from '../pipeline/definition.ts';
import { withStateDir } from './options.ts';

export function registerScan(program: Command): void {
  withStateDir(
    program
      .command('scan')
      .description("print the table's items")
      .option('--json', 'a JSON array of plain objects'),
  ).action(async (options: { stateDir: string; json?: boolean }) => {
    const dynamo = await startDynalite({ path: statePaths(options.stateDir).dynamodb });
    const key = definePipeline().mapping.key;
    const items: Record<string, unknown>[] = [];
    try {
      await ensureTable(dynamo.client, DEFAULT_TABLE_NAME, key);
      for await (const page of paginateScan({ client: dynamo.client }, { TableName: DEFAULT_TABLE_NAME })) {
        for (const item of page.Items ?? []) items.push(unmarshall(item));
      }
    } finally {
      await dynamo.close();
    }
    const collator = new Intl.Collator('en', { numeric: true });
    items.sort((a, b) => collator.compare(String(a[key]), String(b[key])));
    if (options.json) {
      console.log(JSON.stringify(items, null, 2));
      return;
    }
    printTable(items);
    console.log(`${items.length} item${items.length === 1 ? '' : 's'}`);
  });
}

/** A plain aligned table with the union of the items' attributes as columns. */
export function printTable(rows: Record<string, unknown>[]): void {
  if (rows.length === 0) return;
  const columns = [...new Set(rows.flatMap((r) => Object.keys(r)))];
  const cells = rows.map((r) => columns.map((c) => (r[c] === undefined ? '' : String(r[c]))));
  const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => (row[i] as string).length)));
  const line = (values: string[]): string =>
    values
      .map((v, i) => v.padEnd(widths[i] as number))
      .join('  ')
      .trimEnd();
  console.log(line(columns));
  for (const row of cells) console.log(line(row));
}
