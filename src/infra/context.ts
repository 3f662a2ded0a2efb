/**
 * App-level configuration: the repository paths the stack bundles from, the CDK feature flags the
 * app and the tests both synthesize with, and how context chooses the deployed definition.
 */
import { fileURLToPath } from 'node:url';
import { DefinitionError, definePipeline, type PipelineDefinition } from '../pipeline/definition.ts';
import { UserError } from '../pipeline/errors.ts';
import { type Mapping, MappingError, parseMapping } from '../pipeline/mapping.ts';
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
  // Checked again as a whole: a key column or a column a template reads cannot be sensitive.
  return parseMapping({ ...mapping, columns: marked }, SENSITIVE_COLUMNS_CONTEXT);
}

/** Context key: an e-mail address subscribed to the alarm topic. */
export const ALARM_EMAIL_CONTEXT = 'alarmEmail';

/** Context keys: a mapping file (as `etl run --mapping` takes) and the event source. */
export const MAPPING_CONTEXT = 'mapping';
export const SOURCE_CONTEXT = 'source';
/** Context keys: the stages' concurrency and the table's write rate (as `etl run` takes them). */
export const CONCURRENCY_CONTEXT = 'concurrency';
export const MAX_WRITES_PER_SECOND_CONTEXT = 'maxWritesPerSecond';

/** A whole-number context value (`-c key=12` arrives as text), or undefined when unset. */
function wholeNumberContext(context: (key: string) => unknown, key: string): number | undefined {
  const value = context(key);
  if (value === undefined || value === '') return undefined;
  const number = typeof value === 'number' ? value : /^\d+$/.test(String(value)) ? Number(value) : NaN;
  if (!Number.isSafeInteger(number))
    throw new DefinitionContextError(`${key}: not a whole number: ${String(value)}`);
  return number;
}

/** A context value the definition cannot take. */
export class DefinitionContextError extends UserError {
  override readonly name = 'DefinitionContextError';
}

/**
 * The definition to deploy: the one pipeline definition, with the mapping file and event source
 * context names, and any sensitive columns it marks.
 */
export function definitionFromContext(context: (key: string) => unknown): PipelineDefinition {
  const mappingFile = context(MAPPING_CONTEXT);
  const source = context(SOURCE_CONTEXT);
  const concurrency = wholeNumberContext(context, CONCURRENCY_CONTEXT);
  const maxWritesPerSecond = wholeNumberContext(context, MAX_WRITES_PER_SECOND_CONTEXT);
  let base: PipelineDefinition;
  try {
    base = definePipeline({
      ...(typeof mappingFile === 'string' && mappingFile ? { mapping: readMappingFile(mappingFile) } : {}),
      ...(typeof source === 'string' && source ? { source } : {}),
      ...(concurrency === undefined ? {} : { concurrency }),
      ...(maxWritesPerSecond === undefined ? {} : { maxWritesPerSecond }),
    });
  } catch (error) {
    if (error instanceof DefinitionError)
      throw new DefinitionContextError(`${error.setting}: ${error.message}`);
    throw error;
  }
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
