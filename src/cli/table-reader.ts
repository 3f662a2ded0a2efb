/**
 * A table's items, page by page: what `etl scan` reads. Loaded only by that command, since the AWS
 * SDK and the embedded DynamoDB take longer to load than the rest of the CLI.
 */
import {
  DescribeTableCommand,
  type DynamoDBClient,
  paginateListTables,
  paginateScan,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import { existsSync } from 'node:fs';
import { UserError } from './errors.ts';
import { localClient, startDynalite } from '../runtime/local/dynalite.ts';
import { readLock, StateDirInUseError } from '../runtime/local/lock.ts';
import { RunStore } from '../runtime/local/runs.ts';
import { DEFAULT_TABLE_NAME, ensureStateDir, statePaths } from '../runtime/local/state.ts';
import type { Item } from './attribute-values.ts';

/** Items per Scan call: each page is written before the next is asked for. */
export const SCAN_PAGE_SIZE = 1000;
/** Table names an unknown-table message lists before it says how many more there are. */
const LISTED_TABLES = 20;

export class NoSuchTableError extends UserError {
  override readonly name = 'NoSuchTableError';
}

export interface TableReader {
  name: string;
  /** The table's key attributes (partition, then sort), or undefined when there is no table yet. */
  keys: string[] | undefined;
  /** The items in the table's scan order (DynamoDB's, not sorted), at most `limit`, as DynamoDB sends them. */
  items(limit?: number): AsyncGenerator<Item>;
  close(): Promise<void>;
}

/**
 * A table of a state directory (`table`; by default the newest run's, as its mapping named it, else
 * the pipeline's): through the running `etl up`
 * when there is one (it owns the files), else the embedded DynamoDB opened here. A table named that
 * does not exist is a NoSuchTableError listing the tables there are; the pipeline's table not
 * existing yet simply has no items.
 */
export async function openTable(
  stateDir: string,
  options: { table?: string; pageSize?: number } = {},
): Promise<TableReader> {
  const pageSize = options.pageSize ?? SCAN_PAGE_SIZE;
  const paths = statePaths(stateDir);
  const name =
    options.table ??
    (existsSync(paths.runs) ? await new RunStore(paths).latestTable() : undefined) ??
    DEFAULT_TABLE_NAME;
  const { client, close } = await connect(stateDir);
  try {
    const keys = await keySchema(client, name);
    if (keys === undefined && options.table !== undefined) {
      throw new NoSuchTableError(
        `no table ${JSON.stringify(name)} in ${stateDir}; ${await tableList(client)}`,
      );
    }
    return {
      name,
      keys,
      close,
      async *items(limit = Infinity) {
        if (keys === undefined) return;
        let remaining = limit;
        const pages = paginateScan(
          { client, pageSize },
          { TableName: name, Limit: Math.min(pageSize, remaining) },
        );
        for await (const page of pages) {
          for (const item of page.Items ?? []) {
            yield item;
            if (--remaining <= 0) return;
          }
        }
      },
    };
  } catch (error) {
    await close();
    throw error;
  }
}

async function connect(stateDir: string): Promise<{ client: DynamoDBClient; close: () => Promise<void> }> {
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

async function keySchema(client: DynamoDBClient, name: string): Promise<string[] | undefined> {
  try {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: name }));
    const schema = Table?.KeySchema ?? [];
    const byType = (type: string) =>
      schema.filter((k) => k.KeyType === type).map((k) => k.AttributeName ?? '');
    return [...byType('HASH'), ...byType('RANGE')];
  } catch (error) {
    if (error instanceof ResourceNotFoundException) return undefined;
    throw error;
  }
}

/** "its tables: A, B" (the first few, with how many more), or that there are none. */
async function tableList(client: DynamoDBClient): Promise<string> {
  const names: string[] = [];
  let count = 0;
  for await (const page of paginateListTables({ client }, {})) {
    for (const table of page.TableNames ?? []) {
      if (names.length < LISTED_TABLES) names.push(table);
      count++;
    }
  }
  if (count === 0) return 'it has no tables yet';
  const more = count > names.length ? ` and ${count - names.length} more` : '';
  return `its tables: ${names.join(', ')}${more}`;
}
