/**
 * The Fargate extract task: streams the object named by its environment (the seed's S3_BUCKET_NAME
 * and S3_OBJECT_KEY container overrides) from S3 straight into the extract stage, which puts the
 * rows to the bus through EventBridgePublisher with several PutEvents in flight. The object is never
 * downloaded whole: GetObject's Body stream is the stage's input.
 *
 * Exit status: 0 when the file was extracted (or changed or went away since its notification: its
 * newer state has a notification and task of its own), 2 when the file is unreadable as CSV (reported
 * to the bus as `extraction-failed`), 1 for anything else (configuration, S3, PutEvents).
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
import type { PipelineDefinition } from '../../pipeline/definition.ts';
import { runIdForObject } from '../../pipeline/run-id.ts';
import { extract, ExtractError } from '../../stages/extract.ts';
import type { EventPublisher, FieldCipher } from '../../stages/ports.ts';
import { cipherFromEnv } from './clients.ts';
import { ConfigError, Env, type EnvSource, pipelineFromEnv, requireEnv } from './config.ts';

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
}

export interface ExtractTaskResult {
  run: string;
  file: string;
  rows: number;
}

/** Extracts one object: its run id comes from bucket, key, the ETag S3 served and the version. */
export async function runExtractTask(target: S3ObjectRef, deps: ExtractTaskDeps): Promise<ExtractTaskResult> {
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
    mapping: deps.definition.mapping,
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
  };
}

/** The container's entry: configuration from the environment, exit status as documented above. */
export async function main(env: EnvSource = process.env): Promise<number> {
  const logger = new Logger({ serviceName: 'eventbridge-etl', persistentKeys: { stage: 'extract' } });
  try {
    const target = {
      bucket: requireEnv(env, Env.bucketName),
      key: requireEnv(env, Env.objectKey),
      ...(env[Env.objectEtag] ? { etag: env[Env.objectEtag] } : {}),
      ...(env[Env.objectVersion] ? { versionId: env[Env.objectVersion] } : {}),
    };
    await runExtractTask(target, extractTaskDepsFromEnv(env, logger));
    return 0;
  } catch (error) {
    if (error instanceof ObjectChangedError || error instanceof ObjectNotFoundError) {
      // Its newer version (or its deletion) has a notification of its own.
      logger.warn('the object is not the version its notification announced; nothing to extract', { error });
      return 0;
    }
    if (error instanceof ExtractError) {
      logger.error('the file could not be extracted', { error });
      return 2;
    }
    logger.error(error instanceof ConfigError ? 'configuration error' : 'extraction failed', {
      error: error as Error,
    });
    return 1;
  }
}
