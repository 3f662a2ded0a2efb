/**
 * The synthesized template, checked against the pipeline definition: every rule with its exact
 * pattern, rule -> queue -> Lambda wiring with DLQs and the definition's delivery settings, and the
 * least-privilege grants. Bundling is skipped (context aws:cdk:bundling-stacks = []), so a synth is fast.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { beforeAll, describe, expect, it } from 'vitest';
import { definePipeline, type PipelineDefinition, type TargetName } from '../../src/pipeline/definition.ts';
import { parseMapping, SEED_MAPPING } from '../../src/pipeline/mapping.ts';
import { FEATURE_FLAGS, REPO_ROOT } from '../../src/infra/context.ts';
import { EXTRACT_CONTAINER_NAME } from '../../src/infra/extract.ts';
import { EventBridgeEtlStack } from '../../src/infra/stack.ts';

type Resource = { Type: string; Properties: Record<string, unknown>; Metadata?: Record<string, unknown> };
type Statement = {
  Effect: string;
  Action: string | string[];
  Resource: unknown;
  Principal?: unknown;
  Condition?: Record<string, Record<string, unknown>>;
};

function synth(definition: PipelineDefinition): { stack: EventBridgeEtlStack; template: Template } {
  const app = new App({
    context: { ...FEATURE_FLAGS, 'aws:cdk:bundling-stacks': [] },
    builtinCloudFormationValidation: false,
  });
  const stack = new EventBridgeEtlStack(app, 'Etl', { definition });
  return { stack, template: Template.fromStack(stack) };
}

const definition = definePipeline();
const sensitiveDefinition = definePipeline({
  mapping: {
    ...SEED_MAPPING,
    columns: {
      ...SEED_MAPPING.columns,
      Street: { attribute: 'street_address', type: 'string', sensitive: true },
    },
  },
});

let stack: EventBridgeEtlStack;
let template: Template;
let sensitive: { stack: EventBridgeEtlStack; template: Template };

beforeAll(() => {
  ({ stack, template } = synth(definition));
  sensitive = synth(sensitiveDefinition);
});

const resources = (t: Template, type: string): Record<string, Resource> =>
  t.findResources(type) as Record<string, Resource>;
const logicalId = (s: EventBridgeEtlStack, construct: { node: { defaultChild?: unknown } }): string =>
  s.getLogicalId(construct.node.defaultChild as never);
const getAtt = (id: string, attr = 'Arn'): { 'Fn::GetAtt': [string, string] } => ({
  'Fn::GetAtt': [id, attr],
});
const actions = (s: Statement): string[] => (Array.isArray(s.Action) ? s.Action : [s.Action]);
const resourcesOf = (s: Statement): string[] =>
  (Array.isArray(s.Resource) ? s.Resource : [s.Resource]).map((r) => JSON.stringify(r));
const covers = (s: Statement, resource: unknown): boolean =>
  resourcesOf(s).includes(JSON.stringify(resource));

/** Every statement of every identity policy, with the roles it is attached to. */
function identityStatements(t: Template): { roles: string[]; statement: Statement }[] {
  return Object.values(resources(t, 'AWS::IAM::Policy')).flatMap((policy) =>
    ((policy.Properties.PolicyDocument as { Statement: Statement[] }).Statement ?? []).map((statement) => ({
      roles: (policy.Properties.Roles as { Ref: string }[]).map((r) => r.Ref),
      statement,
    })),
  );
}

function rolesAllowed(t: Template, action: string, resource?: unknown): string[] {
  return identityStatements(t)
    .filter(({ statement }) => statement.Effect === 'Allow' && actions(statement).includes(action))
    .filter(({ statement }) => resource === undefined || covers(statement, resource))
    .flatMap(({ roles }) => roles)
    .sort();
}

const roleOf = (s: EventBridgeEtlStack, target: TargetName): string =>
  s.getLogicalId(s.stages[target].fn.role.node.defaultChild as never);

