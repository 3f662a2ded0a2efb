/**
 * App-level configuration: the repository paths the stack bundles from, the CDK feature flags the
 * app and the tests both synthesize with, and how context chooses the deployed definition.
 */
import { fileURLToPath } from 'node:url';
import { definePipeline, type PipelineDefinition } from '../pipeline/definition.ts';
import { type Mapping, MappingError } from '../pipeline/mapping.ts';
import { readMappingFile } from '../pipeline/mapping-file.ts';

/** The repository root: NodejsFunction's projectRoot and the extract task's Docker build context. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Feature flags this app relies on (set in code so `cdk synth` and the unit tests build the same
 * template; cdk.json keeps only CLI settings).
 */
export const FEATURE_FLAGS: Record<string, boolean> = {
  // Server access logs are delivered under a bucket policy, not the log-delivery ACL (ACLs stay disabled).
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
  // Merge IAM statements that differ only by resource, so policies stay short.
  '@aws-cdk/aws-iam:minimizePolicies': true,
  // Task ARNs include the cluster name (the current ECS ARN format).
  '@aws-cdk/aws-ecs:arnFormatIncludesClusterName': true,
  // The flow-log bucket gets the delivery.logs.amazonaws.com statements AWS documents for VPC flow
  // logs to S3 (without them the first delivery adds its own, outside CloudFormation).
  '@aws-cdk/aws-s3:createDefaultLoggingPolicy': true,
};

/** Context key: comma-separated CSV columns to mark sensitive (envelope-encrypted in events). */
export const SENSITIVE_COLUMNS_CONTEXT = 'sensitiveColumns';

/** The mapping with these columns marked sensitive; every name must be a column of the mapping. */
export function withSensitiveColumns(mapping: Mapping, columns: readonly string[]): Mapping {
  const unknown = columns.filter((c) => !(c in mapping.columns));
  if (unknown.length > 0) {
    throw new MappingError(`${SENSITIVE_COLUMNS_CONTEXT}: not columns of the mapping: ${unknown.join(', ')}`);
  }
  const marked = Object.fromEntries(
    Object.entries(mapping.columns).map(([name, column]) => [
      name,
      columns.includes(name) ? { ...column, sensitive: true } : column,
    ]),
  );
  return { ...mapping, columns: marked };
}

/** Context key: an e-mail address subscribed to the alarm topic. */
export const ALARM_EMAIL_CONTEXT = 'alarmEmail';

/** Context keys: a mapping file (as `etl run --mapping` takes) and the event source. */
export const MAPPING_CONTEXT = 'mapping';
export const SOURCE_CONTEXT = 'source';

/**
 * The definition to deploy: the one pipeline definition, with the mapping file and event source
 * context names, and any sensitive columns it marks.
 */
export function definitionFromContext(context: (key: string) => unknown): PipelineDefinition {
  const mappingFile = context(MAPPING_CONTEXT);
  const source = context(SOURCE_CONTEXT);
  const base = definePipeline({
    ...(typeof mappingFile === 'string' && mappingFile ? { mapping: readMappingFile(mappingFile) } : {}),
    ...(typeof source === 'string' && source ? { source } : {}),
  });
  const raw = context(SENSITIVE_COLUMNS_CONTEXT);
  const columns =
    typeof raw === 'string'
      ? raw
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : [];
  return columns.length === 0 ? base : { ...base, mapping: withSensitiveColumns(base.mapping, columns) };
}
