/**
 * The dead-letter queues: events that exhausted their retries, a file per target under the state
 * directory's `dlq/` (`<target>.ndjson`, one letter per line, with when and why). A redrive moves a
 * queue aside (`<target>.<ms>.redriving`) before delivering its letters again, so a letter that
 * fails again lands in a fresh queue and nothing is overwritten; a redrive a crash cut short leaves
 * that file behind, and the next redrive takes it first.
 */
import { createHash } from 'node:crypto';
import { appendFileSync, closeSync, openSync, readSync, renameSync, rmSync, statSync } from 'node:fs';
import { open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { z } from 'zod';
import type { DeadLetter } from './bus.ts';
import { storedEventSchema } from './journal.ts';
import { appendRecordsSync, parseLine, readLines, readRecords } from './ndjson.ts';

/** A dead letter as its queue holds it: the event, why it failed, and when. */
export type DeadLetterRecord = DeadLetter & { time: string };

const deadLetterSchema = z.object({
  time: z.string(),
  target: z.string(),
  event: storedEventSchema,
  attempts: z.number(),
  reason: z.string(),
}) satisfies z.ZodType<DeadLetterRecord>;

/** A queue taken out for a redrive: its target (the file's, whatever a line says) and its letters. */
export interface RedrivenQueue {
  target: string;
  letters: AsyncIterable<DeadLetterRecord>;
}

/** The targets whose events carry a row: a letter of theirs is a row neither loaded nor failed. */
const ROW_TARGETS = ['transform', 'load'] as const;

/** `<target>.ndjson`, or `<target>.<ms>.redriving` left by a redrive. */
const QUEUE_FILE = /^([^.]+)\.(?:\d+\.redriving|ndjson)$/;

export class DeadLetterStore {
  constructor(private readonly dir: string) {}

  /**
   * Appends a letter to its target's queue, synchronously: the event is acknowledged right after,
   * so it must be on disk first.
   */
  append(letter: DeadLetter): void {
    const record: DeadLetterRecord = { time: new Date().toISOString(), ...letter };
    let written: DeadLetterRecord = record;
    try {
      JSON.stringify(record);
    } catch (error) {
      // An event that cannot be written out (the bus refuses detail nested too deep, so this should
      // not happen) is dead-lettered without its detail rather than taking the process down.
      const why = error instanceof Error ? error.message : String(error);
      written = {
        ...record,
        event: { ...letter.event, detail: {} },
        reason: `${letter.reason}; its detail could not be written (${why})`,
      };
    }
    appendRecordsSync(this.queuePath(letter.target), [written]);
  }

  /** The letters of every target (or one), target by target, optionally only one run's. */
  async *read(filter: { target?: string; run?: string } = {}): AsyncGenerator<DeadLetterRecord> {
    const names = (await this.names()).filter((n) => n.endsWith('.ndjson')).sort();
    for (const name of names) {
      if (filter.target !== undefined && name !== `${filter.target}.ndjson`) continue;
      for await (const letter of readRecords(join(this.dir, name), deadLetterSchema)) {
        if (filter.run !== undefined && (letter.event.detail as { run?: unknown }).run !== filter.run)
          continue;
        yield letter;
      }
    }
  }

  /** How many letters a target's queue holds. */
  async count(target: string): Promise<number> {
    const path = this.queuePath(target);
    // Read again only when the file changed: a metrics scrape must not reparse a big queue each time.
    const now = await stat(path).catch(() => undefined);
    const cached = this.counted.get(target);
    if (now && cached && cached.size === now.size && cached.mtimeMs === now.mtimeMs) return cached.count;
    let count = 0;
    for await (const _ of readRecords(path, deadLetterSchema)) count++;
    if (now) this.counted.set(target, { size: now.size, mtimeMs: now.mtimeMs, count });
    else this.counted.delete(target);
    return count;
  }

  /** What identifies a target's queue file as it is now (undefined: none): it changes with every write. */
  async version(target: string): Promise<string | undefined> {
    const now = await stat(this.queuePath(target)).catch(() => undefined);
    return now ? `${now.ino}:${now.size}:${now.mtimeMs}` : undefined;
  }

  /** Whether a redrive a crash cut short left a target's queue behind (`<target>.<ms>.redriving`). */
  async hasLeftovers(target: string): Promise<boolean> {
    return (await this.names()).some(
      (name) => name.endsWith('.redriving') && QUEUE_FILE.exec(name)?.[1] === target,
    );
  }

  private readonly counted = new Map<string, { size: number; mtimeMs: number; count: number }>();

  /**
   * Takes the queues out for a redrive (every target's, or one's): leftovers of a redrive a crash
   * cut short first, then the queues, each moved aside as it is reached. Read each queue's letters
   * before asking for the next queue: its moved file is deleted then, once the caller has delivered
   * (journaled) them all.
   */
  async *takeForRedrive(target?: string): AsyncGenerator<RedrivenQueue> {
    const names = (await this.names()).sort(
      (a, b) => Number(b.endsWith('.redriving')) - Number(a.endsWith('.redriving')),
    );
    for (const name of names) {
      const queue = QUEUE_FILE.exec(name)?.[1];
      if (!queue || (target !== undefined && queue !== target)) continue;
      let redriving = join(this.dir, name);
      if (name.endsWith('.ndjson')) {
        const moved = join(this.dir, `${queue}.${Date.now()}.redriving`);
        // Never while a removal reads the queue: a new file (perhaps on the same inode) would
        // have the old one's tail copied from its offset.
        const from = redriving;
        await this.serially(queue, () => rename(from, moved));
        redriving = moved;
      }
      yield { target: queue, letters: readRecords(redriving, deadLetterSchema) };
      await rm(redriving, { force: true });
    }
  }

  /**
   * A target's letters, each with a key naming its line (for `remove`): how the SQS API lists a
   * dead-letter queue's messages.
   */
  async *keyed(target: string): AsyncGenerator<{ key: string; letter: DeadLetterRecord }> {
    for await (const line of readLines(this.queuePath(target))) {
      const letter = parseLine(line, deadLetterSchema);
      if (letter) yield { key: letterKey(line), letter };
    }
  }

  /**
   * Removes the letters these keys name from a target's queue (SQS DeleteMessage on its DLQ); returns
   * how many went. The queue is written afresh beside the old one and renamed over it; letters
   * appended meanwhile (appends are synchronous, and so is the last step here) are carried over.
   */
  remove(target: string, keys: ReadonlySet<string>): Promise<number> {
    // One at a time per queue: each writes the queue afresh from the last one's result.
    return this.serially(target, () => this.removeNow(target, keys));
  }

  /** Runs `work` after everything queued before it for this target's queue: removals and redrives' moves. */
  private serially<T>(target: string, work: () => Promise<T>): Promise<T> {
    const next = (this.queueWork.get(target) ?? Promise.resolve()).catch(() => undefined).then(work);
    this.queueWork.set(target, next);
    return next;
  }

  private readonly queueWork = new Map<string, Promise<unknown>>();

  private async removeNow(target: string, keys: ReadonlySet<string>): Promise<number> {
    const path = this.queuePath(target);
    const start = await stat(path).catch(() => undefined);
    if (!start) return 0;
    const temp = `${path}.${process.pid}.removing`;
    let removed = 0;
    const out = await open(temp, 'w');
    try {
      let kept = '';
      // What the file held when we began; what is appended meanwhile is carried over below.
      for await (const line of readLines(path, start.size)) {
        if (keys.has(letterKey(line))) removed++;
        else kept += `${line}\n`;
        if (kept.length > 1 << 20) {
          await out.write(kept);
          kept = '';
        }
      }
      await out.write(kept);
    } finally {
      await out.close();
    }
    // Synchronously from here: no append can come between the tail's copy and the rename.
    const now = statSync(path, { throwIfNoEntry: false });
    // Nothing to remove, or the queue was taken for a redrive meanwhile (another file now): leave it.
    if (removed === 0 || !now || now.ino !== start.ino || now.size < start.size) {
      rmSync(temp, { force: true });
      return 0;
    }
    if (now.size > start.size) {
      const tail = Buffer.alloc(now.size - start.size);
      const fd = openSync(path, 'r');
      try {
        readSync(fd, tail, 0, tail.length, start.size);
      } finally {
        closeSync(fd);
      }
      appendFileSync(temp, tail);
    }
    renameSync(temp, path);
    return removed;
  }

  /** The rows of these runs still in a dead-letter queue, per run. */
  async rowsStillDead(runs: ReadonlySet<string>): Promise<Map<string, Set<number>>> {
    const stillDead = new Map<string, Set<number>>();
    for (const target of ROW_TARGETS) {
      for await (const letter of readRecords(this.queuePath(target), deadLetterSchema)) {
        const row = deadLetteredRow({ target, event: letter.event });
        if (!row || !runs.has(row.run)) continue;
        let rows = stillDead.get(row.run);
        if (!rows) stillDead.set(row.run, (rows = new Set()));
        rows.add(row.row);
      }
    }
    return stillDead;
  }

  private queuePath(target: string): string {
    return join(this.dir, `${target}.ndjson`);
  }

  private async names(): Promise<string[]> {
    return readdir(this.dir).catch(() => [] as string[]);
  }
}

/** A letter's key: the digest of its line (its time and event make it unique). */
function letterKey(line: string): string {
  return createHash('sha256').update(line).digest('hex').slice(0, 32);
}

/** The run and row a dead-lettered event of transform or load carries, if any. */
export function deadLetteredRow(
  letter: Pick<DeadLetter, 'target' | 'event'>,
): { run: string; row: number } | undefined {
  if (!(ROW_TARGETS as readonly string[]).includes(letter.target)) return undefined;
  const { run, row } = (letter.event.detail ?? {}) as { run?: unknown; row?: unknown };
  if (typeof run !== 'string' || !Number.isSafeInteger(row) || (row as number) < 1) return undefined;
  return { run, row: row as number };
}
