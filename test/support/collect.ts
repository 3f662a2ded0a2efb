import { Readable } from 'node:stream';
import type { PutEventsEntry } from '../../src/pipeline/events.ts';
import type { EventPublisher } from '../../src/stages/ports.ts';

/** An EventPublisher that keeps every PutEvents call, for asserting on batches. */
export class RecordingPublisher implements EventPublisher {
  readonly calls: PutEventsEntry[][] = [];

  async putEvents(entries: PutEventsEntry[]): Promise<void> {
    this.calls.push(entries);
  }

  get entries(): PutEventsEntry[] {
    return this.calls.flat();
  }

  details<T = Record<string, unknown>>(detailType: string): T[] {
    return this.entries.filter((e) => e.DetailType === detailType).map((e) => JSON.parse(e.Detail) as T);
  }
}

/** A readable that yields the text in chunks of `size` bytes, to cross chunk boundaries. */
export function chunked(content: string | Buffer, size = 7): Readable {
  const buffer = typeof content === 'string' ? Buffer.from(content) : content;
  const chunks: Buffer[] = [];
  for (let i = 0; i < buffer.length; i += size) chunks.push(buffer.subarray(i, i + size));
  return Readable.from(chunks);
}
