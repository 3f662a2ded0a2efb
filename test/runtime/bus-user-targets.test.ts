/**
 * Targets bounded on their own (user targets) next to the pipeline's: a target that is down must
 * neither hold back the pipeline's producers nor its runs, recoveries, redrives and replays, and
 * what it has not delivered stays in the journal, never past the checkpoint.
 */
import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TargetDelivery } from '../../src/pipeline/definition.ts';
import type { PutEventsEntry } from '../../src/pipeline/events.ts';
import { RuleIndex } from '../../src/patterns/index.ts';
import { type AnyEvent, type DeadLetter, LocalEventBus } from '../../src/runtime/local/bus.ts';
import { Journal } from '../../src/runtime/local/journal.ts';
import {
  UserRules,
  UserRulesFileError,
  userTargetDelivery,
  userTargetName,
} from '../../src/runtime/local/user-rules.ts';
import { backoffDelayMs } from '../../src/adapters/backoff.ts';

const delivery = (overrides: Partial<TargetDelivery> = {}): TargetDelivery => ({
  concurrency: 2,
  batchSize: 10,
  maxBatchingWindowSeconds: 0,
  maxAttempts: 186,
  maxEventAgeSeconds: 86_400,
  retryBaseDelayMs: 20,
  retryMaxDelayMs: 200,
  maxReceiveCount: 1,
  ...overrides,
});
const put = (source: string, n: number): PutEventsEntry => ({
  Source: source,
  DetailType: 'x',
  Detail: JSON.stringify({ n }),
});
const detailN = (event: { detail: unknown }): number => (event.detail as { n: number }).n;

/** A bus with the pipeline's target and one user target that is down, both matching `app` events. */
function busWithFailingUserTarget(
  options: { journal?: Journal; highWaterMark?: number; maxHeld?: number } = {},
) {
  const bus = new LocalEventBus({
    router: new RuleIndex<string>(),
    ...(options.journal ? { journal: options.journal } : {}),
    ...(options.highWaterMark ? { highWaterMark: options.highWaterMark } : {}),
  });
  const pipelineGot: number[] = [];
  const letters: DeadLetter[] = [];
  let attempts = 0;
  bus.addTarget('pipeline', async (events) => void pipelineGot.push(...events.map(detailN)), delivery());
  bus.addTarget(
    'user~r~down',
    async () => {
      attempts++;
      throw new Error('connect ECONNREFUSED');
    },
    delivery(),
    { maxHeld: options.maxHeld ?? 1_000, onDeadLetter: (letter) => letters.push(letter) },
  );
  bus.setRule({ name: 'p', eventPattern: { source: ['app', 'pipe'] }, targets: ['pipeline'], enabled: true });
  bus.setRule({ name: 'r', eventPattern: { source: ['app'] }, targets: ['user~r~down'], enabled: true });
  return { bus, pipelineGot, letters, attempts: () => attempts };
}

/** Resolves once the condition holds, checking on each turn of the event loop's timers. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}

function checkpointSeq(dir: string): number {
  try {
    return (JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8')) as { seq: number }).seq;
  } catch {
    return 0;
  }
}

/** An event as the bus envelopes it, for a journal written directly. */
const sampleEvent: AnyEvent = {
  version: '0',
  id: 'sample',
  'detail-type': 'x',
  source: 'pipe',
  account: '000000000000',
  time: '2026-11-30T00:00:00Z',
  region: 'us-east-1',
  resources: [],
  detail: { n: 1 },
};

async function pendingSeqs(journal: Journal): Promise<{ seq: number; targets: string[] }[]> {
  const records: { seq: number; targets: string[] }[] = [];
  for await (const record of journal.pending()) records.push({ seq: record.seq, targets: record.targets });
  return records;
}