describe('the event bus and its rules', () => {
  it('is a custom bus named after the stack and the definition', () => {
    template.resourceCountIs('AWS::Events::EventBus', 1);
    template.hasResourceProperties('AWS::Events::EventBus', { Name: `Etl-${definition.busName}` });
  });

  it('has exactly one rule per definition rule, on that bus, with exactly its pattern', () => {
    // The other rule watches ECS on the default bus (see the task-stopped tests).
    const rules = Object.values(resources(template, 'AWS::Events::Rule')).filter(
      (r) => r.Properties.EventBusName,
    );
    expect(rules).toHaveLength(definition.rules.length);
    const busId = stack.getLogicalId(stack.bus.node.defaultChild as never);
    for (const rule of definition.rules) {
      const deployed = stack.stages[rule.target].delivery.rule;
      const properties = resources(template, 'AWS::Events::Rule')[logicalId(stack, deployed)]?.Properties;
      expect(properties?.EventPattern).toEqual(rule.eventPattern);
      expect(properties?.Description).toBe(rule.description);
      expect(properties?.EventBusName).toEqual({ Ref: busId });
    }
    // The seed's three patterns, verbatim.
    const patterns = rules.map((r) => r.Properties.EventPattern);
    expect(patterns).toContainEqual({
      source: ['cdkpatterns.the-eventbridge-etl'],
      'detail-type': ['s3RecordExtraction'],
      detail: { status: ['extracted'] },
    });
    expect(patterns).toContainEqual({
      source: ['cdkpatterns.the-eventbridge-etl'],
      'detail-type': ['transform'],
      detail: { status: ['transformed'] },
    });
    expect(patterns).toContainEqual({ source: ['cdkpatterns.the-eventbridge-etl'] });
  });
});

