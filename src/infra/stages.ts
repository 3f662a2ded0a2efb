/**
 * One spec per stage: its handler, environment and grants. Which events reach a pipeline stage and
 * how (rule, batch size, concurrency, retries) is the pipeline definition's, never restated here;
 * the AWS-only task-stopped stage's rule is the stack's (see `taskStoppedPattern`).
 */
import { Duration } from 'aws-cdk-lib';
import { type IRole, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LOAD_TIMEOUT_SECONDS, OBSERVE_TIMEOUT_SECONDS, type TargetName } from '../pipeline/definition.ts';
import type { WriteMode } from '../pipeline/mapping.ts';
import { Env } from '../runtime/aws/config.ts';
import { EXTRACT_CONTAINER_NAME } from './extract.ts';
import { fieldKeyEnvironment, type StageSpec } from './stage-function.ts';

/** What the load stage calls on the items table in each write mode (insert reads an existing item back). */
const LOAD_TABLE_ACTIONS: Record<WriteMode, string[]> = {
  put: ['dynamodb:BatchWriteItem'],
  update: ['dynamodb:UpdateItem'],
  insert: ['dynamodb:PutItem', 'dynamodb:GetItem'],
};

function allow(role: IRole, actions: string[], resource: string): void {
  role.addToPrincipalPolicy(new PolicyStatement({ actions, resources: [resource] }));
}

/** The pipeline's stages, one per target of the definition's rules. */
export const STAGES: Record<TargetName, StageSpec> = {
  transform: {
    handler: {
      entry: 'transform',
      description: 'Transform stage: extracted rows -> transformed rows (or row-failed)',
      timeout: Duration.seconds(30),
      memorySize: 512,
    },
    environment: (r) => ({ ...r.busEnvironment }),
    grant: (role, r) => r.bus.grantPutEventsTo(role),
  },
  load: {
    handler: {
      entry: 'load',
      description:
        'Load stage: transformed rows -> DynamoDB items (put, update or insert) -> data-loaded (or row-failed)',
      timeout: Duration.seconds(LOAD_TIMEOUT_SECONDS),
      memorySize: 512,
    },
    environment: (r) => ({
      ...r.busEnvironment,
      ...fieldKeyEnvironment(r.fieldKey),
      [Env.tableName]: r.table.tableName,
    }),
    grant: (role, r) => {
      r.bus.grantPutEventsTo(role);
      allow(role, LOAD_TABLE_ACTIONS[r.writeMode], r.table.tableArn);
      // Only load unwraps data keys.
      r.fieldKey?.grant(role, 'kms:Decrypt');
    },
  },
  observe: {
    handler: {
      entry: 'observe',
      description: 'Observer: logs every event, keeps each run tally, puts run-completed',
      timeout: Duration.seconds(OBSERVE_TIMEOUT_SECONDS),
      memorySize: 512,
    },
    environment: (r) => ({ ...r.busEnvironment, [Env.runsTableName]: r.runsTable.tableName }),
    grant: (role, r) => {
      r.bus.grantPutEventsTo(role);
      allow(
        role,
        ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
        r.runsTable.tableArn,
      );
    },
  },
  quarantine: {
    handler: {
      entry: 'quarantine',
      description: 'Quarantine: row-failed events -> failed-row items in the runs table',
      timeout: Duration.seconds(30),
      memorySize: 256,
    },
    environment: (r) => ({ [Env.runsTableName]: r.runsTable.tableName }),
    grant: (role, r) => allow(role, ['dynamodb:BatchWriteItem'], r.runsTable.tableArn),
  },
};

/**
 * The task-stopped stage's delivery: the quarantine's retry settings (from the definition), at the
 * seed's throttle of 2 in small batches, since stop events are rare (at most one per file), kept a day.
 */
export const TASK_STOPPED_DELIVERY = {
  concurrency: 2,
  batchSize: 10,
  maxBatchingWindowSeconds: 0,
  maxEventAgeSeconds: 24 * 3600,
} as const;

/** A failed extract task -> extraction-failed for its run (fed by `taskStoppedPattern`'s rule). */
export const TASK_STOPPED_STAGE: StageSpec = {
  handler: {
    entry: 'task-stopped',
    description: 'Task stopped: a failed extract task -> extraction-failed for its run',
    timeout: Duration.seconds(30),
    memorySize: 256,
  },
  environment: (r) => ({
    ...r.busEnvironment,
    [Env.runsTableName]: r.runsTable.tableName,
    [Env.containerName]: EXTRACT_CONTAINER_NAME,
  }),
  grant: (role, r) => {
    r.bus.grantPutEventsTo(role);
    allow(role, ['dynamodb:GetItem', 'dynamodb:Query'], r.runsTable.tableArn);
  },
};
