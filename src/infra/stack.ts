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
  RemovalPolicy,
  Stack,
  type StackProps,
  Validations,
} from 'aws-cdk-lib';
import type { Table } from 'aws-cdk-lib/aws-dynamodb';
import type { Cluster, FargateTaskDefinition } from 'aws-cdk-lib/aws-ecs';
import { EventBus } from 'aws-cdk-lib/aws-events';
import type { Key } from 'aws-cdk-lib/aws-kms';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Bucket } from 'aws-cdk-lib/aws-s3';
import type { Queue } from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { PipelineDefinition, TargetName } from '../pipeline/definition.ts';
import { writeModeOf } from '../pipeline/mapping.ts';
import { EXTRACT_STAGE } from '../pipeline/metric-names.ts';
import {
  AwsStage,
  Env,
  hasSensitiveColumns,
  pipelineEnvironment,
  TASK_STOPPED_RULE,
} from '../runtime/aws/config.ts';
import { EtlAlarms } from './alarms.ts';
import { EtlDashboard } from './dashboard.ts';
import type { EtlFunction } from './etl-function.ts';
import { ExtractTask, ExtractTrigger, taskStoppedPattern } from './extract.ts';
import { fieldKey, queueKey } from './keys.ts';
import { ResourceGroup, ungroupedLogicalId } from './logical-ids.ts';
import { EtlNetwork } from './network.ts';
import { StageFunction, type PipelineResources } from './stage-function.ts';
import { STAGES, TASK_STOPPED_DELIVERY, TASK_STOPPED_STAGE } from './stages.ts';
import { accessLogBucket, itemsTable, landingBucket, runsTable } from './storage.ts';

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
  /** Rows, failures, retries and latency per stage, DLQ depth, queue age, failed tasks. */
  readonly dashboard: EtlDashboard;

  constructor(scope: Construct, id: string, props: EventBridgeEtlStackProps) {
    super(scope, id, props);
    const { definition } = props;
    const logRetention = props.logRetention ?? RetentionDays.ONE_MONTH;

    // Two keys, so that consuming a queue never lets a stage unwrap a sensitive field's data key.
    this.queueKey = queueKey(this, 'QueueKey');
    this.fieldKey = hasSensitiveColumns(definition.mapping) ? fieldKey(this, 'FieldKey') : undefined;

    const logBucket = accessLogBucket(this, 'LogBucket');
    this.landingBucket = landingBucket(this, 'LandingBucket', logBucket);
    this.table = itemsTable(this, 'TransformedData', definition);
    this.runsTable = runsTable(this, 'Runs');
    // Named after the stack, so that several stacks live side by side in one account and region.
    this.bus = new EventBus(this, 'Bus', {
      eventBusName: `${this.stackName}-${definition.busName}`,
      description: 'eventbridge-etl: every event of the pipeline',
    });
    const alarmEmail = props.alarmEmail?.trim();
    this.alarms = new EtlAlarms(this, 'Alarms', alarmEmail ? { email: alarmEmail } : {});
    const pipeline: PipelineResources = {
      bus: this.bus,
      busEnvironment: { ...pipelineEnvironment(definition), [Env.eventBusName]: this.bus.eventBusName },
      table: this.table,
      runsTable: this.runsTable,
      writeMode: writeModeOf(definition.mapping),
      ...(this.fieldKey ? { fieldKey: this.fieldKey } : {}),
    };
    const common = { pipeline, queueKey: this.queueKey, alarms: this.alarms, logRetention };

    // landing bucket -> ObjectCreated queue -> extract trigger -> Fargate extract task -> bus
    const network = new EtlNetwork(this, 'Network', {
      flowLogBucket: logBucket,
      kmsEndpoint: this.fieldKey !== undefined,
    });
    this.extractTask = new ExtractTask(this, 'Extract', {
      vpc: network.vpc,
      landingBucket: this.landingBucket,
      pipeline,
      logRetention,
    });
    this.cluster = this.extractTask.cluster;
    this.taskDefinition = this.extractTask.taskDefinition;
    const trigger = new ExtractTrigger(this, 'ExtractTrigger', {
      ...common,
      landingBucket: this.landingBucket,
      task: this.extractTask,
      network,
    });
    this.extractTrigger = trigger.fn;
    this.objectCreatedQueue = trigger.queue;

    // bus -> each rule of the definition -> its queue -> its stage: transform, load, observe,
    // quarantine -> table, runs table
    this.stages = stagesOf(
      definition,
      (rule) =>
        new StageFunction(this, capitalize(rule.target), {
          ...common,
          spec: STAGES[rule.target],
          rule,
          ruleBus: this.bus,
          delivery: definition.delivery[rule.target],
        }),
    );

    // ECS (default bus) -> extract tasks that stopped without success -> task-stopped -> extraction-failed
    this.taskStopped = new StageFunction(this, 'TaskStopped', {
      ...common,
      spec: TASK_STOPPED_STAGE,
      rule: {
        // The rule's construct id; it is not deployed (EventBridge names the rule).
        name: TASK_STOPPED_RULE,
        description: 'eventbridge-etl: extract tasks of this cluster that stopped without success',
        eventPattern: taskStoppedPattern(this.cluster.clusterArn),
      },
      delivery: { ...definition.delivery.quarantine, ...TASK_STOPPED_DELIVERY },
    });
    const taskFailedAlarm = this.alarms.addRuleMatchAlarm(
      'ExtractTaskFailedAlarm',
      'eventbridge-etl: an extract task stopped without success (its run is reported failed)',
      this.taskStopped.delivery.rule,
    );

    this.dashboard = new EtlDashboard(this, 'Dashboard', {
      namespace: definition.metricsNamespace,
      stages: [
        AwsStage.extractTrigger,
        EXTRACT_STAGE,
        ...definition.rules.map((r) => r.target),
        AwsStage.taskStopped,
      ],
      alarms: this.alarms,
      taskFailedAlarm,
    });

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
      DashboardName: [this.dashboard.dashboard.dashboardName, "The pipeline's CloudWatch dashboard"],
      DashboardUrl: [this.dashboard.url, "The pipeline's CloudWatch dashboard in the console"],
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

function capitalize(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}
