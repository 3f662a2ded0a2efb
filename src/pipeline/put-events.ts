/** PutEvents limits, as AWS applies them. */
export const MAX_ENTRIES_PER_PUT_EVENTS = 10;
/** 256 KB: the cap on one entry and on a whole request. */
export const MAX_PUT_EVENTS_BYTES = 256 * 1024;

interface SizedEntry {
  Source?: string;
  DetailType?: string;
  Detail?: string;
  Time?: Date;
  Resources?: string[];
}

/**
 * An entry's size by AWS's rule ("Calculating PutEvents event entry size"): 14 bytes for Time when
 * present, plus the UTF-8 bytes of Source, DetailType, Detail and each Resources ARN.
 */
export function putEventsEntrySize(entry: SizedEntry): number {
  let size = entry.Time ? 14 : 0;
  if (entry.Source) size += Buffer.byteLength(entry.Source, 'utf8');
  if (entry.DetailType) size += Buffer.byteLength(entry.DetailType, 'utf8');
  if (entry.Detail) size += Buffer.byteLength(entry.Detail, 'utf8');
  for (const resource of entry.Resources ?? []) size += Buffer.byteLength(resource, 'utf8');
  return size;
}

export class EntryTooLargeError extends Error {
  constructor(readonly size: number) {
    super(`event entry is ${size} bytes; PutEvents takes at most ${MAX_PUT_EVENTS_BYTES}`);
    this.name = 'EntryTooLargeError';
  }
}

/**
 * Groups entries into PutEvents requests of at most 10 entries and 256 KB. Push entries in; full
 * batches come out of `push`, the remainder out of `flush`.
 */
export class PutEventsBatcher<E extends SizedEntry> {
  private batch: E[] = [];
  private bytes = 0;

  /** Returns a full batch when adding this entry closed one. Throws EntryTooLargeError. */
  push(entry: E): E[] | undefined {
    const size = putEventsEntrySize(entry);
    if (size > MAX_PUT_EVENTS_BYTES) throw new EntryTooLargeError(size);
    let closed: E[] | undefined;
    if (this.bytes + size > MAX_PUT_EVENTS_BYTES) closed = this.take();
    this.batch.push(entry);
    this.bytes += size;
    if (this.batch.length === MAX_ENTRIES_PER_PUT_EVENTS) {
      // Only one batch can close per push: a batch closed for size holds no more than 9 entries.
      return closed ?? this.take();
    }
    return closed;
  }

  flush(): E[] | undefined {
    return this.batch.length > 0 ? this.take() : undefined;
  }

  private take(): E[] {
    const batch = this.batch;
    this.batch = [];
    this.bytes = 0;
    return batch;
  }
}

/** Splits a list of entries into PutEvents-sized requests. */
export function batchPutEventsEntries<E extends SizedEntry>(entries: Iterable<E>): E[][] {
  const batcher = new PutEventsBatcher<E>();
  const batches: E[][] = [];
  for (const e of entries) {
    const full = batcher.push(e);
    if (full) batches.push(full);
  }
  const rest = batcher.flush();
  if (rest) batches.push(rest);
  return batches;
}

/**
 * How deep JSON may nest: AWS documents that "PutEvents will only process nested JSON up to 1000
 * levels deep" (API reference, PutEvents). The same figure bounds every JSON body the local endpoint
 * takes: deeper text is refused before it is parsed, so no recursive step after it (JSON.stringify,
 * a dead-letter write, a pattern match) can run out of stack on what was accepted.
 */
export const MAX_JSON_DEPTH = 1000;

/**
 * Tracks the nesting depth of JSON text fed in pieces, without parsing it (and without recursion):
 * brackets inside strings do not count. Malformed text is left for the parser to reject.
 */
export class JsonDepthGauge {
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** The deepest nesting seen so far. */
  deepest = 0;

  /** Feeds text (or UTF-8 bytes: every byte that matters is ASCII); returns the deepest so far. */
  feed(chunk: string | Uint8Array): number {
    const text = typeof chunk === 'string';
    for (let i = 0; i < chunk.length; i++) {
      const c = text ? (chunk as string).charCodeAt(i) : (chunk as Uint8Array)[i];
      if (this.inString) {
        if (this.escaped) this.escaped = false;
        else if (c === 0x5c) this.escaped = true;
        else if (c === 0x22) this.inString = false;
      } else if (c === 0x22) this.inString = true;
      else if (c === 0x7b || c === 0x5b) {
        this.depth++;
        if (this.depth > this.deepest) this.deepest = this.depth;
      } else if (c === 0x7d || c === 0x5d) this.depth--;
    }
    return this.deepest;
  }
}

/** Whether JSON text nests deeper than `max` levels (`{"a": 1}` is one level). */
export function jsonNestsDeeperThan(text: string, max: number = MAX_JSON_DEPTH): boolean {
  return new JsonDepthGauge().feed(text) > max;
}