describe('a user target that is down', () => {
  it("does not hold back the pipeline's producers: its events do not count toward the high-water mark", async () => {
    const { bus, pipelineGot, attempts } = busWithFailingUserTarget({ highWaterMark: 20 });
    for (let i = 0; i < 40; i++) {
      await bus.waitForCapacity();
      await bus.putEvents([put('app', i)]);
    }
    await bus.whenPipelineIdle();
    // The producer got through all 40 while the user target kept failing and retrying.
    expect(pipelineGot).toHaveLength(40);
    await until(() => attempts() > 40);
    await bus.waitForCapacity();
    expect(bus.held('user~r~down')).toBe(40);
    bus.abandon(['user~r~down']);
    await bus.whenIdle();
  });

  it('holds at most its bound of events: beyond it a new event is dead-lettered at once', async () => {
    const { bus, letters } = busWithFailingUserTarget({ maxHeld: 5 });
    for (let i = 0; i < 8; i++) await bus.putEvents([put('app', i)]);
    await bus.whenPipelineIdle();
    expect(bus.held('user~r~down')).toBe(5);
    expect(letters.map((l) => [detailN(l.event), l.exhausted])).toEqual([
      [5, 'overflow'],
      [6, 'overflow'],
      [7, 'overflow'],
    ]);
    bus.abandon(['user~r~down']);
    await bus.whenIdle();
  });

  it('leaves the pipeline idle while it retries; whenIdle waits for it until it is abandoned', async () => {
    const { bus, pipelineGot, attempts } = busWithFailingUserTarget();
    await bus.putEvents([put('app', 1)]);
    await bus.whenPipelineIdle();
    expect(pipelineGot).toEqual([1]);
    await until(() => attempts() >= 2);
    let allIdle = false;
    const idle = bus.whenIdle().then(() => (allIdle = true));
    await until(() => attempts() >= 3);
    expect(allIdle).toBe(false);
    bus.abandon(['user~r~down']);
    await idle;
  });

  it('does not keep a recovery waiting: recover() ends, and the events stay in the journal', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bus-user-'));
    const first = busWithFailingUserTarget({ journal: new Journal({ dir }) });
    await first.bus.putEvents([put('app', 1), put('app', 2)]);
    await first.bus.whenPipelineIdle();
    first.bus.abandon(['user~r~down']);
    await first.bus.whenIdle();

    // The next start: the user target is still down.
    const journal = new Journal({ dir });
    const second = busWithFailingUserTarget({ journal });
    expect(await second.bus.recover(journal.pending())).toBe(2);
    await second.bus.whenPipelineIdle();
    await until(() => second.attempts() >= 2);
    expect(second.pipelineGot).toEqual([]);
    second.bus.abandon(['user~r~down']);
    await second.bus.whenIdle();
    expect((await pendingSeqs(new Journal({ dir }))).map((r) => r.targets)).toEqual([
      ['user~r~down'],
      ['user~r~down'],
    ]);
  });
});

describe("a user target's default retry policy", () => {
  it('spreads its 185 retries over about a day, as AWS does', () => {
    const policy = userTargetDelivery({ Id: 't', Arn: 'arn:aws:logs:us-east-1:000000000000:log-group:g' });
    expect(policy.maxAttempts).toBe(186);
    const policyBackoff = { baseDelayMs: policy.retryBaseDelayMs, maxDelayMs: policy.retryMaxDelayMs };
    let expectedMs = 0;
    // Full jitter waits half the cap on average.
    for (let attempt = 1; attempt < policy.maxAttempts; attempt++)
      expectedMs += backoffDelayMs(attempt, policyBackoff, () => 0.5);
    const hours = expectedMs / 3_600_000;
    expect(hours).toBeGreaterThan(20);
    expect(hours).toBeLessThanOrEqual(24);
  });
});

describe('a recovered event', () => {
  it('keeps the time the bus received it, not its own (client-set) time, for its age and ingestion time', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bus-received-'));
    const first = busWithFailingUserTarget({ journal: new Journal({ dir }) });
    const before = Date.now();
    // An event stamped two days ago: older than the target's maximum event age if counted from then.
    const twoDaysAgo = new Date(before - 2 * 86_400_000);
    await first.bus.putEvents([{ ...put('app', 1), Time: twoDaysAgo }]);
    await first.bus.whenPipelineIdle();
    first.bus.abandon(['user~r~down']);
    await first.bus.whenIdle();

    const journal = new Journal({ dir });
    const bus = new LocalEventBus({ router: new RuleIndex<string>(), journal });
    const received: number[] = [];
    const letters: DeadLetter[] = [];
    bus.addTarget('pipeline', async () => {}, delivery());
    bus.addTarget(
      'user~r~down',
      async (_events, receivedAt) => void received.push(...(receivedAt ?? [])),
      delivery({ maxEventAgeSeconds: 3_600 }),
      { maxHeld: 10, onDeadLetter: (letter) => letters.push(letter) },
    );
    await bus.recover(journal.pending());
    await bus.whenIdle();
    expect(letters).toEqual([]);
    expect(received).toHaveLength(1);
    expect(received[0]).toBeGreaterThanOrEqual(before);
  });
});

