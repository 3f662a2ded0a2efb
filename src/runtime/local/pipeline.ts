/**
 * The local runtime: the pipeline definition's rules on the local bus, the stages as its targets,
 * the embedded DynamoDB as the table. The same stage code the AWS handlers wrap.
 */
import { createReadStream, existsSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { open, stat } from 'node:fs/promises';
import { isSafeRunId } from '../../pipeline/run-id.ts';
import { UserError } from '../../pipeline/errors.ts';
import { resolve } from 'node:path';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoItemWriter } from '../../adapters/dynamodb-writer.ts';
import { WriteRateLimiter } from '../../adapters/write-rate.ts';
import { definePipeline, type PipelineDefinition, ruleOfTarget } from '../../pipeline/definition.ts';
import { type InputFormat, mappingForInput } from '../../pipeline/input-format.ts';
import {
  keyAttributes,
  keySchemaOf,
  type Mapping,
  mappingHash,
  SEED_MAPPING,
  tableNameOf,
  writeModeOf,
} from '../../pipeline/mapping.ts';
import type { PutEventsEntry } from '../../pipeline/events.ts';
import { batchPutEventsEntries } from '../../pipeline/put-events.ts';
import { extract, ExtractError } from '../../stages/extract.ts';
import type { Stage } from '../../stages/contract.ts';
import { loadStage } from '../../stages/load.ts';
import { type ObservedEvent, observeStage } from '../../stages/observe.ts';
import { type FailedRowStore, quarantineStage } from '../../stages/quarantine.ts';
import { RowCountingPublisher } from '../../stages/outcome-counts.ts';
import { runStage } from '../../stages/run-stage.ts';
import type { EventPublisher, FieldCipher, RunCounts } from '../../stages/ports.ts';
import { EnvelopeCipher } from '../../adapters/envelope-cipher.ts';
import { KeyFileDataKeys } from './key-file.ts';
import { transformStage } from '../../stages/transform.ts';
import {
  type AnyEvent,
  type DeadLetter,
  LocalEventBus,
  type PutEventsResult,
  type RuleRouter,
  type TargetHandler,
} from './bus.ts';
import { ensureTable, type LocalDynamo, localClient, startDynalite } from './dynalite.ts';
import { compilePattern, RuleIndex } from '../../patterns/index.ts';
import { DeadLetterStore, deadLetteredRow } from './dead-letters.ts';
import { QueueStore } from './queues.ts';
import { Journal } from './journal.ts';
import type { QueueSink } from './queue-sink.ts';
import { UserRules } from './user-rules.ts';
import {
  applyArchiveSettings,
  type ArchiveRequest,
  type ArchiveSettings,
  archiveRetentionMs,
  NoArchiveError,
  writeArchiveSettings,
} from './archive-settings.ts';
import { StateLock } from './lock.ts';
import { boundHeapGrowth } from './heap.ts';
import { LocalMetrics } from './metrics.ts';
import { type RecordedRun, type RunLog, RunStore, type SourceDescriptor } from './runs.ts';
import { ensureStateDir, readFileAsRun, runIdForFile, type StatePaths, statePaths } from './state.ts';
import { MemoryTallyStore } from './tally-store.ts';

/** The run an event belongs to, when its detail names one that could be a run. */
function runOf(event: { detail?: unknown }): string | undefined {
  const run = (event.detail as { run?: unknown } | null | undefined)?.run;
  return typeof run === 'string' && isSafeRunId(run) ? run : undefined;
}

/** How often a run in progress records its counts for other processes to read. */
const PROGRESS_RECORD_MS = 1_000;

/** How a redrive or replay counts a finished run's events: on from its saved tally, or added (legacy). */
type TakenUp = 'tallied' | 'legacy';

export interface LocalPipelineOptions {
  stateDir?: string;
  definition?: PipelineDefinition;
  tableName?: string;
  /** Keep the table in memory and the bus without a journal (tests). */
  inMemory?: boolean;
  router?: RuleRouter<string>;
  /** Keep an archive for replay (opt-in, remembered in the state directory). */
  archive?: ArchiveRequest;
  /** Record every event the observer sees in the run's events.ndjson (opt-in: it is most of the disk). */
  recordEvents?: boolean;
  /** A DynamoDB endpoint to use instead of starting the embedded one (e.g. dynalite run elsewhere). */
  dynamoEndpoint?: string;
  /** Wraps what the stages publish through (instrumentation; tests inject faults with it). */
  wrapStagePublisher?: (publisher: EventPublisher) => EventPublisher;
  /** The local queues for user rules' SQS targets and dead-letter queues (default: the state directory's, `queues/`). */
  queueSink?: QueueSink;
  /** Where user targets' problems go (a dead letter dropped); default stderr. */
  warn?: (line: string) => void;
}