describe('rule -> queue -> Lambda', () => {
  for (const rule of definition.rules) {
    describe(`${rule.name} -> ${rule.target}`, () => {
      it('targets its own queue, with the DLQ for undeliverable events and the definition event age', () => {
        const { delivery } = stack.stages[rule.target];
        const ruleResource = resources(template, 'AWS::Events::Rule')[logicalId(stack, delivery.rule)];
        const targets = ruleResource?.Properties.Targets as Record<string, unknown>[];
        expect(targets).toHaveLength(1);
        expect(targets[0]).toMatchObject({
          Arn: getAtt(logicalId(stack, delivery.queue)),
          DeadLetterConfig: { Arn: getAtt(logicalId(stack, delivery.deadLetterQueue)) },
          RetryPolicy: { MaximumEventAgeInSeconds: definition.delivery[rule.target].maxEventAgeSeconds },
        });
        expect(targets[0]).not.toHaveProperty('RoleArn');
      });

      it('has a queue redriven to its DLQ after the definition maxReceiveCount, both KMS-encrypted', () => {
        const { delivery } = stack.stages[rule.target];
        const queues = resources(template, 'AWS::SQS::Queue');
        const queue = queues[logicalId(stack, delivery.queue)]?.Properties;
        expect(queue?.RedrivePolicy).toEqual({
          deadLetterTargetArn: getAtt(logicalId(stack, delivery.deadLetterQueue)),
          maxReceiveCount: definition.delivery[rule.target].maxReceiveCount,
        });
        const keyArn = getAtt(stack.getLogicalId(stack.queueKey.node.defaultChild as never));
        expect(queue?.KmsMasterKeyId).toEqual(keyArn);
        expect(queues[logicalId(stack, delivery.deadLetterQueue)]?.Properties.KmsMasterKeyId).toEqual(keyArn);
      });

      it('lets only this rule send to its queue and DLQ, over TLS only', () => {
        const { delivery } = stack.stages[rule.target];
        const ruleArn = getAtt(logicalId(stack, delivery.rule));
        for (const queue of [delivery.queue, delivery.deadLetterQueue]) {
          const policies = Object.values(resources(template, 'AWS::SQS::QueuePolicy')).filter(
            (p) => JSON.stringify(p.Properties.Queues) === JSON.stringify([{ Ref: logicalId(stack, queue) }]),
          );
          expect(policies).toHaveLength(1);
          const statements = (policies[0]?.Properties.PolicyDocument as { Statement: Statement[] }).Statement;
          const allows = statements.filter((s) => s.Effect === 'Allow');
          expect(allows).toEqual([
            expect.objectContaining({
              Action: 'sqs:SendMessage',
              Principal: { Service: 'events.amazonaws.com' },
              Condition: { ArnEquals: { 'aws:SourceArn': ruleArn } },
            }),
          ]);
          expect(statements).toContainEqual(
            expect.objectContaining({
              Effect: 'Deny',
              Condition: { Bool: { 'aws:SecureTransport': 'false' } },
            }),
          );
        }
      });

      it('is consumed by its Lambda with the definition batch, window and MaximumConcurrency, reporting item failures', () => {
        const { fn, delivery } = stack.stages[rule.target];
        const d = definition.delivery[rule.target];
        template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
          EventSourceArn: getAtt(logicalId(stack, delivery.queue)),
          FunctionName: { Ref: stack.getLogicalId(fn.function.node.defaultChild as never) },
          BatchSize: d.batchSize,
          MaximumBatchingWindowInSeconds: d.maxBatchingWindowSeconds,
          ScalingConfig: { MaximumConcurrency: d.concurrency },
          FunctionResponseTypes: ['ReportBatchItemFailures'],
        });
      });

      it('gives the queue a visibility timeout of six function timeouts plus the batching window', () => {
        const { fn, delivery } = stack.stages[rule.target];
        const timeout = resources(template, 'AWS::Lambda::Function')[
          stack.getLogicalId(fn.function.node.defaultChild as never)
        ]?.Properties.Timeout as number;
        const queue = resources(template, 'AWS::SQS::Queue')[logicalId(stack, delivery.queue)]?.Properties;
        expect(queue?.VisibilityTimeout).toBe(
          timeout * 6 + definition.delivery[rule.target].maxBatchingWindowSeconds,
        );
      });
    });
  }

  it('throttles with MaximumConcurrency, never with reserved concurrency', () => {
    for (const fn of Object.values(resources(template, 'AWS::Lambda::Function'))) {
      expect(fn.Properties).not.toHaveProperty('ReservedConcurrentExecutions');
    }
  });

  it('follows the definition: a different concurrency is deployed as is, an impossible one is refused', () => {
    const { template: five } = synth(definePipeline({ concurrency: 5 }));
    const concurrencies = Object.values(resources(five, 'AWS::Lambda::EventSourceMapping')).map(
      (m) => (m.Properties.ScalingConfig as { MaximumConcurrency: number }).MaximumConcurrency,
    );
    // Four stage queues at 5; the extract trigger keeps the seed's 2, and so does the task-stopped handler.
    expect(concurrencies.sort()).toEqual([2, 2, 5, 5, 5, 5]);
    expect(() => definePipeline({ concurrency: 1 })).toThrow(/from 2 to 1000/);
    // A definition put together by hand gets the same answer from the stack.
    const loadDelivery = { ...definition.delivery.load, concurrency: 1 };
    expect(() => synth({ ...definition, delivery: { ...definition.delivery, load: loadDelivery } })).toThrow(
      /loadRule: SQS event sources take a maximum concurrency of 2 to 1000, not 1/,
    );
  });
});

