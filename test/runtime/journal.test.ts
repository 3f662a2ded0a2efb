import { mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { TargetDelivery } from '../../src/pipeline/definition.ts';
import type { PutEventsEntry } from '../../src/pipeline/events.ts';
import { RuleIndex } from '../../src/patterns/index.ts';
import { LocalEventBus } from '../../src/runtime/local/bus.ts';
import { Journal, journalLine, QUARANTINE_FILE } from '../../src/runtime/local/journal.ts';
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

const segmentsIn = (dir: string): string[] => readdirSync(dir).filter((n) => n.startsWith('segment-'));

/** Appends `count` one-target records straight to the journal, as the bus does. */
function append(journal: Journal, count: number, targets: string[] = ['t']): number[] {
  const seqs: number[] = [];
  for (let i = 0; i < count; i++) {
    const seq = journal.reserve(1);
    const event = {
      version: '0' as const,
      id: `e${seq}`,
      'detail-type': 'x',
      source: 's',
      account: '000000000000',
      time: new Date().toISOString().slice(0, 19) + 'Z',
      region: 'us-east-1',
      resources: [],
      detail: { n: seq },
    };
    journal.appendLines(
      seq,
      journalLine(seq, targets, event, JSON.stringify({ n: seq, pad: 'x'.repeat(200) })),
    );
    seqs.push(seq);
  }
  return seqs;
}

describe('the journal without an archive', () => {
  it('keeps what a crash left unacknowledged through an idle bus before recovery has read it', async () => {
    const dir = join(tempDir(), 'bus');
    const crashed = new Journal({ dir, segmentBytes: 2_000 });
    const left = append(crashed, 3);
    crashed.close(); // killed: nothing acknowledged
    const next = new Journal({ dir, segmentBytes: 2_000 });
    // etl up serves requests while it recovers: an event put meanwhile is delivered, the bus idles.
    const [early] = append(next, 1);
    next.ack('t', [early as number]);
    next.checkpoint();
    const pending: number[] = [];
    for await (const record of next.pending()) pending.push(record.seq);
    expect(pending).toEqual(left);
    next.close();
  });

  it('deletes a segment once every event in it is acknowledged, while later events are still pending', () => {
    const dir = join(tempDir(), 'bus');
    const journal = new Journal({ dir, segmentBytes: 2_000 });
    const seqs = append(journal, 100);
    const before = segmentsIn(dir).length;
    expect(before).toBeGreaterThan(5);
    // The first half acknowledged, never an idle bus: the checkpoint follows the low-water mark.
    journal.ack('t', seqs.slice(0, 50));
    const after = segmentsIn(dir);
    expect(after.length).toBeLessThan(before);
    expect(Number(/segment-(\d+)/.exec(after[0] ?? '')?.[1])).toBeLessThanOrEqual(51);
    const checkpoint = JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8')) as { seq: number };
    expect(checkpoint.seq).toBeGreaterThan(0);
    expect(checkpoint.seq).toBeLessThanOrEqual(50);
    journal.close();
  });

  it('keeps a segment while one target of one of its events has not acknowledged it', () => {
    const dir = join(tempDir(), 'bus');
    const journal = new Journal({ dir, segmentBytes: 2_000 });
    const seqs = append(journal, 60, ['a', 'b']);
    journal.ack('a', seqs);
    journal.ack(
      'b',
      seqs.filter((s) => s !== 3),
    );
    // Seq 3 is in the first segment: nothing may go, whatever came after.
    expect(segmentsIn(dir)[0]).toBe('segment-000000000001.ndjson');
    journal.ack('b', [3]);
    expect(segmentsIn(dir)[0]).not.toBe('segment-000000000001.ndjson');
    journal.close();
  });

  it('after a crash mid-run, delivers again exactly what was not acknowledged, nothing twice', async () => {
    const dir = join(tempDir(), 'bus');
    const first = new Journal({ dir, segmentBytes: 2_000 });
    const seqs = append(first, 200);
    // Acknowledged out of order, with a gap that pins the checkpoint: 1-120 but 37, and 150-160.
    first.ack(
      't',
      seqs
        .slice(0, 120)
        .filter((s) => s !== 37)
        .reverse(),
    );
    first.ack('t', seqs.slice(149, 160));
    first.close(); // the process dies: no idle checkpoint
    const second = new Journal({ dir, segmentBytes: 2_000 });
    const pending: number[] = [];
    for await (const record of second.pending()) pending.push(record.seq);
    const expected = seqs.filter((s) => s === 37 || (s > 120 && s < 150) || s > 160);
    expect(pending).toEqual(expected);
    // Acknowledge them all: the bus would then be idle, and the journal holds nothing.
    second.ack('t', pending);
    second.checkpoint();
    expect(segmentsIn(dir)).toEqual([]);
    expect(readdirSync(dir).filter((n) => n.startsWith('acks-'))).toEqual([]);
    second.close();
    const third = new Journal({ dir });
    for await (const record of third.pending()) throw new Error(`delivered twice: ${record.seq}`);
    // And sequence numbers go on from where they were, not from 1.
    expect(third.reserve(1)).toBe(201);
    third.close();
  });

  it('does not move past records from before a restart that recovery has not read yet', async () => {
    const dir = join(tempDir(), 'bus');
    const first = new Journal({ dir, segmentBytes: 2_000 });
    append(first, 50);
    first.close();
    const second = new Journal({ dir, segmentBytes: 2_000 });
    // New events, all acknowledged, before recovery has read the old ones.
    const fresh = append(second, 50);
    second.ack('t', fresh);
    const pending: number[] = [];
    for await (const record of second.pending()) pending.push(record.seq);
    expect(pending).toEqual(Array.from({ length: 50 }, (_, i) => i + 1));
    second.close();
  });

  it('keeps the acks files bounded: the ones below the checkpoint are dropped as it moves', () => {
    const dir = join(tempDir(), 'bus');
    const journal = new Journal({ dir, segmentBytes: 2_000 });
    for (let round = 0; round < 20; round++) journal.ack('t', append(journal, 50));
    // 1,000 acknowledgements would be 8,000 bytes; only those past the checkpoint are kept.
    expect(statSync(join(dir, 'acks-t.bin'), { throwIfNoEntry: false })?.size ?? 0).toBeLessThan(8 * 100);
    journal.close();
  });
});

describe('the journal with an archive', () => {
  it('keeps acknowledged segments for replay, and drops them once older than the retention', async () => {
    const dir = join(tempDir(), 'bus');
    const day = 24 * 3600 * 1000;
    const journal = new Journal({ dir, segmentBytes: 2_000, archiveRetentionMs: day });
    const seqs = append(journal, 100);
    const written = segmentsIn(dir).length;
    journal.ack('t', seqs);
    journal.checkpoint();
    expect(segmentsIn(dir)).toHaveLength(written);
    let archived = 0;
    for await (const record of journal.archived(new Date(Date.now() - 60_000), new Date(Date.now() + 60_000)))
      archived += record.seq > 0 ? 1 : 0;
    expect(archived).toBe(100);
    // Nothing is pending, though all of it is kept.
    for await (const record of journal.pending()) throw new Error(`pending: ${record.seq}`);
    // Two days later (the segments' times moved back), gc drops all but the one being written.
    const old = new Date(Date.now() - 2 * day);
    for (const name of segmentsIn(dir)) utimesSync(join(dir, name), old, old);
    expect(journal.collect()).toBeGreaterThan(0);
    expect(segmentsIn(dir)).toHaveLength(1);
    journal.close();
  });
});

describe('poisoned journal records', () => {
  const envelope = (id: string) => ({
    version: '0' as const,
    id,
    'detail-type': 'x',
    source: 's',
    account: '000000000000',
    time: '2026-01-01T00:00:00Z',
    region: 'us-east-1',
    resources: [],
    detail: {},
  });

  it('are quarantined with their reason at recovery, once; the others are delivered', async () => {
    const dir = join(tempDir(), 'bus');
    mkdirSync(dir, { recursive: true });
    const depth = 100_000;
    const lines =
      // What an older version accepted: Detail nested 100,000 levels deep.
      journalLine(1, ['t'], envelope('deep'), `{"n":${'['.repeat(depth)}${']'.repeat(depth)}}`) +
      // A record without its event.
      '{"seq":2,"targets":["t"],"event":null}\n' +
      journalLine(3, ['t'], envelope('fine'), '{"n":3}');
    writeFileSync(join(dir, 'segment-000000000001.ndjson'), lines);

    const journal = new Journal({ dir });
    const seen: number[] = [];
    const bus = busOver(journal, async (ns) => void seen.push(...ns));
    expect(await bus.recover(journal.pending())).toBe(1);
    await bus.whenIdle();
    expect(seen).toEqual([3]);
    expect(journal.quarantined).toBe(2);
    journal.close();

    const quarantined = readFileSync(join(dir, QUARANTINE_FILE), 'utf8')
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { seq: number; targets: string[]; reason: string; line: string });
    expect(quarantined.map((q) => [q.seq, q.targets, q.reason])).toEqual([
      [1, ['t'], 'nested deeper than 1000 levels'],
      [2, ['t'], 'no event'],
    ]);
    expect(quarantined[0]?.line.length).toBeGreaterThan(2 * depth);

    // Acknowledged: the next start neither delivers nor quarantines them again.
    const again = new Journal({ dir });
    expect(await busOver(again, async () => undefined).recover(again.pending())).toBe(0);
    expect(again.quarantined).toBe(0);
    again.close();
  });
});