export type { SourceDescriptor } from './runs.ts';

export type CsvInput = Readable | AsyncIterable<Buffer>;

export interface RunSource {
  /** How the input is named in events and messages: a path, or s3://bucket/key. */
  file: string;
  run: string;
  descriptor: SourceDescriptor;
  open: () => CsvInput;
  /** The input's size in bytes when known (an S3 object's): progress is then told of the bytes read. */
  size?: number;
  /** The run's mapping (the pipeline definition's when absent). */
  mapping?: Mapping;
}

export interface ReplayOptions {
  /** Archived events with `time` in [from, to). */
  from: Date;
  to: Date;
  /** Stamped on replayed events as `replay-name`. */
  name: string;
  /** Replay only the events this accepts. */
  filter?: (event: AnyEvent) => boolean;
  /** Deliver only through these rules (StartReplay's FilterArns); all rules when absent. */
  rules?: string[];
  /** Stops the replay between events once aborted (CancelReplay). */
  signal?: AbortSignal;
}

/** Opens a recorded source again; undefined when it is gone. */
export type SourceOpener = (descriptor: SourceDescriptor) => CsvInput | undefined;

/** A run's tally while it goes, with how much of its file has been read when it is a file. */
export type RunProgress = RunCounts & { bytesRead?: number; bytesTotal?: number };

export interface RunReport {
  run: string;
  file: string;
  counts: RunCounts;
  /** Set when the file could not be read to its end. */
  error?: ExtractError;
  /** Rows whose key an earlier row of the file had: each overwrote that item. */
  repeatedKeys?: number;
  /** What the file lacks that is worth a warning (mapped optional columns), one line each. */
  warnings?: string[];
}

/** The file cannot be run at all (missing, a directory, unreadable). */
export class InputFileError extends UserError {
  override readonly name = 'InputFileError';
}

export class LocalPipeline {
  readonly bus: LocalEventBus;
  readonly tally = new MemoryTallyStore();
  /** What the targets took, gave and retried, in the Prometheus format (`/_etl/metrics`). */
  readonly metrics: LocalMetrics;
  private readonly journal: Journal | undefined;
  /** The runs' records: source, summary, events and errors. */
  readonly runs: RunStore;
  /** The dead-letter queues, a file per target. */
  readonly deadLetters: DeadLetterStore;
  /** The user's SQS queues (the edge's SQS API; user rules' queue targets send to them). */
  readonly queues: QueueStore;
  private readonly completions = new Map<string, (counts: RunCounts) => void>();
  private readonly activeRuns = new Set<string>();
  /** Runs this process tallies from their first event: run here, or taken up from a saved tally. */
  private readonly talliedHere = new Set<string>();
  /** For runs whose mapping marks columns sensitive (the key file is made on first use). */
  private readonly cipher: FieldCipher;
  /** How far each file being run has been read. */
  private readonly reading = new Map<string, { read: number; size: number }>();
  /** Each run's own mapping, as recorded at its start (read back for runs of earlier processes). */
  private readonly runMappings = new Map<string, Mapping>();
  /** The stages' bus handlers, which user rules may target too. */
  private readonly stageHandlers = new Map<string, TargetHandler>();
  /** Users' own rules on the bus (PutRule, PutTargets, ...), kept in the state directory. */
  readonly userRules: UserRules;

