/**
 * The bus's write-ahead journal, and its archive when one is kept. Every accepted event is appended,
 * with a sequence number and the targets its rules matched, before any target sees it; targets
 * append acknowledgements once an event is processed or dead-lettered. Writes are synchronous, so a
 * process killed at any point leaves every accepted event on disk (the OS holds written pages), and
 * on restart whatever a target had not acknowledged is delivered again.
 *
 * Layout under <dir>: `segment-<firstSeq>.ndjson` (one event per line, rotated by size),
 * `acks-<target>.bin` (acknowledged sequence numbers past the checkpoint, 8 bytes each),
 * `checkpoint.json` (every sequence up to it is acknowledged).
 *
 * The checkpoint follows the low-water mark, the lowest sequence some target has yet to acknowledge,
 * while the bus is busy, not only when it is idle: a segment wholly below it is done with. Without an
 * archive it is deleted then, so a long run keeps about one segment of backlog on disk, not its whole
 * history. With an archive (opt-in, as on AWS) segments are kept for replay until they are older
 * than the retention.
 */
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import type { EventEnvelope } from '../../pipeline/events.ts';
import { jsonNestsDeeperThan, MAX_JSON_DEPTH } from '../../pipeline/put-events.ts';
import { Bitset } from './bitset.ts';
import { appendRecordsSync, readLines, readRecords as readNdjson } from './ndjson.ts';

export interface JournalRecord {
  seq: number;
  targets: string[];
  event: EventEnvelope<unknown>;
  /** When the bus received the event (epoch ms); absent in lines written before it was kept. */
  receivedAt?: number;
}

/** An event to journal, with the targets its rules matched. */
export interface JournalEntry {
  targets: readonly string[];
  event: EventEnvelope<unknown>;
  detailJson?: string;
  /**
   * When the bus received the event (epoch ms): after a restart its age and ingestion time count
   * from then, not from the event's `time` (which a client may set to any time).
   */
  receivedAt?: number;
}

export interface JournalOptions {
  dir: string;
  /** Start a new segment past this size. Small enough that deleting done segments bounds the disk. */
  segmentBytes?: number;
  /**
   * Keep acknowledged segments as an archive for replay, this long (segments wholly older go).
   * Undefined: no archive, a segment is deleted as soon as every event in it is acknowledged.
   */
  archiveRetentionMs?: number;
}

export const DEFAULT_SEGMENT_BYTES = 8 * 1024 * 1024;

const SEGMENT = /^segment-(\d+)\.ndjson$/;
const ACKS = /^acks-(.+)\.bin$/;
/** The start of every journal line: its seq and its targets (target names hold no `]` or `,`). */
const LINE_HEAD = /\{"seq":(\d+),"targets":\[([^\]]*)\]/y;
/** Where records that cannot be delivered (poisoned) are moved at recovery, under the journal's dir. */
export const QUARANTINE_FILE = 'quarantine.ndjson';

/** A journal record set aside at recovery, with why: it is acknowledged, never delivered again. */
export interface QuarantinedRecord {
  time: string;
  seq: number;
  targets: string[];
  reason: string;
  /** The record's journal line as it was. */
  line: string;
}

const quarantinedRecordSchema: z.ZodType<QuarantinedRecord> = z.object({
  time: z.string(),
  seq: z.number(),
  targets: z.array(z.string()),
  reason: z.string(),
  line: z.string(),
});

/** The records quarantined so far (the quarantine file under the journal's dir), streamed. */
export function readQuarantine(path: string): AsyncGenerator<QuarantinedRecord> {
  return readNdjson(path, quarantinedRecordSchema);
}

/**
 * An event as the bus writes it to disk (journal, dead letters): the envelope, with whatever else
 * it carries (`replay-name`). A detail is any JSON object: anyone may put events.
 */
export const storedEventSchema = z.looseObject({
  version: z.literal('0'),
  id: z.string(),
  'detail-type': z.string(),
  source: z.string(),
  account: z.string(),
  time: z.string().refine((time) => !Number.isNaN(Date.parse(time))),
  region: z.string(),
  resources: z.array(z.string()),
  detail: z.custom<object>((detail) => detail !== null && typeof detail === 'object'),
}) satisfies z.ZodType<EventEnvelope<unknown>>;

const journalRecordSchema = z.object({
  seq: z.number().int().min(1).max(Number.MAX_SAFE_INTEGER),
  targets: z.array(z.string()),
  event: storedEventSchema,
  receivedAt: z.number().optional(),
}) satisfies z.ZodType<JournalRecord>;

