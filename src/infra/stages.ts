/**
 * One spec per stage: its handler, environment and grants. Which events reach it and how (rule,
 * batch size, concurrency, retries) is the pipeline definition's, never restated here.
 */
import { Duration } from 'aws-cdk-lib';
import { type IRole, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { TargetName } from '../pipeline/definition.ts';
import { Env } from '../runtime/aws/config.ts';
import { fieldKeyEnvironment, type StageSpec } from './stage-function.ts';

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
        'Load stage: transformed rows -> DynamoDB items (BatchWriteItem) -> data-loaded (or row-failed)',
      timeout: Duration.seconds(60),
      memorySize: 512,
    },
    environment: (r) => ({
      ...r.busEnvironment,
      ...fieldKeyEnvironment(r.fieldKey),
      [Env.tableName]: r.table.tableName,
    }),
    grant: (role, r) => {
      r.bus.grantPutEventsTo(role);
      allow(role, ['dynamodb:BatchWriteItem'], r.table.tableArn);
      // Only load unwraps data keys.
      r.fieldKey?.grant(role, 'kms:Decrypt');
    },
  },
  observe: {
    handler: {
      entry: 'observe',
      description: 'Observer: logs every event, keeps each run tally, puts run-completed',
      timeout: Duration.seconds(60),
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