  private constructor(
    readonly definition: PipelineDefinition,
    readonly paths: StatePaths,
    readonly dynamo: LocalDynamo,
    readonly tableName: string,
    router: RuleRouter<string>,
    private readonly lock: StateLock,
    durable: boolean,
    /** Undefined when the pipeline keeps no journal (in memory). */
    private archiveSettings: ArchiveSettings | undefined,
    private readonly recordEvents: boolean,
    private readonly wrapStagePublisher: (publisher: EventPublisher) => EventPublisher,
    userTargets: { queueSink?: QueueSink; warn?: (line: string) => void } = {},
  ) {
    this.cipher = new EnvelopeCipher(new KeyFileDataKeys(paths.masterKey));
    this.runs = new RunStore(paths);
    this.deadLetters = new DeadLetterStore(paths.dlq);
    const retentionMs = archiveSettings ? archiveRetentionMs(archiveSettings) : undefined;
    this.journal = durable
      ? new Journal({
          dir: paths.journal,
          ...(retentionMs === undefined ? {} : { archiveRetentionMs: retentionMs }),
        })
      : undefined;
    this.bus = new LocalEventBus({
      name: definition.busName,
      router,
      onDeadLetter: (letter) => this.deadLetter(letter),
      ...(this.journal ? { journal: this.journal } : {}),
    });
    this.queues = new QueueStore({ dir: paths.queues, account: this.bus.account, region: this.bus.region });
    const targets = Object.keys(definition.delivery);
    this.metrics = new LocalMetrics(
      () => this.bus.depth(),
      async () => {
        const counts: Record<string, number> = {};
        for (const target of targets) counts[target] = await this.deadLetters.count(target);
        return counts;
      },
    );
    this.wire();
    // After the stages: user rules may target them. Before recovery: their journaled events go to them.
    this.userRules = UserRules.open({
      file: paths.userRules,
      logsDir: paths.logs,
      bus: this.bus,
      managedRules: new Set(definition.rules.map((r) => r.name)),
      stages: this.stageHandlers,
      ...userTargets,
      // The pipeline's own queues unless the caller brings others (tests record what is sent).
      queueSink: userTargets.queueSink ?? this.queues,
    });
  }

  static async start(options: LocalPipelineOptions = {}): Promise<LocalPipeline> {
    const definition = options.definition ?? definePipeline();
    boundHeapGrowth();
    const paths = statePaths(options.stateDir);
    await ensureStateDir(paths);
    const lock = StateLock.acquire(paths.lock, paths.root);
    let dynamo: LocalDynamo | undefined;
    try {
      dynamo = options.dynamoEndpoint
        ? externalDynamo(options.dynamoEndpoint)
        : await startDynalite(options.inMemory ? {} : { path: paths.dynamodb });
      const tableName = options.tableName ?? tableNameOf(definition.mapping);
      // Before any row: a table keyed otherwise stops the run here, nothing written.
      await ensureTable(dynamo.client, tableName, keySchemaOf(definition.mapping));
      const router = options.router ?? new RuleIndex<string>();
      const archive = options.inMemory
        ? undefined
        : applyArchiveSettings(paths.archiveSettings, options.archive ?? {});
      return new LocalPipeline(
        definition,
        paths,
        dynamo,
        tableName,
        router,
        lock,
        !options.inMemory,
        archive,
        options.recordEvents ?? false,
        options.wrapStagePublisher ?? ((publisher) => publisher),
        {
          ...(options.queueSink ? { queueSink: options.queueSink } : {}),
          ...(options.warn ? { warn: options.warn } : {}),
        },
      );
    } catch (error) {
      await dynamo?.close();
      lock.release();
      throw error;
    }
  }

  get client(): DynamoDBClient {
    return this.dynamo.client;
  }

  /** The tally of the newest run in progress, and how much of its file is read, for progress displays. */
  progress(): RunProgress | undefined {
    return this.activeProgress().at(-1);
  }

  /** Every run in progress, oldest first: its tally, and how much of its file is read when known. */
  activeProgress(): RunProgress[] {
    const all: RunProgress[] = [];
    for (const run of this.activeRuns) {
      const counts = this.tally.snapshot(run);
      if (!counts) continue;
      const reading = this.reading.get(run);
      all.push(reading ? { ...counts, bytesRead: reading.read, bytesTotal: reading.size } : counts);
    }
    return all;
  }

  /** Runs one file to completion: every row loaded or reported failed. */
  async runFile(file: string, options: { format?: InputFormat } = {}): Promise<RunReport> {
    await assertReadableFile(file);
    // The format is part of the run's mapping: its id, recovery and `etl errors --csv` read it the same.
    const mapping = mappingForInput(this.definition.mapping, file, options.format);
    const run = await runIdForFile(file, mapping);
    const reading = { read: 0, size: (await stat(file)).size };
    this.reading.set(run, reading);
    try {
      return await this.runSource({
        file,
        run,
        descriptor: { kind: 'file', path: resolve(file) },
        open: () => readFileAsRun(file, run, mapping, (bytes) => (reading.read += bytes)),
        mapping,
      });
    } finally {
      this.reading.delete(run);
    }
  }

