import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeleteItemCommand, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import {
  DescribeArchiveCommand,
  DescribeReplayCommand,
  ListArchivesCommand,
  ListRulesCommand,
  PutEventsCommand,
  StartReplayCommand,
} from '@aws-sdk/client-eventbridge';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { etl, tempDir } from '../support/cli.ts';
import { fiveAttempts } from '../support/definitions.ts';
import { eventually, scanTable, SEED_ITEMS, SEED_SOURCE, startTestStack, type TestStack } from './support.ts';

describe('delivery through the running stack, over HTTP', () => {
  let t: TestStack;
  beforeAll(async () => {
    // 5 attempts, so the poison event below is dead-lettered within the test.
    t = await startTestStack({ definition: fiveAttempts(), archive: { enabled: true } });
  });
  afterAll(async () => t?.close());

  it('a failing target: the bad event is retried, then lands in its DLQ with why', async () => {
    const result = await t.events.send(
      new PutEventsCommand({
        Entries: [
          // Routed to transform by the seed's rule, but with no data to transform.
          {
            Source: SEED_SOURCE,
            DetailType: 's3RecordExtraction',
            Detail: JSON.stringify({ status: 'extracted', run: 'poison', row: 1 }),
          },
        ],
      }),
    );
    expect(result.FailedEntryCount).toBe(0);
    const dlq = join(t.stateDir, 'dlq', 'transform.ndjson');
    const [letter] = await eventually(
      async () => (existsSync(dlq) ? readFileSync(dlq, 'utf8').trim().split('\n') : []),
      (lines) => lines.length > 0,
      'the dead letter',
    );
    expect(JSON.parse(letter ?? '')).toMatchObject({
      target: 'transform',
      attempts: 5,
      reason: 'invalid: transform does not take this s3RecordExtraction event (after 5 attempts)',
      event: {
        id: result.Entries?.[0]?.EventId,
        'detail-type': 's3RecordExtraction',
        detail: { run: 'poison' },
      },
    });
  });

  it('StartReplay re-delivers archived events through the rules it names', async () => {
    const from = new Date(Date.now() - 2_000);
    await t.s3.send(
      new PutObjectCommand({
        Bucket: t.stack.bucket,
        Key: 'replayed.csv',
        Body: readFileSync('data/test_data.csv'),
      }),
    );
    await eventually(
      () => scanTable(t),
      (items) => items.length === 5,
      'the sample to load',
    );
    for (const item of SEED_ITEMS) {
      await t.dynamodb.send(
        new DeleteItemCommand({ TableName: t.stack.tableName, Key: { id: { S: item.id } } }),
      );
    }
    expect(await scanTable(t)).toEqual([]);

    const { Archives = [] } = await t.events.send(new ListArchivesCommand({}));
    const archive = await t.events.send(
      new DescribeArchiveCommand({ ArchiveName: Archives[0]?.ArchiveName }),
    );
    const { Rules = [] } = await t.events.send(new ListRulesCommand({ EventBusName: 'eventbridge-etl' }));
    const loadRule = Rules.find((r) => r.Name === 'loadRule');
    await t.events.send(
      new StartReplayCommand({
        ReplayName: 'restore-items',
        EventSourceArn: archive.ArchiveArn,
        EventStartTime: from,
        EventEndTime: new Date(),
        Destination: { Arn: archive.EventSourceArn, FilterArns: [loadRule?.Arn ?? ''] },
      }),
    );
    await eventually(
      () => t.events.send(new DescribeReplayCommand({ ReplayName: 'restore-items' })),
      (replay) => replay.State === 'COMPLETED',
      'the replay to complete',
    );
    expect(await scanTable(t)).toEqual(SEED_ITEMS);
    // Only the load rule's target saw the replay: transform did not run again.
    const journal = readFileSync(join(t.stateDir, 'bus', readdirFirstSegment(t.stateDir)), 'utf8');
    const replayedTransforms = journal.split('\n').filter((l) => l.includes('"replay-name":"restore-items"'));
    expect(replayedTransforms.length).toBeGreaterThanOrEqual(5);
    for (const line of replayedTransforms) expect(JSON.parse(line).targets).toEqual(['load']);
  });
});

