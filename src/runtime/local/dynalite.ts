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

/** The table exists with another partition key than the mapping's. */
export class TableKeyMismatchError extends UserError {
  override readonly name = 'TableKeyMismatchError';
  constructor(tableName: string, tableKey: string, mappingKey: string) {
    super(
      `table ${tableName} has partition key "${tableKey}" but the mapping's key is "${mappingKey}"; ` +
        'use a mapping with the same key, or another --state-dir',
    );
  }
}

/** Creates the table (partition key only, on-demand) unless it exists. */
export async function ensureTable(client: DynamoDBClient, tableName: string, key: string): Promise<void> {
  try {
    const { Table } = await client.send(new DescribeTableCommand({ TableName: tableName }));
    const hashKey = Table?.KeySchema?.find((k) => k.KeyType === 'HASH')?.AttributeName;
    if (hashKey !== key) throw new TableKeyMismatchError(tableName, hashKey ?? '', key);
    if (Table?.TableStatus === 'ACTIVE') return;
  } catch (error) {
    if (!(error instanceof ResourceNotFoundException)) throw error;
  }
  try {
    await client.send(
      new CreateTableCommand({
        TableName: tableName,
        AttributeDefinitions: [{ AttributeName: key, AttributeType: 'S' }],
        KeySchema: [{ AttributeName: key, KeyType: 'HASH' }],
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
