/**
 * The local stack behind AWS-compatible endpoints (`etl up`): the local pipeline, S3 with a landing
 * bucket whose ObjectCreated notifications run objects through the pipeline (the seed's
 * S3 -> SQS -> extract path), a landing folder, and one edge port serving S3, DynamoDB,
 * EventBridge and SQS (the user's queues, and the pipeline's) to any AWS client given `--endpoint-url`.
 */
import { createReadStream, existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import {
  headS3ObjectEtag,
  ObjectChangedError,
  ObjectNotFoundError,
  openS3Object,
  s3Url,
} from '../../../adapters/s3-object-source.ts';
import { type PipelineDefinition, ruleOfTarget } from '../../../pipeline/definition.ts';
import { UserError } from '../../../pipeline/errors.ts';
import { runIdForObject } from '../../../pipeline/run-id.ts';
import { ExtractError } from '../../../stages/extract.ts';
import {
  type CsvInput,
  LocalPipeline,
  type LocalPipelineOptions,
  type RunReport,
  type SourceDescriptor,
} from '../pipeline.ts';
import { statePaths } from '../state.ts';
import { DynamoDbProxy } from './dynamodb-proxy.ts';
import { ArchivesApi } from './archives-api.ts';
import { EventsApi } from './events-api.ts';
import { RulesApi } from './rules-api.ts';
import type { QueueSink } from '../queue-sink.ts';
import { type IngestObject, ObjectIngest } from './ingest.ts';
import { LandingFolder, type LandingOutcome } from './landing-folder.ts';
import { isValidBucketName, LocalS3, type ObjectCreated } from './s3.ts';
import { EdgeServer } from './server.ts';
import { SqsApi } from './sqs-api.ts';
import { progressLine, ProgressTracker } from '../progress.ts';
import { etlServiceStates } from './services.ts';
import { Dashboard, DASHBOARD_PATH } from '../dashboard/dashboard.ts';

export const DEFAULT_EDGE_PORT = 4566;
export const DEFAULT_EDGE_HOST = '127.0.0.1';
/** The landing bucket's name locally (the seed's bucket is the CDK construct `LandingBucket`). */
export const DEFAULT_LANDING_BUCKET = 'landing-bucket';
/** Credentials the stack's own clients use; the edge accepts any. */
export const LOCAL_CREDENTIALS = { accessKeyId: 'local', secretAccessKey: 'local' };
export const LOCAL_REGION = 'us-east-1';

export interface LocalStackOptions {
  stateDir?: string;
  host?: string;
  /** Host names the edge serves besides the bound address and loopback's (`etl up --allow-host`). */
  allowHosts?: readonly string[];
  /** 0 picks a free port. */
  port?: number;
  bucket?: string;
  /** The landing folder (default `<state-dir>/landing`); false for none. */
  landingDir?: string | false;
  landingPollMs?: number;
  definition?: PipelineDefinition;
  /** Keep the table in memory (tests). */
  inMemory?: boolean;
  /** Objects run at once. */
  concurrency?: number;
  /** Where run tallies and notices go (default stdout). */
  log?: (line: string) => void;
  /** Where problems go (default stderr). */
  warn?: (line: string) => void;
  /** Called with every finished run. */
  onRun?: (report: RunReport) => void;
  /** How often a progress line is logged per run in progress (default 5 s; 0: never). */
  progressIntervalMs?: number;
  /** Log lines as JSON objects (`type`: `run`, `progress` or `notice`), one per line. */
  json?: boolean;
  /** What the pipeline keeps on disk (see LocalPipelineOptions). */
  archive?: LocalPipelineOptions['archive'];
  recordEvents?: boolean;
  /** The version the health endpoints report (`etl up` passes its own). */
  version?: string;
  /** The local queues for user rules' SQS targets and dead-letter queues (default: the state directory's, `queues/`). */
  queueSink?: QueueSink;
}

/** How often `etl up` says how far each run in progress is. */
export const DEFAULT_PROGRESS_INTERVAL_MS = 5_000;

export class InvalidBucketNameError extends UserError {
  override readonly name = 'InvalidBucketNameError';
}

/** A line of the stack's log that carries data: its text, and the object `json` prints instead. */
interface StackRecord {
  text: string;
  record: { type: string } & Record<string, unknown>;
}

function runRecord(report: RunReport): StackRecord {
  return {
    text: tallyLine(report),
    record: {
      type: 'run',
      run: report.run,
      file: report.file,
      counts: report.counts,
      ...(report.repeatedKeys ? { repeatedKeys: report.repeatedKeys } : {}),
      ...(report.error ? { error: report.error.message } : {}),
    },
  };
}

/** One line per finished run: where it came from, its run id and its tally. */
export function tallyLine(report: RunReport): string {
  const { counts } = report;
  return (
    `${report.file} (${report.run}): extracted ${counts.extracted}, transformed ${counts.transformed}, ` +
    `loaded ${counts.loaded}, failed ${counts.failed}, dead-lettered ${counts.deadLettered ?? 0}` +
    (report.error ? `; ${report.error.message}` : '')
  );
}

export class LocalStack {
  private closing: Promise<void> | undefined;
  private dashboard: Dashboard | undefined;
  /**
   * Runs a crashed process left unfinished are finished first (their S3 objects read through the
   * edge); then the landing folder is watched. Resolves with the recovered runs' reports.
   */
  recovered: Promise<RunReport[]> = Promise.resolve([]);

  private constructor(
    readonly edge: EdgeServer,
    readonly pipeline: LocalPipeline,
    readonly s3: LocalS3,
    readonly ingest: ObjectIngest,
    readonly landing: LandingFolder | undefined,
    readonly bucket: string,
    readonly stateDir: string,
    private readonly sqs: SqsApi,
    private readonly clients: { s3: S3Client; dynamodb: DynamoDbProxy },
    private readonly log: (line: string | StackRecord) => void,
    private readonly warn: (line: string) => void,
  ) {}

  static async start(options: LocalStackOptions = {}): Promise<LocalStack> {
    const bucket = options.bucket ?? DEFAULT_LANDING_BUCKET;
    if (!isValidBucketName(bucket)) {
      throw new InvalidBucketNameError(`"${bucket}" is not a valid S3 bucket name`);
    }
    const print = options.log ?? ((line: string) => console.log(line));
    // With json, every line is an object: the ones that carry data say it (see below), others are notices.
    const log = (line: string | StackRecord): void =>
      print(
        typeof line !== 'string'
          ? options.json
            ? JSON.stringify(line.record)
            : line.text
          : options.json
            ? JSON.stringify({ type: 'notice', message: line })
            : line,
      );
    const warn = options.warn ?? ((line: string) => console.error(line));
    const paths = statePaths(options.stateDir);

    const edge = await EdgeServer.listen({
      host: options.host ?? DEFAULT_EDGE_HOST,
      port: options.port ?? DEFAULT_EDGE_PORT,
      ...(options.allowHosts ? { allowHosts: options.allowHosts } : {}),
      ...(options.version ? { version: options.version } : {}),
    });
    let pipeline: LocalPipeline | undefined;
    try {
      pipeline = await LocalPipeline.start({
        stateDir: paths.root,
        ...(options.definition ? { definition: options.definition } : {}),
        ...(options.inMemory ? { inMemory: true } : {}),
        ...(options.archive ? { archive: options.archive } : {}),
        ...(options.recordEvents ? { recordEvents: true } : {}),
        ...(options.queueSink ? { queueSink: options.queueSink } : {}),
        warn,
      });
      const started = pipeline;
      const s3Client = new S3Client({
        endpoint: edge.endpoint,
        region: LOCAL_REGION,
        credentials: LOCAL_CREDENTIALS,
        forcePathStyle: true,
      });
      const finished = (report: RunReport): void => {
        for (const warning of report.warnings ?? []) warn(warning);
        log(runRecord(report));
        options.onRun?.(report);
      };

      const ingest = new ObjectIngest(
        async (object) => {
          finished(await runObject(started, s3Client, object));
        },
        {
          ...(options.concurrency ? { concurrency: options.concurrency } : {}),
          onError: (object, error) => warn(`${s3Url(object)}: not run: ${describe(error)}`),
          journal: paths.ingest,
        },
      );
      const s3 = await LocalS3.start({
        directory: paths.s3,
        buckets: [bucket],
        onObjectCreated: (object: ObjectCreated) => {
          if (object.bucket === bucket) ingest.submit(object);
        },
        onError: (error) => warn(`s3: ${describe(error)}`),
      });
      const dynamodb = new DynamoDbProxy(started.dynamo.endpoint);
      const events = new EventsApi(started.bus, started.userRules);
      events.serve(new RulesApi(started.userRules, (body) => events.requestBus(body)));
      // No archive unless the bus keeps one (--archive, CreateArchive); none at all in memory.
      events.serve(new ArchivesApi(events, started.bus, started.archive ? started : undefined));
      const { definition } = started;
      const sqs = new SqsApi(started.queues, {
        ruleArn: (rule) => started.bus.ruleArn(rule),
        targets: Object.entries(definition.delivery).map(([target, delivery]) => ({
          target,
          rule: ruleOfTarget(definition, target) ?? target,
          maxReceiveCount: delivery.maxReceiveCount,
        })),
        depth: () => started.bus.depth(),
        deadLetters: started.deadLetters,
        redriveDeadLetters: (target) => started.redriveDeadLetters(target),
      });

      const landingDir =
        options.landingDir === false ? undefined : resolve(options.landingDir ?? paths.landing);
      const landing = landingDir
        ? new LandingFolder({
            dir: landingDir,
            ...(options.landingPollMs ? { pollMs: options.landingPollMs } : {}),
            run: async (path): Promise<LandingOutcome> => {
              const report = await started.runFile(path);
              finished(report);
              return report.error ? 'failed' : 'processed';
            },
            onError: (path, error) => warn(`${path}: ${describe(error)}`),
          })
        : undefined;

      const stack = new LocalStack(
        edge,
        started,
        s3,
        ingest,
        landing,
        bucket,
        paths.root,
        sqs,
        { s3: s3Client, dynamodb },
        log,
        warn,
      );
      const dashboard = new Dashboard({
        pipeline: started,
        // The failed rows' CSV reads the object version a run read, through the edge.
        openObject: (descriptor) => stack.reopen(descriptor) as AsyncIterable<Buffer>,
        onError: (error) => warn(`dashboard: internal error: ${describe(error)}`),
      });
      stack.dashboard = dashboard;
      edge.attach({
        s3,
        dynamodb,
        events,
        sqs,
        dashboard,
        health: () => stack.describe(),
        metrics: () => started.metrics.exposition(),
        onError: (error) => warn(`edge: internal error: ${describe(error)}`),
      });
      started.advertise(edge.endpoint);
      stack.recovered = stack.recoverThenWatch();
      stack.reportProgressEvery(options.progressIntervalMs ?? DEFAULT_PROGRESS_INTERVAL_MS);
      return stack;
    } catch (error) {
      await edge.close(0);
      await pipeline?.close();
      throw error;
    }
  }

  get endpoint(): string {
    return this.edge.endpoint;
  }

  /** The live dashboard's page. */
  get dashboardUrl(): string {
    return `${this.edge.endpoint}${DASHBOARD_PATH}`;
  }

  private progressTimer: NodeJS.Timeout | undefined;

  /** A line per run in progress every interval: how far along it is and how fast it goes. */
  private reportProgressEvery(intervalMs: number): void {
    if (intervalMs <= 0) return;
    const trackers = new Map<string, ProgressTracker>();
    this.progressTimer = setInterval(() => {
      const active = this.pipeline.activeProgress();
      for (const run of trackers.keys()) if (!active.some((p) => p.run === run)) trackers.delete(run);
      for (const progress of active) {
        let tracker = trackers.get(progress.run);
        if (!tracker) trackers.set(progress.run, (tracker = new ProgressTracker()));
        const view = tracker.view(progress);
        const file = progress.file ?? progress.run;
        this.log({
          text: `${file} (${progress.run}): ${progressLine(view)}`,
          record: { type: 'progress', run: progress.run, file, ...view },
        });
      }
    }, intervalMs);
    this.progressTimer.unref();
  }

  get tableName(): string {
    return this.pipeline.tableName;
  }

  get busName(): string {
    return this.pipeline.bus.name;
  }

  describe(): Record<string, unknown> {
    return {
      status: 'ready',
      endpoint: this.endpoint,
      dashboard: this.dashboardUrl,
      bucket: this.bucket,
      table: this.tableName,
      eventBus: this.busName,
      landingFolder: this.landing?.dir ?? null,
      stateDir: this.stateDir,
      services: etlServiceStates(),
    };
  }

  private async recoverThenWatch(): Promise<RunReport[]> {
    let reports: RunReport[] = [];
    try {
      reports = await this.pipeline.recover((descriptor) => this.reopen(descriptor));
    } catch (error) {
      this.warn(`recovering runs cut short earlier: ${describe(error)}`);
    }
    const quarantined = this.pipeline.quarantineNotice();
    if (quarantined) this.warn(quarantined);
    // Notifications a crash caught queued: run them, unless recovery just finished their run.
    for (const object of this.ingest.unfinished) {
      const etag = object.etag;
      const run =
        etag === undefined ? undefined : runIdForObject(object.bucket, object.key, etag, object.versionId);
      if (run !== undefined && this.pipeline.runs.hasSummary(run)) continue;
      this.ingest.submit(object);
    }
    for (const report of reports) {
      const { text, record } = runRecord(report);
      this.log({ text: `recovered: ${text}`, record: { ...record, recovered: true } });
      // A landing file whose run was cut short is done now: it must not be taken again.
      if (this.landing && dirname(resolve(report.file)) === this.landing.dir && existsSync(report.file)) {
        await this.landing.settle(report.file, report.error ? 'failed' : 'processed');
      }
    }
    if (!this.closing) await this.landing?.start();
    return reports;
  }

  /** Opens a recorded source again: a file, or an S3 object (through the edge, that version only). */
  reopen(descriptor: SourceDescriptor): CsvInput | undefined {
    if (descriptor.kind === 'file')
      return existsSync(descriptor.path) ? createReadStream(descriptor.path) : undefined;
    const client = this.clients.s3;
    return (async function* () {
      let opened;
      try {
        opened = await openS3Object(client, descriptor);
      } catch (error) {
        if (error instanceof ObjectChangedError || error instanceof ObjectNotFoundError) {
          throw new ExtractError(`cannot be read again: ${error.message}`, s3Url(descriptor));
        }
        throw error;
      }
      yield* opened.body as AsyncIterable<Buffer>;
    })();
  }

  /**
   * Stops in order: no new files or objects are taken, the runs under way finish, the port closes,
   * then the pipeline drains and the table closes. Objects queued and not started are named.
   */
  close(): Promise<void> {
    clearInterval(this.progressTimer);
    this.closing ??= (async () => {
      await this.recovered;
      await this.landing?.close();
      const dropped = await this.ingest.close();
      for (const object of dropped) {
        this.warn(`${s3Url(object)}: not run (the stack stopped first); the next etl up runs it`);
      }
      // Move tasks stop at their next batch (asked first, so none runs on a closed queue)...
      const sqsClosed = this.sqs.close();
      // ...and long polls end now (empty), before the port closes.
      this.pipeline.queues.close();
      // Its event streams never end by themselves: end them so the port closes at once.
      await this.dashboard?.close();
      await this.edge.close();
      await sqsClosed;
      this.clients.dynamodb.close();
      this.clients.s3.destroy();
      this.s3.close();
      await this.pipeline.close();
    })();
    return this.closing;
  }
}

/**
 * Runs one notified object: the version its notification names (ObjectChangedError, or not found,
 * when it was overwritten since: the newer version has a notification of its own). Its run id names
 * the version, as on AWS: the same content uploaded again is a new run.
 */
async function runObject(
  pipeline: LocalPipeline,
  client: S3Client,
  object: IngestObject,
): Promise<RunReport> {
  const etag = object.etag ?? (await headS3ObjectEtag(client, object));
  const version = object.versionId ? { versionId: object.versionId } : {};
  const { body, contentLength } = await openS3Object(client, {
    bucket: object.bucket,
    key: object.key,
    etag,
    ...version,
  });
  try {
    return await pipeline.runSource({
      file: s3Url(object),
      run: runIdForObject(object.bucket, object.key, etag, object.versionId),
      descriptor: { kind: 's3', bucket: object.bucket, key: object.key, etag, ...version },
      open: () => body,
      ...(contentLength === undefined ? {} : { size: contentLength }),
    });
  } catch (error) {
    body.destroy();
    throw error;
  }
}

function describe(error: unknown): string {
  // A bad file, a vanished object: its message says it all. Anything else is named.
  if (error instanceof UserError) return error.message;
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}
