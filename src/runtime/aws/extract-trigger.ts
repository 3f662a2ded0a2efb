/**
 * Extract trigger Lambda (the seed's s3SqsEventConsumer): S3 ObjectCreated notifications arrive in
 * SQS messages; for every object, ecs:RunTask of the extract task with the object in the container's
 * environment (the seed's S3_BUCKET_NAME and S3_OBJECT_KEY overrides, plus its ETag), then the seed's
 * `ecs-started` event. S3's `s3:TestEvent` (sent when the notification is configured) is skipped.
 *
 * Each message is processed on its own through Powertools' BatchProcessor; a message whose RunTask
 * or PutEvents failed is reported in batchItemFailures and retried. The RunTask client token is the
 * message id and record index, so a retried message never starts a second task for the same object.
 */
import { BatchProcessor, EventType, processPartialResponse } from '@aws-lambda-powertools/batch';
import type { Logger } from '@aws-lambda-powertools/logger';
import {
  ECSClient,
  RunTaskCommand,
  type RunTaskCommandInput,
  type RunTaskCommandOutput,
} from '@aws-sdk/client-ecs';
import type { Context, S3EventRecord, SQSRecord } from 'aws-lambda';
import { type S3ObjectRef, s3Url, unquoteEtag } from '../../adapters/s3-object-source.ts';
import { DetailType, type PipelineDefinition, Status } from '../../pipeline/definition.ts';
import type { PutEventsEntry } from '../../pipeline/events.ts';
import { runIdForObject } from '../../pipeline/run-id.ts';
import { done, retry } from '../../stages/contract.ts';
import type { EventPublisher } from '../../stages/ports.ts';
import { publisherFromEnv, stageLogger } from './clients.ts';
import { AwsStage, Env, type EnvSource, listEnv, pipelineFromEnv, requireEnv } from './config.ts';
import { type EtlMetrics, metricsOf } from './metrics.ts';
import type { SqsBatchHandler } from './sqs-batch.ts';

export interface TaskPlacement {
  cluster: string;
  taskDefinition: string;
  containerName: string;
  subnets: string[];
  securityGroups: string[];
}

export interface ExtractTriggerDeps {
  definition: PipelineDefinition;
  /** ecs:RunTask (an ECSClient in production, a fake in tests). */
  runTask: (input: RunTaskCommandInput) => Promise<RunTaskCommandOutput>;
  publisher: EventPublisher;
  placement: TaskPlacement;
  logger: Logger;
  /** Each batch's messages done or to retry, and its duration (stage `extract-trigger`). */
  metrics?: EtlMetrics;
}

/** An object a notification announced, with the ETag (and, if versioned, the version) it announced. */
export type ObjectRef = Required<Pick<S3ObjectRef, 'bucket' | 'key' | 'etag'>> &
  Pick<S3ObjectRef, 'versionId'>;

/** Keys in S3 event notifications are URL-encoded, with `+` for spaces. */
export function decodeNotificationKey(key: string): string {
  return decodeURIComponent(key.replace(/\+/g, ' '));
}

/** The objects an S3 notification message announces; none for s3:TestEvent and other events. */
export function objectsInNotification(body: string): ObjectRef[] {
  const message = JSON.parse(body) as { Event?: unknown; Records?: S3EventRecord[] };
  if (message.Event === 's3:TestEvent') return [];
  if (!Array.isArray(message.Records)) throw new Error('the message is not an S3 event notification');
  return message.Records.filter(
    (r) => r.eventSource === 'aws:s3' && r.eventName?.startsWith('ObjectCreated:'),
  ).map((r) => ({
    bucket: r.s3.bucket.name,
    key: decodeNotificationKey(r.s3.object.key),
    etag: unquoteEtag(r.s3.object.eTag ?? ''),
    ...(r.s3.object.versionId ? { versionId: r.s3.object.versionId } : {}),
  }));
}

export function runTaskInput(
  placement: TaskPlacement,
  object: ObjectRef,
  clientToken: string,
  run: string,
): RunTaskCommandInput {
  return {
    cluster: placement.cluster,
    taskDefinition: placement.taskDefinition,
    launchType: 'FARGATE',
    count: 1,
    networkConfiguration: {
      awsvpcConfiguration: {
        subnets: placement.subnets,
        securityGroups: placement.securityGroups,
        assignPublicIp: 'DISABLED',
      },
    },
    overrides: {
      containerOverrides: [
        {
          name: placement.containerName,
          environment: [
            { name: Env.bucketName, value: object.bucket },
            { name: Env.objectKey, value: object.key },
            { name: Env.objectEtag, value: object.etag },
            ...(object.versionId ? [{ name: Env.objectVersion, value: object.versionId }] : []),
          ],
        },
      ],
    },
    clientToken,
    // Find a run's task with `aws ecs list-tasks --started-by <run>`.
    startedBy: run,
  };
}

