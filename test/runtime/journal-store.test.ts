import { appendFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AnyEvent } from '../../src/runtime/local/bus.ts';
import { Journal, readQuarantine } from '../../src/runtime/local/journal.ts';
import { tempDir } from '../support/cli.ts';

const event = (id: string, detail: object, extra: object = {}): AnyEvent =>
  ({
    version: '0',
    id,
    'detail-type': 'x',
    source: 's',
    account: '000000000000',
    time: '2026-01-01T00:00:00Z',
    region: 'us-east-1',
    resources: [],
    detail,
    ...extra,
  }) as AnyEvent;

async function collect<T>(records: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const record of records) all.push(record);
  return all;
}

describe('the journal as the only writer of its files', () => {
  it('reads back what it appended, Detail text as put and whole events (replay-name kept) alike', async () => {
    const dir = join(tempDir(), 'bus');
    const journal = new Journal({ dir });
    const first = journal.append([
      { targets: ['t'], event: event('put', { n: 1 }), detailJson: '{"n":1}' },
      { targets: ['t', 'u'], event: event('replayed', { n: 2 }, { 'replay-name': 'r1' }) },
    ]);
    expect(first).toBe(1);
    expect(journal.append([{ targets: ['u'], event: event('redriven', { n: 3 }) }])).toBe(3);
    journal.close();

    const again = new Journal({ dir });
    const pending = await collect(again.pending());
    again.close();
    expect(pending.map((r) => [r.seq, r.targets, r.event.id, r.event.detail])).toEqual([
      [1, ['t'], 'put', { n: 1 }],
      [2, ['t', 'u'], 'replayed', { n: 2 }],
      [3, ['u'], 'redriven', { n: 3 }],
    ]);
    expect(pending[1]?.event).toHaveProperty('replay-name', 'r1');
    expect(pending[0]?.event).not.toHaveProperty('replay-name');
  });

  it('skips a last line torn by a crash, and never reuses the seq the torn line names', async () => {
    const dir = join(tempDir(), 'bus');
    const journal = new Journal({ dir });
    journal.append([{ targets: ['t'], event: event('a', { n: 1 }), detailJson: '{"n":1}' }]);
    journal.close();
    const [segment] = readdirSync(dir).filter((n) => n.startsWith('segment-'));
    appendFileSync(join(dir, segment as string), '{"seq":2,"targets":["t"],"event":{"vers');

    const next = new Journal({ dir });
    expect((await collect(next.pending())).map((r) => r.event.id)).toEqual(['a']);
    expect(next.quarantined).toBe(0);
    expect(next.append([{ targets: ['t'], event: event('b', { n: 2 }) }])).toBe(3);
    next.close();
  });

  it('quarantines a record whose event lacks part of the envelope, and reads the quarantine back', async () => {
    const dir = join(tempDir(), 'bus');
    const journal = new Journal({ dir });
    journal.append([{ targets: ['t'], event: event('a', { n: 1 }) }]);
    journal.close();
    const [segment] = readdirSync(dir).filter((n) => n.startsWith('segment-'));
    const { source: _, ...sourceless } = event('b', { n: 2 });
    appendFileSync(
      join(dir, segment as string),
      `${JSON.stringify({ seq: 2, targets: ['t'], event: sourceless })}\n`,
    );

    const next = new Journal({ dir });
    expect((await collect(next.pending())).map((r) => r.event.id)).toEqual(['a']);
    next.close();
    appendFileSync(join(dir, 'quarantine.ndjson'), '{"time":"2026-01-0');
    const quarantined = await collect(readQuarantine(join(dir, 'quarantine.ndjson')));
    expect(quarantined.map((q) => [q.seq, q.targets, q.reason])).toEqual([
      [2, ['t'], 'the event has no valid source'],
    ]);
  });
});
