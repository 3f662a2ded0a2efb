/** The write-rate limiter, on a fake clock: what it lets through and how long it makes callers wait. */
import type { BatchWriteItemCommand } from '@aws-sdk/client-dynamodb';
import { type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DynamoItemWriter } from '../../src/adapters/dynamodb-writer.ts';
import { WriteRateLimiter } from '../../src/adapters/write-rate.ts';
import { ensureTable, type LocalDynamo, startDynalite } from '../../src/runtime/local/dynalite.ts';

function fakeClock(): { now: () => number; sleep: (ms: number) => Promise<void>; slept: number[] } {
  let time = 0;
  const slept: number[] = [];
  return {
    now: () => time,
    sleep: async (ms) => {
      slept.push(ms);
      time += ms;
    },
    slept,
  };
}

describe('WriteRateLimiter', () => {
  it('lets a second of writes through at once, then paces the rest to the rate', async () => {
    const clock = fakeClock();
    const limiter = new WriteRateLimiter({ perSecond: 50, ...clock });
    await limiter.take(25);
    await limiter.take(25);
    expect(clock.slept).toEqual([]);
    await limiter.take(25);
    expect(clock.slept).toEqual([500]);
    await limiter.take(25);
    expect(clock.slept).toEqual([500, 500]);
    // 100 writes in 1 s after the first second's burst: the rate, no faster.
    expect(clock.now()).toBe(1000);
  });

  it('refills while idle, but never beyond one second of writes', async () => {
    const clock = fakeClock();
    const limiter = new WriteRateLimiter({ perSecond: 10, ...clock });
    await limiter.take(10);
    await clock.sleep(60_000);
    clock.slept.length = 0;
    await limiter.take(10);
    await limiter.take(5);
    expect(clock.slept).toEqual([500]);
  });

  it('paces a batch larger than the rate by waiting it off', async () => {
    const clock = fakeClock();
    const limiter = new WriteRateLimiter({ perSecond: 10, ...clock });
    await limiter.take(25);
    expect(clock.slept).toEqual([1500]);
  });

  it('refuses a rate that is not positive', () => {
    expect(() => new WriteRateLimiter({ perSecond: 0 })).toThrow(RangeError);
  });
});

describe('DynamoItemWriter with a write rate', () => {
  let dynamo: LocalDynamo;
  beforeAll(async () => {
    dynamo = await startDynalite();
    await ensureTable(dynamo.client, 'Paced', 'id');
  });
  afterAll(async () => {
    await dynamo?.close();
  });

  it('takes one write per item of every BatchWriteItem request before sending it', async () => {
    const taken: number[] = [];
    const sent: number[] = [];
    const client = {
      send: (command: BatchWriteItemCommand) => {
        sent.push(Object.values(command.input.RequestItems ?? {})[0]?.length ?? 0);
        return dynamo.client.send(command);
      },
    } as unknown as DynamoDBClient;
    const writer = new DynamoItemWriter({
      client,
      tableName: 'Paced',
      key: 'id',
      rate: { take: async (n) => void taken.push(n) },
    });
    const items = Array.from({ length: 60 }, (_, i) => ({ id: { S: `k${i}` } }));
    expect(await writer.writeItems(items)).toEqual([]);
    expect(taken).toEqual([25, 25, 10]);
    expect(sent).toEqual(taken);
  });
});
