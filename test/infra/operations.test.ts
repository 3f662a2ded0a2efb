/**
 * What the stack needs to work in a real account, beyond the pipeline's own wiring: the key policy
 * that lets EventBridge deliver to encrypted queues, several stacks side by side, failed extract
 * tasks reported to their run, alarms on one encrypted topic, the flow-log bucket policy.
 */
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { definePipeline, type TargetName } from '../../src/pipeline/definition.ts';
import { compilePattern } from '../../src/patterns/index.ts';
import { FEATURE_FLAGS } from '../../src/infra/context.ts';
import { RULE_FAILURE_METRICS } from '../../src/infra/alarms.ts';
import { EXTRACT_CONTAINER_NAME, taskStoppedPattern } from '../../src/infra/extract.ts';
import { EventBridgeEtlStack, type EventBridgeEtlStackProps } from '../../src/infra/stack.ts';
import { Env } from '../../src/runtime/aws/config.ts';
import { CLUSTER_ARN, taskStoppedEvent } from '../aws/fixtures.ts';

type Resource = { Type: string; Properties: Record<string, unknown> };
type Statement = {
  Sid?: string;
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Principal?: { Service?: string | string[]; AWS?: unknown };
  Condition?: Record<string, Record<string, unknown>>;
};

const definition = definePipeline();

function app(): App {
  return new App({
    context: { ...FEATURE_FLAGS, 'aws:cdk:bundling-stacks': [] },
    builtinCloudFormationValidation: false,
  });
}

function synth(
  props: Partial<EventBridgeEtlStackProps> = {},
  id = 'Etl',
): { stack: EventBridgeEtlStack; template: Template } {
  const stack = new EventBridgeEtlStack(app(), id, { definition, ...props });
  return { stack, template: Template.fromStack(stack) };
}

const resources = (t: Template, type: string): Record<string, Resource> =>
  t.findResources(type) as Record<string, Resource>;
const idOf = (s: EventBridgeEtlStack, construct: { node: { defaultChild?: unknown } }): string =>
  s.getLogicalId(construct.node.defaultChild as never);
const getAtt = (id: string, attr = 'Arn'): { 'Fn::GetAtt': [string, string] } => ({
  'Fn::GetAtt': [id, attr],
});
const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);
const services = (s: Statement): string[] => list(s.Principal?.Service);

function keyStatements(t: Template, keyId: string): Statement[] {
  const key = resources(t, 'AWS::KMS::Key')[keyId];
  return (key?.Properties.KeyPolicy as { Statement: Statement[] }).Statement;
}

function identityStatements(t: Template, roleId: string): Statement[] {
  return Object.values(resources(t, 'AWS::IAM::Policy'))
    .filter((p) => (p.Properties.Roles as { Ref: string }[]).some((r) => r.Ref === roleId))
    .flatMap((p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement);
}

let stack: EventBridgeEtlStack;
let template: Template;

beforeAll(() => {
  ({ stack, template } = synth());
});

describe('the queue key', () => {
  it('lets EventBridge use it as AWS documents for services sending to SSE-KMS queues: exactly two actions, no condition', () => {
    const events = keyStatements(template, idOf(stack, stack.queueKey)).filter((s) =>
      services(s).includes('events.amazonaws.com'),
    );
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ Effect: 'Allow', Resource: '*' });
    expect(list(events[0]?.Action).sort()).toEqual(['kms:Decrypt', 'kms:GenerateDataKey']);
    // A condition EventBridge's deliveries do not carry would make every delivery and DLQ send fail.
    expect(events[0]?.Condition).toBeUndefined();
  });

  it('encrypts every queue EventBridge sends to (rule queues and their DLQs) and lets S3 use it for its notifications', () => {
    const key = getAtt(idOf(stack, stack.queueKey));
    const queues = resources(template, 'AWS::SQS::Queue');
    const targets = Object.values(resources(template, 'AWS::Events::Rule')).flatMap(
      (r) =>
        r.Properties.Targets as {
          Arn: { 'Fn::GetAtt': [string] };
          DeadLetterConfig: { Arn: { 'Fn::GetAtt': [string] } };
        }[],
    );
    expect(targets).toHaveLength(definition.rules.length + 1);
    for (const target of targets) {
      for (const arn of [target.Arn, target.DeadLetterConfig.Arn])
        expect(queues[arn['Fn::GetAtt'][0]]?.Properties.KmsMasterKeyId).toEqual(key);
    }
    const s3 = keyStatements(template, idOf(stack, stack.queueKey)).filter((s) =>
      services(s).includes('s3.amazonaws.com'),
    );
    expect(s3.flatMap((s) => list(s.Action))).toEqual(expect.arrayContaining(['kms:Decrypt']));
    expect(s3.flatMap((s) => list(s.Action)).some((a) => a.startsWith('kms:GenerateDataKey'))).toBe(true);
  });
});

