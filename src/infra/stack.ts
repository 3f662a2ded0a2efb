/**
 * The EventBridge ETL stack: the seed's resources (landing bucket -> queue -> extract trigger ->
 * Fargate extract task -> bus -> transform -> load -> DynamoDB, observer over everything), made
 * production-grade, running the same stage code as the local runtime. Every rule, pattern and
 * delivery setting comes from the pipeline definition; nothing about the pipeline is restated here.
 */
import {
  type CfnElement,
  CfnOutput,
  CfnResource,
  Duration,
  RemovalPolicy,
  Stack,
  type StackProps,
  Validations,
} from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import type { Cluster, FargateTaskDefinition } from 'aws-cdk-lib/aws-ecs';
import { EventBus } from 'aws-cdk-lib/aws-events';
import type { Key } from 'aws-cdk-lib/aws-kms';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, BucketEncryption, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { RUNS_TABLE_KEY } from '../adapters/dynamodb-tally-store.ts';
import type { PipelineDefinition, TargetName } from '../pipeline/definition.ts';
import { Env, hasSensitiveColumns, pipelineEnvironment } from '../runtime/aws/config.ts';
import { EtlAlarms } from './alarms.ts';
import type { EtlFunction } from './etl-function.ts';
import {
  ExtractTask,
  ExtractTrigger,
  TASK_STOPPED_DELIVERY,
  TASK_STOPPED_STAGE,
  taskStoppedPattern,
} from './extract.ts';
import { etlKey } from './keys.ts';
import { ResourceGroup, ungroupedLogicalId } from './logical-ids.ts';
import { EtlNetwork } from './network.ts';
import { StageFunction, type StageResources } from './stage-function.ts';
import { STAGES } from './stages.ts';

export interface EventBridgeEtlStackProps extends StackProps {
  /** The one pipeline definition: rules, delivery settings, mapping, event source, bus name. */
  readonly definition: PipelineDefinition;
  /**
   * Log retention of every function and of the task.
   * @default one month
   */
  readonly logRetention?: RetentionDays;
  /**
   * Subscribes this address to the alarm topic (`-c alarmEmail=...`).
   * @default no subscription
   */
  readonly alarmEmail?: string;
}

export class EventBridgeEtlStack extends Stack {
  /** Encrypts every SQS queue and DLQ. */
  readonly queueKey: Key;
  /** Wraps the per-run data keys of sensitive fields; only when a column is sensitive. */
  readonly fieldKey: Key | undefined;
  /** Uploads land here. */
  readonly landingBucket: Bucket;
  /** The seed's TransformedData table: the loaded items. */
  readonly table: Table;
  /** The observer's tally per run and the quarantined rows. */
  readonly runsTable: Table;
  readonly bus: EventBus;
  readonly alarms: EtlAlarms;
  readonly extractTask: ExtractTask;
  readonly cluster: Cluster;
  readonly taskDefinition: FargateTaskDefinition;
  /** Starts an extract task per upload. */
  readonly extractTrigger: EtlFunction;
  /** The landing bucket's ObjectCreated notifications, consumed by the extract trigger. */
  readonly objectCreatedQueue: Queue;
  /** The pipeline's stages, one per rule of the definition. */
  readonly stages: Record<TargetName, StageFunction>;
  /** Reports extract tasks that stopped without success. */
  readonly taskStopped: StageFunction;

