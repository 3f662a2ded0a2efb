import { describe, expect, it } from 'vitest';
import { definePipeline, type TargetDelivery } from '../../src/pipeline/definition.ts';
import type { PutEventsEntry } from '../../src/pipeline/events.ts';
import {
  type AnyEvent,
  type DeadLetter,
  LocalEventBus,
  PutEventsValidationError,
} from '../../src/runtime/local/bus.ts';
import { InvalidEventPatternException, RuleIndex } from '../../src/patterns/index.ts';

const delivery = (overrides: Partial<TargetDelivery> = {}): TargetDelivery => ({
  concurrency: 2,
  batchSize: 10,
  maxBatchingWindowSeconds: 0,
  maxAttempts: 3,
  maxEventAgeSeconds: 3600,
  retryBaseDelayMs: 20,
  retryMaxDelayMs: 2_000,
  maxReceiveCount: 3,
  ...overrides,
});
const put = (
  detailType: string,
  detail: Record<string, unknown> = {},
  source = 'cdkpatterns.the-eventbridge-etl',
): PutEventsEntry => ({
  Source: source,
  DetailType: detailType,
  Detail: JSON.stringify(detail),
});

function seedBus(onDeadLetter?: (letter: DeadLetter) => void) {
  const bus = new LocalEventBus({
    router: new RuleIndex<string>(),
    ...(onDeadLetter ? { onDeadLetter } : {}),
  });
  const received: Record<string, AnyEvent[]> = { transform: [], load: [], observe: [], quarantine: [] };
  for (const target of Object.keys(received)) {
    bus.addTarget(target, async (events) => void received[target]?.push(...events), delivery());
  }
  for (const rule of definePipeline().rules) bus.putRule(rule.name, rule.eventPattern, rule.target);
  return { bus, received };
}

