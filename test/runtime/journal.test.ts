import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TargetDelivery } from '../../src/pipeline/definition.ts';
import type { PutEventsEntry } from '../../src/pipeline/events.ts';
import { RuleIndex } from '../../src/patterns/index.ts';
import { LocalEventBus } from '../../src/runtime/local/bus.ts';
import { Journal } from '../../src/runtime/local/journal.ts';
import { tempDir } from '../support/cli.ts';

const delivery: TargetDelivery = {
  concurrency: 2,
  batchSize: 10,
  maxBatchingWindowSeconds: 0,
  maxAttempts: 3,
  maxEventAgeSeconds: 3600,
  retryBaseDelayMs: 20,
  retryMaxDelayMs: 2_000,
  maxReceiveCount: 3,
};
const put = (n: number, detail: string = JSON.stringify({ n })): PutEventsEntry => ({
  Source: 's',
  DetailType: 'x',
  Detail: detail,
});

function busOver(journal: Journal, handler: (ns: number[]) => Promise<void>): LocalEventBus {
  const bus = new LocalEventBus({ router: new RuleIndex<string>(), journal });
  bus.addTarget('t', async (events) => handler(events.map((e) => (e.detail as { n: number }).n)), delivery);
  bus.putRule('all', { source: ['s'] }, 't');
  return bus;
}

describe('the journal across a crash', () => {
  it('delivers again every event no target acknowledged, however many', async () => {
    const dir = join(tempDir(), 'bus');
    // First process: its target never finishes anything, then the process "dies".
    const first = new Journal({ dir });
    const stuck = busOver(first, () => new Promise<void>(() => undefined));
    for (let i = 0; i < 2_000; i += 10) {
      await stuck.putEvents(Array.from({ length: 10 }, (_, j) => put(i + j)));
    }
    first.close();

    const second = new Journal({ dir });
    const seen = new Set<number>();
    const bus = busOver(second, async (ns) => {
      for (const n of ns) seen.add(n);
    });
    expect(await bus.recover(second.pending())).toBe(2_000);
    await bus.whenIdle();
    expect(seen.size).toBe(2_000);
    second.close();

    // And once acknowledged, nothing is delivered a third time.
    const third = new Journal({ dir });
    expect(await busOver(third, async () => undefined).recover(third.pending())).toBe(0);
    third.close();
  });

  it('keeps an event whose Detail text spans lines (pretty-printed JSON is valid JSON)', async () => {
    const dir = join(tempDir(), 'bus');
    const first = new Journal({ dir });
    const stuck = busOver(first, () => new Promise<void>(() => undefined));
    await stuck.putEvents([put(7, '{\n  "n": 7\n}\r\n')]);
    first.close();
    const second = new Journal({ dir });
    const seen: number[] = [];
    const bus = busOver(second, async (ns) => void seen.push(...ns));
    expect(await bus.recover(second.pending())).toBe(1);
    await bus.whenIdle();
    expect(seen).toEqual([7]);
    second.close();
  });
});
