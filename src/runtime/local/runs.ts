/**
 * The runs' records under the state directory, `runs/<run>/`: `source.json` (what the run reads and
 * by which mapping, written at its start), `summary.json` (its tally, written when it ends: a run
 * with a source and no summary is in progress or was cut short; `progress.json` holds its counts so
 * far while it runs), `tally.json` (which rows reached which state, so a
 * redrive or replay in a later process counts on exactly and completes the run), `errors.ndjson`
 * (its failed rows) and, opt-in, `events.ndjson` (every event the observer saw).
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { z } from 'zod';
import { type Mapping, parseMapping, tableNameOf } from '../../pipeline/mapping.ts';
import { isSafeRunId } from '../../pipeline/run-id.ts';
import type { ObservedEvent } from '../../stages/observe.ts';
import type { RunCounts } from '../../stages/ports.ts';
import { Bitset } from './bitset.ts';
import { LineLogs, parseLine, readRecords } from './ndjson.ts';
import type { StatePaths } from './state.ts';
import type { SavedTally } from './tally-store.ts';

/** Where a run's CSV comes from, recorded so that a run cut short by a crash can be run again. */
export type SourceDescriptor =
  | { kind: 'file'; path: string }
  /** An S3 object: that version (absent in state from before buckets were versioned). */
  | { kind: 's3'; bucket: string; key: string; etag: string; versionId?: string };

/** What `source.json` records at a run's start, before any of its events. */
export interface RecordedRun {
  run: string;
  file: string;
  descriptor: SourceDescriptor;
  /** The mapping the run began with: every event of the run is loaded by it (absent in old state). */
  mapping?: Mapping;
  mappingHash?: string;
}

/** What `summary.json` holds: the observer's counts and when the run ran. */
export type RunSummary = Omit<RunCounts, 'settled' | 'completed'> &
  Partial<Pick<RunCounts, 'settled' | 'completed'>> & {
    startedAt?: string;
    finishedAt?: string;
    error?: string;
    /** Rows whose key an earlier row of the file had: each overwrote that item. */
    repeatedKeys?: number;
  };

/**
 * A failed row as `errors.ndjson` holds it: the row-failed event's detail, its time and id. The
 * error rule takes events anyone may put, so past the run nothing in it is sure to be there.
 */
export type FailedRowRecord = { run: string } & Record<string, unknown>;

export type RunLog = 'events' | 'errors';

export type RunState = 'running' | 'interrupted' | 'failed' | 'completed' | 'incomplete';

/**
 * What a listed run is: one without a summary is running while a process holds the state
 * directory, else cut short (the next `etl run` or `etl up` on the directory finishes it); a
 * summary says failed (the file could not be read to its end), completed (every row settled) or
 * incomplete (rows neither loaded nor failed: dead-lettered, say).
 */
export function runState(summary: RunSummary & { unfinished?: true }, stateDirHeld: boolean): RunState {
  if (summary.unfinished) return stateDirHeld ? 'running' : 'interrupted';
  if (summary.error) return 'failed';
  return summary.completed ? 'completed' : 'incomplete';
}

const recordedRunSchema = z.object({
  run: z.string(),
  file: z.string(),
  descriptor: z.discriminatedUnion('kind', [
    z.object({ kind: z.literal('file'), path: z.string() }),
    z.object({
      kind: z.literal('s3'),
      bucket: z.string(),
      key: z.string(),
      etag: z.string(),
      versionId: z.string().optional(),
    }),
  ]),
  mapping: z.unknown().optional(),
  mappingHash: z.string().optional(),
});

/** The counts every run record holds: the summary, the progress and the saved tally alike. */
const countsShape = {
  run: z.string(),
  file: z.string().optional(),
  expected: z.number().optional(),
  extracted: z.number(),
  transformed: z.number(),
  loaded: z.number(),
  failed: z.number(),
  deadLettered: z.number().optional(),
};

const summarySchema = z.looseObject({
  ...countsShape,
  settled: z.number().optional(),
  completed: z.boolean().optional(),
  startedAt: z.string().optional(),
  finishedAt: z.string().optional(),
  error: z.string().optional(),
  repeatedKeys: z.number().optional(),
}) satisfies z.ZodType<RunSummary>;

const rowPagesSchema = z.record(z.string(), z.string());
const savedTallySchema = z.object({
  counts: z.object({ ...countsShape, settled: z.number(), completed: z.boolean() }),
  rows: z.object({
    extracted: rowPagesSchema,
    transformed: rowPagesSchema,
    loaded: rowPagesSchema,
    failed: rowPagesSchema,
  }),
  deadLettered: rowPagesSchema,
}) satisfies z.ZodType<SavedTally>;