  constructor(scope: Construct, id: string, props: EventBridgeEtlStackProps) {
    super(scope, id, props);
    const { definition } = props;
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;

    // Two keys, so that consuming a queue never lets a stage unwrap a sensitive field's data key.
    this.queueKey = etlKey(this, 'QueueKey', {
      description: 'eventbridge-etl: encryption at rest of every SQS queue and DLQ',
      // EventBridge sends to the encrypted stage queues and DLQs: the key policy AWS documents for
      // AWS services that send to SSE-KMS queues, exactly (no condition: SQS calls KMS for the
      // sender, and AWS documents no aws:SourceArn/aws:SourceAccount condition for this path; one
      // that does not hold makes every delivery, and every dead-lettering, fail):
      // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html#compatibility-with-aws-services
      // Which queue EventBridge may send to is decided by each queue's policy (aws:SourceArn = its
      // rule). S3's statement for the ObjectCreated queue is added by aws-s3-notifications.
      serviceUse: {
        sid: 'AllowEventBridgeToSendToEncryptedQueues',
        service: 'events.amazonaws.com',
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
      },
    });
    this.fieldKey = hasSensitiveColumns(definition.mapping)
      ? etlKey(this, 'FieldKey', {
          description: 'eventbridge-etl: wraps the per-run data keys of sensitive fields in events',
        })
      : undefined;

    const logBucket = accessLogBucket(this);
    this.landingBucket = landingBucket(this, logBucket);
    this.table = new Table(this, 'TransformedData', {
      partitionKey: { name: definition.mapping.key, type: keyAttributeType(definition) },
      ...TABLE_SETTINGS,
    });
    this.runsTable = new Table(this, 'Runs', {
      partitionKey: { name: RUNS_TABLE_KEY.partitionKey, type: AttributeType.STRING },
      sortKey: { name: RUNS_TABLE_KEY.sortKey, type: AttributeType.STRING },
      ...TABLE_SETTINGS,
    });
    // Named after the stack, so that several stacks live side by side in one account and region.
    this.bus = new EventBus(this, 'Bus', {
      eventBusName: `${this.stackName}-${definition.busName}`,
      description: 'eventbridge-etl: every event of the pipeline',
    });
    const alarmEmail = props.alarmEmail?.trim();
    this.alarms = new EtlAlarms(this, 'Alarms', alarmEmail ? { email: alarmEmail } : {});
    const resources: StageResources = {
      bus: this.bus,
      busEnvironment: { ...pipelineEnvironment(definition), [Env.eventBusName]: this.bus.eventBusName },
      table: this.table,
      runsTable: this.runsTable,
      ...(this.fieldKey ? { fieldKey: this.fieldKey } : {}),
    };
    const stageProps = { resources, queueKey: this.queueKey, alarms: this.alarms, logRetention };

    // landing bucket -> ObjectCreated queue -> extract trigger -> Fargate extract task -> bus
    const network = new EtlNetwork(this, 'Network', {
      flowLogBucket: logBucket,
      kmsEndpoint: this.fieldKey !== undefined,
    });
    this.extractTask = new ExtractTask(this, 'Extract', {
      vpc: network.vpc,
      landingBucket: this.landingBucket,
      bus: this.bus,
      busEnvironment: resources.busEnvironment,
      ...(this.fieldKey ? { fieldKey: this.fieldKey } : {}),
      logRetention,
    });
    this.cluster = this.extractTask.cluster;
    this.taskDefinition = this.extractTask.taskDefinition;
    const trigger = new ExtractTrigger(this, 'ExtractTrigger', {
      landingBucket: this.landingBucket,
      task: this.extractTask,
      vpc: network.vpc,
      taskSecurityGroup: network.taskSecurityGroup,
      bus: this.bus,
      busEnvironment: resources.busEnvironment,
      queueKey: this.queueKey,
      alarms: this.alarms,
      logRetention,
    });
    this.extractTrigger = trigger.fn;
    this.objectCreatedQueue = trigger.queue;

    // bus -> each rule of the definition -> its queue -> its stage: transform, load, observe, quarantine
    this.stages = stagesOf(
      definition,
      (rule) =>
        new StageFunction(this, capitalize(rule.target), {
          ...stageProps,
          spec: STAGES[rule.target],
          rule,
          ruleBus: this.bus,
          delivery: definition.delivery[rule.target],
        }),
    );

    // ECS (default bus) -> extract tasks that stopped without success -> task-stopped -> extraction-failed
    this.taskStopped = new StageFunction(this, 'TaskStopped', {
      ...stageProps,
      spec: TASK_STOPPED_STAGE,
      rule: {
        // The rule's construct id; it is not deployed (EventBridge names the rule).
        name: 'TaskStopped',
        description: 'eventbridge-etl: extract tasks of this cluster that stopped without success',
        eventPattern: taskStoppedPattern(this.cluster.clusterArn),
      },
      delivery: { ...definition.delivery.quarantine, ...TASK_STOPPED_DELIVERY },
    });
    this.alarms.addRuleMatchAlarm(
      'ExtractTaskFailedAlarm',
      'eventbridge-etl: an extract task stopped without success (its run is reported failed)',
      this.taskStopped.delivery.rule,
    );

    this.configureNotificationsHandler(logRetention);
    this.addOutputs();
  }