const checkpointSchema = z.object({ seq: z.number() });

export class Journal {
  private readonly dir: string;
  private readonly segmentBytes: number;
  private archiveRetentionMs: number | undefined;
  private segmentFd: number | undefined;
  /** The first seq of the segment being written. */
  private currentSegment: number | undefined;
  private segmentSize = 0;
  /** First seqs of closed segments that still hold seqs past the checkpoint, oldest first. */
  private liveSegments: number[];
  private readonly ackFds = new Map<string, number>();
  private nextSeq: number;
  private checkpointSeq: number;
  /** Closed: acks and checkpoints are ignored, so a late caller cannot touch files a later process owns. */
  private closed = false;
  /** Seqs appended by this process that some target has yet to acknowledge. */
  private readonly outstanding = new OutstandingSeqs();
  /** Seqs from before a restart that recovery has read and some target has yet to acknowledge. */
  private readonly recovering = new OutstandingSeqs();
  /** No checkpoint past this: records from before a restart that recovery has not read yet. */
  private recoveryFloor: number;
  /** Records quarantined by this process (see `pending`). */
  quarantined = 0;

  constructor(options: JournalOptions) {
    this.dir = options.dir;
    this.segmentBytes = options.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
    this.archiveRetentionMs = options.archiveRetentionMs;
    mkdirSync(this.dir, { recursive: true });
    this.checkpointSeq = this.readCheckpoint();
    const lastOnDisk = this.lastSeqOnDisk();
    this.nextSeq = Math.max(this.checkpointSeq, lastOnDisk) + 1;
    this.recoveryFloor = lastOnDisk > this.checkpointSeq ? this.checkpointSeq + 1 : Infinity;
    const segments = this.segments();
    this.liveSegments = segments
      .filter((s, i) => (segments[i + 1]?.first ?? this.nextSeq) - 1 > this.checkpointSeq)
      .map((s) => s.first);
  }

  /**
   * Starts or stops keeping acknowledged events (CreateArchive, DeleteArchive while the stack runs):
   * from now on, as AWS starts archiving at creation; when stopped, the segments go at the next checkpoint.
   */
  setArchiveRetention(ms: number | undefined): void {
    this.archiveRetentionMs = ms;
  }

  /** Whether acknowledged events are kept for replay. */
  get archiving(): boolean {
    return this.archiveRetentionMs !== undefined;
  }

  /** Reserves `count` sequence numbers; returns the first. */
  reserve(count: number): number {
    const first = this.nextSeq;
    this.nextSeq += count;
    return first;
  }

  /**
   * Journals events before any target sees them, in one write; returns the first one's seq.
   * `detailJson` is the Detail text of an event just put: written as it came rather than serialised
   * again. Without it (replays, redrives) the whole event is written, with whatever it carries
   * beyond the envelope (`replay-name`).
   */
  append(entries: readonly JournalEntry[]): number {
    const first = this.reserve(entries.length);
    let text = '';
    for (const [i, { targets, event, detailJson, receivedAt }] of entries.entries()) {
      const seq = first + i;
      text +=
        detailJson === undefined
          ? `${JSON.stringify({ seq, targets, event, receivedAt })}\n`
          : journalLine(seq, targets, event, detailJson, receivedAt);
    }
    this.appendLines(first, text);
    return first;
  }

  /** Appends journal lines (see `journalLine`) whose first seq is `firstSeq`. */
  appendLines(firstSeq: number, text: string): void {
    if (this.segmentFd === undefined || this.segmentSize > this.segmentBytes) this.rotate(firstSeq);
    const bytes = Buffer.from(text, 'utf8');
    writeSync(this.segmentFd as number, bytes);
    this.segmentSize += bytes.length;
    this.track(text);
  }

  ack(target: string, seqs: readonly number[]): void {
    // After close, nothing: a late caller must not reopen files another process may now own.
    if (seqs.length === 0 || this.closed) return;
    let fd = this.ackFds.get(target);
    if (fd === undefined) {
      fd = openSync(join(this.dir, `acks-${target}.bin`), 'a');
      this.ackFds.set(target, fd);
    }
    const buffer = Buffer.allocUnsafe(seqs.length * 8);
    for (let i = 0; i < seqs.length; i++) buffer.writeDoubleLE(seqs[i] as number, i * 8);
    writeSync(fd, buffer);
    for (const seq of seqs) {
      this.outstanding.ack(seq);
      this.recovering.ack(seq);
    }
    // Only once a whole closed segment is below the low-water mark: a checkpoint per segment.
    if (this.liveSegments.length > 0 && this.liveSegmentEnd(0) < this.lowWaterMark()) {
      this.moveCheckpoint(this.lowWaterMark() - 1);
    }
  }