describe('abandon()', () => {
  it('cancels the retries, leaves the events unacknowledged, and the next start delivers them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bus-abandon-'));
    const first = busWithFailingUserTarget({ journal: new Journal({ dir }) });
    await first.bus.putEvents([put('app', 1)]);
    await until(() => first.attempts() >= 2);
    first.bus.abandon(['user~r~down']);
    await first.bus.whenIdle();
    const attemptsAtAbandon = first.attempts();
    await new Promise((resolve) => setTimeout(resolve, 300));
    // No retry after abandon (a batch in flight may finish, none starts).
    expect(first.attempts()).toBe(attemptsAtAbandon);

    const journal = new Journal({ dir });
    const bus = new LocalEventBus({ router: new RuleIndex<string>(), journal });
    const userGot: number[] = [];
    bus.addTarget('pipeline', async () => {}, delivery());
    bus.addTarget('user~r~down', async (events) => void userGot.push(...events.map(detailN)), delivery(), {
      maxHeld: 1_000,
    });
    expect(await bus.recover(journal.pending())).toBe(1);
    await bus.whenIdle();
    expect(userGot).toEqual([1]);
  });

  it('keeps the checkpoint behind the abandoned event while segments rotate', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bus-rotate-'));
    const first = busWithFailingUserTarget({ journal: new Journal({ dir, segmentBytes: 300 }) });
    await first.bus.putEvents([put('app', 1)]);
    await first.bus.whenPipelineIdle();
    first.bus.abandon(['user~r~down']);
    for (let i = 0; i < 50; i++) await first.bus.putEvents([put('pipe', 100 + i)]);
    await first.bus.whenIdle();
    expect(checkpointSeq(dir)).toBe(0);

    const journal = new Journal({ dir, segmentBytes: 300 });
    const records = await pendingSeqs(journal);
    expect(records).toEqual([{ seq: 1, targets: ['user~r~down'] }]);
  });

  it('leaves the checkpoint free when the target held nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bus-nothing-'));
    const { bus } = busWithFailingUserTarget({ journal: new Journal({ dir }) });
    bus.abandon(['user~r~down']);
    for (let i = 0; i < 3; i++) await bus.putEvents([put('pipe', i)]);
    await bus.whenIdle();
    expect(checkpointSeq(dir)).toBe(3);
  });

  it('keeps the checkpoint behind an event that arrives for the target after it was abandoned', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bus-late-'));
    const { bus } = busWithFailingUserTarget({ journal: new Journal({ dir }) });
    bus.abandon(['user~r~down']);
    await bus.putEvents([put('app', 1)]);
    await bus.whenIdle();
    expect(await pendingSeqs(new Journal({ dir }))).toEqual([{ seq: 1, targets: ['user~r~down'] }]);
  });

  it("lets the pipeline's batches in flight finish: whenIdle waits for them", async () => {
    const bus = new LocalEventBus({ router: new RuleIndex<string>() });
    let release: () => void = () => {};
    const gate = new Promise<void>((resolve) => (release = resolve));
    const done: number[] = [];
    let started = false;
    bus.addTarget(
      'pipeline',
      async (events) => {
        started = true;
        await gate;
        done.push(...events.map(detailN));
      },
      delivery(),
    );
    bus.addTarget('user~r~down', async () => {}, delivery(), { maxHeld: 10 });
    bus.setRule({ name: 'p', eventPattern: { source: ['pipe'] }, targets: ['pipeline'], enabled: true });
    bus.setRule({ name: 'r', eventPattern: { source: ['pipe'] }, targets: ['user~r~down'], enabled: true });
    await bus.putEvents([put('pipe', 7)]);
    await until(() => started);
    bus.abandon(['user~r~down']);
    let idle = false;
    const idlePromise = bus.whenIdle().then(() => (idle = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(idle).toBe(false);
    release();
    await idlePromise;
    expect(done).toEqual([7]);
  });
});

