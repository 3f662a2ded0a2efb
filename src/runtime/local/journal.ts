/**
 * The bus's write-ahead journal, which is also its archive. Every accepted event is appended, with
 * a sequence number and the targets its rules matched, before any target sees it; targets append
 * acknowledgements once an event is processed or dead-lettered. Writes are synchronous, so a
 * process killed at any point leaves every accepted event on disk (the OS holds written pages), and
 * on restart whatever a target had not acknowledged is delivered again.
 *
 * Layout under <dir>: `segment-<firstSeq>.ndjson` (one event per line, rotated by size and kept for
 * replay until they age out), `acks-<target>.bin` (acknowledged sequence numbers, 8 bytes each,
 * cleared whenever the bus is idle), `checkpoint.json` (every sequence up to it is acknowledged).
 */
import {
  closeSync,
  createReadStream,
  existsSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { EventEnvelope } from '../../pipeline/events.ts';
import { Bitset } from './bitset.ts';

export interface JournalRecord {
  seq: number;
  targets: string[];
  event: EventEnvelope<unknown>;
}

export interface JournalOptions {
  dir: string;
  /** Start a new segment past this size. */
  segmentBytes?: number;
  /** Segments wholly older than this are deleted once acknowledged (the archive's retention). */
  retentionMs?: number;
}

const SEGMENT = /^segment-(\d+)\.ndjson$/;

export class Journal {
  private readonly dir: string;
  private readonly segmentBytes: number;
  private readonly retentionMs: number;
  private segmentFd: number | undefined;
  private segmentSize = 0;
  private readonly ackFds = new Map<string, number>();
  private nextSeq: number;
  private checkpointSeq: number;

  constructor(options: JournalOptions) {
    this.dir = options.dir;
    this.segmentBytes = options.segmentBytes ?? 64 * 1024 * 1024;
    this.retentionMs = options.retentionMs ?? 7 * 24 * 3600 * 1000;
    mkdirSync(this.dir, { recursive: true });
    this.checkpointSeq = this.readCheckpoint();
    this.nextSeq = Math.max(this.checkpointSeq, this.lastSeqOnDisk()) + 1;
  }

  /** Reserves `count` sequence numbers; returns the first. */
  reserve(count: number): number {
    const first = this.nextSeq;
    this.nextSeq += count;
    return first;
  }

  /** Appends journal lines (see `journalLine`) whose first seq is `firstSeq`. */
  appendLines(firstSeq: number, text: string): void {
    if (this.segmentFd === undefined || this.segmentSize > this.segmentBytes) this.rotate(firstSeq);
    const bytes = Buffer.from(text, 'utf8');
    writeSync(this.segmentFd as number, bytes);
    this.segmentSize += bytes.length;
  }

  ack(target: string, seqs: readonly number[]): void {
    if (seqs.length === 0) return;
    let fd = this.ackFds.get(target);
    if (fd === undefined) {
      fd = openSync(join(this.dir, `acks-${target}.bin`), 'a');
      this.ackFds.set(target, fd);
    }
    const buffer = Buffer.allocUnsafe(seqs.length * 8);
    for (let i = 0; i < seqs.length; i++) buffer.writeDoubleLE(seqs[i] as number, i * 8);
    writeSync(fd, buffer);
  }

  /** Everything so far is acknowledged: move the checkpoint, clear the acks, drop aged segments. */
  checkpoint(): void {
    const seq = this.nextSeq - 1;
    if (seq === this.checkpointSeq) return;
    const fd = openSync(join(this.dir, 'checkpoint.json.tmp'), 'w');
    writeSync(fd, JSON.stringify({ seq }));
    closeSync(fd);
    // rename is atomic: a crash leaves the old checkpoint or the new one, never half of one.
    renameSync(join(this.dir, 'checkpoint.json.tmp'), join(this.dir, 'checkpoint.json'));
    this.checkpointSeq = seq;
    for (const [target, fd] of this.ackFds) {
      closeSync(fd);
      rmSync(join(this.dir, `acks-${target}.bin`), { force: true });
    }
    this.ackFds.clear();
    this.dropAgedSegments();
  }

  /** Records whose targets have not all acknowledged them, oldest first, read as a stream. */
  async *pending(): AsyncGenerator<JournalRecord> {
    // The checkpoint as it stands now: records past it are what this read must deliver.
    const checkpoint = this.checkpointSeq;
    const acked = this.readAcks();
    for (const { path, first } of this.segments()) {
      if (this.segmentEnd(first) <= checkpoint) continue;
      for await (const record of readRecords(path)) {
        if (record.seq <= checkpoint) continue;
        const targets = record.targets.filter((t) => !acked.get(t)?.has(record.seq));
        if (targets.length > 0) yield { ...record, targets };
      }
    }
  }

  /**
   * Archived events that happened in [from, to), for replay. Event times name whole seconds, so an
   * event stamped with the second `from` falls in, and one stamped with the second `to` falls in
   * unless `to` is that second's very start.
   */
  async *archived(from: Date, to: Date): AsyncGenerator<JournalRecord> {
    const fromMs = Math.floor(from.getTime() / 1000) * 1000;
    const toMs = to.getTime();
    for (const { path } of this.segments()) {
      for await (const record of readRecords(path)) {
        const time = Date.parse(record.event.time);
        if (time >= fromMs && time < toMs) yield record;
      }
    }
  }

  close(): void {
    if (this.segmentFd !== undefined) closeSync(this.segmentFd);
    this.segmentFd = undefined;
    for (const fd of this.ackFds.values()) closeSync(fd);
    this.ackFds.clear();
  }

  private rotate(firstSeq: number): void {
    if (this.segmentFd !== undefined) closeSync(this.segmentFd);
    this.segmentFd = openSync(join(this.dir, `segment-${String(firstSeq).padStart(12, '0')}.ndjson`), 'a');
    this.segmentSize = 0;
  }

  private segments(): { path: string; first: number }[] {
    return readdirSync(this.dir)
      .map((name) => ({ name, match: SEGMENT.exec(name) }))
      .filter((s) => s.match)
      .map((s) => ({ path: join(this.dir, s.name), first: Number(s.match?.[1]) }))
      .sort((a, b) => a.first - b.first);
  }

  /** The last seq a segment can hold: one less than the next segment's first. */
  private segmentEnd(first: number): number {
    const next = this.segments().find((s) => s.first > first);
    return next ? next.first - 1 : Number.MAX_SAFE_INTEGER;
  }

  private lastSeqOnDisk(): number {
    const last = this.segments().at(-1);
    if (!last) return 0;
    const text = readFileSync(last.path, 'utf8');
    const lines = text.trimEnd().split('\n');
    for (let i = lines.length - 1; i >= 0; i--) {
      const seq = /^\{"seq":(\d+)/.exec(lines[i] ?? '')?.[1];
      if (seq) return Number(seq);
    }
    return last.first - 1;
  }

  private readCheckpoint(): number {
    try {
      return (JSON.parse(readFileSync(join(this.dir, 'checkpoint.json'), 'utf8')) as { seq: number }).seq;
    } catch {
      return 0;
    }
  }

  /** Acknowledged seqs per target, as bitsets over the seqs past the checkpoint (a bit each). */
  private readAcks(): Map<string, { has(seq: number): boolean }> {
    const acks = new Map<string, { has(seq: number): boolean }>();
    const base = this.checkpointSeq;
    for (const name of readdirSync(this.dir)) {
      const target = /^acks-(.+)\.bin$/.exec(name)?.[1];
      if (!target) continue;
      const bytes = readFileSync(join(this.dir, name));
      const seqs = new Bitset();
      // A torn last write leaves a partial number: ignore it (that event is simply redelivered).
      for (let i = 0; i + 8 <= bytes.length; i += 8) {
        const seq = bytes.readDoubleLE(i);
        if (seq > base) seqs.add(seq - base);
      }
      acks.set(target, { has: (seq) => seq > base && seqs.has(seq - base) });
    }
    return acks;
  }

  private dropAgedSegments(): void {
    const segments = this.segments();
    const cutoff = Date.now() - this.retentionMs;
    // Never the newest: it is being written.
    for (const segment of segments.slice(0, -1)) {
      if (this.segmentEnd(segment.first) > this.checkpointSeq) break;
      if (statSync(segment.path).mtimeMs < cutoff) rmSync(segment.path, { force: true });
    }
  }
}

async function* readRecords(path: string): AsyncGenerator<JournalRecord> {
  if (!existsSync(path)) return;
  const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line) continue;
    try {
      yield JSON.parse(line) as JournalRecord;
    } catch {
      // A line torn by a crash mid-write: its event was never delivered, so nothing depends on it.
    }
  }
}

/** One journal line per event, built around the entry's Detail text rather than re-serialising it. */
export function journalLine(
  seq: number,
  targets: readonly string[],
  event: EventEnvelope<unknown>,
  detailJson: string,
): string {
  return (
    `{"seq":${seq},"targets":${JSON.stringify(targets)},"event":{"version":"0","id":"${event.id}",` +
    `"detail-type":${JSON.stringify(event['detail-type'])},"source":${JSON.stringify(event.source)},` +
    `"account":"${event.account}","time":"${event.time}","region":"${event.region}",` +
    `"resources":${JSON.stringify(event.resources)},"detail":${detailJson}}}\n`
  );
}