describe('functions', () => {
  it('run on the newest Node.js runtime, ARM, as ESM bundles with their own log group and retention', () => {
    const functions = Object.entries(resources(template, 'AWS::Lambda::Function'));
    const logGroups = resources(template, 'AWS::Logs::LogGroup');
    const ours = [...Object.values(stack.stages).map((s) => s.fn), stack.extractTrigger];
    expect(ours).toHaveLength(5);
    for (const fn of ours) {
      const properties = resources(template, 'AWS::Lambda::Function')[
        stack.getLogicalId(fn.function.node.defaultChild as never)
      ]?.Properties;
      expect(properties).toMatchObject({
        Runtime: 'nodejs24.x',
        Architectures: ['arm64'],
        Handler: 'index.handler',
      });
    }
    // Every function, the CDK's notifications handler included, logs to a group with retention.
    for (const [, fn] of functions) {
      const group = (fn.Properties.LoggingConfig as { LogGroup?: { Ref: string } } | undefined)?.LogGroup
        ?.Ref;
      expect(group, `${String(fn.Properties.Description)} has a log group`).toBeDefined();
      expect(logGroups[group as string]?.Properties.RetentionInDays).toBeGreaterThan(0);
    }
  });

  it('have roles without managed policies (except the CDK notifications handler) that log only to their own group', () => {
    const roles = resources(template, 'AWS::IAM::Role');
    const withManaged = Object.keys(roles).filter(
      (id) => roles[id]?.Properties.ManagedPolicyArns !== undefined,
    );
    expect(withManaged).toEqual([expect.stringMatching(/^BucketNotificationsHandler/)]);
    for (const fn of [...Object.values(stack.stages).map((s) => s.fn), stack.extractTrigger]) {
      const role = stack.getLogicalId(fn.role.node.defaultChild as never);
      const logStatements = identityStatements(template).filter(
        ({ roles: attached, statement }) =>
          attached.includes(role) && actions(statement).some((a) => a.startsWith('logs:')),
      );
      expect(logStatements.map(({ statement }) => statement.Resource)).toEqual([
        getAtt(stack.getLogicalId(fn.logGroup.node.defaultChild as never)),
      ]);
    }
  });

  it('receive the definition (source, bus, mapping) in their environment', () => {
    const transform = resources(template, 'AWS::Lambda::Function')[
      stack.getLogicalId(stack.stages.transform.fn.function.node.defaultChild as never)
    ];
    expect(transform?.Properties.Environment).toEqual({
      Variables: expect.objectContaining({
        PIPELINE_SOURCE: definition.source,
        PIPELINE_MAPPING: JSON.stringify(definition.mapping),
        EVENT_BUS_NAME: { Ref: stack.getLogicalId(stack.bus.node.defaultChild as never) },
      }),
    });
  });
});