describe('local event bus', () => {
  it("routes by the seed's rules: extracted rows to transform, transformed to load, everything to observe", async () => {
    const { bus, received } = seedBus();
    await bus.putEvents([
      put('s3RecordExtraction', { status: 'extracted' }),
      put('transform', { status: 'transformed' }),
      put('data-loaded', { status: 'success' }),
      put('transform', { status: 'not-transformed' }),
      put('s3RecordExtraction', { status: 'extracted' }, 'someone.else'),
    ]);
    await bus.whenIdle();
    expect(received.transform?.map((e) => e['detail-type'])).toEqual(['s3RecordExtraction']);
    expect(received.load?.map((e) => e['detail-type'])).toEqual(['transform']);
    expect(received.observe).toHaveLength(4);
    expect(received.quarantine).toEqual([]);
  });

  it('delivers EventBridge envelopes', async () => {
    const { bus, received } = seedBus();
    const result = await bus.putEvents([put('data-loaded', { status: 'success', row: 1 })]);
    await bus.whenIdle();
    const event = received.observe?.[0];
    expect(event).toMatchObject({
      version: '0',
      id: result.Entries[0]?.EventId,
      'detail-type': 'data-loaded',
      source: 'cdkpatterns.the-eventbridge-etl',
      account: '000000000000',
      region: 'us-east-1',
      resources: [],
      detail: { status: 'success', row: 1 },
    });
    expect(event?.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  });

  it('never runs more batches of a target at once than its concurrency', async () => {
    const bus = new LocalEventBus({ router: new RuleIndex<string>() });
    let inFlight = 0;
    let maxInFlight = 0;
    let delivered = 0;
    bus.addTarget(
      'slow',
      async (events) => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await new Promise((resolve) => setTimeout(resolve, 2));
        delivered += events.length;
        inFlight--;
      },
      delivery({ concurrency: 3, batchSize: 5 }),
    );
    bus.putRule('all', { source: ['s'] }, 'slow');
    for (let i = 0; i < 40; i++) await bus.putEvents(Array.from({ length: 10 }, () => put('x', {}, 's')));
    await bus.whenIdle();
    expect(delivered).toBe(400);
    expect(maxInFlight).toBe(3);
  });

  it('loses nothing under a burst: every event delivered exactly once, in batches no larger than the batch size', async () => {
    const bus = new LocalEventBus({ router: new RuleIndex<string>(), highWaterMark: 1_000 });
    const seen = new Map<number, number>();
    let largestBatch = 0;
    bus.addTarget(
      'count',
      async (events) => {
        largestBatch = Math.max(largestBatch, events.length);
        for (const e of events) {
          const n = (e.detail as { n: number }).n;
          seen.set(n, (seen.get(n) ?? 0) + 1);
        }
        await new Promise((resolve) => setImmediate(resolve));
      },
      delivery({ concurrency: 2, batchSize: 50 }),
    );
    bus.putRule('all', { source: ['s'] }, 'count');
    const total = 50_000;
    for (let i = 0; i < total; i += 10) {
      await bus.waitForCapacity();
      await bus.putEvents(Array.from({ length: 10 }, (_, j) => put('x', { n: i + j }, 's')));
    }
    await bus.whenIdle();
    expect(seen.size).toBe(total);
    expect([...seen.values()].every((count) => count === 1)).toBe(true);
    expect(largestBatch).toBe(50);
  });

  it('makes producers that ask for capacity wait while the bus is full', async () => {
    const bus = new LocalEventBus({ router: new RuleIndex<string>(), highWaterMark: 20 });
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    bus.addTarget('gated', async () => gate, delivery({ concurrency: 1, batchSize: 10 }));
    bus.putRule('all', { source: ['s'] }, 'gated');
    await bus.putEvents(Array.from({ length: 10 }, () => put('x', {}, 's')));
    await bus.putEvents(Array.from({ length: 10 }, () => put('x', {}, 's')));
    let waited = true;
    const waiting = bus.waitForCapacity().then(() => (waited = false));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(waited).toBe(true);
    release();
    await waiting;
    expect(waited).toBe(false);
  });

  it('retries only the events a target reports failed, then dead-letters them after the last attempt', async () => {
    const letters: DeadLetter[] = [];
    const bus = new LocalEventBus({ router: new RuleIndex<string>(), onDeadLetter: (l) => letters.push(l) });
    const attempts = new Map<number, number>();
    bus.addTarget(
      'picky',
      async (events) => {
        const failedEventIds: string[] = [];
        for (const e of events) {
          const n = (e.detail as { n: number }).n;
          attempts.set(n, (attempts.get(n) ?? 0) + 1);
          if (n === 2) failedEventIds.push(e.id);
        }
        return { failedEventIds };
      },
      delivery({ maxAttempts: 3 }),
    );
    bus.putRule('all', { source: ['s'] }, 'picky');
    await bus.putEvents([1, 2, 3].map((n) => put('x', { n }, 's')));
    await bus.whenIdle();
    expect(Object.fromEntries(attempts)).toEqual({ 1: 1, 2: 3, 3: 1 });
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ target: 'picky', attempts: 3, event: { detail: { n: 2 } } });
  });

  it('retries a whole batch whose handler throws, and recovers when it stops throwing', async () => {
    const bus = new LocalEventBus({ router: new RuleIndex<string>() });
    let calls = 0;
    const delivered: number[] = [];
    bus.addTarget(
      'flaky',
      async (events) => {
        if (++calls === 1) throw new Error('transient');
        delivered.push(...events.map((e) => (e.detail as { n: number }).n));
      },
      delivery(),
    );
    bus.putRule('all', { source: ['s'] }, 'flaky');
    await bus.putEvents([1, 2].map((n) => put('x', { n }, 's')));
    await bus.whenIdle();
    expect(delivered.sort()).toEqual([1, 2]);
  });

  it('validates PutEvents as AWS does: request limits throw, bad entries fail alone', async () => {
    const { bus } = seedBus();
    await expect(bus.putEvents([])).rejects.toThrow(PutEventsValidationError);
    await expect(bus.putEvents(Array.from({ length: 11 }, () => put('x')))).rejects.toThrow(
      /with 11 entries failed to satisfy constraint: Member must have length less than or equal to 10/,
    );
    await expect(bus.putEvents([put('x', { blob: 'z'.repeat(256 * 1024) })])).rejects.toThrow(
      /over the limit/,
    );
    const result = await bus.putEvents([
      put('x', { ok: true }),
      { Source: 's', DetailType: 'x', Detail: 'not json' },
      { Source: 's', DetailType: 'x', Detail: '[1]' },
      { Source: '', DetailType: 'x', Detail: '{}' },
    ]);
    expect(result.FailedEntryCount).toBe(3);
    expect(result.Entries.map((e) => e.ErrorCode)).toEqual([
      undefined,
      'MalformedDetail',
      'MalformedDetail',
      'InvalidArgument',
    ]);
    expect(result.Entries[0]?.EventId).toMatch(/[0-9a-f-]{36}/);
  });
});