describe('etl replay against a running stack', () => {
  it('asks the stack through StartReplay instead of fighting it for the state directory', async () => {
    const t = await startTestStack({ archive: { enabled: true } });
    try {
      const from = new Date(Date.now() - 2_000).toISOString();
      await t.s3.send(
        new PutObjectCommand({
          Bucket: t.stack.bucket,
          Key: 'again.csv',
          Body: readFileSync('data/test_data.csv'),
        }),
      );
      await eventually(
        () => scanTable(t),
        (items) => items.length === 5,
        'the sample to load',
      );
      for (const item of SEED_ITEMS) {
        await t.dynamodb.send(
          new DeleteItemCommand({ TableName: t.stack.tableName, Key: { id: { S: item.id } } }),
        );
      }
      const replay = await etl([
        'replay',
        '--from',
        from,
        '--rule',
        'loadRule',
        '--name',
        'cli-replay',
        '--state-dir',
        t.stateDir,
      ]);
      expect(replay.stderr).toBe('');
      expect(replay).toMatchObject({ code: 0, stdout: 'replay cli-replay completed\n' });
      expect(await scanTable(t)).toEqual(SEED_ITEMS);
      const withPattern = await etl(['replay', '--from', from, '--pattern', '{}', '--state-dir', t.stateDir]);
      expect(withPattern.code).toBe(2);
      expect(withPattern.stderr).toMatch(/^etl: --pattern needs the stack stopped/);
    } finally {
      await t.close();
    }
  });
});

function readdirFirstSegment(stateDir: string): string {
  return readdirSync(join(stateDir, 'bus')).filter((n) => n.startsWith('segment-'))[0] as string;
}

describe('etl up killed with -9 mid-run', () => {
  it('finishes the run at the next start: every row loaded exactly once, the tally right', async () => {
    const dir = tempDir('etl-kill-');
    const state = join(dir, 'state');
    const rows = 20_000;
    const body = [
      'ID,HouseNum,Street,Town,Zip',
      ...Array.from({ length: rows }, (_, i) => `k${i},${i},Street,Town,${i}`),
    ].join('\n');
    const credentials = { accessKeyId: 'local', secretAccessKey: 'local' };

    const start = () => {
      const child = spawn(process.execPath, [
        'bin/etl.js',
        'up',
        '--port',
        '0',
        '--no-landing',
        '--state-dir',
        state,
      ]);
      let stdout = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      const output = () => stdout;
      return { child, output };
    };
    const endpointOf = async (output: () => string): Promise<string> => {
      const match = await eventually(
        async () => /endpoint:\s+(http:\/\/127\.0\.0\.1:\d+)/.exec(output()),
        (m) => m !== null,
        'the endpoint line',
      );
      return match?.[1] ?? '';
    };
    const count = async (endpoint: string): Promise<number> => {
      const client = new DynamoDBClient({ endpoint, region: 'us-east-1', credentials });
      try {
        let total = 0;
        let start: Record<string, never> | undefined;
        do {
          const page = await client.send(
            new ScanCommand({ TableName: 'TransformedData', Select: 'COUNT', ExclusiveStartKey: start }),
          );
          total += page.Count ?? 0;
          start = page.LastEvaluatedKey as typeof start;
        } while (start);
        return total;
      } finally {
        client.destroy();
      }
    };

    const first = start();
    const firstEndpoint = await endpointOf(first.output);
    const s3 = new S3Client({
      endpoint: firstEndpoint,
      region: 'us-east-1',
      credentials,
      forcePathStyle: true,
    });
    await s3.send(new PutObjectCommand({ Bucket: 'landing-bucket', Key: 'big.csv', Body: body }));
    s3.destroy();
    await eventually(
      () => count(firstEndpoint),
      (n) => n > 1_000,
      'the run to get going',
      60_000,
    );
    const exited = new Promise((resolve) => first.child.on('exit', resolve));
    first.child.kill('SIGKILL');
    await exited;

    const second = start();
    try {
      const secondEndpoint = await endpointOf(second.output);
      const line = await eventually(
        async () =>
          /recovered: s3:\/\/landing-bucket\/big\.csv \(run-[0-9a-f]{16}\): .*/.exec(second.output())?.[0],
        (l) => l !== undefined,
        'the recovered run',
        120_000,
      );
      expect(line).toMatch(`extracted ${rows}, transformed ${rows}, loaded ${rows}, failed 0`);
      expect(await count(secondEndpoint)).toBe(rows);
    } finally {
      const stopped = new Promise((resolve) => second.child.on('exit', resolve));
      second.child.kill('SIGINT');
      await stopped;
    }
  });
});