describe('least privilege', () => {
  it('allows events:PutEvents only on our bus, and only to the producers', () => {
    const busArn = getAtt(stack.getLogicalId(stack.bus.node.defaultChild as never));
    const putEvents = identityStatements(template).filter(({ statement }) =>
      actions(statement).includes('events:PutEvents'),
    );
    expect(putEvents.length).toBeGreaterThan(0);
    for (const { statement } of putEvents) expect(statement.Resource).toEqual(busArn);
    const taskRole = stack.getLogicalId(stack.taskDefinition.taskRole.node.defaultChild as never);
    const trigger = stack.getLogicalId(stack.extractTrigger.role.node.defaultChild as never);
    const taskStopped = stack.getLogicalId(stack.taskStopped.fn.role.node.defaultChild as never);
    expect(rolesAllowed(template, 'events:PutEvents')).toEqual(
      [
        taskRole,
        trigger,
        taskStopped,
        roleOf(stack, 'transform'),
        roleOf(stack, 'load'),
        roleOf(stack, 'observe'),
      ].sort(),
    );
    expect(rolesAllowed(template, 'events:PutEvents')).not.toContain(roleOf(stack, 'quarantine'));
  });

  it('scopes each table action to its table and stage', () => {
    const table = getAtt(stack.getLogicalId(stack.table.node.defaultChild as never));
    const runs = getAtt(stack.getLogicalId(stack.runsTable.node.defaultChild as never));
    expect(rolesAllowed(template, 'dynamodb:BatchWriteItem', table)).toEqual([roleOf(stack, 'load')]);
    expect(rolesAllowed(template, 'dynamodb:BatchWriteItem', runs)).toEqual([roleOf(stack, 'quarantine')]);
    expect(rolesAllowed(template, 'dynamodb:UpdateItem', runs)).toEqual([roleOf(stack, 'observe')]);
    const dynamoStatements = identityStatements(template).filter(({ statement }) =>
      actions(statement).some((a) => a.startsWith('dynamodb:')),
    );
    for (const { statement } of dynamoStatements) expect([table, runs]).toContainEqual(statement.Resource);
  });

  it('lets the extract trigger run only the extract task, in our cluster, and pass only its two roles to ECS', () => {
    const trigger = identityStatements(template).filter(({ roles }) =>
      roles.includes(stack.getLogicalId(stack.extractTrigger.role.node.defaultChild as never)),
    );
    const runTask = trigger.find(({ statement }) => actions(statement).includes('ecs:RunTask'))?.statement;
    expect(runTask).toMatchObject({
      Resource: { Ref: stack.getLogicalId(stack.taskDefinition.node.defaultChild as never) },
      Condition: {
        ArnEquals: { 'ecs:cluster': getAtt(stack.getLogicalId(stack.cluster.node.defaultChild as never)) },
      },
    });
    const passRole = trigger.find(({ statement }) => actions(statement).includes('iam:PassRole'))?.statement;
    expect(passRole?.Condition).toEqual({
      StringEquals: { 'iam:PassedToService': 'ecs-tasks.amazonaws.com' },
    });
    expect(passRole?.Resource).toHaveLength(2);
  });

  it('lets the extract task read landing objects, and list the landing bucket (so a missing object is a 404), only', () => {
    const taskRole = stack.getLogicalId(stack.taskDefinition.taskRole.node.defaultChild as never);
    const s3 = identityStatements(template).filter(
      ({ roles, statement }) =>
        roles.includes(taskRole) && actions(statement).some((a) => a.startsWith('s3:')),
    );
    expect(s3.map(({ statement }) => [statement.Action, statement.Resource])).toEqual([
      [
        ['s3:GetObject', 's3:GetObjectVersion'],
        {
          'Fn::Join': [
            '',
            [getAtt(stack.getLogicalId(stack.landingBucket.node.defaultChild as never)), '/*'],
          ],
        },
      ],
      ['s3:ListBucket', getAtt(stack.getLogicalId(stack.landingBucket.node.defaultChild as never))],
    ]);
  });
});

describe('keys', () => {
  it('rotate, and the queues are encrypted with the queue key', () => {
    for (const key of Object.values(resources(template, 'AWS::KMS::Key')))
      expect(key.Properties.EnableKeyRotation).toBe(true);
    for (const queue of Object.values(resources(template, 'AWS::SQS::Queue'))) {
      expect(queue.Properties.KmsMasterKeyId).toEqual(
        getAtt(stack.getLogicalId(stack.queueKey.node.defaultChild as never)),
      );
    }
  });

  it('has no field key when no column is sensitive, so nobody may generate or unwrap data keys', () => {
    expect(stack.fieldKey).toBeUndefined();
    // The queue key and the alarm topic's key.
    template.resourceCountIs('AWS::KMS::Key', 2);
    expect(rolesAllowed(template, 'kms:GenerateDataKey')).toEqual([]);
  });

  it('with a sensitive column: only the task generates data keys and only load unwraps them', () => {
    const { stack: s, template: t } = sensitive;
    const fieldKey = getAtt(s.getLogicalId(s.fieldKey?.node.defaultChild as never));
    const taskRole = s.getLogicalId(s.taskDefinition.taskRole.node.defaultChild as never);
    expect(rolesAllowed(t, 'kms:GenerateDataKey', fieldKey)).toEqual([taskRole]);
    expect(rolesAllowed(t, 'kms:Decrypt', fieldKey)).toEqual([roleOf(s, 'load')]);
    const onFieldKey = identityStatements(t).filter(({ statement }) => covers(statement, fieldKey));
    expect(onFieldKey.flatMap(({ statement }) => actions(statement)).sort()).toEqual([
      'kms:Decrypt',
      'kms:GenerateDataKey',
    ]);
    const load = resources(t, 'AWS::Lambda::Function')[
      s.getLogicalId(s.stages.load.fn.function.node.defaultChild as never)
    ];
    expect(
      (load?.Properties.Environment as { Variables: Record<string, unknown> }).Variables.FIELD_KEY_ARN,
    ).toEqual(fieldKey);
    t.hasResourceProperties('AWS::EC2::VPCEndpoint', {
      ServiceName: Match.objectLike({
        'Fn::Join': ['', Match.arrayWith([Match.stringLikeRegexp('\\.kms$')])],
      }),
    });
  });
});