  /**
   * Runs one CSV from any source (a file, an S3 object) to completion. The run id names the content,
   * so running the same content again is the same run: its tally starts afresh and its writes land
   * on the same keys.
   */
  async runSource(source: RunSource): Promise<RunReport> {
    const { file, run } = source;
    const mapping = source.mapping ?? mappingForInput(this.definition.mapping, file);
    if (this.activeRuns.has(run)) throw new Error(`run ${run} is already in progress`);
    // Before any row: another table than the stack's is checked (or created) like the stack's was.
    if (tableNameOf(mapping) !== tableNameOf(this.definition.mapping)) {
      await ensureTable(this.dynamo.client, tableNameOf(mapping), keySchemaOf(mapping));
    }
    this.activeRuns.add(run);
    this.tally.reset(run);
    await this.runs.begin(
      { run, file, descriptor: source.descriptor, mapping, mappingHash: mappingHash(mapping) },
      { recordEvents: this.recordEvents },
    );
    this.runMappings.set(run, mapping);
    const completed = new Promise<RunCounts>((resolve) => this.completions.set(run, resolve));
    // Its counts so far, where other processes can read them (`etl runs` while this one runs).
    // One write at a time, and none left behind once the summary is written.
    let progressWrite: Promise<void> | undefined;
    const recordProgress = setInterval(() => {
      const counts = this.tally.snapshot(run);
      if (!counts || progressWrite) return;
      progressWrite = this.runs
        .writeProgress(run, counts)
        .catch(() => undefined)
        .finally(() => (progressWrite = undefined));
    }, PROGRESS_RECORD_MS);
    recordProgress.unref();
    this.talliedHere.add(run);
    const startedAt = new Date().toISOString();
    let error: ExtractError | undefined;
    let repeatedKeys = 0;
    const warnings: string[] = [];
    const rows = new RowCountingPublisher(this.backpressuredPublisher());
    const extractStarted = performance.now();
    try {
      ({ repeatedKeys } = await extract({
        onWarning: (message) => warnings.push(message),
        source: this.definition.source,
        run,
        file,
        input: this.countedInput(run, source),
        publisher: rows,
        mapping,
        ...this.cipherFor(mapping),
      }).finally(() =>
        this.metrics.recordExtraction(
          { extracted: rows.rowsPut, failed: rows.rowsFailed },
          (performance.now() - extractStarted) / 1000,
        ),
      ));
    } catch (e) {
      if (!(e instanceof ExtractError)) {
        clearInterval(recordProgress);
        this.activeRuns.delete(run);
        this.completions.delete(run);
        await this.runs.closeLogs(run);
        throw e;
      }
      error = e;
    }
    // Completion comes from the observer; if the bus drains first, a row went missing: say so.
    const counts = await Promise.race([
      completed,
      this.bus.whenPipelineIdle().then(() => this.tally.counts(run)),
    ]);
    clearInterval(recordProgress);
    await progressWrite;
    this.completions.delete(run);
    this.activeRuns.delete(run);
    await this.runs.closeLogs(run);
    const final = counts ?? (await this.tally.counts(run));
    if (!final) throw new Error(`the observer saw no event of run ${run}`);
    // The tally first: a summary without its tally would leave a redrive only counts to add.
    await this.saveTally(run);
    await this.runs.writeSummary(run, {
      ...final,
      ...(repeatedKeys ? { repeatedKeys } : {}),
      startedAt,
      finishedAt: new Date().toISOString(),
      error: error?.message,
    });
    return {
      run,
      file,
      counts: final,
      ...(error ? { error } : {}),
      ...(repeatedKeys ? { repeatedKeys } : {}),
      ...(warnings.length > 0 ? { warnings } : {}),
    };
  }

  /** The source's input, its bytes counted for progress when its size is known (runFile counts its own). */
  private countedInput(run: string, source: RunSource): CsvInput {
    const input = source.open();
    if (source.size === undefined || this.reading.has(run)) return input;
    const reading = { read: 0, size: source.size };
    this.reading.set(run, reading);
    const forget = (): void => {
      if (this.reading.get(run) === reading) this.reading.delete(run);
    };
    return (async function* () {
      try {
        for await (const chunk of input) {
          reading.read += (chunk as Buffer).length;
          yield chunk as Buffer;
        }
      } finally {
        forget();
      }
    })();
  }

