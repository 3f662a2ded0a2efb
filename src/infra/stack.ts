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
import { Metric } from 'aws-cdk-lib/aws-cloudwatch';
import { AttributeType, BillingMode, Table, TableEncryption } from 'aws-cdk-lib/aws-dynamodb';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import {
  Cluster,
  ContainerImage,
  ContainerInsights,
  CpuArchitecture,
  FargateTaskDefinition,
  LogDrivers,
  OperatingSystemFamily,
} from 'aws-cdk-lib/aws-ecs';
import { EventBus } from 'aws-cdk-lib/aws-events';
import { Effect, type IRole, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Key } from 'aws-cdk-lib/aws-kms';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import { BlockPublicAccess, Bucket, BucketEncryption, EventType, ObjectOwnership } from 'aws-cdk-lib/aws-s3';
import { SqsDestination } from 'aws-cdk-lib/aws-s3-notifications';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { RUNS_TABLE_KEY } from '../adapters/dynamodb-tally-store.ts';
import type { PipelineDefinition, TargetName } from '../pipeline/definition.ts';
import { Env, hasSensitiveColumns, pipelineEnvironment } from '../runtime/aws/config.ts';
import { ECS_TASK_STATE_CHANGE, TaskExit } from '../runtime/aws/task-exit.ts';
import { EtlAlarms } from './alarms.ts';
import { REPO_ROOT } from './context.ts';
import { EtlFunction } from './etl-function.ts';
import { EtlNetwork } from './network.ts';
import { encryptedQueue, StageDelivery, visibilityTimeoutFor } from './stage-delivery.ts';

export interface EventBridgeEtlStackProps extends StackProps {
  definition: PipelineDefinition;
  /** Log retention of every function and of the task (default one month). */
  logRetention?: RetentionDays;
  /** Subscribes this address to the alarm topic (`-c alarmEmail=...`). */
  alarmEmail?: string;
}

/** The task's container; the trigger names it in RunTask's overrides. */
export const EXTRACT_CONTAINER_NAME = 'extract';
/** The seed's awslogs stream prefix. */
export const EXTRACT_LOG_STREAM_PREFIX = 'TheEventBridgeETL';
/** The extract trigger's S3-notification queue: the seed's throttle of 2, up to 10 messages at a time. */
export const EXTRACT_TRIGGER_DELIVERY = { batchSize: 10, concurrency: 2, maxAttempts: 5 } as const;
/**
 * The task-stopped handler's queue: the quarantine's retry settings (from the definition), at the
 * seed's throttle of 2 in small batches, since stop events are rare (at most one per file), kept a day.
 */
export const TASK_STOPPED_DELIVERY = {
  concurrency: 2,
  batchSize: 10,
  maxBatchingWindowSeconds: 0,
  maxEventAgeSeconds: 24 * 3600,
} as const;
/** How long a message may wait in a queue before its age alarm fires (a million rows take ~40 min). */
export const QUEUE_MAX_AGE = Duration.hours(1);

/**
 * ECS task state changes of extract tasks in this cluster that stopped without success: an exit code
 * other than extracted (0) and reported (2), or a stop other than the container's own exit (the task
 * never started, or was stopped). The handler checks the same again; this keeps successes away from it.
 *
 * This rule is AWS-only and lives here, not in the pipeline definition: it watches ECS on the
 * account's default bus, which has no local counterpart (locally extract runs in-process and its
 * failures are reported by the runtime itself).
 */
export function taskStoppedPattern(clusterArn: string): Record<string, unknown> {
  return {
    source: ['aws.ecs'],
    'detail-type': [ECS_TASK_STATE_CHANGE],
    detail: {
      clusterArn: [clusterArn],
      lastStatus: ['STOPPED'],
      $or: [
        { containers: { exitCode: [{ 'anything-but': [TaskExit.extracted, TaskExit.reported] }] } },
        { stopCode: [{ 'anything-but': ['EssentialContainerExited'] }] },
      ],
    },
  };
}

const STAGE_FUNCTIONS: Record<
  TargetName,
  { entry: string; description: string; timeout: Duration; memorySize: number }
> = {
  transform: {
    entry: 'transform',
    description: 'Transform stage: extracted rows -> transformed rows (or row-failed)',
    timeout: Duration.seconds(30),
    memorySize: 512,
  },
  load: {
    entry: 'load',
    description:
      'Load stage: transformed rows -> DynamoDB items (BatchWriteItem) -> data-loaded (or row-failed)',
    timeout: Duration.seconds(60),
    memorySize: 512,
  },
  observe: {
    entry: 'observe',
    description: 'Observer: logs every event, keeps each run tally, puts run-completed',
    timeout: Duration.seconds(60),
    memorySize: 512,
  },
  quarantine: {
    entry: 'quarantine',
    description: 'Quarantine: row-failed events -> failed-row items in the runs table',
    timeout: Duration.seconds(30),
    memorySize: 256,
  },
};

