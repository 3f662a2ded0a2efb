/**
 * How the AWS runtime is configured: environment variable names (the CDK stack sets them, the
 * handlers and the task read them) and the pipeline definition carried through them, so the
 * deployed code runs exactly the definition the stack was synthesized from.
 */
import { DefinitionError, definePipeline, type PipelineDefinition } from '../../pipeline/definition.ts';
import { UserError } from '../../pipeline/errors.ts';
import { type Mapping, parseMapping } from '../../pipeline/mapping.ts';

export const Env = {
  /** The custom bus every producer puts to. */
  eventBusName: 'EVENT_BUS_NAME',
  /** The definition's event source. */
  pipelineSource: 'PIPELINE_SOURCE',
  /** The definition's mapping, as JSON. */
  pipelineMapping: 'PIPELINE_MAPPING',
  /** The definition's stage concurrency (each stage's event source maximum concurrency). */
  pipelineConcurrency: 'PIPELINE_CONCURRENCY',
  /** The definition's table write rate, across all load instances. */
  maxWritesPerSecond: 'PIPELINE_MAX_WRITES_PER_SECOND',
  /** The items table (the seed's TransformedData). */
  tableName: 'TABLE_NAME',
  /** The observer's runs table (tally and quarantined rows). */
  runsTableName: 'RUNS_TABLE_NAME',
  /** The KMS key wrapping the per-run data keys of sensitive fields. */
  fieldKeyArn: 'FIELD_KEY_ARN',
  /** Extract task: PutEvents calls in flight. */
  maxPutsInFlight: 'MAX_PUTS_IN_FLIGHT',
  /** Extract trigger: where and how to run the task. */
  clusterArn: 'CLUSTER_ARN',
  taskDefinitionArn: 'TASK_DEFINITION_ARN',
  containerName: 'CONTAINER_NAME',
  subnetIds: 'SUBNET_IDS',
  securityGroupIds: 'SECURITY_GROUP_IDS',
  /** Extract task: the object to extract (the seed's container overrides). */
  bucketName: 'S3_BUCKET_NAME',
  objectKey: 'S3_OBJECT_KEY',
  objectEtag: 'S3_OBJECT_ETAG',
  objectVersion: 'S3_OBJECT_VERSION_ID',
} as const;

/** The `service` of the logs (Powertools Logger) and of the metrics (a dimension of every one). */
export const SERVICE_NAME = 'eventbridge-etl';

/** The AWS-only handlers' stage names in the metrics, and the rule that feeds task-stopped. */
export const AwsStage = { extractTrigger: 'extract-trigger', taskStopped: 'task-stopped' } as const;
/** The task-stopped rule (on the default bus, named by EventBridge), by its construct id. */
export const TASK_STOPPED_RULE = 'TaskStopped';

export type EnvSource = Record<string, string | undefined>;

export class ConfigError extends UserError {
  override readonly name = 'ConfigError';
}

export function requireEnv(env: EnvSource, name: string): string {
  const value = env[name];
  if (value === undefined || value.trim() === '') throw new ConfigError(`${name} is not set`);
  return value;
}

export function listEnv(env: EnvSource, name: string): string[] {
  return requireEnv(env, name)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

/** The environment that carries a definition to the deployed code (set by the stack). */
export function pipelineEnvironment(definition: PipelineDefinition): Record<string, string> {
  return {
    [Env.eventBusName]: definition.busName,
    [Env.pipelineSource]: definition.source,
    [Env.pipelineMapping]: JSON.stringify(definition.mapping),
    [Env.pipelineConcurrency]: String(definition.delivery.load.concurrency),
    ...(definition.writes.maxWritesPerSecond === undefined
      ? {}
      : { [Env.maxWritesPerSecond]: String(definition.writes.maxWritesPerSecond) }),
  };
}

/** The definition the stack passed in; the default definition's parts where it passed none. */
export function pipelineFromEnv(env: EnvSource): PipelineDefinition {
  const source = env[Env.pipelineSource]?.trim() || undefined;
  const busName = env[Env.eventBusName]?.trim() || undefined;
  const mappingText = env[Env.pipelineMapping]?.trim();
  let mapping: Mapping | undefined;
  if (mappingText) {
    let json: unknown;
    try {
      json = JSON.parse(mappingText);
    } catch {
      throw new ConfigError(`${Env.pipelineMapping} is not JSON`);
    }
    try {
      mapping = parseMapping(json, Env.pipelineMapping);
    } catch (error) {
      throw new ConfigError((error as Error).message);
    }
  }
  const concurrency = wholeNumberEnv(env, Env.pipelineConcurrency);
  const maxWritesPerSecond = wholeNumberEnv(env, Env.maxWritesPerSecond);
  try {
    return definePipeline({ source, busName, mapping, concurrency, maxWritesPerSecond });
  } catch (error) {
    if (error instanceof DefinitionError) throw new ConfigError(error.message);
    throw error;
  }
}

function wholeNumberEnv(env: EnvSource, name: string): number | undefined {
  const text = env[name]?.trim();
  if (!text) return undefined;
  if (!/^\d+$/.test(text)) throw new ConfigError(`${name} is not a whole number: ${text}`);
  return Number(text);
}

export function hasSensitiveColumns(mapping: Mapping): boolean {
  return Object.values(mapping.columns).some((column) => column.sensitive === true);
}
