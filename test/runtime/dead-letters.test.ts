import { appendFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AnyEvent } from '../../src/runtime/local/bus.ts';
import { DeadLetterStore, type DeadLetterRecord } from '../../src/runtime/local/dead-letters.ts';
import { tempDir } from '../support/cli.ts';

const event = (id: string, detail: object): AnyEvent => ({
  version: '0',
  id,
  'detail-type': 'transform',
  source: 's',
  account: '000000000000',
  time: '2026-01-01T00:00:00Z',
  region: 'us-east-1',
  resources: [],
  detail,
});
const letter = (target: string, id: string, detail: object = {}) => ({
  target,
  event: event(id, detail),
  attempts: 3,
  reason: 'Error: boom (after 3 attempts)',
});

async function collect<T>(records: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const record of records) all.push(record);
  return all;
}
const ids = (letters: readonly DeadLetterRecord[]): string[] => letters.map((l) => l.event.id);

describe('the dead-letter store', () => {
  it('keeps each letter, with when, in its target queue, and reads them back by target and run', async () => {
    const dir = join(tempDir(), 'dlq');
    const store = new DeadLetterStore(dir);
    store.append(letter('load', 'a', { run: 'run-1', row: 1 }));
    store.append(letter('transform', 'b', { run: 'run-2', row: 4 }));
    store.append(letter('load', 'c', { run: 'run-2', row: 2 }));

    const all = await collect(store.read());
    expect(ids(all)).toEqual(['a', 'c', 'b']); // target by target
    expect(all[0]).toMatchObject({ ...letter('load', 'a', { run: 'run-1', row: 1 }) });
    expect(Number.isNaN(Date.parse(all[0]?.time ?? ''))).toBe(false);
    expect(ids(await collect(store.read({ target: 'load' })))).toEqual(['a', 'c']);
    expect(ids(await collect(store.read({ run: 'run-2' })))).toEqual(['c', 'b']);
    expect(await store.count('load')).toBe(2);
    expect(await store.count('observe')).toBe(0);
  });

  it('skips a torn line and a record of another shape, and reads the letters around them', async () => {
    const dir = join(tempDir(), 'dlq');
    const store = new DeadLetterStore(dir);
    store.append(letter('load', 'a'));
    appendFileSync(join(dir, 'load.ndjson'), '{"target":"load","event":{"id":"x"}}\n\n{"time":"2026');
    appendFileSync(join(dir, 'load.ndjson'), '\n');
    store.append(letter('load', 'b'));
    expect(ids(await collect(store.read()))).toEqual(['a', 'b']);
    expect(await store.count('load')).toBe(2);
  });

  it('writes an event whose detail cannot be serialised without it, saying why', async () => {
    const store = new DeadLetterStore(join(tempDir(), 'dlq'));
    store.append(letter('observe', 'a', { big: 1n }));
    const [read] = await collect(store.read());
    expect(read?.event.detail).toEqual({});
    expect(read?.reason).toMatch(
      /^Error: boom \(after 3 attempts\); its detail could not be written \(.*BigInt/,
    );
  });

  it('hands a redrive the leftovers of a redrive cut short first, then the queues, deleting each once taken', async () => {
    const dir = join(tempDir(), 'dlq');
    const store = new DeadLetterStore(dir);
    store.append(letter('load', 'queued'));
    store.append(letter('transform', 'other'));
    // What a crash mid-redrive leaves: a queue moved aside and not yet deleted.
    writeFileSync(
      join(dir, 'load.1700000000000.redriving'),
      `${JSON.stringify({ time: '2026-01-01T00:00:00.000Z', ...letter('load', 'leftover') })}\n{"torn`,
    );

    const taken: [string, string[]][] = [];
    for await (const queue of store.takeForRedrive('load')) {
      taken.push([queue.target, ids(await collect(queue.letters))]);
      // A letter that fails again while its queue is redriven lands in a fresh queue.
      if (taken.length === 2) store.append(letter('load', 'dead-again'));
    }
    expect(taken).toEqual([
      ['load', ['leftover']],
      ['load', ['queued']],
    ]);
    expect(readdirSync(dir).sort()).toEqual(['load.ndjson', 'transform.ndjson']);
    expect(ids(await collect(store.read({ target: 'load' })))).toEqual(['dead-again']);
    expect(ids(await collect(store.read({ target: 'transform' })))).toEqual(['other']);
  });

  it('keeps a queue moved aside when the redrive stops before taking all its letters', async () => {
    const dir = join(tempDir(), 'dlq');
    const store = new DeadLetterStore(dir);
    store.append(letter('load', 'a'));
    for await (const queue of store.takeForRedrive()) {
      for await (const _ of queue.letters) break;
      break;
    }
    const left = readdirSync(dir);
    expect(left).toHaveLength(1);
    expect(left[0]).toMatch(/^load\.\d+\.redriving$/);
    const again: string[] = [];
    for await (const queue of store.takeForRedrive()) again.push(...ids(await collect(queue.letters)));
    expect(again).toEqual(['a']);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('says which rows of which runs are still dead (transform and load letters with a run and row)', async () => {
    const store = new DeadLetterStore(join(tempDir(), 'dlq'));
    store.append(letter('transform', 'a', { run: 'run-1', row: 1 }));
    store.append(letter('load', 'b', { run: 'run-1', row: 1 }));
    store.append(letter('load', 'c', { run: 'run-1', row: 3 }));
    store.append(letter('load', 'd', { run: 'run-2', row: 2 }));
    store.append(letter('load', 'e', { run: 'run-1', row: 0 }));
    store.append(letter('observe', 'f', { run: 'run-1', row: 9 }));
    const dead = await store.rowsStillDead(new Set(['run-1']));
    expect([...dead.keys()]).toEqual(['run-1']);
    expect([...(dead.get('run-1') ?? [])].sort()).toEqual([1, 3]);
  });

  it('removes a letter by its key (SQS DeleteMessage on the DLQ), keeping letters appended meanwhile', async () => {
    const dir = join(tempDir(), 'dlq');
    const store = new DeadLetterStore(dir);
    for (const id of ['a', 'b', 'c']) store.append(letter('load', id));
    const keyed = await collect(store.keyed('load'));
    expect(keyed.map((k) => k.letter.event.id)).toEqual(['a', 'b', 'c']);
    expect(new Set(keyed.map((k) => k.key)).size).toBe(3);
    const removing = store.remove('load', new Set([keyed[1]?.key as string]));
    // Dead-lettered while the queue is being written afresh: it must survive the rename.
    store.append(letter('load', 'd'));
    expect(await removing).toBe(1);
    expect(ids(await collect(store.read({ target: 'load' })))).toEqual(['a', 'c', 'd']);
    expect(await store.remove('load', new Set(['no-such-key']))).toBe(0);
    // Removals at once (two DeleteMessage calls) each take effect.
    const left = await collect(store.keyed('load'));
    expect(await Promise.all(left.map((k) => store.remove('load', new Set([k.key]))))).toEqual([1, 1, 1]);
    expect(ids(await collect(store.read({ target: 'load' })))).toEqual([]);
    expect(await store.remove('observe', new Set([keyed[0]?.key as string]))).toBe(0);
    expect(readdirSync(dir).sort()).toEqual(['load.ndjson']);
  });

  it('never lets a removal and a redrive of the same queue interleave: each sees the other whole', async () => {
    for (let round = 0; round < 20; round++) {
      const dir = join(tempDir(), 'dlq');
      const store = new DeadLetterStore(dir);
      for (const id of ['a', 'b', 'c']) store.append(letter('load', id));
      const [, b] = await collect(store.keyed('load'));
      const removing = store.remove('load', new Set([b?.key as string]));
      const redriven: string[] = [];
      for await (const queue of store.takeForRedrive('load')) {
        redriven.push(...ids(await collect(queue.letters)));
        // Dead-lettered again during the redrive: a new queue file, perhaps on the old one's inode.
        for (const id of ['w', 'x', 'y', 'z']) store.append(letter('load', id));
      }
      // The removal asked first comes first: the redrive takes the queue without b.
      expect(await removing).toBe(1);
      expect(redriven).toEqual(['a', 'c']);
      expect(ids(await collect(store.read({ target: 'load' })))).toEqual(['w', 'x', 'y', 'z']);
    }
  });
});