describe('storage', () => {
  it("keeps the items table keyed by the mapping's key, on demand, with point-in-time recovery and encryption", () => {
    const table = resources(template, 'AWS::DynamoDB::Table')[
      stack.getLogicalId(stack.table.node.defaultChild as never)
    ];
    expect(table?.Properties).toMatchObject({
      KeySchema: [{ AttributeName: definition.mapping.key.partition, KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: definition.mapping.key.partition, AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
    });
    const runs = resources(template, 'AWS::DynamoDB::Table')[
      stack.getLogicalId(stack.runsTable.node.defaultChild as never)
    ];
    expect(runs?.Properties).toMatchObject({
      KeySchema: [
        { AttributeName: 'run', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
    });
  });

  it('blocks public access to the landing bucket, requires TLS, encrypts, logs access, and notifies the queue', () => {
    const landing = stack.getLogicalId(stack.landingBucket.node.defaultChild as never);
    const bucket = resources(template, 'AWS::S3::Bucket')[landing]?.Properties;
    expect(bucket).toMatchObject({
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: {
        ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
      },
      LoggingConfiguration: { DestinationBucketName: { Ref: expect.stringMatching(/^LogBucket/) } },
    });
    template.hasResourceProperties('AWS::S3::BucketPolicy', {
      Bucket: { Ref: landing },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: 'Deny', Condition: { Bool: { 'aws:SecureTransport': 'false' } } }),
        ]),
      },
    });
    template.hasResourceProperties('Custom::S3BucketNotifications', {
      BucketName: { Ref: landing },
      NotificationConfiguration: {
        QueueConfigurations: [
          {
            Events: ['s3:ObjectCreated:*'],
            QueueArn: getAtt(stack.getLogicalId(stack.objectCreatedQueue.node.defaultChild as never)),
          },
        ],
      },
    });
  });

  it('feeds the extract trigger from the notification queue (with its DLQ) at the seed throttle', () => {
    const queue = resources(template, 'AWS::SQS::Queue')[
      stack.getLogicalId(stack.objectCreatedQueue.node.defaultChild as never)
    ];
    expect(queue?.Properties.RedrivePolicy).toMatchObject({ maxReceiveCount: 5 });
    template.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
      EventSourceArn: getAtt(stack.getLogicalId(stack.objectCreatedQueue.node.defaultChild as never)),
      FunctionName: { Ref: stack.getLogicalId(stack.extractTrigger.function.node.defaultChild as never) },
      ScalingConfig: { MaximumConcurrency: 2 },
      FunctionResponseTypes: ['ReportBatchItemFailures'],
    });
  });
});

