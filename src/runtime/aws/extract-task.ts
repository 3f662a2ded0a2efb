/**
 * The Fargate extract task: streams the object named by its environment (the seed's S3_BUCKET_NAME
 * and S3_OBJECT_KEY container overrides) from S3 straight into the extract stage, which puts the
 * rows to the bus through EventBridgePublisher with several PutEvents in flight. The object is never
 * downloaded whole: GetObject's Body stream is the stage's input.
 *
 * Exit status (TaskExit): 0 when the file was extracted (or changed or went away since its
 * notification: its newer state has a notification and task of its own); 2 when it failed and the bus
 * was told (`extraction-failed`, with the rows the bus accepted: a file unreadable as CSV, an S3
 * error, a body cut short); 1 when it failed and the bus could not be told (configuration, PutEvents):
 * the task-stopped handler reports those, and tasks that never ran, from ECS's stop event.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { S3Client } from '@aws-sdk/client-s3';
import { EventBridgePublisher } from '../../adapters/eventbridge-publisher.ts';
import {
  ObjectChangedError,
  ObjectNotFoundError,
  type OpenedObject,
  openS3Object,
  type S3ObjectRef,
  s3Url,
} from '../../adapters/s3-object-source.ts';
import { DetailType, type PipelineDefinition, Status } from '../../pipeline/definition.ts';
import { entry, type PutEventsEntry } from '../../pipeline/events.ts';
import { mappingForInput } from '../../pipeline/input-format.ts';
import { runIdForObject } from '../../pipeline/run-id.ts';
import { extract, ExtractError } from '../../stages/extract.ts';
import { RowCountingPublisher } from '../../stages/outcome-counts.ts';
import type { EventPublisher, FieldCipher } from '../../stages/ports.ts';
import { cipherFromEnv } from './clients.ts';
import { ConfigError, Env, type EnvSource, pipelineFromEnv, requireEnv, SERVICE_NAME } from './config.ts';
import { type EtlMetrics, metricsOf } from './metrics.ts';
import { TaskExit } from './task-exit.ts';

export const DEFAULT_MAX_PUTS_IN_FLIGHT = 8;

/** Opens an object as a stream; with an ETag, only that version of it (openS3Object in production). */
export type ObjectSource = (object: S3ObjectRef) => Promise<Pick<OpenedObject, 'body' | 'etag'>>;

export interface ExtractTaskDeps {
  definition: PipelineDefinition;
  objects: ObjectSource;
  publisher: EventPublisher;
  cipher?: FieldCipher;
  maxPutsInFlight?: number;
  logger: Logger;
  /** The rows the bus took (done) or took as `row-failed`, and the task's run time (stage `extract`). */
  metrics?: EtlMetrics;
}

export interface ExtractTaskResult {
  run: string;
  file: string;
  rows: number;
}

/** Extracts one object: its run id comes from bucket, key, the ETag S3 served and the version. */
export async function runExtractTask(target: S3ObjectRef, deps: ExtractTaskDeps): Promise<ExtractTaskResult> {
  const started = performance.now();
  const counted = new RowCountingPublisher(deps.publisher);
  try {
    return await extractObject(target, { ...deps, publisher: counted });
  } finally {
    deps.metrics?.recordExtraction(
      { extracted: counted.rowsPut, failed: counted.rowsFailed },
      (performance.now() - started) / 1000,
    );
  }
}

async function extractObject(target: S3ObjectRef, deps: ExtractTaskDeps): Promise<ExtractTaskResult> {
  const { body, etag } = await deps.objects(target);
  const run = runIdForObject(target.bucket, target.key, etag, target.versionId);
  const file = s3Url(target);
  deps.logger.info('extraction started', { run, file });
  const { rows, repeatedKeys } = await extract({
    source: deps.definition.source,
    run,
    file,
    input: body,
    publisher: deps.publisher,
    // An object named .jsonl or .ndjson is JSON Lines unless the mapping names its format.
    mapping: mappingForInput(deps.definition.mapping, target.key),
    onWarning: (message) => deps.logger.warn(message, { run, file }),
    maxPutsInFlight: deps.maxPutsInFlight ?? DEFAULT_MAX_PUTS_IN_FLIGHT,
    ...(deps.cipher ? { cipher: deps.cipher } : {}),
  });
  deps.logger.info('extraction completed', { run, file, rows });
  // The later row is the item kept; extraction-completed carries the count too.
  if (repeatedKeys > 0)
    deps.logger.warn(`${repeatedKeys} rows overwrote an earlier row with the same key`, {
      run,
      file,
      repeatedKeys,
    });
  return { run, file, rows };
}

