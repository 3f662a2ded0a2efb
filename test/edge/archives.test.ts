/**
 * Archives and replays on the running stack's EventBridge API, driven by the AWS SDK v3 over HTTP:
 * CreateArchive, UpdateArchive and DeleteArchive switch the bus's one archive (`archive.json`) while
 * it runs, its event pattern decides what a replay brings back, and replays are listed and cancelled.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DeleteItemCommand } from '@aws-sdk/client-dynamodb';
import {
  CancelReplayCommand,
  CreateArchiveCommand,
  DeleteArchiveCommand,
  DescribeArchiveCommand,
  DescribeEventBusCommand,
  DescribeReplayCommand,
  type EventBridgeClient,
  ListArchivesCommand,
  ListReplaysCommand,
  ListRulesCommand,
  PutEventsCommand,
  PutRuleCommand,
  PutTargetsCommand,
  StartReplayCommand,
  UpdateArchiveCommand,
} from '@aws-sdk/client-eventbridge';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, scanTable, SEED_ITEMS, startTestStack, type TestStack } from './support.ts';

/** The AWS error a call answers: its code and message. */
async function refusal(events: EventBridgeClient, command: object) {
  try {
    await events.send(command as never);
  } catch (error) {
    const e = error as { name: string; message: string };
    return { code: e.name, message: e.message };
  }
  throw new Error('the call succeeded');
}

const archiveJson = (t: TestStack): unknown =>
  JSON.parse(readFileSync(join(t.stateDir, 'archive.json'), 'utf8'));

async function loadSample(t: TestStack, key: string): Promise<void> {
  await t.s3.send(
    new PutObjectCommand({ Bucket: t.stack.bucket, Key: key, Body: readFileSync('data/test_data.csv') }),
  );
  await eventually(
    () => scanTable(t),
    (items) => items.length === 5,
    'the sample to load',
  );
  for (const item of SEED_ITEMS)
    await t.dynamodb.send(
      new DeleteItemCommand({ TableName: t.stack.tableName, Key: { id: { S: item.id } } }),
    );
}

async function replayed(t: TestStack, name: string) {
  return eventually(
    () => t.events.send(new DescribeReplayCommand({ ReplayName: name })),
    (replay) => replay.State === 'COMPLETED' || replay.State === 'CANCELLED' || replay.State === 'FAILED',
    `replay ${name} to end`,
  );
}

