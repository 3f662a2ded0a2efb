/**
 * The stack's CloudWatch dashboard: the pipeline's own metrics (metric-names.ts, written as EMF by
 * the handlers and the extract task) beside the SQS and EventBridge metrics the alarms watch (the
 * same metric definitions, from alarms.ts):
 *   rows per stage | failed rows per stage
 *   retries per stage and reason | batch duration (p99) per stage
 *   dead letters per DLQ | age of the oldest message per queue
 *   failed extract tasks (its alarm)
 */
import { Aws, Duration } from 'aws-cdk-lib';
import {
  AlarmWidget,
  Dashboard,
  GraphWidget,
  type IMetric,
  type IWidget,
  MathExpression,
  Metric,
  type Alarm,
} from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import { ETL_METRICS, type MetricDefinition } from '../pipeline/metric-names.ts';
import { SERVICE_NAME } from '../runtime/aws/config.ts';
import { type EtlAlarms, queueAgeMetric, queueDepthMetric } from './alarms.ts';

export interface EtlDashboardProps {
  /** The definition's metrics namespace. */
  readonly namespace: string;
  /** The stage names the handlers and the extract task count under, in pipeline order. */
  readonly stages: readonly string[];
  /** Its watched queues and DLQs are charted. */
  readonly alarms: EtlAlarms;
  /** The alarm on failed extract tasks. */
  readonly taskFailedAlarm: Alarm;
}

const PERIOD = Duration.minutes(1);
const WIDTH = 12;
const HEIGHT = 6;

export class EtlDashboard extends Construct {
  readonly dashboard: Dashboard;

  constructor(scope: Construct, id: string, props: EtlDashboardProps) {
    super(scope, id);
    const { namespace, stages, alarms } = props;
    const etl = (
      metric: MetricDefinition,
      dimensions: Record<string, string>,
      statistic: string,
      label: string,
    ): Metric =>
      new Metric({
        namespace,
        metricName: metric.name,
        // Powertools adds `service` to every metric: the dimension set must name it too.
        dimensionsMap: { service: SERVICE_NAME, ...dimensions },
        statistic,
        period: PERIOD,
        label,
      });
    const perStage = (outcome: string): IMetric[] =>
      stages.map((stage) => etl(ETL_METRICS.stageInputs, { stage, outcome }, 'Sum', stage));
    const graph = (title: string, left: IMetric[], leftLabel: string): GraphWidget =>
      new GraphWidget({ title, left, width: WIDTH, height: HEIGHT, leftYAxis: { label: leftLabel, min: 0 } });

    const retries = new MathExpression({
      // Every reason of every stage, as they appear (the reasons are a closed set, but any may be 0 for days).
      expression: `SEARCH('{${namespace},service,stage,reason} MetricName="${ETL_METRICS.stageRetries.name}" service="${SERVICE_NAME}"', 'Sum', ${PERIOD.toSeconds()})`,
      usingMetrics: {},
      label: 'retries',
      period: PERIOD,
    });

    const widgets: IWidget[][] = [
      [
        graph('Rows per stage (done, per minute)', perStage('done'), 'rows'),
        graph('Failed rows per stage (row-failed, per minute)', perStage('failed'), 'rows'),
      ],
      [
        graph('Retries per stage and reason (per minute)', [retries], 'inputs'),
        graph(
          'Batch duration per stage (p99)',
          stages.map((stage) => etl(ETL_METRICS.stageBatchSeconds, { stage }, 'p99', stage)),
          'seconds',
        ),
      ],
      [
        graph(
          'Dead letters per DLQ (messages visible)',
          alarms.queues.map((q) => labelled(queueDepthMetric(q.deadLetterQueue), `${q.name} DLQ`)),
          'messages',
        ),
        graph(
          'Age of the oldest message per queue',
          alarms.queues.map((q) => labelled(queueAgeMetric(q.queue), q.name)),
          'seconds',
        ),
      ],
      [
        new AlarmWidget({
          title: 'Failed extract tasks',
          alarm: props.taskFailedAlarm,
          width: WIDTH,
          height: HEIGHT,
          leftYAxis: { min: 0 },
        }),
      ],
    ];
    this.dashboard = new Dashboard(this, 'Resource', { widgets, defaultInterval: Duration.hours(3) });
  }

  /** The dashboard in the CloudWatch console. */
  get url(): string {
    return `https://${Aws.REGION}.console.aws.amazon.com/cloudwatch/home?region=${Aws.REGION}#dashboards:name=${this.dashboard.dashboardName}`;
  }
}

function labelled(metric: IMetric, label: string): IMetric {
  return metric instanceof Metric ? metric.with({ label }) : metric;
}