  /** Everything so far is acknowledged (the bus is idle): move the checkpoint, clear the acks. */
  checkpoint(): void {
    if (this.closed) return;
    // Idle before recovery has read what an earlier process left (etl up serves requests while it
    // recovers): those records are not acknowledged, so the checkpoint must not pass them.
    if (this.recoveryFloor !== Infinity) return;
    this.outstanding.clear();
    this.recovering.clear();
    const seq = this.nextSeq - 1;
    const dropCurrent = !this.archiving && this.segmentFd !== undefined;
    // Called whenever the bus settles idle: cheap when there is nothing to do.
    if (seq === this.checkpointSeq && this.ackFds.size === 0 && !dropCurrent) return;
    if (seq > this.checkpointSeq) this.writeCheckpoint(seq);
    for (const [target, fd] of this.ackFds) {
      closeSync(fd);
      rmSync(join(this.dir, `acks-${target}.bin`), { force: true });
    }
    this.ackFds.clear();
    for (const name of readdirSync(this.dir)) {
      if (ACKS.test(name)) rmSync(join(this.dir, name), { force: true });
    }
    this.liveSegments = [];
    // Without an archive the segment being written is done with too: the next append starts another.
    if (dropCurrent && this.segmentFd !== undefined) {
      closeSync(this.segmentFd);
      this.segmentFd = undefined;
      this.currentSegment = undefined;
    }
    this.dropSegments();
  }

  /**
   * Deletes the segments the policy no longer needs (`etl gc`): wholly acknowledged ones without an
   * archive, ones wholly older than the retention with one. Returns the bytes freed.
   */
  collect(): number {
    return this.dropSegments();
  }