  /**
   * Finishes what a crashed process left: runs without a summary are run again from their source
   * (same run id, so their items land on the same keys and their tally is rebuilt), and every other
   * event the journal holds unacknowledged is delivered again to the targets that had not
   * acknowledged it. Resolves with the reports of the runs finished.
   */
  async recover(open: SourceOpener = openFileSource): Promise<RunReport[]> {
    const reports: RunReport[] = [];
    const rerun: Omit<RunSource, 'open'>[] = [];
    for (const name of await this.runs.unfinished()) {
      const recorded = await this.readRecordedRun(name);
      if (!recorded) continue;
      const { descriptor } = recorded;
      // A file is run again only as the content its run id names: a changed file is a new run.
      if (
        descriptor.kind === 'file' &&
        (!existsSync(descriptor.path) ||
          // Runs recorded before runs carried their mapping were named by their content alone.
          (await runIdForFile(descriptor.path, recorded.mappingHash ? recorded.mapping : SEED_MAPPING)) !==
            recorded.run)
      ) {
        reports.push(await this.abandon(recorded, 'its file is gone or changed since the run began'));
        continue;
      }
      rerun.push(recorded);
    }
    if (this.journal) {
      const runs = new Set(rerun.map((r) => r.run));
      const journal = this.journal;
      // Events of runs about to be run again would only be done twice: acknowledged here, so they do
      // not hold the checkpoint (and the disk) for the whole re-run. The run has no summary until the
      // re-run ends, so a crash before then runs it again from its source.
      await this.bus.recover(
        (async function* () {
          for await (const record of journal.pending()) {
            const run = (record.event.detail as { run?: unknown } | null)?.run;
            if (typeof run !== 'string' || !runs.has(run)) yield record;
            else for (const target of record.targets) journal.ack(target, [record.seq]);
          }
        })(),
      );
    }
    for (const recorded of rerun) {
      // Opened one at a time, as each run starts.
      const input = open(recorded.descriptor);
      if (!input) {
        reports.push(await this.abandon(recorded, 'its source is gone'));
        continue;
      }
      try {
        reports.push(await this.runSource({ ...recorded, open: () => input }));
      } catch (error) {
        // One source that cannot be run again must not keep the others from being finished.
        reports.push(await this.abandon(recorded, error instanceof Error ? error.message : String(error)));
      }
    }
    await this.bus.whenPipelineIdle();
    return reports;
  }

  /**
   * The run's start record, its mapping checked again. Runs recorded before runs carried their
   * mapping load by the current definition's.
   */
  private async readRecordedRun(run: string): Promise<(RecordedRun & { mapping: Mapping }) | undefined> {
    const recorded = await this.runs.readRecorded(run);
    if (!recorded) return undefined;
    const mapping = recorded.mapping ?? this.definition.mapping;
    this.runMappings.set(run, mapping);
    return { ...recorded, mapping };
  }

  /** The mapping a run's events are transformed and loaded by: its own, never the current command's. */
  private async mappingFor(run: string): Promise<Mapping> {
    const known = this.runMappings.get(run);
    if (known) return known;
    if (this.runs.hasSource(run)) {
      const recorded = await this.readRecordedRun(run);
      if (recorded) return recorded.mapping;
    }
    // Events put from outside a run this stack started: the stack's own mapping.
    return this.definition.mapping;
  }

  private cipherFor(mapping: Mapping): { cipher?: FieldCipher } {
    return Object.values(mapping.columns).some((c) => c.sensitive) ? { cipher: this.cipher } : {};
  }

  /** What recovery quarantined (journal records that cannot be delivered), in a line; else undefined. */
  quarantineNotice(): string | undefined {
    const count = this.journal?.quarantined ?? 0;
    if (count === 0) return undefined;
    return (
      `${count} journal record${count === 1 ? '' : 's'} could not be delivered and ` +
      `${count === 1 ? 'was' : 'were'} quarantined with the reason: ${this.paths.quarantine}`
    );
  }

  /** Gives up on finishing a run: its summary says why, so it is not tried again. */
  private async abandon(recorded: Omit<RunSource, 'open'>, reason: string): Promise<RunReport> {
    const counts = (await this.tally.counts(recorded.run)) ?? emptyCounts(recorded.run);
    const error = new ExtractError(`cannot be run again: ${reason}`, recorded.file);
    await this.runs.writeSummary(recorded.run, {
      ...counts,
      file: recorded.file,
      finishedAt: new Date().toISOString(),
      error: error.message,
    });
    return { run: recorded.run, file: recorded.file, counts, error };
  }

  /**
   * Moves every dead-lettered event back to its target (all targets, or one), like an SQS DLQ
   * redrive; events that fail again are dead-lettered again. Resolves with the count per target.
   * The runs the events belong to count on from their saved tallies, and complete (run-completed)
   * once every row is settled.
   */
  async redriveDeadLetters(
    target?: string,
  ): Promise<Record<string, { redriven: number; deadAgain: number }>> {
    const result: Record<string, { redriven: number; deadAgain: number }> = {};
    const touched = new Map<string, TakenUp>();
    for await (const queue of this.deadLetters.takeForRedrive(target)) {
      const counts = (result[queue.target] ??= { redriven: 0, deadAgain: 0 });
      for await (const letter of queue.letters) {
        // Every letter of a run, the observer's too: its tally is taken up before any is delivered.
        const run = runOf(letter.event);
        if (run !== undefined) await this.takeUp(run, touched);
        await this.bus.waitForCapacity();
        this.bus.redrive(queue.target, letter.event);
        counts.redriven++;
      }
    }
    await this.bus.whenPipelineIdle();
    for (const [queue, counts] of Object.entries(result))
      counts.deadAgain = await this.deadLetters.count(queue);
    await this.updateTakenUpRuns(touched);
    return result;
  }

