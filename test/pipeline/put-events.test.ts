import { describe, expect, it } from 'vitest';
import {
  batchPutEventsEntries,
  EntryTooLargeError,
  MAX_PUT_EVENTS_BYTES,
  PutEventsBatcher,
  putEventsEntrySize,
} from '../../src/pipeline/put-events.ts';

const entry = (detail: string) => ({ Source: 'src', DetailType: 'dt', Detail: detail });

describe('putEventsEntrySize', () => {
  it('counts UTF-8 bytes of Source, DetailType, Detail and Resources, and 14 bytes for Time', () => {
    expect(putEventsEntrySize({ Source: 'ab', DetailType: 'c', Detail: '{"é":1}' })).toBe(2 + 1 + 8);
    expect(putEventsEntrySize({ Source: 'ab', DetailType: 'c', Detail: '{}', Time: new Date() })).toBe(
      14 + 5,
    );
    expect(
      putEventsEntrySize({ Source: 's', DetailType: 'd', Detail: '{}', Resources: ['arn:x', 'arn:yy'] }),
    ).toBe(4 + 5 + 6);
  });
});

describe('PutEvents batching', () => {
  it('closes a batch at 10 entries', () => {
    const batches = batchPutEventsEntries(Array.from({ length: 25 }, (_, i) => entry(`{"i":${i}}`)));
    expect(batches.map((b) => b.length)).toEqual([10, 10, 5]);
    expect(batches.flat().map((e) => e.Detail)).toEqual(Array.from({ length: 25 }, (_, i) => `{"i":${i}}`));
  });

  it('closes a batch before it would pass 256 KB', () => {
    const big = entry(`{"x":"${'a'.repeat(100 * 1024)}"}`);
    const batches = batchPutEventsEntries([big, big, big, entry('{}')]);
    expect(batches.map((b) => b.length)).toEqual([2, 2]);
    for (const batch of batches) {
      expect(batch.reduce((n, e) => n + putEventsEntrySize(e), 0)).toBeLessThanOrEqual(MAX_PUT_EVENTS_BYTES);
    }
  });

  it('takes an entry of exactly 256 KB and rejects one byte more', () => {
    const overhead = putEventsEntrySize(entry(''));
    const exact = entry('x'.repeat(MAX_PUT_EVENTS_BYTES - overhead));
    expect(batchPutEventsEntries([exact])).toEqual([[exact]]);
    const batcher = new PutEventsBatcher();
    expect(() => batcher.push(entry('x'.repeat(MAX_PUT_EVENTS_BYTES - overhead + 1)))).toThrow(
      EntryTooLargeError,
    );
  });
});