describe('CreateArchive, UpdateArchive and DeleteArchive on a bus started without an archive', () => {
  let t: TestStack;
  let busArn: string;
  let loadRuleArn: string;
  beforeAll(async () => {
    t = await startTestStack();
    busArn = (await t.events.send(new DescribeEventBusCommand({ Name: 'eventbridge-etl' }))).Arn ?? '';
    const { Rules = [] } = await t.events.send(new ListRulesCommand({ EventBusName: 'eventbridge-etl' }));
    loadRuleArn = Rules.find((r) => r.Name === 'loadRule')?.Arn ?? '';
  });
  afterAll(async () => t?.close());

  it('refuses what EventBridge refuses, with its codes', async () => {
    expect((await t.events.send(new ListArchivesCommand({}))).Archives).toEqual([]);
    expect(
      await refusal(t.events, new CreateArchiveCommand({ ArchiveName: 'no spaces', EventSourceArn: busArn })),
    ).toEqual({
      code: 'ValidationException',
      message:
        "1 validation error detected: Value 'no spaces' at 'archiveName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\.\\-_A-Za-z0-9]+",
    });
    expect(
      await refusal(
        t.events,
        new CreateArchiveCommand({ ArchiveName: 'a'.repeat(49), EventSourceArn: busArn }),
      ),
    ).toMatchObject({
      code: 'ValidationException',
      message: expect.stringContaining('length less than or equal to 48'),
    });
    expect(
      await refusal(
        t.events,
        new CreateArchiveCommand({ ArchiveName: 'a', EventSourceArn: busArn, RetentionDays: -1 }),
      ),
    ).toMatchObject({
      code: 'ValidationException',
      message: expect.stringContaining('greater than or equal to 0'),
    });
    expect(
      await refusal(
        t.events,
        new CreateArchiveCommand({ ArchiveName: 'a', EventSourceArn: busArn, EventPattern: '{"detail":1}' }),
      ),
    ).toMatchObject({ code: 'InvalidEventPatternException' });
    const elsewhere = busArn.replace('event-bus/eventbridge-etl', 'event-bus/nope');
    expect(
      await refusal(t.events, new CreateArchiveCommand({ ArchiveName: 'a', EventSourceArn: elsewhere })),
    ).toEqual({ code: 'ResourceNotFoundException', message: `Event bus ${elsewhere} does not exist.` });
    for (const command of [
      new DescribeArchiveCommand({ ArchiveName: 'a' }),
      new UpdateArchiveCommand({ ArchiveName: 'a', RetentionDays: 1 }),
      new DeleteArchiveCommand({ ArchiveName: 'a' }),
    ])
      expect(await refusal(t.events, command)).toEqual({
        code: 'ResourceNotFoundException',
        message: 'Archive a does not exist.',
      });
    // Nothing was switched on by the refused calls.
    expect((await t.events.send(new ListArchivesCommand({}))).Archives).toEqual([]);
  });

  it('creates the one archive, which archives from then on; its pattern decides what a replay brings back', async () => {
    const created = await t.events.send(
      new CreateArchiveCommand({
        ArchiveName: 'rows-one-and-two',
        EventSourceArn: busArn,
        Description: 'the first two rows',
        RetentionDays: 3,
        EventPattern: JSON.stringify({ detail: { row: [1, 2] } }),
      }),
    );
    expect(created).toMatchObject({
      ArchiveArn: 'arn:aws:events:us-east-1:000000000000:archive/rows-one-and-two',
      State: 'ENABLED',
    });
    expect(archiveJson(t)).toMatchObject({ enabled: true, retentionDays: 3, name: 'rows-one-and-two' });
    const { Archives = [] } = await t.events.send(new ListArchivesCommand({ NamePrefix: 'rows' }));
    expect(Archives).toMatchObject([
      { ArchiveName: 'rows-one-and-two', EventSourceArn: busArn, State: 'ENABLED', RetentionDays: 3 },
    ]);
    expect(
      await t.events.send(new DescribeArchiveCommand({ ArchiveName: 'rows-one-and-two' })),
    ).toMatchObject({
      ArchiveArn: created.ArchiveArn,
      Description: 'the first two rows',
      EventPattern: '{"detail":{"row":[1,2]}}',
    });

    expect(
      await refusal(
        t.events,
        new CreateArchiveCommand({ ArchiveName: 'rows-one-and-two', EventSourceArn: busArn }),
      ),
    ).toEqual({
      code: 'ResourceAlreadyExistsException',
      message: 'Archive rows-one-and-two already exists.',
    });
    expect(
      await refusal(t.events, new CreateArchiveCommand({ ArchiveName: 'another', EventSourceArn: busArn })),
    ).toEqual({
      code: 'ValidationException',
      message:
        'The local bus keeps one archive, and it has one: rows-one-and-two. Update it (UpdateArchive) or delete it (DeleteArchive) first.',
    });

    const from = new Date(Date.now() - 2_000);
    await loadSample(t, 'archived.csv');
    await t.events.send(
      new StartReplayCommand({
        ReplayName: 'first-two',
        EventSourceArn: created.ArchiveArn,
        EventStartTime: from,
        EventEndTime: new Date(),
        Destination: { Arn: busArn, FilterArns: [loadRuleArn] },
      }),
    );
    expect((await replayed(t, 'first-two')).State).toBe('COMPLETED');
    expect(await scanTable(t)).toEqual(SEED_ITEMS.slice(0, 2));
  });

  it('updates the retention, then deletes the archive: it is off, in archive.json too, and replays are refused', async () => {
    const updated = await t.events.send(
      new UpdateArchiveCommand({ ArchiveName: 'rows-one-and-two', RetentionDays: 10 }),
    );
    expect(updated).toMatchObject({ State: 'ENABLED' });
    expect(
      (await t.events.send(new DescribeArchiveCommand({ ArchiveName: 'rows-one-and-two' }))).RetentionDays,
    ).toBe(10);
    expect(archiveJson(t)).toMatchObject({ enabled: true, retentionDays: 10 });

    await t.events.send(new DeleteArchiveCommand({ ArchiveName: 'rows-one-and-two' }));
    expect((await t.events.send(new ListArchivesCommand({}))).Archives).toEqual([]);
    expect(archiveJson(t)).toMatchObject({ enabled: false });
    expect(
      await refusal(
        t.events,
        new StartReplayCommand({
          ReplayName: 'too-late',
          EventSourceArn: 'arn:aws:events:us-east-1:000000000000:archive/rows-one-and-two',
          EventStartTime: new Date(Date.now() - 60_000),
          EventEndTime: new Date(),
          Destination: { Arn: busArn },
        }),
      ),
    ).toMatchObject({ code: 'ResourceNotFoundException' });
  });
});