  /**
   * Before an event of a finished run is delivered again (redrive, replay), its tally is taken up
   * where the run left it, unless this process tallies the run already. `legacy`: the run was saved
   * before tallies were, so its counts can only be added to.
   */
  private async takeUp(run: string, touched: Map<string, TakenUp>): Promise<void> {
    if (touched.has(run) || this.activeRuns.has(run) || !this.runs.hasSummary(run)) return;
    if (this.talliedHere.has(run)) {
      touched.set(run, 'tallied');
      return;
    }
    const saved = await this.runs.readTally(run).catch(() => undefined);
    try {
      if (saved) {
        // Replaces whatever stray events of the run (a PutEvents from outside) began to tally.
        this.tally.restore(saved);
        this.talliedHere.add(run);
        touched.set(run, 'tallied');
        return;
      }
    } catch {
      // A saved tally that does not parse is as good as none.
    }
    touched.set(run, 'legacy');
  }

  /**
   * After a redrive or replay: the summaries of the runs it touched say their counts now, their
   * dead-lettered rows are those still in a dead-letter queue, and their tallies are saved again.
   */
  private async updateTakenUpRuns(
    runs: ReadonlyMap<string, TakenUp>,
    options: { addToLegacy: boolean } = { addToLegacy: true },
  ): Promise<void> {
    if (runs.size === 0) return;
    const stillDead = await this.deadLetters.rowsStillDead(new Set(runs.keys()));
    for (const [run, how] of runs) {
      const summary = await this.runs.readSummary(run);
      if (!summary) continue;
      const dead = stillDead.get(run) ?? new Set<number>();
      if (how === 'tallied') {
        this.tally.setDeadLettered(run, dead);
        const counts = this.tally.snapshot(run);
        if (!counts) continue;
        await this.saveTally(run);
        await this.runs.writeSummary(run, { ...summary, ...counts });
        continue;
      }
      if (!options.addToLegacy) continue;
      const now = this.tally.snapshot(run);
      await this.runs.writeSummary(run, {
        ...summary,
        transformed: summary.transformed + (now?.transformed ?? 0),
        loaded: summary.loaded + (now?.loaded ?? 0),
        failed: summary.failed + (now?.failed ?? 0),
        deadLettered: dead.size,
      });
    }
  }

  private async saveTally(run: string): Promise<void> {
    const saved = this.tally.save(run);
    if (saved) await this.runs.writeTally(run, saved);
  }

  /**
   * Replays archived events whose time is in [from, to) and that match `filter` (and the archive's
   * event pattern, when CreateArchive gave one: only those would have been archived), through the
   * rules, as EventBridge's StartReplay does. Resolves with how many events were replayed.
   */
  async replay(options: ReplayOptions): Promise<number> {
    if (!this.journal) throw new Error('replay needs the journal, which an in-memory pipeline does not keep');
    if (!this.journal.archiving) throw new NoArchiveError();
    const known = new Set(this.bus.listRules().map((r) => r.name));
    const unknown = options.rules?.filter((r) => !known.has(r)) ?? [];
    if (unknown.length > 0) throw new Error(`no rule ${unknown.join(', ')} on the bus`);
    const rules = options.rules ? new Set(options.rules) : undefined;
    const pattern = this.archiveSettings?.eventPattern;
    const archived = pattern === undefined ? undefined : compilePattern(pattern);
    // Nothing the bus received before the archive existed (the journal may still hold older events).
    // Received, not stamped: an event's `time` is the client's to set.
    const createdMs = (this.archiveSettings?.creationTime ?? 0) * 1000;
    let replayed = 0;
    const touched = new Map<string, TakenUp>();
    for await (const record of this.journal.archived(options.from, options.to)) {
      // Replays are journaled too (for durability); they are not archived events to replay again.
      if ('replay-name' in record.event) continue;
      if ((record.receivedAt ?? Date.parse(record.event.time)) < createdMs) continue;
      if (options.signal?.aborted) break;
      if (options.filter && !options.filter(record.event)) continue;
      if (archived && !archived.matches(record.event)) continue;
      const run = runOf(record.event);
      if (run !== undefined) await this.takeUp(run, touched);
      await this.bus.waitForCapacity();
      this.bus.replay(record.event, options.name, rules);
      replayed++;
    }
    await this.bus.whenPipelineIdle();
    // A replay's events were counted once already: a run without a saved tally keeps its summary.
    await this.updateTakenUpRuns(touched, { addToLegacy: false });
    return replayed;
  }