const observedEventSchema = z.looseObject({
  id: z.string(),
  time: z.string(),
  detailType: z.string(),
  status: z.string().optional(),
  run: z.string().optional(),
  row: z.number().optional(),
  reason: z.string().optional(),
}) satisfies z.ZodType<ObservedEvent>;

const failedRowSchema = z.looseObject({ run: z.string() }) satisfies z.ZodType<FailedRowRecord>;

export class RunStore {
  /** The logs of runs in progress stay open; others are opened for a write and closed again. */
  private readonly logs = new LineLogs();
  /**
   * The failed rows logged per run and stage, a bit per row: a redelivered row-failed is not logged
   * again, as the runs table keys failed rows by run, row and stage on AWS.
   */
  private readonly loggedFailures = new Map<string, Bitset>();

  constructor(private readonly paths: StatePaths) {}

  /**
   * Records a run's start: its source and mapping (before any event: recovery, retries, redrives
   * and replays of the run all load by it), no summary (a run without one is finished after a
   * crash), and fresh logs: a record of an earlier run of the same content would be stale,
   * recorded this time or not.
   */
  async begin(recorded: RecordedRun, options: { recordEvents: boolean }): Promise<void> {
    const files = this.paths.run(recorded.run);
    await mkdir(files.dir, { recursive: true });
    await rm(files.summary, { force: true });
    await rm(files.tally, { force: true });
    await rm(files.progress, { force: true });
    await writeFile(files.source, JSON.stringify(recorded));
    if (options.recordEvents) await this.logs.open(files.events, { truncate: true });
    else await rm(files.events, { force: true });
    await this.logs.open(files.errors, { truncate: true });
    for (const key of this.loggedFailures.keys())
      if (key.startsWith(`${recorded.run}\u0000`)) this.loggedFailures.delete(key);
  }

  /**
   * A run's start record, its mapping checked again (a mapping that no longer parses throws).
   * Undefined when there is none, or it was torn by a crash before the run put any event.
   */
  async readRecorded(run: string): Promise<RecordedRun | undefined> {
    let text: string;
    try {
      text = await readFile(this.paths.run(run).source, 'utf8');
    } catch {
      return undefined;
    }
    const recorded = parseLine(text, recordedRunSchema);
    if (!recorded) return undefined;
    const { mapping, mappingHash, ...rest } = recorded;
    return {
      ...rest,
      ...(mapping === undefined ? {} : { mapping: parseMapping(mapping, `${run}'s recorded mapping`) }),
      ...(mappingHash === undefined ? {} : { mappingHash }),
    };
  }

  /** Runs recorded as started that have no summary: cut short, to be finished. */
  async unfinished(): Promise<string[]> {
    return (await this.names()).filter((run) => !this.hasSummary(run) && this.hasSource(run));
  }

  hasSource(run: string): boolean {
    return isSafeRunId(run) && existsSync(this.paths.run(run).source);
  }

  hasSummary(run: string): boolean {
    return isSafeRunId(run) && existsSync(this.paths.run(run).summary);
  }

  /** Whether the run kept a record of every event (opt-in). */
  hasEventsLog(run: string): boolean {
    return isSafeRunId(run) && existsSync(this.paths.run(run).events);
  }

  async writeSummary(run: string, summary: RunSummary): Promise<void> {
    const files = this.paths.run(run);
    await writeFile(files.summary, `${JSON.stringify(summary, null, 2)}\n`);
    await rm(files.progress, { force: true });
  }

  /** A run's counts so far, while it runs; written whole (renamed into place) for readers elsewhere. */
  async writeProgress(run: string, counts: RunCounts): Promise<void> {
    const path = this.paths.run(run).progress;
    const temp = `${path}.${process.pid}.tmp`;
    await writeFile(temp, JSON.stringify(counts));
    await rename(temp, path);
  }

  /** A run's summary; undefined while it is still to be finished (or unreadable). */
  async readSummary(run: string): Promise<z.infer<typeof summarySchema> | undefined> {
    if (!isSafeRunId(run)) return undefined;
    const text = await readFile(this.paths.run(run).summary, 'utf8').catch(() => undefined);
    return text === undefined ? undefined : parseLine(text, summarySchema);
  }

  /** Saves a run's tally with it (see `MemoryTallyStore.save`). */
  async writeTally(run: string, tally: SavedTally): Promise<void> {
    // Whole or not at all: a torn tally would leave the run's rows uncountable.
    const path = this.paths.run(run).tally;
    const temp = `${path}.${process.pid}.tmp`;
    await writeFile(temp, JSON.stringify(tally));
    await rename(temp, path);
  }

  /** A run's saved tally; undefined when there is none (state from before tallies were saved). */
  async readTally(run: string): Promise<SavedTally | undefined> {
    if (!isSafeRunId(run)) return undefined;
    const text = await readFile(this.paths.run(run).tally, 'utf8').catch(() => undefined);
    return text === undefined ? undefined : parseLine(text, savedTallySchema);
  }

