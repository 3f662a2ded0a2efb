/**
 * The local stand-in for the seed's S3 -> SQS -> extract path: ObjectCreated notifications of the
 * landing bucket are submitted here and a consumer runs each object through the pipeline, a few at a
 * time (one by default). With a journal file it is durable, as the SQS queue is: a notification is
 * written down (synchronously) before it is queued and marked done once processed, so one that a
 * crash caught queued is found again by `restore()`.
 */
import { closeSync, fsyncSync, openSync, readFileSync, writeFileSync, writeSync } from 'node:fs';
import PQueue from 'p-queue';
import { z } from 'zod';
import { appendRecordsSync, parseRecords, toLines } from '../ndjson.ts';

/** An object named by its notification. */
export interface IngestObject {
  bucket: string;
  key: string;
  /** The ETag from the notification. */
  etag?: string;
  /** The version the notification announced (absent in journals from before buckets were versioned). */
  versionId?: string;
  size?: number;
}

export interface IngestQueue {
  /** Queues the object; never blocks; throws only when it cannot be journaled. Ignored after close(). */
  submit(object: IngestObject): void;
  /** Resolves once nothing is queued or being processed. */
  onIdle(): Promise<void>;
  /** Stops taking objects, lets the ones being processed finish; returns the ones never started. */
  close(): Promise<IngestObject[]>;
}

export interface ObjectIngestOptions {
  /** Objects processed at once. */
  concurrency?: number;
  /** Called with an object whose processing threw (the queue moves on). */
  onError?: (object: IngestObject, error: unknown) => void;
  /** Where notifications are journaled; in memory without one. */
  journal?: string;
}

const ingestObjectSchema = z.looseObject({
  bucket: z.string(),
  key: z.string(),
  etag: z.string().optional(),
  versionId: z.string().optional(),
  size: z.number().optional(),
}) satisfies z.ZodType<IngestObject>;

type JournalLine = { submitted: IngestObject } | { done: IngestObject };

const journalLineSchema = z.union([
  z.object({ submitted: ingestObjectSchema }),
  z.object({ done: ingestObjectSchema }),
]) satisfies z.ZodType<JournalLine>;

const identity = (o: IngestObject): string =>
  JSON.stringify([o.bucket, o.key, o.etag ?? null, ...(o.versionId ? [o.versionId] : [])]);

export class ObjectIngest implements IngestQueue {
  private readonly work: PQueue;
  /** Objects queued and not yet started, to name them if the stack stops first. */
  private readonly waiting = new Set<{ object: IngestObject }>();
  private closed = false;

  /** What a previous process journaled and never finished, read before anything new is written. */
  readonly unfinished: IngestObject[];

  constructor(
    private readonly process: (object: IngestObject) => Promise<void>,
    private readonly options: ObjectIngestOptions = {},
  ) {
    this.work = new PQueue({ concurrency: Math.max(1, options.concurrency ?? 1) });
    this.unfinished = this.readJournal();
  }

  /** Objects queued and not yet started. */
  get pending(): number {
    return this.waiting.size;
  }

  /**
   * Journals the object (synchronously, flushed to the disk) and queues it. The edge calls this
   * before it answers the upload, so an acknowledged object is never lost. Throws only when the
   * journal cannot be written (the upload then fails).
   */
  submit(object: IngestObject): void {
    if (this.closed) return;
    this.record({ submitted: object }, true);
    const queued = { object };
    this.waiting.add(queued);
    void this.work.add(() => {
      this.waiting.delete(queued);
      return this.run(object);
    });
  }

  /**
   * The notifications a previous process journaled and never finished, oldest first; the journal is
   * compacted to them. Submit the ones still wanted (a run already finished need not be).
   */
  private readJournal(): IngestObject[] {
    const path = this.options.journal;
    if (!path) return [];
    let text = '';
    try {
      text = readFileSync(path, 'utf8');
    } catch {
      return [];
    }
    const pending = new Map<string, IngestObject>();
    // A line torn by a crash is skipped.
    for (const parsed of parseRecords(text, journalLineSchema)) {
      if ('submitted' in parsed) pending.set(identity(parsed.submitted), parsed.submitted);
      else pending.delete(identity(parsed.done));
    }
    const unfinished = [...pending.values()];
    // Compacted, not cleared: they stay pending until done, even if this process dies first too.
    writeFileSync(path, toLines(unfinished.map((submitted) => ({ submitted }))));
    return unfinished;
  }

  onIdle(): Promise<void> {
    return this.work.onIdle();
  }

  async close(): Promise<IngestObject[]> {
    this.closed = true;
    this.work.clear();
    const dropped = [...this.waiting].map((queued) => queued.object);
    this.waiting.clear();
    await this.work.onIdle();
    return dropped;
  }

  private async run(object: IngestObject): Promise<void> {
    try {
      await this.process(object);
    } catch (error) {
      this.options.onError?.(object, error);
    } finally {
      this.record({ done: object });
    }
  }

  private record(line: JournalLine, flush = false): void {
    const path = this.options.journal;
    if (!path) return;
    if (!flush) {
      appendRecordsSync(path, [line]);
      return;
    }
    const fd = openSync(path, 'a');
    try {
      writeSync(fd, toLines([line]));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }
}
