/**
 * Extract on AWS: an upload to the landing bucket -> S3 notification queue -> extract trigger Lambda
 * -> ecs:RunTask of the Fargate extract task, which reads the object and puts its rows to the bus.
 * A task that stops without success is reported by the task-stopped stage (extraction-failed).
 */
import { type CfnElement, Duration, RemovalPolicy, Stack, Validations } from 'aws-cdk-lib';
import type { IVpc } from 'aws-cdk-lib/aws-ec2';
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
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { IKey } from 'aws-cdk-lib/aws-kms';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { EventType, type IBucket } from 'aws-cdk-lib/aws-s3';
import { SqsDestination } from 'aws-cdk-lib/aws-s3-notifications';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { Env } from '../runtime/aws/config.ts';
import { ECS_TASK_STATE_CHANGE, TaskExit } from '../runtime/aws/task-exit.ts';
import type { EtlAlarms } from './alarms.ts';
import { REPO_ROOT } from './context.ts';
import { EtlFunction } from './etl-function.ts';
import { ResourceGroup, ungroupedUniqueId } from './logical-ids.ts';
import { queueWithDeadLetterQueue, visibilityTimeoutFor } from './queue-target.ts';
import type { EtlNetwork } from './network.ts';
import { consumeQueue, fieldKeyEnvironment, type PipelineResources } from './stage-function.ts';

/** The task's container; the trigger names it in RunTask's overrides. */
export const EXTRACT_CONTAINER_NAME = 'extract';
/** The seed's awslogs stream prefix. */
export const EXTRACT_LOG_STREAM_PREFIX = 'TheEventBridgeETL';
/** The extract trigger's S3-notification queue: the seed's throttle of 2, up to 10 messages at a time. */
export const EXTRACT_TRIGGER_DELIVERY = { batchSize: 10, concurrency: 2, maxAttempts: 5 } as const;

export interface ExtractTaskProps {
  /** The task runs in its isolated subnets (see EtlNetwork). */
  readonly vpc: IVpc;
  /** The task reads the object it is started for from here. */
  readonly landingBucket: IBucket;
  /** Of the task's log group. */
  readonly logRetention: RetentionDays;
  /** The task puts the rows' events to the bus, with data keys from the field key when there is one. */
  readonly pipeline: PipelineResources;
}

/** The Fargate extract task (built from the repository's Dockerfile), its cluster, role and logs. */
export class ExtractTask extends ResourceGroup {
  readonly cluster: Cluster;
  readonly taskDefinition: FargateTaskDefinition;
  /** Reads the landing bucket's objects and puts to the bus (and generates data keys, when any). */
  readonly taskRole: Role;
  readonly logGroup: LogGroup;

  constructor(scope: Construct, id: string, props: ExtractTaskProps) {
    super(scope, id);
    const { pipeline } = props;
    this.cluster = new Cluster(this, 'Cluster', {
      vpc: props.vpc,
      containerInsightsV2: ContainerInsights.ENABLED,
    });
    this.logGroup = new LogGroup(this, 'ExtractTaskLogs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.taskRole = new Role(this, 'ExtractTaskRole', {
      assumedBy: new ServicePrincipal('ecs-tasks.amazonaws.com'),
      description: 'Extract task: reads landing objects, puts events to the bus',
    });
    this.taskDefinition = new FargateTaskDefinition(this, 'ExtractTask', {
      // The family the task was deployed with before it was grouped (Names.uniqueId of its path).
      family: ungroupedUniqueId(this, 'ExtractTask'),
      cpu: 512,
      memoryLimitMiB: 1024,
      runtimePlatform: {
        cpuArchitecture: CpuArchitecture.X86_64,
        operatingSystemFamily: OperatingSystemFamily.LINUX,
      },
      taskRole: this.taskRole,
    });
    this.taskDefinition.addContainer(EXTRACT_CONTAINER_NAME, {
      image: ContainerImage.fromAsset(REPO_ROOT, {
        file: 'src/runtime/aws/task/Dockerfile',
        platform: Platform.LINUX_AMD64,
      }),
      logging: LogDrivers.awsLogs({ streamPrefix: EXTRACT_LOG_STREAM_PREFIX, logGroup: this.logGroup }),
      readonlyRootFilesystem: true,
      environment: {
        ...pipeline.busEnvironment,
        ...fieldKeyEnvironment(pipeline.fieldKey),
        [Env.maxPutsInFlight]: '8',
        AWS_REGION: Stack.of(this).region,
      },
    });
    Validations.of(this.taskDefinition).acknowledge({
      id: 'AwsSolutions-ECS2',
      reason:
        'The environment holds configuration only (bus name, event source, column mapping, key ARN, region); no secret is passed: the task authenticates with its task role. S3_BUCKET_NAME and S3_OBJECT_KEY come per task as RunTask overrides, as in the seed.',
    });
    this.taskRole.addToPolicy(
      // GetObjectVersion: the task reads exactly the version its notification announced.
      new PolicyStatement({
        actions: ['s3:GetObject', 's3:GetObjectVersion'],
        resources: [props.landingBucket.arnForObjects('*')],
      }),
    );
    this.taskRole.addToPolicy(
      // Without it S3 answers a missing object with 403, not 404, and the task cannot tell "gone".
      new PolicyStatement({ actions: ['s3:ListBucket'], resources: [props.landingBucket.bucketArn] }),
    );
    pipeline.bus.grantPutEventsTo(this.taskRole);
    pipeline.fieldKey?.grant(this.taskRole, 'kms:GenerateDataKey');

