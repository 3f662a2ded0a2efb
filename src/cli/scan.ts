/** `etl scan`: a table's items, as `aws dynamodb scan` would show them but as plain values. */
import type { Command } from 'commander';
import { parseLimit, writeListing } from './listing.ts';
import { withStateDir } from './options.ts';

export function registerScan(program: Command): void {
  withStateDir(
    program
      .command('scan')
      .description(
        "print a table's items (the pipeline's, or --table), in the table's scan order, as they are read",
      )
      .option(
        '--table <name>',
        "any table of the local stack (default: the newest run's, else the pipeline's)",
      )
      .option('--json', 'a JSON array of plain objects, one per line')
      .option('--limit <n>', 'at most this many items', parseLimit),
  ).action(async (options: { stateDir: string; table?: string; json?: boolean; limit?: number }) => {
    const [{ openTable }, { itemCells, itemJson }] = await Promise.all([
      import('./table-reader.ts'),
      import('./attribute-values.ts'),
    ]);
    const table = await openTable(
      options.stateDir,
      options.table === undefined ? {} : { table: options.table },
    );
    let count: number;
    try {
      count = await writeListing(table.items(options.limit), {
        json: options.json,
        jsonText: itemJson,
        row: itemCells,
        leadingColumns: table.keys ?? [],
      });
    } finally {
      await table.close();
    }
    if (!options.json) console.log(`${count} item${count === 1 ? '' : 's'}`);
  });
}