export class EventBridgeEtlStack extends Stack {
  readonly landingBucket: Bucket;
  readonly table: Table;
  readonly runsTable: Table;
  readonly bus: EventBus;
  readonly queueKey: Key;
  readonly fieldKey: Key | undefined;
  readonly stages: Record<TargetName, { fn: EtlFunction; delivery: StageDelivery }>;
  readonly extractTrigger: EtlFunction;
  readonly taskStopped: { fn: EtlFunction; delivery: StageDelivery };
  readonly alarms: EtlAlarms;
  readonly objectCreatedQueue: Queue;
  readonly taskDefinition: FargateTaskDefinition;
  readonly cluster: Cluster;
  private readonly logRetention: RetentionDays;

  constructor(scope: Construct, id: string, props: EventBridgeEtlStackProps) {
    super(scope, id, props);
    const { definition } = props;
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;
    this.logRetention = logRetention;
    const sensitive = hasSensitiveColumns(definition.mapping);

    // --- Keys -------------------------------------------------------------------------------
    // Two keys, so that consuming a queue never lets a stage unwrap a sensitive field's data key.
    this.queueKey = new Key(this, 'QueueKey', {
      description: 'eventbridge-etl: encryption at rest of every SQS queue and DLQ',
      enableKeyRotation: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    // EventBridge sends to the encrypted stage queues and DLQs: the key policy AWS documents for AWS
    // services that send to SSE-KMS queues, exactly (two actions, no condition: SQS calls KMS for the
    // sender, and AWS documents no aws:SourceArn/aws:SourceAccount condition for this path; one that
    // does not hold makes every delivery, and every dead-lettering, fail):
    // https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html#compatibility-with-aws-services
    // Which queue EventBridge may send to is decided by each queue's policy (aws:SourceArn = its rule).
    // S3's statement for the ObjectCreated queue is added by aws-s3-notifications' SqsDestination.
    this.queueKey.addToResourcePolicy(
      new PolicyStatement({
        sid: 'AllowEventBridgeToSendToEncryptedQueues',
        effect: Effect.ALLOW,
        principals: [new ServicePrincipal('events.amazonaws.com')],
        actions: ['kms:GenerateDataKey', 'kms:Decrypt'],
        resources: ['*'],
      }),
    );
    this.fieldKey = sensitive
      ? new Key(this, 'FieldKey', {
          description: 'eventbridge-etl: wraps the per-run data keys of sensitive fields in events',
          enableKeyRotation: true,
          removalPolicy: RemovalPolicy.RETAIN,
        })
      : undefined;

    // --- Buckets ----------------------------------------------------------------------------
    const logBucket = new Bucket(this, 'LogBucket', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      lifecycleRules: [{ id: 'expire-logs', expiration: Duration.days(90) }],
      removalPolicy: RemovalPolicy.RETAIN,
    });
    Validations.of(logBucket).acknowledge({
      id: 'AwsSolutions-S1',
      reason:
        'This is the access-log bucket itself (landing bucket access logs and VPC flow logs); logging it into itself would loop.',
    });
    this.landingBucket = new Bucket(this, 'LandingBucket', {
      encryption: BucketEncryption.S3_MANAGED,
      blockPublicAccess: BlockPublicAccess.BLOCK_ALL,
      objectOwnership: ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      versioned: true,
      lifecycleRules: [{ id: 'expire-old-versions', noncurrentVersionExpiration: Duration.days(30) }],
      serverAccessLogsBucket: logBucket,
      serverAccessLogsPrefix: 'landing-bucket/',
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // --- Tables -----------------------------------------------------------------------------
    this.table = new Table(this, 'TransformedData', {
      partitionKey: { name: definition.mapping.key, type: keyAttributeType(definition) },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.runsTable = new Table(this, 'Runs', {
      partitionKey: { name: RUNS_TABLE_KEY.partitionKey, type: AttributeType.STRING },
      sortKey: { name: RUNS_TABLE_KEY.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      encryption: TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
    });

    // --- Bus --------------------------------------------------------------------------------
    // Named after the stack, so that several stacks live side by side in one account and region.
    this.bus = new EventBus(this, 'Bus', {
      eventBusName: `${this.stackName}-${definition.busName}`,
      description: 'eventbridge-etl: every event of the pipeline',
    });
    const busEnv = { ...pipelineEnvironment(definition), [Env.eventBusName]: this.bus.eventBusName };
    const fieldKeyEnv: Record<string, string> = this.fieldKey
      ? { [Env.fieldKeyArn]: this.fieldKey.keyArn }
      : {};

    // --- Stage functions and their deliveries (one per definition rule) ----------------------
    const environments: Record<TargetName, Record<string, string>> = {
      transform: busEnv,
      load: { ...busEnv, ...fieldKeyEnv, [Env.tableName]: this.table.tableName },
      observe: { ...busEnv, [Env.runsTableName]: this.runsTable.tableName },
      quarantine: { [Env.runsTableName]: this.runsTable.tableName },
    };
    const functions = {} as Record<TargetName, EtlFunction>;
    for (const target of Object.keys(STAGE_FUNCTIONS) as TargetName[]) {
      const spec = STAGE_FUNCTIONS[target];
      functions[target] = new EtlFunction(this, `${capitalize(target)}Function`, {
        ...spec,
        environment: environments[target],
        logRetention,
      });
    }
    const deliveries = {} as Record<TargetName, StageDelivery>;
    for (const rule of definition.rules) {
      if (deliveries[rule.target])
        throw new Error(`two rules target ${rule.target}: give each stage one rule`);
      deliveries[rule.target] = new StageDelivery(this, rule.name, {
        bus: this.bus,
        rule,
        delivery: definition.delivery[rule.target],
        consumer: functions[rule.target].function,
        consumerTimeout: STAGE_FUNCTIONS[rule.target].timeout,
        queueKey: this.queueKey,
      });
    }
    this.stages = Object.fromEntries(
      (Object.keys(functions) as TargetName[]).map((t) => {
        const delivery = deliveries[t];
        if (!delivery) throw new Error(`no rule of the definition targets ${t}`);
        return [t, { fn: functions[t], delivery }];
      }),
    ) as Record<TargetName, { fn: EtlFunction; delivery: StageDelivery }>;

    // Least privilege per stage: PutEvents on our bus only; each table action it calls, on its table.
    for (const t of ['transform', 'load', 'observe'] as const) this.bus.grantPutEventsTo(functions[t].role);
    functions.load.role.addToPolicy(
      new PolicyStatement({ actions: ['dynamodb:BatchWriteItem'], resources: [this.table.tableArn] }),
    );
    functions.observe.role.addToPolicy(
      new PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:UpdateItem', 'dynamodb:Query'],
        resources: [this.runsTable.tableArn],
      }),
    );
    functions.quarantine.role.addToPolicy(
      new PolicyStatement({ actions: ['dynamodb:BatchWriteItem'], resources: [this.runsTable.tableArn] }),
    );
    // Only load unwraps data keys.
    this.fieldKey?.grant(functions.load.role, 'kms:Decrypt');

    // --- Network, cluster, extract task -----------------------------------------------------
    const network = new EtlNetwork(this, 'Network', { flowLogBucket: logBucket, kmsEndpoint: sensitive });
    this.cluster = new Cluster(this, 'Cluster', {
      vpc: network.vpc,
      containerInsightsV2: ContainerInsights.ENABLED,
    });
    const taskLogGroup = new LogGroup(this, 'ExtractTaskLogs', {
      retention: logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const taskRole = new Role(this, 'ExtractTaskRole', {
      assumedBy: new ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'Extract task: reads landing objects, puts events to the bus',
    });
    this.taskDefinition = new FargateTaskDefinition(this, 'ExtractTask', {
      cpu: 512,
      memoryLimitMiB: 1024,
      runtimePlatform: {
        cpuArchitecture: CpuArchitecture.X86_64,
        operatingSystemFamily: OperatingSystemFamily.LINUX,
      },
      taskRole,
    });
    this.taskDefinition.addContainer(EXTRACT_CONTAINER_NAME, {
      image: ContainerImage.fromAsset(REPO_ROOT, {
        file: 'src/runtime/aws/task/Dockerfile',
        platform: Platform.LINUX_AMD64,
      }),
      logging: LogDrivers.awsLogs({ streamPrefix: EXTRACT_LOG_STREAM_PREFIX, logGroup: taskLogGroup }),
      readonlyRootFilesystem: true,
      environment: {
        ...busEnv,
        ...fieldKeyEnv,
        [Env.maxPutsInFlight]: '8',
        AWS_REGION: this.region,
      },
    });
    Validations.of(this.taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason:
        'The environment holds configuration only (bus name, event source, column mapping, key ARN, region); no secret is passed: the task authenticates with its task role. S3_BUCKET_NAME and S3_OBJECT_KEY come per task as RunTask overrides, as in the seed.',
    });
    taskRole.addToPolicy(
      // GetObjectVersion: the task reads exactly the version its notification announced.
      new PolicyStatement({
        actions: ['s3:GetObject', 's3:GetObjectVersion'],
        resources: [this.landingBucket.arnForObjects('*')],
      }),
    );
    taskRole.addToPolicy(
      // Without it S3 answers a missing object with 403, not 404, and the task cannot tell "gone".
      new PolicyStatement({ actions: ['s3:ListBucket'], resources: [this.landingBucket.bucketArn] }),
    );
    this.bus.grantPutEventsTo(taskRole);
    this.fieldKey?.grant(taskRole, 'kms:GenerateDataKey');
    const executionRole = this.taskDefinition.obtainExecutionRole();

    // --- S3 notification queue and extract trigger -------------------------------------------
    const triggerTimeout = Duration.seconds(30);
    const objectCreatedDlq = encryptedQueue(this, 'ObjectCreatedDeadLetterQueue', this.queueKey, {
      retentionPeriod: Duration.days(14),
    });
    this.objectCreatedQueue = encryptedQueue(this, 'ObjectCreatedQueue', this.queueKey, {
      retentionPeriod: Duration.days(4),
      visibilityTimeout: visibilityTimeoutFor(triggerTimeout, 0),
      deadLetterQueue: { queue: objectCreatedDlq, maxReceiveCount: EXTRACT_TRIGGER_DELIVERY.maxAttempts },
    });
    this.landingBucket.addEventNotification(
      EventType.OBJECT_CREATED,
      new SqsDestination(this.objectCreatedQueue),
    );
    this.extractTrigger = new EtlFunction(this, 'ExtractTriggerFunction', {
      entry: 'extract-trigger',
      description: 'Extract trigger: S3 ObjectCreated -> ecs:RunTask of the extract task -> ecs-started',
      timeout: triggerTimeout,
      memorySize: 256,
      logRetention,
      environment: {
        ...busEnv,
        [Env.clusterArn]: this.cluster.clusterArn,
        [Env.taskDefinitionArn]: this.taskDefinition.taskDefinitionArn,
        [Env.containerName]: EXTRACT_CONTAINER_NAME,
        [Env.subnetIds]: network.vpc.isolatedSubnets.map((s) => s.subnetId).join(','),
        [Env.securityGroupIds]: network.taskSecurityGroup.securityGroupId,
      },
    });
    this.extractTrigger.function.addEventSource(
      new SqsEventSource(this.objectCreatedQueue, {
        batchSize: EXTRACT_TRIGGER_DELIVERY.batchSize,
        maxConcurrency: EXTRACT_TRIGGER_DELIVERY.concurrency,
        reportBatchItemFailures: true,
      }),
    );
    const triggerRole = this.extractTrigger.role;
    triggerRole.addToPolicy(
      new PolicyStatement({
        actions: ['ecs:RunTask'],
        resources: [this.taskDefinition.taskDefinitionArn],
        conditions: { ArnEquals: { 'ecs:cluster': this.cluster.clusterArn } },
      }),
    );
    triggerRole.addToPolicy(
      new PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [taskRole.roleArn, executionRole.roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
    );
    this.bus.grantPutEventsTo(triggerRole);

    // --- Failed extract tasks: ECS stop events -> task-stopped handler -> extraction-failed ----
    const taskStoppedTimeout = Duration.seconds(30);
    const taskStoppedFn = new EtlFunction(this, 'TaskStoppedFunction', {
      entry: 'task-stopped',
      description: 'Task stopped: a failed extract task -> extraction-failed for its run',
      timeout: taskStoppedTimeout,
      memorySize: 256,
      logRetention,
      environment: {
        ...busEnv,
        [Env.runsTableName]: this.runsTable.tableName,
        [Env.containerName]: EXTRACT_CONTAINER_NAME,
      },
    });
    this.taskStopped = {
      fn: taskStoppedFn,
      delivery: new StageDelivery(this, 'TaskStopped', {
        rule: {
          name: 'taskStoppedRule',
          description: 'eventbridge-etl: extract tasks of this cluster that stopped without success',
          eventPattern: taskStoppedPattern(this.cluster.clusterArn),
        },
        delivery: { ...definition.delivery.quarantine, ...TASK_STOPPED_DELIVERY },
        consumer: taskStoppedFn.function,
        consumerTimeout: taskStoppedTimeout,
        queueKey: this.queueKey,
      }),
    };
    this.bus.grantPutEventsTo(taskStoppedFn.role);
    taskStoppedFn.role.addToPolicy(
      new PolicyStatement({
        actions: ['dynamodb:GetItem', 'dynamodb:Query'],
        resources: [this.runsTable.tableArn],
      }),
    );

    // --- Alarms, to one topic ---------------------------------------------------------------
    const alarmEmail = props.alarmEmail?.trim();
    this.alarms = new EtlAlarms(this, 'Alarms', alarmEmail ? { email: alarmEmail } : {});
    for (const t of Object.keys(this.stages) as TargetName[]) {
      const { delivery } = this.stages[t];
      this.alarms.addRuleAlarms(capitalize(t), delivery.rule, this.bus.eventBusName);
      this.alarms.addQueueAlarms(capitalize(t), delivery.queue, delivery.deadLetterQueue, QUEUE_MAX_AGE);
    }
    this.alarms.addQueueAlarms('ObjectCreated', this.objectCreatedQueue, objectCreatedDlq, QUEUE_MAX_AGE);
    const taskStoppedDelivery = this.taskStopped.delivery;
    this.alarms.addRuleAlarms('TaskStopped', taskStoppedDelivery.rule);
    this.alarms.addQueueAlarms(
      'TaskStopped',
      taskStoppedDelivery.queue,
      taskStoppedDelivery.deadLetterQueue,
      QUEUE_MAX_AGE,
    );
    this.alarms.add('ExtractTaskFailedAlarm', {
      description: 'eventbridge-etl: an extract task stopped without success (its run is reported failed)',
      metric: new Metric({
        namespace: 'AWS/Events',
        metricName: 'MatchedEvents',
        dimensionsMap: { RuleName: taskStoppedDelivery.rule.ruleName },
        period: Duration.minutes(1),
        statistic: 'Sum',
      }),
    });

    this.acknowledgeFindings(taskRole, executionRole);

    // --- Outputs ----------------------------------------------------------------------------
    const outputs: Record<string, [string, string]> = {
      LandingBucketName: [
        this.landingBucket.bucketName,
        'Upload CSV files here (aws s3 cp file.csv s3://<name>/)',
      ],
      TableName: [this.table.tableName, "The seed's TransformedData table: the loaded items"],
      RunsTableName: [this.runsTable.tableName, "The observer's tally per run and the quarantined rows"],
      EventBusName: [this.bus.eventBusName, 'The custom event bus'],
      ObserverLogGroupName: [
        functions.observe.logGroup.logGroupName,
        "The observer's log (aws logs tail <name> --follow)",
      ],
      ExtractTaskLogGroupName: [taskLogGroup.logGroupName, "The extract task's log"],
      ClusterName: [this.cluster.clusterName, 'The ECS cluster the extract task runs in'],
      AlarmTopicArn: [this.alarms.topic.topicArn, 'Every alarm of the stack notifies this topic'],
    };
    for (const [id, [value, description]] of Object.entries(outputs))
      new CfnOutput(this, id, { value, description });
  }

  /** cdk-nag findings that are the design, each acknowledged on the construct it concerns, with its reason. */
  private acknowledgeFindings(taskRole: Role, executionRole: IRole): void {
    const landingBucketLogicalId = this.getLogicalId(this.landingBucket.node.defaultChild as CfnElement);
    Validations.of(taskRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${landingBucketLogicalId}.Arn>/*]`,
      reason:
        "The task reads the one object it was started for, and uploads may use any key: s3:GetObject and s3:GetObjectVersion on the landing bucket's objects, nothing else in S3.",
    });
    Validations.of(executionRole).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ecr:GetAuthorizationToken (to pull the task image) supports no resource-level permission; the image-pull actions themselves are scoped to the asset repository.',
    });
    // The CDK's own singleton that applies the bucket notification configuration (a custom resource).
    const notificationsHandler = this.node.children.find((c) =>
      c.node.id.startsWith('BucketNotificationsHandler'),
    );
    if (notificationsHandler) {
      // Its logs too go to a log group with retention (it would otherwise create one that never expires).
      const logGroup = new LogGroup(this, 'BucketNotificationsHandlerLogs', {
        retention: this.logRetention,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      for (const child of notificationsHandler.node.children) {
        if (CfnResource.isCfnResource(child) && child.cfnResourceType === 'AWS::Lambda::Function') {
          child.addPropertyOverride('LoggingConfig', { LogGroup: logGroup.logGroupName });
        }
      }
      Validations.of(notificationsHandler).acknowledge({
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]',
        reason:
          "aws-cdk-lib's BucketNotificationsHandler custom resource (it sets the landing bucket's notification at deploy time) uses the managed basic execution role; it is not configurable and runs only during deployments.",
      });
    }
  }
}

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
