/** The DynamoDB writer against a table that throttles: the rows come back to be retried, marked throttled. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoItemWriter } from '../../src/adapters/dynamodb-writer.ts';
import { DetailType } from '../../src/pipeline/definition.ts';
import { SEED_MAPPING } from '../../src/pipeline/mapping.ts';
import {
  ensureTable,
  localClient,
  type LocalDynamo,
  startDynalite,
} from '../../src/runtime/local/dynalite.ts';
import { loadStage } from '../../src/stages/load.ts';
import { envelope, handle } from '../support/stages.ts';
import { startThrottlingDynamo, type ThrottlingDynamo } from '../support/throttling-dynamodb.ts';

let dynamo: LocalDynamo;
let proxy: ThrottlingDynamo;
beforeAll(async () => {
  dynamo = await startDynalite();
  await ensureTable(dynamo.client, 'Throttled', 'id');
  // More throttled requests than the SDK retries one call.
  proxy = await startThrottlingDynamo(dynamo.endpoint, { key: 'id', throttledRequests: 10 });
});
afterAll(async () => {
  await proxy?.close();
  await dynamo?.close();
});

describe('DynamoItemWriter when the table throttles', () => {
  it('hands the throttled rows back as throttled, and the load stage retries them as throttled', async () => {
    const client = localClient(proxy.endpoint);
    const writer = new DynamoItemWriter({ client, tableName: 'Throttled', key: 'id' });
    const stage = loadStage({ source: 's', mappingFor: async () => SEED_MAPPING, writer });
    const row = (n: number) =>
      envelope(DetailType.rowTransformed, {
        status: 'transformed' as const,
        data: { ID: `t${n}`, HouseNum: '1', Street: 'S', Town: 'T', Zip: '1' },
        run: 'run-t',
        row: n,
      });
    const outcomes = await handle(stage, [row(1), row(2)]);
    expect(outcomes).toEqual([
      {
        status: 'retry',
        reason: 'throttled',
        message: 'DynamoDB throttled the write: ProvisionedThroughputExceededException',
      },
      {
        status: 'retry',
        reason: 'throttled',
        message: 'DynamoDB throttled the write: ProvisionedThroughputExceededException',
      },
    ]);
    client.destroy();
  });
});
