import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { definePipeline, DetailType } from '../../src/pipeline/definition.ts';
import { ensureTable, startDynalite } from '../../src/runtime/local/dynalite.ts';
import { LocalPipeline } from '../../src/runtime/local/pipeline.ts';
import { etl, tempDir } from '../support/cli.ts';
import { fiveAttempts } from '../support/definitions.ts';
import { scanAll } from '../support/dynamo.ts';
import { startThrottlingDynamo } from '../support/throttling-dynamodb.ts';

const source = definePipeline().source;

describe('retries, dead-letter queues, redrive and replay', () => {
  it('retries only the bad record of a batch, then dead-letters it with why; the good ones go through', async () => {
    const state = join(tempDir(), 'state');
    const pipeline = await LocalPipeline.start({ stateDir: state, definition: fiveAttempts() });
    try {
      const headers = 'ID,HouseNum,Street,Town,Zip';
      await pipeline.bus.putEvents([
        {
          Source: source,
          DetailType: DetailType.rowExtracted,
          Detail: JSON.stringify({ status: 'extracted', run: 'manual', row: 1, headers, data: '77,1,A,B,C' }),
        },
        // A poison message: the right type and status, but no data.
        {
          Source: source,
          DetailType: DetailType.rowExtracted,
          Detail: JSON.stringify({ status: 'extracted', run: 'manual', row: 2, headers }),
        },
      ]);
      await pipeline.bus.whenIdle();
      expect((await scanAll(pipeline.client, pipeline.tableName)).map((i) => i.id)).toEqual(['77']);
    } finally {
      await pipeline.close();
    }
    const dlq = await etl(['dlq', '--json', '--state-dir', state]);
    const letters = JSON.parse(dlq.stdout) as {
      target: string;
      attempts: number;
      reason: string;
      event: { detail: { row: number } };
    }[];
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ target: 'transform', attempts: 5, event: { detail: { row: 2 } } });
    expect(letters[0]?.reason).toMatch(
      /^invalid: transform does not take this s3RecordExtraction event \(after 5 attempts\)$/,
    );
    const text = await etl(['dlq', '--state-dir', state]);
    expect(text.stdout).toMatch(/transform\s+5\s+s3RecordExtraction\s+manual\s+2/);
  });

  it('redrives dead-lettered events once their cause is fixed', async () => {
    const state = join(tempDir(), 'state');
    let run = '';
    const pipeline = await LocalPipeline.start({ stateDir: state, definition: fiveAttempts() });
    try {
      // The table goes away under the load stage: every load attempt fails and is dead-lettered.
      await pipeline.client.send(new DeleteTableCommand({ TableName: pipeline.tableName }));
      const report = await pipeline.runFile('data/test_data.csv');
      expect(report.counts).toMatchObject({
        extracted: 5,
        transformed: 5,
        loaded: 0,
        deadLettered: 5,
        completed: false,
      });
      const dead = readFileSync(join(state, 'dlq', 'load.ndjson'), 'utf8')
        .trim()
        .split('\n');
      expect(dead).toHaveLength(5);
      expect(dead[0]).toMatch(/ResourceNotFoundException/);

      await ensureTable(pipeline.client, pipeline.tableName, 'id');
      run = report.run;
    } finally {
      await pipeline.close();
    }
    // `--target` names the queue redriven (commander hands it to `dlq`, which has one too).
    const other = await etl(['dlq', 'redrive', '--target', 'transform', '--state-dir', state]);
    expect(other).toMatchObject({ code: 0, stdout: 'no dead-lettered events\n' });
    expect(
      readFileSync(join(state, 'dlq', 'load.ndjson'), 'utf8')
        .trim()
        .split('\n'),
    ).toHaveLength(5);
    // `etl dlq redrive` in a process of its own, as a user runs it.
    const redrive = await etl(['dlq', 'redrive', '--json', '--state-dir', state]);
    expect(redrive.code).toBe(0);
    expect(JSON.parse(redrive.stdout)).toEqual({ targets: { load: { redriven: 5, deadAgain: 0 } } });
    expect(JSON.parse((await etl(['scan', '--json', '--state-dir', state])).stdout)).toHaveLength(5);
    expect(JSON.parse((await etl(['runs', '--json', '--state-dir', state])).stdout)).toEqual([
      expect.objectContaining({ run, loaded: 5, deadLettered: 0, completed: true, state: 'completed' }),
    ]);
    expect(existsSync(join(state, 'dlq', 'load.ndjson'))).toBe(false);
  });

  it('a redrive in a later process counts on from the run where it stopped, and completes it', async () => {
    const state = join(tempDir(), 'state');
    const table = await startDynalite();
    // The table leaves rows 4 and 5 unwritten every time: they are dead-lettered, 1 to 3 load.
    const proxy = await startThrottlingDynamo(table.endpoint, {
      key: 'id',
      unprocessedSightings: 1_000,
      onlyKeys: ['4', '5'],
    });
    let run: string;
    try {
      const first = await LocalPipeline.start({
        stateDir: state,
        definition: fiveAttempts(),
        dynamoEndpoint: proxy.endpoint,
      });
      try {
        const report = await first.runFile('data/test_data.csv');
        run = report.run;
        expect(report.counts).toMatchObject({ loaded: 3, deadLettered: 2, completed: false });
      } finally {
        await first.close();
      }
      // `etl dlq redrive`, once the table takes every item: another process, the table whole.
      const completions: string[] = [];
      const second = await LocalPipeline.start({
        stateDir: state,
        dynamoEndpoint: table.endpoint,
        wrapStagePublisher: (inner) => ({
          putEvents: async (entries) => {
            for (const e of entries) if (e.DetailType === DetailType.runCompleted) completions.push(e.Detail);
            await inner.putEvents(entries);
          },
        }),
      });
      try {
        expect(await second.redriveDeadLetters()).toEqual({ load: { redriven: 2, deadAgain: 0 } });
        expect(completions.map((d) => JSON.parse(d) as unknown)).toEqual([
          expect.objectContaining({ run, extracted: 5, transformed: 5, loaded: 5, failed: 0 }),
        ]);
        // A second redrive finds nothing; replaying the same rows would not count them twice.
        expect(await second.redriveDeadLetters()).toEqual({});
      } finally {
        await second.close();
      }
      const runs = await etl(['runs', '--json', '--state-dir', state]);
      expect(JSON.parse(runs.stdout)).toEqual([
        expect.objectContaining({ run, loaded: 5, deadLettered: 0, settled: 5, completed: true }),
      ]);
    } finally {
      await proxy.close();
      await table.close();
    }
  });

  it('replays archived events matching a pattern through the rules', async () => {
    const state = join(tempDir(), 'state');
    const from = new Date(Date.now() - 1000).toISOString();
    expect((await etl(['run', 'data/test_data.csv', '--archive', '--state-dir', state])).code).toBe(0);
    const pipeline = await LocalPipeline.start({ stateDir: state });
    try {
      await pipeline.client.send(new DeleteTableCommand({ TableName: pipeline.tableName }));
      await ensureTable(pipeline.client, pipeline.tableName, 'id');
    } finally {
      await pipeline.close();
    }
    const replay = await etl([
      'replay',
      '--from',
      from,
      '--to',
      new Date(Date.now() + 2000).toISOString(),
      '--pattern',
      '{"detail-type": ["transform"], "detail": {"data": {"Town": [{"prefix": "B"}, {"prefix": "S"}]}}}',
      '--name',
      'restore-b-towns',
      '--state-dir',
      state,
    ]);
    expect(replay.stderr).toBe('');
    expect(replay.stdout).toBe('replayed 2 events as restore-b-towns\n');
    // A run saved before tallies were (no tally.json): replaying its events must not add to it.
    const [saved] = JSON.parse((await etl(['runs', '--json', '--state-dir', state])).stdout) as {
      run: string;
    }[];
    rmSync(join(state, 'runs', saved?.run ?? '', 'tally.json'));
    const asJson = await etl([
      'replay',
      '--from',
      from,
      '--rule',
      'observeRule',
      '--name',
      'again',
      '--json',
      '--state-dir',
      state,
    ]);
    expect(JSON.parse(asJson.stdout)).toEqual({
      name: 'again',
      state: 'COMPLETED',
      replayed: expect.any(Number),
    });
    const items = JSON.parse((await etl(['scan', '--json', '--state-dir', state])).stdout) as {
      town: string;
    }[];
    expect(items.map((i) => i.town).sort()).toEqual(['Ballymena', 'Swords']);
    // The replayed rows were loaded before: the run's counts stay exact, not doubled.
    const runs = JSON.parse((await etl(['runs', '--json', '--state-dir', state])).stdout) as unknown[];
    expect(runs).toEqual([
      expect.objectContaining({ extracted: 5, transformed: 5, loaded: 5, settled: 5, completed: true }),
    ]);
  });

  it('rejects a bad replay pattern or time with one line and exit 2', async () => {
    const state = join(tempDir(), 'state');
    const bad = await etl(['replay', '--from', 'yesterday', '--state-dir', state]);
    expect(bad).toMatchObject({ code: 2 });
    expect(bad.stderr).toMatch(/^etl: --from: "yesterday" is not a time/);
    const pattern = await etl([
      'replay',
      '--from',
      '2026-01-01T00:00:00Z',
      '--pattern',
      '{"source": "x"}',
      '--state-dir',
      state,
    ]);
    expect(pattern.code).toBe(2);
    expect(pattern.stderr).toMatch(/^etl: InvalidEventPatternException: /);
  });
});
