/**
 * The stack's CloudWatch dashboard: the pipeline's own metrics under the names, namespace and
 * dimensions the handlers write (metric-names.ts), and the SQS and EventBridge metrics the alarms
 * watch, for every queue and DLQ; its name and console URL as stack outputs.
 */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { FEATURE_FLAGS } from '../../src/infra/context.ts';
import { EventBridgeEtlStack } from '../../src/infra/stack.ts';
import { definePipeline } from '../../src/pipeline/definition.ts';

type Resource = { Type: string; Properties: Record<string, unknown> };
/** A widget of the body: metric rows are [namespace, name, dimension, value, ..., options]. */
type Widget = {
  type: string;
  properties: {
    title: string;
    metrics?: unknown[][];
    annotations?: { alarms?: string[] };
  };
};

const definition = definePipeline();
let stack: EventBridgeEtlStack;
let template: Template;
let widgets: Widget[];

/** CloudFormation's Fn::Join of the body, with each token written as its JSON (e.g. {"Ref":"X"}). */
function dashboardBody(resource: Resource): { widgets: Widget[] } {
  const join = resource.Properties.DashboardBody as { 'Fn::Join': [string, unknown[]] };
  const text = join['Fn::Join'][1]
    .map((part) => (typeof part === 'string' ? part : JSON.stringify(part).replace(/"/g, "'")))
    .join('');
  return JSON.parse(text) as { widgets: Widget[] };
}

const idOf = (construct: { node: { defaultChild?: unknown } }): string =>
  stack.getLogicalId(construct.node.defaultChild as never);
const titled = (prefix: string): Widget => {
  const widget = widgets.find((w) => w.properties.title.startsWith(prefix));
  if (!widget) throw new Error(`no widget titled ${prefix}...`);
  return widget;
};
/** A metric row as namespace, name and a dimension map. */
const metricOf = (
  row: unknown[],
): { namespace: unknown; name: unknown; dimensions: Record<string, unknown> } => {
  const parts = row.filter((p) => typeof p !== 'object' || Array.isArray(p) || p === null);
  const [namespace, name, ...pairs] = parts;
  const dimensions: Record<string, unknown> = {};
  for (let i = 0; i + 1 < pairs.length; i += 2) dimensions[String(pairs[i])] = pairs[i + 1];
  return { namespace, name, dimensions };
};
const rowOptions = (row: unknown[]): Record<string, unknown> =>
  (row.find((p) => typeof p === 'object' && p !== null && !Array.isArray(p)) ?? {}) as Record<
    string,
    unknown
  >;

beforeAll(() => {
  const app = new App({
    context: { ...FEATURE_FLAGS, 'aws:cdk:bundling-stacks': [] },
    builtinCloudFormationValidation: false,
  });
  stack = new EventBridgeEtlStack(app, 'Etl', { definition });
  template = Template.fromStack(stack);
  const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard')) as Resource[];
  expect(dashboards).toHaveLength(1);
  widgets = dashboardBody(dashboards[0] as Resource).widgets;
});

const STAGES = ['extract-trigger', 'extract', 'transform', 'load', 'observe', 'quarantine', 'task-stopped'];

describe('the dashboard', () => {
  it('charts rows and failed rows per stage: etl_stage_inputs_total by outcome, as the handlers write it', () => {
    for (const [title, outcome] of [
      ['Rows per stage', 'done'],
      ['Failed rows per stage', 'failed'],
    ] as const) {
      const rows = titled(title).properties.metrics ?? [];
      expect(rows.map(metricOf)).toEqual(
        STAGES.map((stage) => ({
          namespace: 'EventBridgeETL',
          name: 'etl_stage_inputs_total',
          dimensions: { service: 'eventbridge-etl', stage, outcome },
        })),
      );
      expect(rows.every((r) => rowOptions(r).stat === 'Sum' && rowOptions(r).period === 60)).toBe(true);
    }
  });

  it('charts retries per stage and reason, and the p99 batch duration per stage', () => {
    const [search] = titled('Retries per stage and reason').properties.metrics ?? [];
    expect(JSON.stringify(search)).toContain(
      `SEARCH('{EventBridgeETL,service,stage,reason} MetricName=\\"etl_stage_retries_total\\" service=\\"eventbridge-etl\\"', 'Sum', 60)`,
    );
    const latency = titled('Batch duration per stage').properties.metrics ?? [];
    expect(latency.map(metricOf)).toEqual(
      STAGES.map((stage) => ({
        namespace: 'EventBridgeETL',
        name: 'etl_stage_batch_seconds',
        dimensions: { service: 'eventbridge-etl', stage },
      })),
    );
    expect(latency.every((r) => rowOptions(r).stat === 'p99')).toBe(true);
  });

  it('charts the depth of every DLQ and the age of the oldest message of every queue', () => {
    const queues = [...Object.values(stack.stages).map((s) => s.delivery), stack.taskStopped.delivery];
    const queueName = (queue: { node: { defaultChild?: unknown } }): string =>
      `{'Fn::GetAtt':['${idOf(queue)}','QueueName']}`;
    const expected = (metricName: string, ids: string[]) =>
      ids.map((name) => ({ namespace: 'AWS/SQS', name: metricName, dimensions: { QueueName: name } }));
    const dlqs = titled('Dead letters per DLQ').properties.metrics ?? [];
    const ages = titled('Age of the oldest message').properties.metrics ?? [];
    // The ObjectCreated queue (the extract trigger's) is watched too: six queues with six DLQs.
    expect(dlqs).toHaveLength(6);
    expect(ages).toHaveLength(6);
    expect(dlqs.map(metricOf)).toEqual(
      expect.arrayContaining(
        expected(
          'ApproximateNumberOfMessagesVisible',
          queues.map((q) => queueName(q.deadLetterQueue)),
        ),
      ),
    );
    expect(ages.map(metricOf)).toEqual(
      expect.arrayContaining(
        expected('ApproximateAgeOfOldestMessage', [
          ...queues.map((q) => queueName(q.queue)),
          queueName(stack.objectCreatedQueue),
        ]),
      ),
    );
    expect([...dlqs, ...ages].every((r) => rowOptions(r).stat === 'Maximum')).toBe(true);
  });

  it('shows the failed-extract-task alarm', () => {
    const alarms = Object.entries(template.findResources('AWS::CloudWatch::Alarm')).filter(([id]) =>
      id.includes('ExtractTaskFailedAlarm'),
    );
    expect(alarms).toHaveLength(1);
    expect(titled('Failed extract tasks').properties.annotations?.alarms).toEqual([
      `{'Fn::GetAtt':['${alarms[0]?.[0]}','Arn']}`,
    ]);
  });

  it('is named, with its console URL, in the stack outputs', () => {
    const outputs = template.toJSON().Outputs as Record<string, { Value: unknown }>;
    const dashboardId = idOf(stack.dashboard.dashboard);
    expect(outputs.DashboardName?.Value).toEqual({ Ref: dashboardId });
    expect(JSON.stringify(outputs.DashboardUrl?.Value)).toContain(
      `"#dashboards:name=",{"Ref":"${dashboardId}"}`,
    );
  });

  it('passes cdk-nag AwsSolutions', () => {
    const report = new AwsSolutionsChecks().validateScope(stack);
    expect(report.violations).toEqual([]);
  });
});