export function createExtractTriggerHandler(deps: ExtractTriggerDeps): SqsBatchHandler {
  const { definition, placement, publisher, logger } = deps;

  const startExtraction = async (record: SQSRecord): Promise<void> => {
    const objects = objectsInNotification(record.body);
    if (objects.length === 0) {
      logger.info('no object to extract (S3 test event or not ObjectCreated)', {
        messageId: record.messageId,
      });
      return;
    }
    for (const [index, object] of objects.entries()) {
      if (!object.etag) throw new Error(`the notification for ${s3Url(object)} carries no ETag`);
      const run = runIdForObject(object.bucket, object.key, object.etag, object.versionId);
      const response = await deps.runTask(
        runTaskInput(placement, object, `${record.messageId}:${index}`, run),
      );
      const failures = response.failures ?? [];
      if (failures.length > 0 || !response.tasks?.length) {
        const reason = failures
          .map((f) => `${f.arn ?? ''} ${f.reason ?? ''} ${f.detail ?? ''}`.trim())
          .join('; ');
        throw new Error(`RunTask started no task for ${s3Url(object)}: ${reason || 'no reason given'}`);
      }
      logger.info('extract task started', {
        run,
        file: s3Url(object),
        tasks: response.tasks.map((t) => t.taskArn),
      });
      await publisher.putEvents([taskStartedEntry(definition.source, run, object, response)]);
    }
  };

  return async (event, context?: Context) => {
    const started = performance.now();
    if (context) logger.addContext(context);
    const processor = new BatchProcessor(EventType.SQS);
    const response = await processPartialResponse(
      event,
      async (record: SQSRecord) => {
        try {
          await startExtraction(record);
        } catch (error) {
          logger.error('could not start the extraction', {
            messageId: record.messageId,
            error: error as Error,
          });
          throw error;
        }
      },
      processor,
      { ...(context ? { context } : {}), throwOnFullBatchFailure: false },
    );
    const failed = response.batchItemFailures.length;
    deps.metrics?.recordBatch(
      {
        stage: AwsStage.extractTrigger,
        size: event.Records.length,
        seconds: (performance.now() - started) / 1000,
      },
      [
        ...Array.from({ length: event.Records.length - failed }, () => done()),
        ...Array.from({ length: failed }, () => retry('transient')),
      ],
    );
    return { batchItemFailures: response.batchItemFailures };
  };
}

/** The seed's `ecs-started` event: status success and the RunTask response (its tasks, trimmed). */
function taskStartedEntry(
  source: string,
  run: string,
  object: ObjectRef,
  response: RunTaskCommandOutput,
): PutEventsEntry {
  return {
    Source: source,
    DetailType: DetailType.taskStarted,
    Detail: JSON.stringify({
      status: Status.loaded,
      run,
      file: s3Url(object),
      data: {
        tasks: (response.tasks ?? []).map((t) => ({
          taskArn: t.taskArn,
          clusterArn: t.clusterArn,
          taskDefinitionArn: t.taskDefinitionArn,
          lastStatus: t.lastStatus,
          createdAt: t.createdAt,
        })),
        failures: response.failures ?? [],
      },
    }),
  };
}

export function extractTriggerDepsFromEnv(env: EnvSource): ExtractTriggerDeps {
  const ecs = new ECSClient({ maxAttempts: 5 });
  const definition = pipelineFromEnv(env);
  return {
    definition,
    metrics: metricsOf(definition),
    runTask: (input) => ecs.send(new RunTaskCommand(input)),
    publisher: publisherFromEnv(env),
    placement: {
      cluster: requireEnv(env, Env.clusterArn),
      taskDefinition: requireEnv(env, Env.taskDefinitionArn),
      containerName: requireEnv(env, Env.containerName),
      subnets: listEnv(env, Env.subnetIds),
      securityGroups: listEnv(env, Env.securityGroupIds),
    },
    logger: stageLogger('extract-trigger'),
  };
}