describe('rules with several targets, replaced, disabled and removed', () => {
  const collector = () => {
    const got: Record<string, number[]> = {};
    const handler = (name: string) => async (events: AnyEvent[]) => {
      (got[name] ??= []).push(...events.map((e) => (e.detail as { n: number }).n));
    };
    return { got, handler };
  };

  it('delivers to every target of a rule, follows a replaced pattern, and matches nothing while disabled', async () => {
    const bus = new LocalEventBus({ router: new RuleIndex<string>() });
    const { got, handler } = collector();
    for (const name of ['a', 'b']) bus.addTarget(name, handler(name), delivery());
    bus.setRule({ name: 'r', eventPattern: { source: ['s'] }, targets: ['a', 'b'], enabled: true });
    await bus.putEvents([put('x', { n: 1 }, 's'), put('x', { n: 2 }, 'other')]);
    await bus.whenIdle();
    expect(got).toEqual({ a: [1], b: [1] });

    bus.setRule({ name: 'r', eventPattern: { source: ['other'] }, targets: ['b'], enabled: true });
    await bus.putEvents([put('x', { n: 3 }, 's'), put('x', { n: 4 }, 'other')]);
    await bus.whenIdle();
    expect(got).toEqual({ a: [1], b: [1, 4] });

    bus.setRule({ name: 'r', eventPattern: { source: ['other'] }, targets: ['b'], enabled: false });
    await bus.putEvents([put('x', { n: 5 }, 'other')]);
    await bus.whenIdle();
    expect(got).toEqual({ a: [1], b: [1, 4] });
    expect(bus.listRules()).toEqual([
      { name: 'r', eventPattern: { source: ['other'] }, targets: ['b'], enabled: false },
    ]);

    bus.deleteRule('r');
    expect(bus.listRules()).toEqual([]);
  });

  it('keeps a rule as it was when its new pattern is invalid', async () => {
    const bus = new LocalEventBus({ router: new RuleIndex<string>() });
    const { got, handler } = collector();
    bus.addTarget('a', handler('a'), delivery());
    bus.setRule({ name: 'r', eventPattern: { source: ['s'] }, targets: ['a'], enabled: true });
    expect(() =>
      bus.setRule({ name: 'r', eventPattern: { source: 's' }, targets: ['a'], enabled: true }),
    ).toThrow(InvalidEventPatternException);
    await bus.putEvents([put('x', { n: 1 }, 's')]);
    await bus.whenIdle();
    expect(got).toEqual({ a: [1] });
  });

  it('dead-letters a failure the target calls not retryable at once, to the target’s own dead-letter handler', async () => {
    const busLetters: DeadLetter[] = [];
    const ownLetters: DeadLetter[] = [];
    const bus = new LocalEventBus({
      router: new RuleIndex<string>(),
      onDeadLetter: (l) => busLetters.push(l),
    });
    let calls = 0;
    bus.addTarget(
      'http',
      async (events) => {
        calls++;
        const ids = events.map((e) => e.id);
        return {
          failedEventIds: ids,
          notRetryable: new Set(ids),
          reasons: new Map(ids.map((id) => [id, 'HTTP 400'])),
        };
      },
      delivery({ maxAttempts: 10 }),
      { onDeadLetter: (l) => ownLetters.push(l) },
    );
    bus.setRule({ name: 'r', eventPattern: { source: ['s'] }, targets: ['http'], enabled: true });
    await bus.putEvents([put('x', { n: 1 }, 's')]);
    await bus.whenIdle();
    expect(calls).toBe(1);
    expect(busLetters).toEqual([]);
    expect(ownLetters).toMatchObject([
      { target: 'http', attempts: 1, exhausted: 'not-retryable', reason: 'HTTP 400 (not retried)' },
    ]);
  });

  it('drops what a removed target holds, including its retries, and becomes idle', async () => {
    const bus = new LocalEventBus({ router: new RuleIndex<string>() });
    let calls = 0;
    bus.addTarget(
      'failing',
      async () => {
        calls++;
        throw new Error('down');
      },
      delivery({ maxAttempts: 100, retryBaseDelayMs: 50, retryMaxDelayMs: 50 }),
    );
    bus.setRule({ name: 'r', eventPattern: { source: ['s'] }, targets: ['failing'], enabled: true });
    await bus.putEvents([put('x', { n: 1 }, 's')]);
    while (calls === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    expect(() => bus.removeTarget('failing')).toThrow(/still a rule's target/);
    bus.setRule({ name: 'r', eventPattern: { source: ['s'] }, targets: [], enabled: true });
    bus.removeTarget('failing');
    await bus.whenIdle();
    expect(bus.hasTarget('failing')).toBe(false);
    expect(bus.depth()).toEqual({});
  });
});
