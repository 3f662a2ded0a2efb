/**
 * The deployed code paths together, as built for AWS: the stack is synthesized with bundling on, so
 * every Lambda bundle is built by the stack's own NodejsFunction settings, and the task bundle by
 * build.mjs (what the Dockerfile runs). Each bundle is then run with the environment the template
 * gives it, against local stand-ins: dynalite (DynamoDB), s3rver (S3), and a fake for EventBridge
 * PutEvents and ECS RunTask. A real upload travels: S3 notification in SQS -> extract-trigger bundle
 * -> RunTask -> task bundle (a process) -> PutEvents -> the definition's rules -> SQS batches ->
 * transform, load, observe bundles -> items and a completed run; the quarantine and task-stopped
 * bundles get their own real event shapes.
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { CreateTableCommand, QueryCommand, ScanCommand } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { App } from 'aws-cdk-lib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FEATURE_FLAGS } from '../../src/infra/context.ts';
import { EventBridgeEtlStack } from '../../src/infra/stack.ts';
import { definePipeline, DetailType, type TargetName } from '../../src/pipeline/definition.ts';
import { runIdForObject } from '../../src/pipeline/run-id.ts';
import { RuleIndex } from '../../src/patterns/index.ts';
import { Env } from '../../src/runtime/aws/config.ts';
import { TaskExit } from '../../src/runtime/aws/task-exit.ts';
import { type LocalDynamo, startDynalite } from '../../src/runtime/local/dynalite.ts';
import { type FakeAws, type PutEventsRequestEntry, startFakeAws } from './fake-aws.ts';
import { ACCOUNT, envelopeOf, lambdaContext, REGION, sqsRecord, taskStoppedEvent } from './fixtures.ts';

type Resource = { Type: string; Properties: Record<string, unknown> };
type Handler = (event: SQSEvent, context?: unknown) => Promise<SQSBatchResponse>;

const definition = definePipeline();
const SAMPLE = new URL('../../data/test_data.csv', import.meta.url);
const BUCKET = 'landing';
const KEY = 'uploads/test data.csv';

let out: string;
let dynamo: LocalDynamo;
let aws: FakeAws;
let s3rver: { close(): Promise<void> };
let s3Endpoint: string;
let etag: string;
let stack: EventBridgeEtlStack;
let resources: Record<string, Resource>;
const handlers = {} as Record<TargetName | 'extractTrigger' | 'taskStopped', Handler>;
let taskBundle: string;
let taskEnvironment: Record<string, string>;

/** A template value with its references resolved to the names the local stand-ins use. */
function resolve(value: unknown): string {
  if (typeof value === 'string') return value;
  const v = value as Record<string, unknown>;
  if ('Ref' in v) {
    const id = v.Ref as string;
    if (id === 'AWS::Region') return REGION;
    if (id === 'AWS::AccountId') return ACCOUNT;
    const resource = resources[id];
    if (resource?.Type === 'AWS::Events::EventBus') return resource.Properties.Name as string;
    return id; // tables are created under their logical ids; other ids stand for themselves
  }
  if ('Fn::GetAtt' in v) {
    const [id, attribute] = v['Fn::GetAtt'] as [string, string];
    return `arn:aws:local:${REGION}:${ACCOUNT}:${id}/${attribute}`;
  }
  if ('Fn::Join' in v) {
    const [separator, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map(resolve).join(separator);
  }
  throw new Error(`cannot resolve ${JSON.stringify(value)}`);
}

function functionOf(construct: { node: { defaultChild?: unknown } }): Resource {
  const resource = resources[stack.getLogicalId(construct.node.defaultChild as never)];
  if (!resource) throw new Error('no such function');
  return resource;
}

/** Imports a Lambda bundle the way Lambda does: with its template environment set before init. */
async function loadLambda(fn: Resource): Promise<Handler> {
  const variables = (fn.Properties.Environment as { Variables: Record<string, unknown> }).Variables;
  for (const [name, value] of Object.entries(variables)) process.env[name] = resolve(value);
  process.env.POWERTOOLS_LOG_LEVEL = 'SILENT'; // the template's INFO, quieted for the test output
  const code = fn.Properties.Code as { S3Key: string };
  const file = join(out, `asset.${code.S3Key.replace(/\.zip$/, '')}`, 'index.mjs');
  const module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  const handlerName = (fn.Properties.Handler as string).replace(/^index\./, '');
  return module[handlerName] as Handler;
}

/** Runs the task bundle as ECS would, as a process (asynchronously: the stand-ins live in this one). */
async function runTask(env: Record<string, string>): Promise<{ status: number | null; output: string }> {
  const child = spawn(process.execPath, [taskBundle], {
    cwd: out,
    env: {
      PATH: process.env.PATH ?? '',
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      AWS_ACCESS_KEY_ID: 'S3RVER',
      AWS_SECRET_ACCESS_KEY: 'S3RVER',
      AWS_REGION: REGION,
      AWS_ENDPOINT_URL_EVENTBRIDGE: aws.endpoint,
      ...taskEnvironment,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  const status = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  clearTimeout(timer);
  return { status, output };
}

beforeAll(async () => {
  const started = Date.now();
  out = await mkdtemp(join(tmpdir(), 'bundles-'));
  const app = new App({ outdir: out, context: { ...FEATURE_FLAGS }, builtinCloudFormationValidation: false });
  stack = new EventBridgeEtlStack(app, 'Etl', { definition });
  const assembly = app.synth();
  resources = (
    JSON.parse(readFileSync(join(assembly.directory, stack.templateFile), 'utf8')) as {
      Resources: Record<string, Resource>;
    }
  ).Resources;
  console.log(`synth with bundling: ${Date.now() - started} ms`);
  const { buildExtractTask } = await import('../../src/runtime/aws/task/build.mjs');
  await buildExtractTask(join(out, 'task'));
  taskBundle = join(out, 'task', 'extract-task.mjs');

  [dynamo, aws] = await Promise.all([startDynalite(), startFakeAws()]);
  for (const [id, resource] of Object.entries(resources)) {
    if (resource.Type !== 'AWS::DynamoDB::Table') continue;
    const p = resource.Properties;
    await dynamo.client.send(
      new CreateTableCommand({
        TableName: id,
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: p.KeySchema as never,
        AttributeDefinitions: p.AttributeDefinitions as never,
      }),
    );
  }

  const S3rver = createRequire(import.meta.url)('s3rver') as new (options: Record<string, unknown>) => {
    run(): Promise<AddressInfo>;
    close(): Promise<void>;
  };
  const s3Dir = join(out, 's3');
  const server = new S3rver({
    address: '127.0.0.1',
    port: 0,
    silent: true,
    directory: s3Dir,
    configureBuckets: [{ name: BUCKET }],
  });
  s3rver = server;
  s3Endpoint = `http://127.0.0.1:${(await server.run()).port}`;
  const s3 = new S3Client({
    endpoint: s3Endpoint,
    forcePathStyle: true,
    region: REGION,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  });
  etag = (
    (await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: KEY, Body: await readFile(SAMPLE) }))).ETag ??
    ''
  ).replace(/"/g, '');
  s3.destroy();

  // What Lambda gives every function; the endpoints point the SDK clients at the stand-ins.
  Object.assign(process.env, {
    AWS_REGION: REGION,
    AWS_ACCESS_KEY_ID: 'local',
    AWS_SECRET_ACCESS_KEY: 'local',
    AWS_LAMBDA_FUNCTION_NAME: 'bundle-test',
    POWERTOOLS_LOG_LEVEL: 'SILENT',
    AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
    AWS_ENDPOINT_URL_EVENTBRIDGE: aws.endpoint,
    AWS_ENDPOINT_URL_ECS: aws.endpoint,
  });
  for (const t of Object.keys(stack.stages) as TargetName[])
    handlers[t] = await loadLambda(functionOf(stack.stages[t].fn.function));
  handlers.extractTrigger = await loadLambda(functionOf(stack.extractTrigger.function));
  handlers.taskStopped = await loadLambda(functionOf(stack.taskStopped.fn.function));

  // The task's container environment, from the task definition.
  const taskDefinition = Object.values(resources).find((r) => r.Type === 'AWS::ECS::TaskDefinition');
  const container = (
    taskDefinition?.Properties.ContainerDefinitions as { Environment: { Name: string; Value: unknown }[] }[]
  )[0];
  taskEnvironment = Object.fromEntries((container?.Environment ?? []).map((e) => [e.Name, resolve(e.Value)]));
}, 180_000);

afterAll(async () => {
  await Promise.all([dynamo?.close(), aws?.close(), s3rver?.close()]);
  if (out) await rm(out, { recursive: true, force: true });
});

/** EventBridge: routes entries by the definition's rules into one SQS batch per target. */
function route(entries: PutEventsRequestEntry[]): Map<TargetName, SQSEvent> {
  const router = new RuleIndex<string>();
  for (const rule of definition.rules) router.add(rule.name, rule.eventPattern, rule.target);
  const batches = new Map<TargetName, SQSEvent>();
  for (const e of entries) {
    const envelope = envelopeOf(e);
    for (const target of router.match(envelope) as TargetName[]) {
      const batch = batches.get(target) ?? { Records: [] };
      batch.Records.push(sqsRecord(JSON.stringify(envelope)));
      batches.set(target, batch);
    }
  }
  return batches;
}

/** Delivers everything put since `from` until the pipeline is quiet; no message may fail. */
async function drain(from: number): Promise<void> {
  let next = from;
  for (let round = 0; round < 20 && next < aws.entries.length; round++) {
    const fresh = aws.entries.slice(next);
    next = aws.entries.length;
    for (const [target, batch] of route(fresh)) {
      const response = await handlers[target](batch, lambdaContext(target));
      expect(response.batchItemFailures, target).toEqual([]);
    }
  }
}

const detailsOf = (type: string, run: string): Record<string, unknown>[] =>
  aws.entries
    .filter((e) => e.DetailType === type)
    .map((e) => JSON.parse(e.Detail) as Record<string, unknown>)
    .filter((d) => d.run === run);

describe('the built bundles, run together', () => {
  it('carry an upload from its S3 notification to five items and a completed run', async () => {
    const run = runIdForObject(BUCKET, KEY, etag);
    const notification = {
      Records: [
        {
          eventVersion: '2.1',
          eventSource: 'aws:s3',
          awsRegion: REGION,
          eventTime: new Date().toISOString(),
          eventName: 'ObjectCreated:Put',
          s3: {
            s3SchemaVersion: '1.0',
            bucket: { name: BUCKET, arn: `arn:aws:s3:::${BUCKET}` },
            object: { key: KEY.replace(/ /g, '+'), size: 200, eTag: etag, sequencer: '0A1B2C3D4E5F678901' },
          },
        },
      ],
    };
    const response = await handlers.extractTrigger(
      { Records: [sqsRecord(JSON.stringify(notification))] },
      lambdaContext('extract-trigger'),
    );
    expect(response.batchItemFailures).toEqual([]);
    expect(aws.runTasks).toHaveLength(1);
    const input = aws.runTasks[0] as {
      startedBy: string;
      cluster: string;
      overrides: { containerOverrides: { name: string; environment: { name: string; value: string }[] }[] };
    };
    expect(input.startedBy).toBe(run);
    expect(detailsOf(DetailType.taskStarted, run)).toHaveLength(1);

    // ECS runs the container with the task definition's environment and the RunTask overrides.
    const [override] = input.overrides.containerOverrides;
    expect(override?.name).toBe('extract');
    const from = aws.entries.length;
    const task = await runTask({
      ...Object.fromEntries((override?.environment ?? []).map((e) => [e.name, e.value])),
      AWS_ENDPOINT_URL_S3: s3Endpoint,
    });
    expect(task.status, task.output).toBe(TaskExit.extracted);
    expect(detailsOf(DetailType.rowExtracted, run)).toHaveLength(5);
    const busName = process.env[Env.eventBusName];
    expect(busName).toBe(`Etl-${definition.busName}`);
    for (const e of aws.entries) expect(e.EventBusName).toBe(busName);

    await drain(from);
    const table = stack.getLogicalId(stack.table.node.defaultChild as never);
    const items = await dynamo.client.send(new ScanCommand({ TableName: table }));
    expect(items.Items?.map((i) => i.id?.S).sort()).toEqual(['1', '2', '3', '4', '5']);
    expect(detailsOf(DetailType.runCompleted, run)).toEqual([
      expect.objectContaining({ run, extracted: 5, transformed: 5, loaded: 5, failed: 0 }),
    ]);
  });

  it('quarantine a row-failed event in the runs table', async () => {
    const run = 'run-00000000000000aa';
    const event = envelopeOf({
      Source: definition.source,
      DetailType: DetailType.rowFailed,
      Detail: JSON.stringify({
        status: 'failed',
        stage: 'transform',
        reason: 'row has 3 fields',
        run,
        row: 7,
      }),
    });
    const response = await handlers.quarantine({ Records: [sqsRecord(JSON.stringify(event))] });
    expect(response.batchItemFailures).toEqual([]);
    const runs = stack.getLogicalId(stack.runsTable.node.defaultChild as never);
    const items = await dynamo.client.send(
      new QueryCommand({
        TableName: runs,
        KeyConditionExpression: '#r = :run',
        ExpressionAttributeNames: { '#r': 'run' },
        ExpressionAttributeValues: { ':run': { S: run } },
      }),
    );
    expect(items.Items?.map((i) => [i.sk?.S, i.reason?.S])).toEqual([
      ['failed#0000000007#transform', 'row has 3 fields'],
    ]);
  });

  it('report a task S3 refuses: the task bundle tells the bus itself and exits "reported"', async () => {
    const run = runIdForObject(BUCKET, 'denied.csv', etag);
    const task = await runTask({
      [Env.bucketName]: BUCKET,
      [Env.objectKey]: 'denied.csv',
      [Env.objectEtag]: etag,
      AWS_ENDPOINT_URL_S3: aws.endpoint,
    });
    expect(task.status, task.output).toBe(TaskExit.reported);
    expect(aws.s3Requests.length).toBeGreaterThan(0);
    expect(detailsOf(DetailType.extractionFailed, run)).toEqual([
      expect.objectContaining({
        run,
        rows: 0,
        file: `s3://${BUCKET}/denied.csv`,
        reason: expect.stringMatching(/Access Denied/),
      }),
    ]);
  });

  it('report a task that never started, from its ECS stop event, and nothing for one that succeeded', async () => {
    const failedRun = 'run-00000000000000bb';
    const okRun = 'run-00000000000000cc';
    const response = await handlers.taskStopped(
      {
        Records: [
          sqsRecord(
            JSON.stringify(
              taskStoppedEvent({
                run: failedRun,
                stopCode: 'TaskFailedToStart',
                stoppedReason: 'ResourceInitializationError: unable to pull secrets or registry auth',
              }),
            ),
          ),
          sqsRecord(JSON.stringify(taskStoppedEvent({ run: okRun, exitCode: 0 }))),
        ],
      },
      lambdaContext('task-stopped'),
    );
    expect(response.batchItemFailures).toEqual([]);
    expect(detailsOf(DetailType.extractionFailed, failedRun)).toEqual([
      expect.objectContaining({
        run: failedRun,
        rows: 0,
        reason: expect.stringMatching(/ResourceInitializationError/),
      }),
    ]);
    expect(aws.entries.filter((e) => e.Detail.includes(okRun))).toEqual([]);
  });
});