describe('the extract task', () => {
  it('is a Fargate task built from the repository Dockerfile, logging with retention, in an insightful cluster', () => {
    expect(existsSync(join(REPO_ROOT, 'src/runtime/aws/task/Dockerfile'))).toBe(true);
    template.hasResourceProperties('AWS::ECS::TaskDefinition', {
      RequiresCompatibilities: ['FARGATE'],
      ContainerDefinitions: [
        Match.objectLike({
          Name: EXTRACT_CONTAINER_NAME,
          ReadonlyRootFilesystem: true,
          LogConfiguration: {
            LogDriver: 'awslogs',
            Options: Match.objectLike({ 'awslogs-stream-prefix': 'TheEventBridgeETL' }),
          },
        }),
      ],
    });
    template.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    });
  });

  it('runs in isolated subnets without NAT, reaching AWS through VPC endpoints, with flow logs', () => {
    template.resourceCountIs('AWS::EC2::NatGateway', 0);
    template.resourceCountIs('AWS::EC2::InternetGateway', 0);
    template.resourceCountIs('AWS::EC2::FlowLog', 1);
    template.hasResourceProperties('AWS::EC2::VPCEndpoint', { VpcEndpointType: 'Gateway' });
    const interfaces = Object.values(resources(template, 'AWS::EC2::VPCEndpoint')).filter(
      (e) => e.Properties.VpcEndpointType === 'Interface',
    );
    expect(interfaces).toHaveLength(4); // ecr.api, ecr.dkr, logs, events (kms only with sensitive columns)
  });
});

describe('cdk-nag AwsSolutions', () => {
  it('reports no violation, with or without sensitive columns', () => {
    for (const s of [stack, sensitive.stack]) {
      const report = new AwsSolutionsChecks().validateScope(s);
      expect(report.violations).toEqual([]);
      expect(report.success).toBe(true);
    }
  });
});

describe('the mapping drives the items table and the load stage', () => {
  const mapping = parseMapping({
    table: 'Addresses',
    key: { partition: 'pk', sort: 'house' },
    write: 'insert',
    columns: { Town: { attribute: 'town' }, HouseNum: { attribute: 'house', type: 'number' } },
    templates: { pk: 'TOWN#{Town}' },
  });
  const mapped = definePipeline({ mapping });
  let synthesized: { stack: EventBridgeEtlStack; template: Template };
  beforeAll(() => {
    synthesized = synth(mapped);
  });

  it('names the table and keys it by the mapping: partition and sort key, with their types', () => {
    const { stack: s, template: t } = synthesized;
    const table = resources(t, 'AWS::DynamoDB::Table')[s.getLogicalId(s.table.node.defaultChild as never)];
    expect(table?.Properties).toMatchObject({
      TableName: 'Addresses',
      KeySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'house', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'pk', AttributeType: 'S' },
        { AttributeName: 'house', AttributeType: 'N' },
      ],
    });
    // The default mapping leaves the name to CloudFormation, as the seed's stack did.
    const seedTable = resources(template, 'AWS::DynamoDB::Table')[
      stack.getLogicalId(stack.table.node.defaultChild as never)
    ];
    expect(seedTable?.Properties.TableName).toBeUndefined();
  });

  it("grants the load stage exactly its write mode's calls on the table, and hands it the mapping", () => {
    const { stack: s, template: t } = synthesized;
    const table = getAtt(s.getLogicalId(s.table.node.defaultChild as never));
    expect(rolesAllowed(t, 'dynamodb:PutItem', table)).toEqual([roleOf(s, 'load')]);
    expect(rolesAllowed(t, 'dynamodb:GetItem', table)).toEqual([roleOf(s, 'load')]);
    expect(rolesAllowed(t, 'dynamodb:BatchWriteItem', table)).toEqual([]);
    const load = resources(t, 'AWS::Lambda::Function')[
      s.getLogicalId(s.stages.load.fn.function.node.defaultChild as never)
    ];
    const variables = (load?.Properties.Environment as { Variables: Record<string, string> }).Variables;
    expect(parseMapping(JSON.parse(variables.PIPELINE_MAPPING as string))).toEqual(mapping);
  });
});