describe('an archive created after events went by', () => {
  let t: TestStack;
  beforeAll(async () => {
    t = await startTestStack();
  });
  afterAll(async () => t?.close());

  it('replays nothing from before it existed, though the journal still holds those events', async () => {
    const busArn = (await t.events.send(new DescribeEventBusCommand({ Name: 'eventbridge-etl' }))).Arn ?? '';
    const from = new Date(Date.now() - 60_000);
    // An archive before it, deleted: the events it kept are still in the journal's segments.
    await t.events.send(new CreateArchiveCommand({ ArchiveName: 'earlier', EventSourceArn: busArn }));
    await loadSample(t, 'before-the-archive.csv');
    await t.events.send(new DeleteArchiveCommand({ ArchiveName: 'earlier' }));
    // In the next second: events of the load's second are not taken for the archive's.
    const second = Math.floor(Date.now() / 1000);
    await eventually(
      async () => Math.floor(Date.now() / 1000),
      (now) => now > second,
      'the next second',
    );
    const { ArchiveArn } = await t.events.send(
      new CreateArchiveCommand({ ArchiveName: 'late', EventSourceArn: busArn }),
    );
    await t.events.send(
      new StartReplayCommand({
        ReplayName: 'from-before',
        EventSourceArn: ArchiveArn,
        EventStartTime: from,
        EventEndTime: new Date(),
        Destination: { Arn: busArn },
      }),
    );
    expect((await replayed(t, 'from-before')).State).toBe('COMPLETED');
    expect(await scanTable(t)).toEqual([]);
  });
});

describe('an archive and events whose own time is older than it', () => {
  let t: TestStack;
  beforeAll(async () => {
    t = await startTestStack();
  });
  afterAll(async () => t?.close());

  it('keeps an event received after it was created, whatever time the event names', async () => {
    const busArn = (await t.events.send(new DescribeEventBusCommand({ Name: 'eventbridge-etl' }))).Arn ?? '';
    const { ArchiveArn } = await t.events.send(
      new CreateArchiveCommand({ ArchiveName: 'kept', EventSourceArn: busArn }),
    );
    await t.events.send(new PutRuleCommand({ Name: 'app', EventPattern: '{"source":["my.app"]}' }));
    await t.events.send(
      new PutTargetsCommand({
        Rule: 'app',
        Targets: [{ Id: 'log', Arn: 'arn:aws:logs:us-east-1:000000000000:log-group:app' }],
      }),
    );
    const anHourAgo = new Date(Date.now() - 3_600_000);
    await t.events.send(
      new PutEventsCommand({
        Entries: [{ Source: 'my.app', DetailType: 'old', Detail: '{"n":1}', Time: anHourAgo }],
      }),
    );
    const log = join(t.stateDir, 'logs', 'app.ndjson');
    const lines = () => readFileSync(log, 'utf8').trim().split('\n');
    await eventually(
      async () => lines().length,
      (n) => n === 1,
      'the event in the log group',
    );
    await t.events.send(
      new StartReplayCommand({
        ReplayName: 'old-time',
        EventSourceArn: ArchiveArn,
        EventStartTime: new Date(anHourAgo.getTime() - 60_000),
        EventEndTime: new Date(),
        Destination: { Arn: busArn },
      }),
    );
    expect((await replayed(t, 'old-time')).State).toBe('COMPLETED');
    await eventually(
      async () => lines().length,
      (n) => n === 2,
      'the replayed event in the log group',
    );
    expect(JSON.parse(lines()[1] as string)).toMatchObject({ 'replay-name': 'old-time', detail: { n: 1 } });
  });
});

describe('CreateArchive on a stack in memory', () => {
  it('is refused with a message that says why: there is no journal to keep', async () => {
    const t = await startTestStack({ inMemory: true });
    try {
      const busArn = (await t.events.send(new DescribeEventBusCommand({ Name: 'eventbridge-etl' }))).Arn;
      expect(
        await refusal(t.events, new CreateArchiveCommand({ ArchiveName: 'mine', EventSourceArn: busArn })),
      ).toEqual({
        code: 'ValidationException',
        message: 'The local stack runs in memory and keeps no journal, so its bus cannot keep an archive.',
      });
      expect((await t.events.send(new ListArchivesCommand({}))).Archives).toEqual([]);
    } finally {
      await t.close();
    }
  });
});

