/**
 * Task-stopped Lambda: ECS "Task State Change" events of extract tasks that stopped without success
 * (from a rule on the default bus, through an SQS queue) -> `extraction-failed` for the task's run on
 * the pipeline bus, so the run's tally completes as failed and the observer logs why.
 *
 * The extract trigger starts each task with `startedBy` = the run id and the object in the container
 * overrides, so the stop event names both. Only failures nobody told the bus about are reported:
 * - exit code 0 (extracted) and 2 (the task reported `extraction-failed` itself) put nothing;
 * - any other exit code, or no exit code at all (the task never started: image pull, capacity; or it
 *   was stopped or killed) puts `extraction-failed` with the stop reason.
 * Its `rows` are the rows the observer has counted as extracted so far (0 for a task that never
 * ran); a run whose tally already has its expected row count (the task finished telling the bus)
 * is left alone, so a redelivered stop event changes nothing.
 */
import type { Logger } from '@aws-lambda-powertools/logger';
import { DynamoTallyStore } from '../../adapters/dynamodb-tally-store.ts';
import { s3Url } from '../../adapters/s3-object-source.ts';
import { DetailType, type PipelineDefinition, Status } from '../../pipeline/definition.ts';
import { entry, type EventEnvelope } from '../../pipeline/events.ts';
import { done, type InputOutcome, retry, type Stage } from '../../stages/contract.ts';
import type { EventPublisher, TallyStore } from '../../stages/ports.ts';
import { dynamoClient, publisherFromEnv, stageLogger } from './clients.ts';
import { AwsStage, Env, type EnvSource, pipelineFromEnv, requireEnv, TASK_STOPPED_RULE } from './config.ts';
import { metricsOf } from './metrics.ts';
import { type SqsBatchHandler, type SqsStageDeps, sqsStageHandler } from './sqs-batch.ts';
import { ECS_TASK_STATE_CHANGE, TaskExit } from './task-exit.ts';

/** The parts of an ECS Task State Change detail this handler reads. */
export interface TaskStateChangeDetail {
  clusterArn?: string;
  taskArn?: string;
  lastStatus?: string;
  startedBy?: string;
  stopCode?: string;
  stoppedReason?: string;
  containers?: { name?: string; exitCode?: number; reason?: string; lastStatus?: string }[];
  overrides?: { containerOverrides?: { name?: string; environment?: { name?: string; value?: string }[] }[] };
}

/** What a stopped extract task failed at, or undefined when it needs no report. */
export interface TaskFailure {
  run: string;
  file: string;
  reason: string;
}

const RUN_ID = /^run-[0-9a-f]{16}$/;

/**
 * The failure to report for this task state change: none unless the task stopped, was started for a
 * run, and its extract container neither succeeded nor reported the failure itself.
 */
export function unreportedFailure(
  detail: TaskStateChangeDetail,
  containerName: string,
): TaskFailure | undefined {
  if (detail.lastStatus !== 'STOPPED') return undefined;
  const run = detail.startedBy;
  if (!run || !RUN_ID.test(run)) return undefined;
  const container = detail.containers?.find((c) => c.name === containerName);
  const exitCode = container?.exitCode;
  if (exitCode === TaskExit.extracted || exitCode === TaskExit.reported) return undefined;
  const environment = new Map(
    (detail.overrides?.containerOverrides?.find((o) => o.name === containerName)?.environment ?? []).map(
      (v) => [v.name, v.value],
    ),
  );
  const bucket = environment.get(Env.bucketName);
  const key = environment.get(Env.objectKey);
  const parts = [
    `extract task stopped: ${detail.stoppedReason ?? detail.stopCode ?? 'no reason given'}`,
    ...(detail.stopCode ? [`stop code ${detail.stopCode}`] : []),
    exitCode === undefined
      ? 'the container never exited (it did not start or was stopped)'
      : `exit code ${exitCode}`,
    ...(container?.reason ? [container.reason] : []),
  ];
  return {
    run,
    file: bucket && key ? s3Url({ bucket, key }) : (detail.taskArn ?? ''),
    reason: parts.join('; '),
  };
}

export interface TaskStoppedDeps extends SqsStageDeps {
  definition: PipelineDefinition;
  /** The name of the extract container in the task definition. */
  containerName: string;
  /** The observer's tally (read only: how many rows were counted, whether the run was told). */
  tally: Pick<TallyStore, 'counts'>;
  publisher: EventPublisher;
  logger: Logger;
}

export function createTaskStoppedHandler(deps: TaskStoppedDeps): SqsBatchHandler {
  return sqsStageHandler(taskStoppedStage(deps), deps);
}

/** ECS task state changes in, `extraction-failed` out for runs whose task failed unreported. */
function taskStoppedStage(deps: TaskStoppedDeps): Stage<TaskStateChangeDetail> {
  const { definition, containerName, tally, logger } = deps;
  return {
    name: AwsStage.taskStopped,
    accepts: (e): e is EventEnvelope<TaskStateChangeDetail> =>
      e.source === 'aws.ecs' && e['detail-type'] === ECS_TASK_STATE_CHANGE,
    async handle(inputs) {
      const outcomes = new Map<string, InputOutcome>();
      for (const { id, event } of inputs) {
        const detail = event.detail;
        const failure = unreportedFailure(detail, containerName);
        if (!failure) {
          logger.info('extract task stopped; nothing to report', {
            taskArn: detail.taskArn,
            startedBy: detail.startedBy,
            exitCodes: detail.containers?.map((c) => c.exitCode),
          });
          outcomes.set(id, done());
          continue;
        }
        try {
          const counts = await tally.counts(failure.run);
          if (counts?.expected !== undefined) {
            logger.info('the run already has its row count; nothing to report', { run: failure.run });
            outcomes.set(id, done());
            continue;
          }
          logger.warn('extract task failed', { ...failure, taskArn: detail.taskArn });
          const failed = entry(definition.source, DetailType.extractionFailed, {
            status: Status.failed,
            ...failure,
            rows: counts?.extracted ?? 0,
          });
          outcomes.set(id, done(failed));
        } catch (error) {
          logger.error('could not read the run tally', { run: failure.run, error: error as Error });
          outcomes.set(id, retry('transient', 'could not read the run tally'));
        }
      }
      return outcomes;
    },
  };
}

export function taskStoppedDepsFromEnv(env: EnvSource): TaskStoppedDeps {
  const definition = pipelineFromEnv(env);
  return {
    definition,
    metrics: {
      emf: metricsOf(definition),
      delivery: { rule: TASK_STOPPED_RULE, target: AwsStage.taskStopped },
    },
    containerName: requireEnv(env, Env.containerName),
    tally: new DynamoTallyStore({ client: dynamoClient(), tableName: requireEnv(env, Env.runsTableName) }),
    publisher: publisherFromEnv(env),
    logger: stageLogger('task-stopped'),
  };
}
