/** `etl scan`: the table's items, as `aws dynamodb scan` would show them but as plain values. */
import { type DynamoDBClient, paginateScan, ResourceNotFoundException } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import type { Command } from 'commander';
import { localClient, startDynalite } from '../runtime/local/dynalite.ts';
import { readLock, StateDirInUseError } from '../runtime/local/lock.ts';
import { DEFAULT_TABLE_NAME, ensureStateDir, statePaths } from '../runtime/local/state.ts';
import { definePipeline } from '../pipeline/definition.ts';
import { withStateDir } from './options.ts';

export function registerScan(program: Command): void {
  withStateDir(
    program
      .command('scan')
      .description("print the table's items")
      .option('--json', 'a JSON array of plain objects'),
  ).action(async (options: { stateDir: string; json?: boolean }) => {
    const key = definePipeline().mapping.key;
    const items: Record<string, unknown>[] = [];
    const table = await openTable(options.stateDir);
    try {
      for await (const page of paginateScan({ client: table.client }, { TableName: DEFAULT_TABLE_NAME })) {
        for (const item of page.Items ?? []) items.push(unmarshall(item));
      }
    } catch (error) {
      // A state directory with no table yet simply has no items.
      if (!(error instanceof ResourceNotFoundException)) throw error;
    } finally {
      await table.close();
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

/**
 * The table of a state directory: through the running `etl up` when there is one (it owns the
 * files), else the embedded DynamoDB opened here.
 */
async function openTable(stateDir: string): Promise<{ client: DynamoDBClient; close: () => Promise<void> }> {
  const paths = statePaths(stateDir);
  const owner = readLock(paths.lock);
  if (owner?.endpoint) {
    const client = localClient(owner.endpoint);
    return { client, close: async () => client.destroy() };
  }
  if (owner) throw new StateDirInUseError(paths.root, owner);
  await ensureStateDir(paths);
  const dynamo = await startDynalite({ path: paths.dynamodb });
  return { client: dynamo.client, close: () => dynamo.close() };
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