  /**
   * Every run's summary, oldest first. A run without one is `unfinished`: in progress (its counts so
   * far) or cut short by a crash (zero counts when it recorded none).
   */
  async list(): Promise<(RunSummary & { unfinished?: true })[]> {
    const summaries: (RunSummary & { unfinished?: true })[] = [];
    for (const run of await this.names({ raise: true })) {
      const summary = await this.readSummary(run);
      if (summary) {
        summaries.push(summary);
        continue;
      }
      const recorded = await this.readRecorded(run).catch(() => undefined);
      const progress = await readFile(this.paths.run(run).progress, 'utf8').catch(() => undefined);
      const counts = progress === undefined ? undefined : parseLine(progress, summarySchema);
      summaries.push({
        ...(counts ?? { run, extracted: 0, transformed: 0, loaded: 0, failed: 0 }),
        ...(recorded ? { file: recorded.file } : {}),
        unfinished: true,
      });
    }
    // A run without a start time in its record is in progress, or was cut short: the newest.
    const startOf = (s: RunSummary & { unfinished?: true }): string =>
      s.startedAt ?? (s.unfinished ? '\uffff' : '');
    return summaries.sort((a, b) => startOf(a).localeCompare(startOf(b)));
  }

  /**
   * The table the newest run loads into (its recorded mapping's), or undefined when there is no run
   * or it recorded no mapping: what "the pipeline's table" means to a reader after `--mapping` runs.
   */
  async latestTable(): Promise<string | undefined> {
    const newest = (await this.list()).at(-1);
    if (!newest) return undefined;
    const recorded = await this.readRecorded(newest.run).catch(() => undefined);
    return recorded?.mapping ? tableNameOf(recorded.mapping) : undefined;
  }

  /** Appends to a run's log; `keepOpen` for a run in progress, whose logs stay open until it ends. */
  async append(log: RunLog, run: string, records: readonly unknown[], keepOpen: boolean): Promise<void> {
    const path = this.paths.run(run)[log];
    await this.logs.append(path, records);
    if (!keepOpen) await this.logs.close(path);
  }

  /** Appends failed rows to a run's errors log, each (row, stage) once by this process. */
  async appendFailedRows(
    run: string,
    rows: readonly { row: number; stage: string }[],
    keepOpen: boolean,
  ): Promise<void> {
    const loggedFor = (stage: string): Bitset => {
      const key = `${run}\u0000${stage}`;
      let logged = this.loggedFailures.get(key);
      if (!logged) this.loggedFailures.set(key, (logged = new Bitset()));
      return logged;
    };
    const fresh = rows.filter((r) => loggedFor(r.stage).add(r.row));
    if (fresh.length === 0) return;
    try {
      await this.append('errors', run, fresh, keepOpen);
    } catch (error) {
      // Not logged after all: the retry of this delivery must log them.
      for (const r of fresh) loggedFor(r.stage).delete(r.row);
      throw error;
    }
  }

  /** Closes a run's logs (raising a write that failed). */
  async closeLogs(run: string): Promise<void> {
    const files = this.paths.run(run);
    await this.logs.close(files.events);
    await this.logs.close(files.errors);
  }

  async close(): Promise<void> {
    await this.logs.close();
  }

  /** The events the observer saw of a run, streamed (none unless the run recorded them). */
  readEvents(run: string): AsyncGenerator<ObservedEvent> {
    return readRecords(this.paths.run(run).events, observedEventSchema);
  }

  /** A run's failed rows, streamed. */
  async *readErrors(run: string): AsyncGenerator<FailedRowRecord> {
    // Each (row, stage) once, as the runs table keys them on AWS: a row-failed delivered again by
    // another process (recovery after a crash) may have been logged twice.
    const seen = new Map<string, Bitset>();
    for await (const record of readRecords(this.paths.run(run).errors, failedRowSchema)) {
      const { row, stage } = record as { row?: unknown; stage?: unknown };
      if (typeof row === 'number' && Number.isSafeInteger(row) && row > 0) {
        const key = String(stage);
        let rows = seen.get(key);
        if (!rows) seen.set(key, (rows = new Bitset()));
        if (!rows.add(row)) continue;
      }
      yield record;
    }
  }

  /**
   * The runs' names: only what a run could have written (stray names are not runs). No runs
   * directory is no runs; with `raise`, another error reading it (no permission, say) is raised,
   * for the one-line OS error handler.
   */
  private async names(options: { raise?: boolean } = {}): Promise<string[]> {
    try {
      return (await readdir(this.paths.runs)).filter(isSafeRunId);
    } catch (error) {
      if (options.raise && (error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      return [];
    }
  }
}