  /** Whether the bus keeps an archive, and its settings; undefined when it keeps no journal (in memory). */
  get archive(): ArchiveSettings | undefined {
    return this.archiveSettings;
  }

  /**
   * Replaces the archive settings (the edge's CreateArchive, UpdateArchive, DeleteArchive): stored in
   * the state directory and applied to the journal at once.
   */
  configureArchive(settings: ArchiveSettings): ArchiveSettings {
    if (!this.journal) throw new Error('an in-memory pipeline keeps no journal, so it keeps no archive');
    this.archiveSettings = writeArchiveSettings(this.paths.archiveSettings, settings);
    this.journal.setArchiveRetention(archiveRetentionMs(settings));
    return settings;
  }

  /** Tells other etl commands where the running stack answers (see `etl up`). */
  advertise(endpoint: string): void {
    this.lock.advertise(endpoint);
  }

  async close(): Promise<void> {
    this.userRules.stop();
    await this.bus.whenIdle();
    this.queues.close();
    await this.runs.close();
    await this.dynamo.close();
    this.journal?.close();
    this.lock.release();
  }

  /**
   * Appends to a run's log. A run in progress keeps its files open; late events of finished runs or
   * runs started elsewhere (run-completed, put-events) reopen them just for the write.
   */
  private async log(kind: RunLog, run: string, records: readonly unknown[]): Promise<void> {
    await this.runs.append(kind, run, records, this.activeRuns.has(run));
  }

  private deadLetter(letter: DeadLetter): void {
    this.deadLetters.append(letter);
    this.metrics.recordDeadLetter(letter.target);
    // A row's event that never reached load's end: the row is neither loaded nor failed. Count it.
    const row = deadLetteredRow(letter);
    if (row) this.tally.markDeadLettered(row.run, row.row);
  }

  private wire(): void {
    const { source, delivery, rules } = this.definition;
    const mappingFor = (run: string): Promise<Mapping> => this.mappingFor(run);
    const perSecond = this.definition.writes.maxWritesPerSecond;
    // One rate for every load batch in flight, whichever writer: it paces them all to the table's rate.
    const rate = perSecond === undefined ? undefined : new WriteRateLimiter({ perSecond });
    // A run's rows go to its mapping's table, by its key, in its write mode (a run recovered or
    // redriven keeps the mapping it began with). The stack's own mapping's table is the stack's table.
    const writers = new Map<string, DynamoItemWriter>();
    const writer = (mapping: Mapping): DynamoItemWriter => {
      const ownTable = tableNameOf(mapping) === tableNameOf(this.definition.mapping);
      const tableName = ownTable ? this.tableName : tableNameOf(mapping);
      const target = { tableName, key: keyAttributes(mapping), mode: writeModeOf(mapping) };
      const id = JSON.stringify(target);
      let found = writers.get(id);
      if (!found) {
        found = new DynamoItemWriter({
          client: this.dynamo.client,
          ...target,
          ...(rate === undefined ? {} : { rate }),
        });
        writers.set(id, found);
      }
      return found;
    };
    const publisher = this.wrapStagePublisher(this.handlerPublisher());
    // The bus delivers again what the stage driver says to retry, with the bus's backoff.
    const ruleOf = (name: string): string => ruleOfTarget(this.definition, name) ?? name;
    const target = <D>(name: string, stage: Stage<D>): TargetHandler => {
      const handler: TargetHandler = async (events) => {
        const inputs = events.map((event) => ({ id: event.id, event }));
        const started = performance.now();
        const report = await runStage(stage, inputs, publisher);
        this.metrics.recordBatch(
          {
            rule: ruleOf(name),
            target: name,
            stage: stage.name,
            size: events.length,
            seconds: (performance.now() - started) / 1000,
          },
          report.outcomes.values(),
        );
        const reasons = new Map<string, string>();
        for (const [id, why] of report.retry)
          reasons.set(id, why.message ? `${why.reason}: ${why.message}` : why.reason);
        return { failedEventIds: [...reasons.keys()], reasons };
      };
      this.stageHandlers.set(name, handler);
      return handler;
    };
    this.bus.addTarget(
      'transform',
      target('transform', transformStage({ source, mappingFor })),
      delivery.transform,
    );
    this.bus.addTarget(
      'load',
      target('load', loadStage({ source, mappingFor, writer, cipher: this.cipher })),
      delivery.load,
    );
    const recordEvents = async (observed: readonly ObservedEvent[]): Promise<void> => {
      for (const [run, records] of groupByRun(observed)) await this.log('events', run, records);
    };
    const observe = observeStage({
      source,
      tally: this.tally,
      ...(this.recordEvents ? { onObserved: recordEvents } : {}),
      onCompleted: (counts) => this.completions.get(counts.run)?.(counts),
    });
    this.bus.addTarget('observe', target('observe', observe), delivery.observe);
    // Failed rows are kept in their run's errors log, once per (row, stage) as the runs table keys
    // them on AWS: a redelivered row-failed event is not logged again.
    const failedRows: FailedRowStore = {
      keep: async (rows) => {
        for (const [run, records] of groupByRun(rows))
          await this.runs.appendFailedRows(run, records, this.activeRuns.has(run));
        return [];
      },
    };
    this.bus.addTarget(
      'quarantine',
      target('quarantine', quarantineStage({ store: failedRows })),
      delivery.quarantine,
    );
    for (const rule of rules) this.bus.putRule(rule.name, rule.eventPattern, rule.target, rule.description);
  }