export function extractTaskDepsFromEnv(env: EnvSource, logger: Logger): ExtractTaskDeps {
  const definition = pipelineFromEnv(env);
  const cipher = cipherFromEnv(env, definition.mapping);
  const s3 = new S3Client({});
  const inFlight = Number(env[Env.maxPutsInFlight] ?? DEFAULT_MAX_PUTS_IN_FLIGHT);
  if (!Number.isInteger(inFlight) || inFlight < 1)
    throw new ConfigError(`${Env.maxPutsInFlight} must be a positive integer`);
  return {
    definition,
    objects: (object) => openS3Object(s3, object),
    // Adaptive retries slow the puts down when the account's PutEvents quota throttles them.
    publisher: new EventBridgePublisher(
      new EventBridgeClient({ retryMode: 'adaptive', maxAttempts: 10 }),
      requireEnv(env, Env.eventBusName),
    ),
    ...(cipher ? { cipher } : {}),
    maxPutsInFlight: inFlight,
    logger,
    metrics: metricsOf(definition),
  };
}

/**
 * The publisher the task puts through, noting what the bus accepted: the rows, and whether the
 * stage already reported the run failed.
 */
export class ReportingPublisher extends RowCountingPublisher {
  failureReported = false;

  protected override count(entry: PutEventsEntry): void {
    super.count(entry);
    if (entry.DetailType === DetailType.extractionFailed) this.failureReported = true;
  }
}

/**
 * Puts `extraction-failed` for a run that stopped on an error the stage did not report (S3, a body
 * cut short, PutEvents), with the rows the bus accepted, so the run's tally can complete. Resolves
 * whether the bus now knows; when it does not, the task-stopped handler reports from ECS's stop event.
 */
async function reportFailure(
  error: unknown,
  target: S3ObjectRef,
  deps: ExtractTaskDeps,
  publisher: ReportingPublisher,
  logger: Logger,
): Promise<boolean> {
  if (publisher.failureReported) return true;
  if (!target.etag) return false;
  const run = runIdForObject(target.bucket, target.key, target.etag, target.versionId);
  try {
    await publisher.putEvents([
      entry(deps.definition.source, DetailType.extractionFailed, {
        status: Status.failed,
        run,
        file: s3Url(target),
        reason: error instanceof Error ? error.message : String(error),
        rows: publisher.rowsPut,
      }),
    ]);
    return true;
  } catch (putError) {
    logger.error('the failure could not be reported to the bus', { run, error: putError as Error });
    return false;
  }
}

/** The container's entry: configuration from the environment, exit status as documented above. */
export async function main(env: EnvSource = process.env): Promise<number> {
  const logger = new Logger({ serviceName: SERVICE_NAME, persistentKeys: { stage: 'extract' } });
  let started: { target: S3ObjectRef; deps: ExtractTaskDeps; publisher: ReportingPublisher } | undefined;
  try {
    const target = {
      bucket: requireEnv(env, Env.bucketName),
      key: requireEnv(env, Env.objectKey),
      ...(env[Env.objectEtag] ? { etag: env[Env.objectEtag] } : {}),
      ...(env[Env.objectVersion] ? { versionId: env[Env.objectVersion] } : {}),
    };
    const configured = extractTaskDepsFromEnv(env, logger);
    const publisher = new ReportingPublisher(configured.publisher);
    started = { target, deps: { ...configured, publisher }, publisher };
    await runExtractTask(target, started.deps);
    return TaskExit.extracted;
  } catch (error) {
    if (error instanceof ObjectChangedError || error instanceof ObjectNotFoundError) {
      // Its newer version (or its deletion) has a notification of its own.
      logger.warn('the object is not the version its notification announced; nothing to extract', { error });
      return TaskExit.extracted;
    }
    logger.error(
      error instanceof ExtractError
        ? 'the file could not be extracted'
        : error instanceof ConfigError
          ? 'configuration error'
          : 'extraction failed',
      { error: error as Error },
    );
    const reported =
      started !== undefined &&
      (await reportFailure(error, started.target, started.deps, started.publisher, logger));
    return reported ? TaskExit.reported : TaskExit.unreported;
  }
}
