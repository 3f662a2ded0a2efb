/**
 * Where the pipeline's data lives: the landing bucket (and its access-log bucket), the items table
 * and the runs table. All encrypted, TLS only where that is a setting, retained when the stack goes.
 */
import { Duration, RemovalPolicy, Validations } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import {
  BlockPublicAccess,
  Bucket,
  BucketEncryption,
  type IBucket,
  ObjectOwnership,
} from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { RUNS_TABLE_KEY } from '../adapters/dynamodb-tally-store.ts';
import type { PipelineDefinition } from '../pipeline/definition.ts';
import { type KeyAttributeType, keySchemaOf } from '../pipeline/mapping.ts';

/** The access-log bucket: landing bucket access logs and VPC flow logs, kept 90 days. */
export function accessLogBucket(scope: Construct, id: string): Bucket {
  const bucket = new Bucket(scope, id, {
    ...BUCKET_SETTINGS,
    lifecycleRules: [{ id: 'expire-logs', expiration: Duration.days(90) }],
  });
  Validations.of(bucket).acknowledge({
    id: 'AwsSolutions-S1',
    reason:
      'This is the access-log bucket itself (landing bucket access logs and VPC flow logs); logging it into itself would loop.',
  });
  return bucket;
}

/** Where uploads land: versioned (the task reads the version announced), access-logged. */
export function landingBucket(scope: Construct, id: string, logBucket: IBucket): Bucket {
  return new Bucket(scope, id, {
    ...BUCKET_SETTINGS,
    versioned: true,
    lifecycleRules: [{ id: 'expire-old-versions', noncurrentVersionExpiration: Duration.days(30) }],
    serverAccessLogsBucket: logBucket,
    serverAccessLogsPrefix: 'landing-bucket/',
  });
}

const BUCKET_SETTINGS = {
  encryption: BucketEncryption.S3_MANAGED,
  blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
  objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
  enforceSSL: true,
  minimumTLSVersion: 1.2,
  removalPolicy: RemovalPolicy.RETAIN,
} as const;

const TABLE_SETTINGS = {
  billingMode: BillingMode.PAY_PER_REQUEST,
  pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
  encryption: TableEncryption.AWS_MANAGED,
  removalPolicy: RemovalPolicy.RETAIN,
} as const;

/**
 * The items table, from the mapping: its key schema (partition and sort key, with their types) and,
 * when the mapping names one, its name (else CloudFormation names it, as the seed's stack did).
 */
export function itemsTable(scope: Construct, id: string, definition: PipelineDefinition): Table {
  const [partition, sort] = keySchemaOf(definition.mapping).map((k) => ({
    name: k.name,
    type: ATTRIBUTE_TYPES[k.type],
  }));
  return new Table(scope, id, {
    ...(definition.mapping.table === undefined ? {} : { tableName: definition.mapping.table }),
    partitionKey: partition as { name: string; type: AttributeType },
    ...(sort === undefined ? {} : { sortKey: sort }),
    ...TABLE_SETTINGS,
  });
}

const ATTRIBUTE_TYPES: Record<KeyAttributeType, AttributeType> = {
  S: AttributeType.STRING,
  N: AttributeType.NUMBER,
  B: AttributeType.BINARY,
};

/** The observer's tally per run and the quarantined rows (RUNS_TABLE_KEY). */
export function runsTable(scope: Construct, id: string): Table {
  return new Table(scope, id, {
    partitionKey: { name: RUNS_TABLE_KEY.partitionKey, type: AttributeType.STRING },
    sortKey: { name: RUNS_TABLE_KEY.sortKey, type: AttributeType.STRING },
    ...TABLE_SETTINGS,
  });
}