/** Top-level properties that name a resource in its account and region. */
const PHYSICAL_NAME_PROPERTIES = new Set([
  'Name',
  'BusName',
  'EventBusName',
  'TableName',
  'QueueName',
  'BucketName',
  'FunctionName',
  'LogGroupName',
  'ClusterName',
  'TopicName',
  'RoleName',
  'AlarmName',
  'AliasName',
  'Family',
  'RepositoryName',
  'ArchiveName',
  'ManagedPolicyName',
  'PolicyName',
]);
/** Properties named so that refer to another resource, not to the resource itself. */
const REFERENCES: Record<string, string[]> = {
  'AWS::Events::Rule': ['EventBusName'],
  'AWS::Lambda::EventSourceMapping': ['FunctionName'],
  'AWS::Lambda::Permission': ['FunctionName'],
  'AWS::IAM::Policy': ['PolicyName'], // inline policies are scoped to their role
};

function physicalNames(t: Template): Map<string, string> {
  const names = new Map<string, string>();
  for (const [id, resource] of Object.entries(t.toJSON().Resources as Record<string, Resource>)) {
    for (const [property, value] of Object.entries(resource.Properties ?? {})) {
      if (!PHYSICAL_NAME_PROPERTIES.has(property)) continue;
      if (REFERENCES[resource.Type]?.includes(property)) continue;
      const text = JSON.stringify(value);
      // A name built from the stack's name or id, or from another resource of the stack (a Ref or
      // GetAtt of a logical id), differs per stack once deployed.
      const references = [...text.matchAll(/"(?:Ref|Fn::GetAtt)":\[?"([^"]+)"/g)].map((m) => m[1] ?? '');
      if (references.some((r) => !r.startsWith('AWS::') || r === 'AWS::StackName' || r === 'AWS::StackId'))
        continue;
      names.set(text, `${id}.${property}`);
    }
  }
  return names;
}

describe('two stacks in one account and region', () => {
  it('share no physical name: the bus is named after the stack, everything else is left to CloudFormation', () => {
    const first = synth({ stackName: 'etl-dev' }, 'EtlDev');
    const second = synth({ stackName: 'etl-prod' }, 'EtlProd');
    const a = physicalNames(first.template);
    const b = physicalNames(second.template);
    expect(a.size).toBeGreaterThan(0);
    const shared = [...a.keys()].filter((name) => b.has(name)).map((name) => `${a.get(name)} = ${name}`);
    expect(shared).toEqual([]);
    first.template.hasResourceProperties('AWS::Events::EventBus', { Name: `etl-dev-${definition.busName}` });
    second.template.hasResourceProperties('AWS::Events::EventBus', {
      Name: `etl-prod-${definition.busName}`,
    });
    // No table, queue, bucket, function, log group or cluster is given a name at all.
    for (const [type, property] of [
      ['AWS::DynamoDB::Table', 'TableName'],
      ['AWS::SQS::Queue', 'QueueName'],
      ['AWS::S3::Bucket', 'BucketName'],
      ['AWS::Lambda::Function', 'FunctionName'],
      ['AWS::Logs::LogGroup', 'LogGroupName'],
      ['AWS::ECS::Cluster', 'ClusterName'],
      ['AWS::SNS::Topic', 'TopicName'],
    ] as const) {
      for (const r of Object.values(resources(first.template, type)))
        expect(r.Properties).not.toHaveProperty(property);
    }
  });
});

describe('failed extract tasks', () => {
  it('are watched by a rule on the default bus for this cluster, targeting the task-stopped queue with its DLQ', () => {
    const { delivery, fn } = stack.taskStopped;
    const rule = resources(template, 'AWS::Events::Rule')[idOf(stack, delivery.rule)];
    expect(rule?.Properties).not.toHaveProperty('EventBusName');
    expect(rule?.Properties.EventPattern).toEqual(
      stack.resolve(taskStoppedPattern(stack.cluster.clusterArn)) as unknown,
    );
    expect((rule?.Properties.EventPattern as { detail: { clusterArn: unknown } }).detail.clusterArn).toEqual([
      getAtt(idOf(stack, stack.cluster)),
    ]);
    expect(rule?.Properties.Targets).toEqual([
      expect.objectContaining({
        Arn: getAtt(idOf(stack, delivery.queue)),
        DeadLetterConfig: { Arn: getAtt(idOf(stack, delivery.deadLetterQueue)) },
      }),
    ]);
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: getAtt(idOf(stack, delivery.queue)),
      FunctionName: { Ref: idOf(stack, fn.function) },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });

  it('match failures and never successes, as EventBridge matches them (our pattern engine)', () => {
    const pattern = compilePattern(taskStoppedPattern(CLUSTER_ARN));
    const run = 'run-0123456789abcdef';
    expect(pattern.matches(taskStoppedEvent({ run, exitCode: 1 }))).toBe(true);
    expect(
      pattern.matches(taskStoppedEvent({ run, exitCode: 137, containerReason: 'OutOfMemoryError' })),
    ).toBe(true);
    expect(
      pattern.matches(
        taskStoppedEvent({
          run,
          stopCode: 'TaskFailedToStart',
          stoppedReason: 'CannotPullContainerError: pull image manifest has been retried 5 time(s)',
        }),
      ),
    ).toBe(true);
    expect(
      pattern.matches(taskStoppedEvent({ run, stopCode: 'UserInitiated', stoppedReason: 'stopped by hand' })),
    ).toBe(true);
    expect(pattern.matches(taskStoppedEvent({ run, exitCode: 0 }))).toBe(false);
    expect(pattern.matches(taskStoppedEvent({ run, exitCode: 2 }))).toBe(false);
    expect(pattern.matches(taskStoppedEvent({ run, exitCode: 1, clusterArn: `${CLUSTER_ARN}-other` }))).toBe(
      false,
    );
    const running = taskStoppedEvent({ run, exitCode: 1 });
    (running.detail as { lastStatus: string }).lastStatus = 'RUNNING';
    expect(pattern.matches(running)).toBe(false);
  });

  it('are reported by a handler that may put to our bus and read the runs table, and nothing else', () => {
    const { fn } = stack.taskStopped;
    const env = (
      resources(template, 'AWS::Lambda::Function')[idOf(stack, fn.function)]?.Properties.Environment as {
        Variables: Record<string, unknown>;
      }
    ).Variables;
    expect(env[Env.runsTableName]).toEqual({ Ref: idOf(stack, stack.runsTable) });
    expect(env[Env.containerName]).toBe(EXTRACT_CONTAINER_NAME);
    expect(env[Env.eventBusName]).toEqual({ Ref: idOf(stack, stack.bus) });
    // Besides its logs and consuming its own queue (sqs:*, kms:Decrypt of the queue key):
    const statements = identityStatements(template, idOf(stack, fn.role)).filter(
      (s) =>
        !list(s.Action).every((a) => a.startsWith('logs:') || a.startsWith('sqs:') || a === 'kms:Decrypt'),
    );
    expect(statements.map((s) => [list(s.Action).sort(), s.Resource])).toEqual(
      expect.arrayContaining([
        [['events:PutEvents'], getAtt(idOf(stack, stack.bus))],
        [['dynamodb:GetItem', 'dynamodb:Query'], getAtt(idOf(stack, stack.runsTable))],
      ]),
    );
    expect(statements).toHaveLength(2);
  });
});

describe('alarms', () => {
  const alarms = (): Resource[] => Object.values(resources(template, 'AWS::CloudWatch::Alarm'));
  const topic = (): { Ref: string } => ({ Ref: idOf(stack, stack.alarms.topic) });

  it('watch FailedInvocations and InvocationsFailedToBeSentToDlq of every rule, with its bus for custom-bus rules', () => {
    const rules: [string, boolean][] = [
      ...(Object.keys(stack.stages) as TargetName[]).map((t): [string, boolean] => [
        idOf(stack, stack.stages[t].delivery.rule),
        true,
      ]),
      [idOf(stack, stack.taskStopped.delivery.rule), false],
    ];
    for (const [ruleId, onCustomBus] of rules) {
      for (const metric of RULE_FAILURE_METRICS) {
        const found = alarms().filter(
          (a) =>
            a.Properties.Namespace === 'AWS/Events' &&
            a.Properties.MetricName === metric &&
            JSON.stringify(a.Properties.Dimensions).includes(`"Ref":"${ruleId}"`),
        );
        expect(found, `${metric} of ${ruleId}`).toHaveLength(1);
        const dimensions = (found[0]?.Properties.Dimensions as { Name: string }[]).map((d) => d.Name).sort();
        expect(dimensions).toEqual(onCustomBus ? ['EventBusName', 'RuleName'] : ['RuleName']);
        expect(found[0]?.Properties).toMatchObject({
          Threshold: 1,
          ComparisonOperator: 'GreaterThanOrEqualToThreshold',
        });
      }
    }
  });

  it('watch the age of every queue and the depth of every DLQ', () => {
    const queues = Object.entries(resources(template, 'AWS::SQS::Queue'));
    const dlqIds = new Set(
      queues.flatMap(([, q]) => {
        const target = (
          q.Properties.RedrivePolicy as { deadLetterTargetArn?: { 'Fn::GetAtt': [string] } } | undefined
        )?.deadLetterTargetArn;
        return target ? [target['Fn::GetAtt'][0]] : [];
      }),
    );
    const watched = (metric: string, queueId: string): number =>
      alarms().filter(
        (a) =>
          a.Properties.Namespace === 'AWS/SQS' &&
          a.Properties.MetricName === metric &&
          JSON.stringify(a.Properties.Dimensions).includes(`"${queueId}","QueueName"`),
      ).length;
    expect(queues).toHaveLength(12);
    for (const [id] of queues) {
      if (dlqIds.has(id)) expect(watched('ApproximateNumberOfMessagesVisible', id), id).toBe(1);
      else expect(watched('ApproximateAgeOfOldestMessage', id), id).toBe(1);
    }
  });

  it('watch failed extract tasks', () => {
    const failed = alarms().filter(
      (a) =>
        a.Properties.MetricName === 'MatchedEvents' &&
        JSON.stringify(a.Properties.Dimensions) ===
          JSON.stringify([
            { Name: 'RuleName', Value: { Ref: idOf(stack, stack.taskStopped.delivery.rule) } },
          ]),
    );
    expect(failed).toHaveLength(1);
  });

  it('all notify one KMS-encrypted topic whose key lets CloudWatch publish, and nothing else', () => {
    template.resourceCountIs('AWS::SNS::Topic', 1);
    expect(alarms().length).toBeGreaterThan(20);
    for (const alarm of alarms()) expect(alarm.Properties.AlarmActions).toEqual([topic()]);
    const key = idOf(stack, stack.alarms.key);
    template.hasResourceProperties('AWS::SNS::Topic', { KmsMasterKeyId: getAtt(key) });
    const services = keyStatements(template, key).flatMap((s) => list(s.Principal?.Service));
    expect(services).toEqual(['cloudwatch.amazonaws.com']);
    // The queues' key is not the topic's.
    expect(
      keyStatements(template, idOf(stack, stack.queueKey)).flatMap((s) => list(s.Principal?.Service)),
    ).not.toContain('cloudwatch.amazonaws.com');
  });

  it('e-mail the address given by -c alarmEmail, and no one when none is given', () => {
    template.resourceCountIs('AWS::SNS::Subscription', 0);
    const { stack: withEmail, template: t } = synth({ alarmEmail: 'ops@example.com' });
    t.hasResourceProperties('AWS::SNS::Subscription', {
      Protocol: 'email',
      Endpoint: 'ops@example.com',
      TopicArn: { Ref: idOf(withEmail, withEmail.alarms.topic) },
    });
    expect(new AwsSolutionsChecks().validateScope(withEmail).violations).toEqual([]);
  });
});

describe('the flow-log bucket', () => {
  it('lets delivery.logs.amazonaws.com write flow logs of this account only, as AWS documents', () => {
    const policies = Object.values(resources(template, 'AWS::S3::BucketPolicy')).flatMap(
      (p) => (p.Properties.PolicyDocument as { Statement: Statement[] }).Statement,
    );
    const delivery = policies.filter((s) => services(s).includes('delivery.logs.amazonaws.com'));
    const byAction = Object.fromEntries(delivery.map((s) => [list(s.Action).sort().join(','), s]));
    expect(Object.keys(byAction).sort()).toEqual(['s3:GetBucketAcl,s3:ListBucket', 's3:PutObject']);
    expect(byAction['s3:PutObject']?.Condition).toMatchObject({
      StringEquals: {
        's3:x-amz-acl': 'bucket-owner-full-control',
        'aws:SourceAccount': { Ref: 'AWS::AccountId' },
      },
    });
    for (const s of delivery) expect(s.Condition?.ArnLike).toHaveProperty('aws:SourceArn');
  });
});