describe('removeTarget()', () => {
  it("cancels the removed target's waiting retries: none fires after the journal is closed and taken over", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'bus-removed-'));
    const journal = new Journal({ dir });
    const first = busWithFailingUserTarget({ journal });
    // Retries a second apart: the removal falls while one is waiting.
    first.bus.setTargetDelivery('user~r~down', delivery({ retryBaseDelayMs: 1_000, retryMaxDelayMs: 1_000 }));
    await first.bus.putEvents([put('app', 1)]);
    await until(() => first.attempts() >= 1);
    await first.bus.whenPipelineIdle();
    first.bus.setRule({ name: 'r', eventPattern: { source: ['app'] }, targets: [], enabled: true });
    first.bus.removeTarget('user~r~down');
    await first.bus.whenIdle();
    journal.close();

    // The next process's journal, with an event of its own not yet delivered.
    const next = new Journal({ dir });
    next.append([{ targets: ['pipeline'], event: { ...sampleEvent, id: 'next-1' } }]);
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    next.close();
    expect(await pendingSeqs(new Journal({ dir }))).toEqual([{ seq: 2, targets: ['pipeline'] }]);
    expect(first.attempts()).toBe(1);
  });
});

describe('user rules file', () => {
  function openRules(dir: string, bus: LocalEventBus): UserRules {
    return UserRules.open({
      file: join(dir, 'user-rules.json'),
      logsDir: join(dir, 'logs'),
      bus,
      managedRules: new Set(),
      stages: new Map(),
      warn: () => {},
    });
  }
  const document = (rules: object[]) =>
    `${JSON.stringify({ version: 1, rules, connections: [], apiDestinations: [] })}\n`;
  const sqsRule = {
    Name: 'to-queue',
    EventPattern: '{"source": ["app"]}',
    State: 'ENABLED',
    Targets: [{ Id: 'q', Arn: 'arn:aws:sqs:us-east-1:000000000000:orders' }],
  };

  it('names the file and the rule when a stored pattern is one the bus refuses', () => {
    const dir = mkdtempSync(join(tmpdir(), 'user-rules-'));
    writeFileSync(
      join(dir, 'user-rules.json'),
      document([{ ...sqsRule, Name: 'broken', EventPattern: '{"source": "not-an-array"}', Targets: [] }]),
    );
    const bus = new LocalEventBus({ router: new RuleIndex<string>() });
    expect(() => openRules(dir, bus)).toThrow(UserRulesFileError);
    expect(() => openRules(dir, bus)).toThrow(
      /user-rules\.json: rule broken has an event pattern the bus refuses/,
    );

    writeFileSync(
      join(dir, 'user-rules.json'),
      document([{ ...sqsRule, Name: 'not-json', EventPattern: '{"source": [', Targets: [] }]),
    );
    expect(() => openRules(dir, bus)).toThrow(/rule not-json has an event pattern the bus refuses/);
  });

  it('is written for its owner only: it holds API keys and passwords', () => {
    const dir = mkdtempSync(join(tmpdir(), 'user-rules-'));
    writeFileSync(join(dir, 'user-rules.json'), document([]));
    chmodSync(join(dir, 'user-rules.json'), 0o644);
    const rules = openRules(dir, new LocalEventBus({ router: new RuleIndex<string>() }));
    rules.putRule({ Name: 'r', EventPattern: '{"source": ["app"]}', State: 'ENABLED' });
    expect(statSync(join(dir, 'user-rules.json')).mode & 0o777).toBe(0o600);
  });

  it('keeps events for an SQS target in the journal when this process serves no queues', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'user-rules-'));
    writeFileSync(join(dir, 'user-rules.json'), document([sqsRule]));
    const journal = new Journal({ dir: join(dir, 'journal') });
    const bus = new LocalEventBus({ router: new RuleIndex<string>(), journal });
    openRules(dir, bus);
    await bus.putEvents([put('app', 1)]);
    await bus.whenIdle();
    const target = userTargetName('to-queue', 'q');
    expect(await pendingSeqs(new Journal({ dir: join(dir, 'journal') }))).toEqual([
      { seq: 1, targets: [target] },
    ]);
  });
});
