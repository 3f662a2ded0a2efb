/**
 * The embedded DynamoDB: dynalite on 127.0.0.1, in a worker thread of this process so the pipeline
 * keeps a core of its own, its data under the state directory. Reached only through the AWS SDK v3.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceInUseException,
  ResourceNotFoundException,
  type ScalarAttributeType,
} from '@aws-sdk/client-dynamodb';
import { UserError } from '../../pipeline/errors.ts';
import { DYNAMO_WORKER_LIMITS } from './heap.ts';

// The worker is plain CommonJS so it runs the same under tsx, vitest and compiled code.
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const dynalite = require(workerData.dynalitePath);
const server = dynalite({ path: workerData.path, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
server.on('error', (error) => parentPort.postMessage({ error: error.message }));
server.listen(workerData.port, workerData.host, () => parentPort.postMessage({ port: server.address().port }));
parentPort.on('message', (message) => {
  if (message === 'close') server.close(() => process.exit(0));
});
`;

export interface LocalDynamo {
  endpoint: string;
  port: number;
  client: DynamoDBClient;
  close(): Promise<void>;
}

/** Starts dynalite; `path` persists its data (in memory without one). */
export async function startDynalite(
  options: { path?: string; port?: number; host?: string } = {},
): Promise<LocalDynamo> {
  const require = createRequire(import.meta.url);
  const worker = new Worker(WORKER_SOURCE, {
    eval: true,
    resourceLimits: DYNAMO_WORKER_LIMITS,
    workerData: {
      dynalitePath: require.resolve('dynalite'),
      path: options.path,
      port: options.port ?? 0,
      host: options.host ?? '127.0.0.1',
    },
  });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once('message', (message: { port?: number; error?: string }) => {
      if (message.port) resolve(message.port);
      else reject(new Error(`the embedded DynamoDB did not start: ${message.error}`));
    });
    worker.once('error', reject);
    worker.once('exit', (code) =>
      reject(new Error(`the embedded DynamoDB stopped before it started (exit ${code})`)),
    );
  });
  // A worker that died (its store failed) must not leave close() waiting for an exit already gone.
  let exited = false;
  worker.once('exit', () => (exited = true));
  const endpoint = `http://127.0.0.1:${port}`;
  const client = localClient(endpoint);
  return {
    endpoint,
    port,
    client,
    async close() {
      client.destroy();
      if (exited) return;
      const exit = new Promise((resolve) => worker.once('exit', resolve));
      worker.postMessage('close');
      await exit;
    },
  };
}

/** An SDK client for a local endpoint: dummy credentials, a fixed region. */
export function localClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

/** A key attribute: its name and DynamoDB type (S, N or B). */
export interface KeyAttribute {
  name: string;
  type: string;
}

/** The table exists with another key schema than the mapping's (names or types, partition or sort). */
export class TableKeyMismatchError extends UserError {
  override readonly name = 'TableKeyMismatchError';
  constructor(tableName: string, tableKey: readonly KeyAttribute[], mappingKey: readonly KeyAttribute[]) {
    super(
      `table ${tableName} has key ${describeKey(tableKey)} but the mapping's key is ${describeKey(mappingKey)}; ` +
        'use a mapping with the same key, another "table", or another --state-dir',
    );
  }
}

/** `pk (S) + sk (N)`: partition key, then sort key. */
export function describeKey(key: readonly KeyAttribute[]): string {
  return key.map((k) => `"${k.name}" (${k.type})`).join(' + ');
}

/**
 * Checks the table's key schema against the key, or creates the table (on-demand) when there is
 * none. A key given as a name alone is a string partition key.
 */
export async function ensureTable(
  client: DynamoDBClient,
  tableName: string,
  key: string | readonly KeyAttribute[],
): Promise<void> {
  const wanted = typeof key === 'string' ? [{ name: key, type: 'S' }] : key;
  try {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    const types = new Map(Table?.AttributeDefinitions?.map((d) => [d.AttributeName, d.AttributeType]));
    const existing = ['HASH', 'RANGE'].flatMap((role) => {
      const name = Table?.KeySchema?.find((k) => k.KeyType === role)?.AttributeName;
      return name === undefined ? [] : [{ name, type: types.get(name) ?? '?' }];
    });
    if (describeKey(existing) !== describeKey(wanted)) {
      throw new TableKeyMismatchError(tableName, existing, wanted);
    }
    if (Table?.TableStatus === 'ACTIVE') return;
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
  }
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        AttributeDefinitions: wanted.map((k) => ({
          AttributeName: k.name,
          AttributeType: k.type as ScalarAttributeType,
        })),
        KeySchema: wanted.map((k, i) => ({ AttributeName: k.name, KeyType: i === 0 ? 'HASH' : 'RANGE' })),
        BillingMode: 'PAY_PER_REQUEST',
      }),
    );
  } catch (error) {
    if (!(error instanceof ResourceInUseException)) throw error;
  }
  // A new table is CREATING until it is ACTIVE; writes before then fail as if it did not exist.
  for (let attempt = 0; attempt < 500; attempt++) {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    if (Table?.TableStatus === 'ACTIVE') return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`table ${tableName} did not become ACTIVE`);
}