  /**
   * For stage handlers: the whole output in one journal write, and never waiting for capacity (a
   * handler waiting on its own queue would deadlock).
   */
  private handlerPublisher(): EventPublisher {
    const putRequests = async (requests: PutEventsEntry[][]): Promise<(Error | undefined)[]> => {
      try {
        return this.bus.putRequests(requests).map(rejection);
      } catch (error) {
        return requests.map(() => (error instanceof Error ? error : new Error(String(error))));
      }
    };
    return {
      putRequests,
      putEvents: async (entries: PutEventsEntry[]) => {
        for (const error of await putRequests(batchPutEventsEntries(entries))) if (error) throw error;
      },
    };
  }

  /** For extract: waits while the bus is full, so memory stays flat however large the file. */
  private backpressuredPublisher(): EventPublisher {
    return {
      putEvents: async (entries: PutEventsEntry[]) => {
        await this.bus.waitForCapacity();
        for (const batch of batchPutEventsEntries(entries)) assertAccepted(await this.bus.putEvents(batch));
      },
    };
  }
}

/**
 * Groups records by run, so each batch costs one log write per run. Records whose run id could not
 * be a file name (anyone may put events) are tallied but not logged to a file.
 */
function groupByRun<R extends { run?: string }>(records: readonly R[], keepUnsafe = false): Map<string, R[]> {
  const groups = new Map<string, R[]>();
  for (const record of records) {
    if (record.run === undefined || (!keepUnsafe && !isSafeRunId(record.run))) continue;
    let group = groups.get(record.run);
    if (!group) groups.set(record.run, (group = []));
    group.push(record);
  }
  return groups;
}

/** Why the bus did not accept a PutEvents request, or undefined when it did. */
function rejection(result: PutEventsResult): Error | undefined {
  if (result.FailedEntryCount === 0) return undefined;
  const first = result.Entries.find((e) => e.ErrorCode);
  return new Error(
    `the bus rejected ${result.FailedEntryCount} event(s): ${first?.ErrorCode}: ${first?.ErrorMessage}`,
  );
}

function assertAccepted(result: PutEventsResult): void {
  const error = rejection(result);
  if (error) throw error;
}

function emptyCounts(run: string): RunCounts {
  return { run, extracted: 0, transformed: 0, loaded: 0, failed: 0, settled: 0, completed: false };
}

/** A DynamoDB this process does not run: closing it only lets go of the client. */
function externalDynamo(endpoint: string): LocalDynamo {
  const client = localClient(endpoint);
  return {
    endpoint,
    port: Number(new URL(endpoint).port),
    client,
    close: async () => client.destroy(),
  };
}

function openFileSource(descriptor: SourceDescriptor): CsvInput | undefined {
  return descriptor.kind === 'file' && existsSync(descriptor.path)
    ? createReadStream(descriptor.path)
    : undefined;
}

/**
 * Throws InputFileError unless `file` is a regular file, and the OS error (EACCES...) if it cannot be
 * opened: before a run starts, so a file that cannot be read leaves no run behind.
 */
export async function assertReadableFile(file: string): Promise<void> {
  let info;
  try {
    info = await stat(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new InputFileError(`${file}: no such file`);
    throw error;
  }
  if (!info.isFile()) throw new InputFileError(`${file}: not a file`);
  await (await open(file, 'r')).close();
}
