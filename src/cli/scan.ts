/** `etl scan`: the table's items, as `aws dynamodb scan` would show them but as plain values. */
import type { Command } from 'commander';
import { parseLimit, writeListing } from './listing.ts';
import { withStateDir } from './options.ts';

export function registerScan(program: Command): void {
  withStateDir(
    program
      .command('scan')
      .description("print the table's items, in the table's scan order, as they are read")
      .option('--json', 'a JSON array of plain objects, one per line')
      .option('--limit <n>', 'at most this many items', parseLimit),
  ).action(async (options: { stateDir: string; json?: boolean; limit?: number }) => {
    const { openTable } = await import('./table-reader.ts');
    const table = await openTable(options.stateDir);
    let count: number;
    try {
      count = await writeListing(table.items(options.limit), {
        json: options.json,
        row: (item) => item,
        leadingColumns: table.key === undefined ? [] : [table.key],
      });
    } finally {
      await table.close();
    }
    if (!options.json) console.log(`${count} item${count === 1 ? '' : 's'}`);
  });
}