  /** Records whose targets have not all acknowledged them, oldest first, read as a stream. */
  async *pending(): AsyncGenerator<JournalRecord> {
    // The checkpoint as it stands now: records past it are what this read must deliver.
    const checkpoint = this.checkpointSeq;
    const acked = this.readAcks();
    for (const { path, first } of this.segments()) {
      if (this.segmentEnd(first) <= checkpoint) continue;
      for await (const read of readRecords(path)) {
        if (read.seq <= checkpoint) continue;
        if ('poisoned' in read) {
          const targets = read.targets.filter((t) => !acked.get(t)?.has(read.seq));
          if (targets.length > 0) this.quarantine({ ...read, targets });
          continue;
        }
        const record = read;
        const targets = record.targets.filter((t) => !acked.get(t)?.has(record.seq));
        if (targets.length === 0) continue;
        // Tracked before it is handed on, so the checkpoint cannot pass it until it is acknowledged.
        this.recovering.add(record.seq, targets.length);
        if (record.seq > this.recoveryFloor) this.recoveryFloor = record.seq;
        yield { ...record, targets };
      }
    }
    this.recoveryFloor = Infinity;
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
        if ('poisoned' in record) continue;
        const time = Date.parse(record.event.time);
        if (time >= fromMs && time < toMs) yield record;
      }
    }
  }

  /**
   * Sets a record aside: written to the quarantine file with its reason, then acknowledged for its
   * targets, so a record that would break delivery (or the process) is kept, but never delivered.
   */
  private quarantine(poisoned: { seq: number; targets: string[]; reason: string; line: string }): void {
    const entry: QuarantinedRecord = {
      time: new Date().toISOString(),
      seq: poisoned.seq,
      targets: poisoned.targets,
      reason: poisoned.reason,
      line: poisoned.line,
    };
    appendRecordsSync(join(this.dir, QUARANTINE_FILE), [entry]);
    for (const target of poisoned.targets) this.ack(target, [poisoned.seq]);
    this.quarantined++;
  }

  close(): void {
    this.closed = true;
    if (this.segmentFd !== undefined) closeSync(this.segmentFd);
    this.segmentFd = undefined;
    this.currentSegment = undefined;
    for (const fd of this.ackFds.values()) closeSync(fd);
    this.ackFds.clear();
  }

  /** The lowest seq some target has yet to acknowledge (or the next seq, when none). */
  private lowWaterMark(): number {
    return Math.min(
      this.recoveryFloor,
      this.recovering.lowest() ?? Infinity,
      this.outstanding.lowest() ?? Infinity,
      this.nextSeq,
    );
  }

  /** Records each appended line's seq and how many targets must acknowledge it. */
  private track(text: string): void {
    let start = 0;
    while (start < text.length) {
      LINE_HEAD.lastIndex = start;
      const head = LINE_HEAD.exec(text);
      if (head) {
        const targets = head[2] as string;
        const count = targets === '' ? 0 : targets.split(',').length;
        if (count > 0) this.outstanding.add(Number(head[1]), count);
      }
      const end = text.indexOf('\n', start);
      start = end === -1 ? text.length : end + 1;
    }
  }

  /**
   * Moves the checkpoint to `seq` while the bus is busy: the acks past it are kept (rewritten without
   * the ones below it), and segments wholly below it are done with.
   */
  private moveCheckpoint(seq: number): void {
    if (seq > this.checkpointSeq) {
      // The checkpoint first: a crash before the rest leaves files a later checkpoint drops.
      this.writeCheckpoint(seq);
      this.compactAcks();
    }
    while (this.liveSegments.length > 0 && this.liveSegmentEnd(0) <= this.checkpointSeq)
      this.liveSegments.shift();
    this.dropSegments();
  }

  private writeCheckpoint(seq: number): void {
    const fd = openSync(join(this.dir, 'checkpoint.json.tmp'), 'w');
    writeSync(fd, JSON.stringify({ seq }));
    closeSync(fd);
    // rename is atomic: a crash leaves the old checkpoint or the new one, never half of one.
    renameSync(join(this.dir, 'checkpoint.json.tmp'), join(this.dir, 'checkpoint.json'));
    this.checkpointSeq = seq;
  }

  /** Rewrites each acks file with only the seqs past the checkpoint, so they do not grow with a run. */
  private compactAcks(): void {
    for (const fd of this.ackFds.values()) closeSync(fd);
    this.ackFds.clear();
    for (const name of readdirSync(this.dir)) {
      if (!ACKS.test(name)) continue;
      const path = join(this.dir, name);
      const bytes = readFileSync(path);
      const kept = Buffer.allocUnsafe(bytes.length - (bytes.length % 8));
      let size = 0;
      for (let i = 0; i + 8 <= bytes.length; i += 8) {
        if (bytes.readDoubleLE(i) > this.checkpointSeq) size += bytes.copy(kept, size, i, i + 8);
      }
      if (size === 0) {
        rmSync(path, { force: true });
        continue;
      }
      writeFileSync(`${path}.tmp`, kept.subarray(0, size));
      renameSync(`${path}.tmp`, path);
    }
  }

  /** Deletes segments wholly at or below the checkpoint that the archive (if any) does not keep. */
  private dropSegments(): number {
    const cutoff = this.archiveRetentionMs === undefined ? Infinity : Date.now() - this.archiveRetentionMs;
    let freed = 0;
    const segments = this.segments();
    for (const [i, segment] of segments.entries()) {
      if (segment.first === this.currentSegment) break;
      const end = (segments[i + 1]?.first ?? this.nextSeq) - 1;
      if (end > this.checkpointSeq) break;
      const info = statSync(segment.path, { throwIfNoEntry: false });
      if (!info || info.mtimeMs >= cutoff) continue;
      rmSync(segment.path, { force: true });
      freed += info.size;
    }
    return freed;
  }

  private rotate(firstSeq: number): void {
    if (this.segmentFd !== undefined) closeSync(this.segmentFd);
    if (this.currentSegment !== undefined) this.liveSegments.push(this.currentSegment);
    this.segmentFd = openSync(join(this.dir, `segment-${String(firstSeq).padStart(12, '0')}.ndjson`), 'a');
    this.currentSegment = firstSeq;
    this.segmentSize = 0;
  }

  /** The last seq the i-th live segment holds: one less than the first of the segment after it. */
  private liveSegmentEnd(i: number): number {
    return (this.liveSegments[i + 1] ?? this.currentSegment ?? this.nextSeq) - 1;
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
      return checkpointSchema.parse(JSON.parse(readFileSync(join(this.dir, 'checkpoint.json'), 'utf8'))).seq;
    } catch {
      return 0;
    }
  }

  /** Acknowledged seqs per target, as bitsets over the seqs past the checkpoint (a bit each). */
  private readAcks(): Map<string, { has(seq: number): boolean }> {
    const acks = new Map<string, { has(seq: number): boolean }>();
    const base = this.checkpointSeq;
    for (const name of readdirSync(this.dir)) {
      const target = ACKS.exec(name)?.[1];
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
}

/**
 * Seqs awaiting acknowledgements, added in rising order: a queue whose head, once its fully
 * acknowledged entries are skipped, is the lowest seq still awaited (amortised constant time).
 */
class OutstandingSeqs {
  private readonly bySeq = new Map<number, { seq: number; left: number }>();
  private queue: { seq: number; left: number }[] = [];
  private head = 0;

  add(seq: number, targets: number): void {
    const entry = { seq, left: targets };
    this.bySeq.set(seq, entry);
    this.queue.push(entry);
  }

  ack(seq: number): void {
    const entry = this.bySeq.get(seq);
    if (entry && --entry.left === 0) this.bySeq.delete(seq);
  }

  lowest(): number | undefined {
    while (this.head < this.queue.length && (this.queue[this.head] as { left: number }).left === 0)
      this.head++;
    if (this.head > 4096 && this.head * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.head);
      this.head = 0;
    }
    return this.queue[this.head]?.seq;
  }

  clear(): void {
    this.bySeq.clear();
    this.queue = [];
    this.head = 0;
  }
}

