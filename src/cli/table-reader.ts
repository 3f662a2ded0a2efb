/**
 * The table's items, page by page: what `etl scan` reads. Loaded only by that command, since the AWS
 * SDK and the embedded DynamoDB take longer to load than the rest of the CLI.
 */
import {
  DescribeTableCommand,
  type DynamoDBClient,
  paginateScan,
  ResourceNotFoundException,
} from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { localClient, startDynalite } from '../runtime/local/dynalite.ts';
import { readLock, StateDirInUseError } from '../runtime/local/lock.ts';
import { DEFAULT_TABLE_NAME, ensureStateDir, statePaths } from '../runtime/local/state.ts';

/** Items per Scan call: each page is written before the next is asked for. */
export const SCAN_PAGE_SIZE = 1000;

export type PlainItem = Record<string, unknown>;

export interface TableReader {
  /** The table's partition key attribute, or undefined when there is no table yet. */
  key: string | undefined;
  /** The items in the table's scan order (DynamoDB's, not sorted), at most `limit`. */
  items(limit?: number): AsyncGenerator<PlainItem>;
  close(): Promise<void>;
}

/**
 * The table of a state directory: through the running `etl up` when there is one (it owns the
 * files), else the embedded DynamoDB opened here.
 */
export async function openTable(stateDir: string, pageSize = SCAN_PAGE_SIZE): Promise<TableReader> {
  const { client, close } = await connect(stateDir);
  try {
    const key = await partitionKey(client);
    return {
      key,
      close,
      async *items(limit = Infinity) {
        if (key === undefined) return;
        let remaining = limit;
        const pages = paginateScan(
          { client, pageSize },
          { TableName: DEFAULT_TABLE_NAME, Limit: Math.min(pageSize, remaining) },
        );
        for await (const page of pages) {
          for (const item of page.Items ?? []) {
            yield plainItem(item);
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

async function partitionKey(client: DynamoDBClient): Promise<string | undefined> {
  try {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: DEFAULT_TABLE_NAME }));
    return Table?.KeySchema?.find((k) => k.KeyType === 'HASH')?.AttributeName ?? '';
  } catch (error) {
    // A state directory with no table yet simply has no items.
    if (error instanceof ResourceNotFoundException) return undefined;
    throw error;
  }
}

/**
 * An item as plain values. Numbers stay numbers when a JS number holds them exactly; otherwise (say,
 * 25 digits) they are shown as their exact decimal text rather than rounded.
 */
function plainItem(item: Parameters<typeof unmarshall>[0]): PlainItem {
  return unmarshall(item, { wrapNumbers: exactNumber }) as PlainItem;
}

function exactNumber(text: string): number | string {
  const value = Number(text);
  return String(value) === text ? value : text;
}