  /**
   * Resources grouped in a ResourceGroup keep the logical IDs they had before they were grouped
   * (see logical-ids.ts); every other resource gets aws-cdk-lib's own.
   */
  protected override allocateLogicalId(element: CfnElement): string {
    return element.node.scopes.some((scope) => scope instanceof ResourceGroup)
      ? ungroupedLogicalId(element)
      : super.allocateLogicalId(element);
  }

  /**
   * The CDK's own singleton that applies the bucket notification configuration (a custom resource):
   * its logs too go to a log group with retention (it would otherwise create one that never expires).
   */
  private configureNotificationsHandler(logRetention: RetentionDays): void {
    const handler = this.node.children.find((c) => c.node.id.startsWith('BucketNotificationsHandler'));
    if (!handler) return;
    const logGroup = new LogGroup(this, 'BucketNotificationsHandlerLogs', {
      retention: logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    for (const child of handler.node.children) {
      if (CfnResource.isCfnResource(child) && child.cfnResourceType === 'AWS::Lambda::Function') {
        child.addPropertyOverride('LoggingConfig', { LogGroup: logGroup.logGroupName });
      }
    }
    Validations.of(handler).acknowledge({
      id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
      reason:
        "aws-cdk-lib's BucketNotificationsHandler custom resource (it sets the landing bucket's notification at deploy time) uses the managed basic execution role; it is not configurable and runs only during deployments.",
    });
  }

  private addOutputs(): void {
    const outputs: Record<string, [string, string]> = {
      LandingBucketName: [
        this.landingBucket.bucketName,
        'Upload CSV files here (aws s3 cp file.csv s3://<name>/)',
      ],
      TableName: [this.table.tableName, "The seed's TransformedData table: the loaded items"],
      RunsTableName: [this.runsTable.tableName, "The observer's tally per run and the quarantined rows"],
      EventBusName: [this.bus.eventBusName, 'The custom event bus'],
      ObserverLogGroupName: [
        this.stages.observe.fn.logGroup.logGroupName,
        "The observer's log (aws logs tail <name> --follow)",
      ],
      ExtractTaskLogGroupName: [this.extractTask.logGroup.logGroupName, "The extract task's log"],
      ClusterName: [this.cluster.clusterName, 'The ECS cluster the extract task runs in'],
      AlarmTopicArn: [this.alarms.topic.topicArn, 'Every alarm of the stack notifies this topic'],
    };
    for (const [id, [value, description]] of Object.entries(outputs))
      new CfnOutput(this, id, { value, description });
  }
}

/** One stage per rule of the definition; each target has exactly one rule. */
function stagesOf(
  definition: PipelineDefinition,
  stage: (rule: PipelineDefinition['rules'][number]) => StageFunction,
): Record<TargetName, StageFunction> {
  const stages: Partial<Record<TargetName, StageFunction>> = {};
  for (const rule of definition.rules) {
    if (stages[rule.target]) throw new Error(`two rules target ${rule.target}: give each stage one rule`);
    stages[rule.target] = stage(rule);
  }
  for (const target of Object.keys(STAGES) as TargetName[]) {
    if (!stages[target]) throw new Error(`no rule of the definition targets ${target}`);
  }
  return stages as Record<TargetName, StageFunction>;
}

/** The access-log bucket: landing bucket access logs and VPC flow logs, kept 90 days. */
function accessLogBucket(scope: Construct): Bucket {
  const bucket = new Bucket(scope, 'LogBucket', {
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
function landingBucket(scope: Construct, logBucket: Bucket): Bucket {
  return new Bucket(scope, 'LandingBucket', {
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

function keyAttributeType(definition: PipelineDefinition): AttributeType {
  const column = Object.values(definition.mapping.columns).find(
    (c) => c.attribute === definition.mapping.key,
  );
  if (!column) throw new Error(`no column of the mapping maps to the key ${definition.mapping.key}`);
  if (column.type === 'boolean') throw new Error('a DynamoDB partition key cannot be a boolean');
  return column.type === 'number' ? AttributeType.NUMBER : AttributeType.STRING;
}

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