interface PoisonedLine {
  poisoned: true;
  seq: number;
  targets: string[];
  reason: string;
  line: string;
}

/** A line's seq and targets, read from the prefix `journalLine` writes, without parsing the rest. */
const RECORD_HEAD = /^\{"seq":(\d+),"targets":(\[[^\]]*\])/;

/**
 * The records of a segment. A line that cannot be parsed is skipped (torn by a crash mid-write: its
 * event was never delivered, so nothing depends on it); a line that names its seq and targets but is
 * nested too deep or is not a record's shape comes out poisoned, for quarantine.
 */
async function* readRecords(path: string): AsyncGenerator<JournalRecord | PoisonedLine> {
  for await (const line of readLines(path)) {
    const poisoned = (reason: string): PoisonedLine | undefined => {
      const head = RECORD_HEAD.exec(line);
      if (!head) return undefined;
      let targets: unknown;
      try {
        targets = JSON.parse(head[2] as string);
      } catch {
        return undefined;
      }
      if (!Array.isArray(targets) || !targets.every((t) => typeof t === 'string')) return undefined;
      return { poisoned: true, seq: Number(head[1]), targets: targets as string[], reason, line };
    };
    if (jsonNestsDeeperThan(line, MAX_JSON_DEPTH + 3)) {
      const set = poisoned(`nested deeper than ${MAX_JSON_DEPTH} levels`);
      if (set) yield set;
      continue;
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(line);
    } catch {
      continue;
    }
    const record = journalRecordSchema.safeParse(parsed);
    if (record.success) yield record.data;
    else {
      const set = poisoned(recordProblem(record.error.issues[0]?.path ?? []));
      if (set) yield set;
    }
  }
}

/** Why a parsed line is not a record that can be delivered, from where its first problem is. */
function recordProblem(path: readonly PropertyKey[]): string {
  const [field, eventField] = path;
  if (field === undefined) return 'not a JSON object';
  if (field === 'seq') return 'no valid seq';
  if (field === 'targets') return 'no valid targets';
  if (eventField === undefined) return 'no event';
  if (eventField === 'detail') return 'the event has no detail object';
  if (eventField === 'id' || eventField === 'time') return 'the event has no valid id or time';
  return `the event has no valid ${String(eventField)}`;
}

/** One journal line per event, built around the entry's Detail text rather than re-serialising it. */
export function journalLine(
  seq: number,
  targets: readonly string[],
  event: EventEnvelope<unknown>,
  detailJson: string,
  receivedAt?: number,
): string {
  const received = receivedAt === undefined ? '' : `,"receivedAt":${receivedAt}`;
  return (
    `{"seq":${seq},"targets":${JSON.stringify(targets)},"event":{"version":"0","id":"${event.id}",` +
    `"detail-type":${JSON.stringify(event['detail-type'])},"source":${JSON.stringify(event.source)},` +
    `"account":"${event.account}","time":"${event.time}","region":"${event.region}",` +
    `"resources":${JSON.stringify(event.resources)},"detail":${detailJson}}${received}}\n`
  );
}