describe('ListReplays and CancelReplay', () => {
  let t: TestStack;
  let archiveArn: string;
  let busArn: string;
  beforeAll(async () => {
    t = await startTestStack({ archive: { enabled: true } });
    const { Archives = [] } = await t.events.send(new ListArchivesCommand({}));
    archiveArn =
      (await t.events.send(new DescribeArchiveCommand({ ArchiveName: Archives[0]?.ArchiveName })))
        .ArchiveArn ?? '';
    busArn = Archives[0]?.EventSourceArn ?? '';
  });
  afterAll(async () => t?.close());

  const start = (name: string) =>
    t.events.send(
      new StartReplayCommand({
        ReplayName: name,
        EventSourceArn: archiveArn,
        EventStartTime: new Date(Date.now() - 60_000),
        EventEndTime: new Date(),
        Destination: { Arn: busArn },
      }),
    );

  it('cancels a replay before its loop replays anything: CANCELLING, then CANCELLED', async () => {
    await loadSample(t, 'to-cancel.csv');
    // Hold the replay at its start, so that CancelReplay finds it running whatever the machine's speed.
    const pipeline = t.stack.pipeline;
    const replay = pipeline.replay.bind(pipeline);
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => {
      release = resolve;
    });
    let started = false;
    pipeline.replay = async (options) => {
      started = true;
      await held;
      return replay(options);
    };
    try {
      await start('cancelled');
      await eventually(
        async () => started,
        (s) => s,
        'the replay to start',
      );
      expect((await t.events.send(new DescribeReplayCommand({ ReplayName: 'cancelled' }))).State).toBe(
        'RUNNING',
      );
      expect(await t.events.send(new CancelReplayCommand({ ReplayName: 'cancelled' }))).toMatchObject({
        ReplayArn: 'arn:aws:events:us-east-1:000000000000:replay/cancelled',
        State: 'CANCELLING',
      });
      expect((await t.events.send(new DescribeReplayCommand({ ReplayName: 'cancelled' }))).State).toBe(
        'CANCELLING',
      );
      release();
      expect((await replayed(t, 'cancelled')).State).toBe('CANCELLED');
    } finally {
      release();
      delete (pipeline as Partial<typeof pipeline>).replay;
    }
    // The loop stopped at once: nothing came back.
    expect(await scanTable(t)).toEqual([]);
    expect(await refusal(t.events, new CancelReplayCommand({ ReplayName: 'cancelled' }))).toEqual({
      code: 'IllegalStatusException',
      message: 'Replay cancelled is CANCELLED: only a replay that is STARTING or RUNNING can be cancelled.',
    });
  });

  it('lists replays by name prefix, state or archive, a page at a time, and refuses two filters at once', async () => {
    for (const name of ['batch-1', 'batch-2', 'batch-3']) {
      await start(name);
      expect((await replayed(t, name)).State).toBe('COMPLETED');
    }
    const names = (replays: { ReplayName?: string }[] | undefined) =>
      (replays ?? []).map((r) => r.ReplayName);
    const first = await t.events.send(new ListReplaysCommand({ NamePrefix: 'batch-', Limit: 2 }));
    expect(names(first.Replays)).toEqual(['batch-1', 'batch-2']);
    const second = await t.events.send(
      new ListReplaysCommand({ NamePrefix: 'batch-', Limit: 2, NextToken: first.NextToken }),
    );
    expect(names(second.Replays)).toEqual(['batch-3']);
    expect(second.NextToken).toBeUndefined();
    expect(names((await t.events.send(new ListReplaysCommand({ State: 'CANCELLED' }))).Replays)).toEqual([
      'cancelled',
    ]);
    expect(names((await t.events.send(new ListReplaysCommand({ State: 'COMPLETED' }))).Replays)).toEqual([
      'batch-1',
      'batch-2',
      'batch-3',
    ]);
    expect(
      (await t.events.send(new ListReplaysCommand({ EventSourceArn: archiveArn }))).Replays?.length,
    ).toBe(4);
    expect(
      (await t.events.send(new ListReplaysCommand({ EventSourceArn: `${archiveArn}-other` }))).Replays,
    ).toEqual([]);
    const [listed] = (await t.events.send(new ListReplaysCommand({ NamePrefix: 'batch-1' }))).Replays ?? [];
    expect(listed).toMatchObject({ ReplayName: 'batch-1', EventSourceArn: archiveArn, State: 'COMPLETED' });
    expect(listed?.ReplayEndTime).toBeInstanceOf(Date);

    expect(
      await refusal(t.events, new ListReplaysCommand({ NamePrefix: 'batch-', State: 'COMPLETED' })),
    ).toMatchObject({ code: 'ValidationException', message: expect.stringContaining('At most one filter') });
    expect(await refusal(t.events, new ListReplaysCommand({ State: 'DONE' as never }))).toMatchObject({
      code: 'ValidationException',
      message: expect.stringContaining('Member must satisfy enum value set'),
    });
    expect(await refusal(t.events, new CancelReplayCommand({ ReplayName: 'batch-1' }))).toMatchObject({
      code: 'IllegalStatusException',
    });
    expect(await refusal(t.events, new CancelReplayCommand({ ReplayName: 'nope' }))).toEqual({
      code: 'ResourceNotFoundException',
      message: 'Replay nope does not exist.',
    });
  });
});