    const bucketId = Stack.of(this).getLogicalId(props.landingBucket.node.defaultChild as CfnElement);
    Validations.of(this.taskRole).acknowledge({
      id: `AwsSolutions-IAM5[Resource::<${bucketId}.Arn>/*]`,
      reason:
        "The task reads the one object it was started for, and uploads may use any key: s3:GetObject and s3:GetObjectVersion on the landing bucket's objects, nothing else in S3.",
    });
    Validations.of(this.taskDefinition.obtainExecutionRole()).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason:
        'ecr:GetAuthorizationToken (to pull the task image) supports no resource-level permission; the image-pull actions themselves are scoped to the asset repository.',
    });
  }
}

export interface ExtractTriggerProps {
  /** Its ObjectCreated notifications start a task each. */
  readonly landingBucket: IBucket;
  /** The task the trigger runs. */
  readonly task: ExtractTask;
  /** The task runs in its isolated subnets, with its task security group. */
  readonly network: EtlNetwork;
  /** Encrypts the notification queue and its DLQ. */
  readonly queueKey: IKey;
  /** Gets the notification queue's alarms. */
  readonly alarms: EtlAlarms;
  /** Of the trigger's log group. */
  readonly logRetention: RetentionDays;
  /** The trigger puts ecs-started to the bus. */
  readonly pipeline: PipelineResources;
}

/** S3 ObjectCreated -> queue (+ DLQ) -> extract trigger Lambda -> ecs:RunTask -> ecs-started. */
export class ExtractTrigger extends ResourceGroup {
  readonly fn: EtlFunction;
  /** S3 sends the landing bucket's ObjectCreated notifications here. */
  readonly queue: Queue;

  constructor(scope: Construct, id: string, props: ExtractTriggerProps) {
    super(scope, id);
    const { task } = props;
    const timeout = Duration.seconds(30);
    const { queue, deadLetterQueue } = queueWithDeadLetterQueue(this, {
      queueId: 'ObjectCreatedQueue',
      deadLetterQueueId: 'ObjectCreatedDeadLetterQueue',
      key: props.queueKey,
      visibilityTimeout: visibilityTimeoutFor(timeout, 0),
      maxReceiveCount: EXTRACT_TRIGGER_DELIVERY.maxAttempts,
    });
    this.queue = queue;
    props.landingBucket.addEventNotification(EventType.OBJECT_CREATED, new SqsDestination(this.queue));
    this.fn = new EtlFunction(this, 'ExtractTriggerFunction', {
      entry: 'extract-trigger',
      description: 'Extract trigger: S3 ObjectCreated -> ecs:RunTask of the extract task -> ecs-started',
      timeout,
      memorySize: 256,
      logRetention: props.logRetention,
      environment: {
        ...props.pipeline.busEnvironment,
        [Env.clusterArn]: task.cluster.clusterArn,
        [Env.taskDefinitionArn]: task.taskDefinition.taskDefinitionArn,
        [Env.containerName]: EXTRACT_CONTAINER_NAME,
        [Env.subnetIds]: props.network.vpc.isolatedSubnets.map((s) => s.subnetId).join(','),
        [Env.securityGroupIds]: props.network.taskSecurityGroup.securityGroupId,
      },
    });
    consumeQueue(this.fn.function, this.queue, EXTRACT_TRIGGER_DELIVERY, 'ObjectCreated');
    const role = this.fn.role;
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['ecs:RunTask'],
        resources: [task.taskDefinition.taskDefinitionArn],
        conditions: { ArnEquals: { 'ecs:cluster': task.cluster.clusterArn } },
      }),
    );
    role.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['iam:PassRole'],
        resources: [task.taskDefinition.taskRole.roleArn, task.taskDefinition.obtainExecutionRole().roleArn],
        conditions: { StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' } },
      }),
    );
    props.pipeline.bus.grantPutEventsTo(role);
    props.alarms.addQueueAlarms('ObjectCreated', queue, deadLetterQueue);
  }
}

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
