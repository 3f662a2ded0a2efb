/**
 * The two runtimes behind one interface, for the conformance suite: the same CSV, the same faults,
 * the same questions asked of the result.
 * - local: LocalPipeline (the local bus, its journal-backed queues and retries, dynalite);
 * - aws: the Lambda handlers and the Fargate task's extract, in-process, fed SQS-shaped batches of
 *   EventBridge events by the definition's rules, against dynalite (table and runs table) and a
 *   KMS speaking KMS's protocol.
 * Faults come from real parts: DynamoDB throttling from an HTTP proxy in front of dynalite speaking
 * DynamoDB's protocol, PutEvents failures from a publisher that refuses the first put of a kind.
 */
import { keyAttributes, keySchemaOf, writeModeOf } from '../../src/pipeline/mapping.ts';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { QueryCommand } from '@aws-sdk/client-dynamodb';
import { KMSClient } from '@aws-sdk/client-kms';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { DynamoTallyStore, RUNS_TABLE_KEY } from '../../src/adapters/dynamodb-tally-store.ts';
import { DynamoItemWriter } from '../../src/adapters/dynamodb-writer.ts';
import { EnvelopeCipher } from '../../src/adapters/envelope-cipher.ts';
import { KmsDataKeys } from '../../src/adapters/kms-data-keys.ts';
import { definePipeline, type PipelineDefinition } from '../../src/pipeline/definition.ts';
import type { EventEnvelope, PutEventsEntry } from '../../src/pipeline/events.ts';
import type { Mapping } from '../../src/pipeline/mapping.ts';
import { RuleIndex } from '../../src/patterns/index.ts';
import { runExtractTask } from '../../src/runtime/aws/extract-task.ts';
import { createLoadHandler } from '../../src/runtime/aws/load.ts';
import { createObserveHandler } from '../../src/runtime/aws/observe.ts';
import { createQuarantineHandler, QUARANTINE_ID } from '../../src/runtime/aws/quarantine.ts';
import { createTransformHandler } from '../../src/runtime/aws/transform.ts';
import {
  ensureTable,
  localClient,
  type LocalDynamo,
  startDynalite,
} from '../../src/runtime/local/dynalite.ts';
import type { RuleRouter } from '../../src/runtime/local/bus.ts';
import { LocalPipeline } from '../../src/runtime/local/pipeline.ts';
import type { EventPublisher, RunCounts } from '../../src/stages/ports.ts';
import { createRunsTable, silentLogger } from '../aws/fixtures.ts';
import { startFakeKms } from '../aws/fake-kms.ts';
import { RuledQueues } from '../support/aws-runtime.ts';
import { scanAll } from '../support/dynamo.ts';
import { startThrottlingDynamo, type ThrottleSchedule } from '../support/throttling-dynamodb.ts';

export interface RuntimeOptions {
  mapping?: Mapping;
  /** DynamoDB throttles BatchWriteItem on the pipeline's table this way. */
  throttle?: Omit<ThrottleSchedule, 'key'>;
  /** The first PutEvents request holding an event of this detail type fails. */
  failFirstPutOf?: string;
}

export interface FailedRowRecord {
  row: number;
  stage: string;
  reason: string;
  column?: string;
}

export interface RunResult {
  run: string;
  counts: RunCounts;
}

export interface Runtime {
  readonly name: string;
  /** Runs the CSV through every stage until nothing is left to deliver. */
  run(csv: string): Promise<RunResult>;
  /** Delivers every event each target has been sent so far to it once more, then drains. */
  redeliverEverything(): Promise<void>;
  /** The pipeline table's items, sorted by key. */
  items(): Promise<Record<string, unknown>[]>;
  /** The observer's tally of the run. */
  counts(run: string): Promise<RunCounts | undefined>;
  /** The failed rows kept for the run, by row. */
  failedRows(run: string): Promise<FailedRowRecord[]>;
  /** Every event the bus accepted (stages' outputs and extract's). */
  accepted(): PutEventsEntry[];
  /** Events that ended in a dead-letter queue. */
  deadLetters(): number;
  /** Deliveries of an event again after its target reported it failed. */
  redeliveries(): number;
  close(): Promise<void>;
}

export type RuntimeFactory = (options?: RuntimeOptions) => Promise<Runtime>;

const TABLE = 'TransformedData';
const RUNS = 'Runs';

/** Fails the first put whose entries hold one of this detail type. */
function faultyPublisher(inner: EventPublisher, failFirstPutOf: string | undefined): EventPublisher {
  let armed = failFirstPutOf !== undefined;
  const refuse = (entries: readonly PutEventsEntry[]): boolean => {
    if (!armed || !entries.some((e) => e.DetailType === failFirstPutOf)) return false;
    armed = false;
    return true;
  };
  const wrapped: EventPublisher = {
    putEvents: async (entries) => {
      if (refuse(entries)) throw new Error('PutEvents failed (injected)');
      await inner.putEvents(entries);
    },
  };
  if (inner.putRequests) {
    const putRequests = inner.putRequests.bind(inner);
    wrapped.putRequests = async (requests) => {
      const refused = requests.map(refuse);
      const errors = await putRequests(requests.filter((_, i) => !refused[i]));
      let next = 0;
      return requests.map((_, i) => (refused[i] ? new Error('PutEvents failed (injected)') : errors[next++]));
    };
  }
  return wrapped;
}

/** Starts dynalite, behind the throttling proxy when asked. */
async function startTable(
  throttle: RuntimeOptions['throttle'],
  key: string,
): Promise<{ dynamo: LocalDynamo; endpoint: string; close: () => Promise<void> }> {
  const dynamo = await startDynalite();
  if (!throttle) return { dynamo, endpoint: dynamo.endpoint, close: () => dynamo.close() };
  const proxy = await startThrottlingDynamo(dynamo.endpoint, { ...throttle, key });
  return {
    dynamo,
    endpoint: proxy.endpoint,
    close: async () => {
      await proxy.close();
      await dynamo.close();
    },
  };
}

export const localRuntime: RuntimeFactory = async (options = {}) => {
  const definition = definePipeline(options.mapping ? { mapping: options.mapping } : {});
  const dir = mkdtempSync(join(tmpdir(), 'etl-conformance-local-'));
  const table = await startTable(options.throttle, definition.mapping.key.partition);
  // Every (event, targets) the rules routed, to deliver them again.
  const routed: { event: EventEnvelope<unknown>; targets: string[] }[] = [];
  const rules = new RuleIndex<string>();
  const router: RuleRouter<string> = {
    add: (name, pattern, target) => rules.add(name, pattern, target),
    remove: (name) => rules.remove(name),
    match: (event) => {
      const targets = rules.match(event);
      routed.push({ event: event as EventEnvelope<unknown>, targets });
      return targets;
    },
    matchNames: (event) => rules.matchNames(event),
  };
  const pipeline = await LocalPipeline.start({
    stateDir: join(dir, 'state'),
    definition,
    dynamoEndpoint: table.endpoint,
    router,
    wrapStagePublisher: (inner) => faultyPublisher(inner, options.failFirstPutOf),
  });
  return {
    name: 'local',
    async run(csv) {
      const file = join(dir, `input-${Date.now()}.csv`);
      writeFileSync(file, csv);
      const report = await pipeline.runFile(file);
      await pipeline.bus.whenIdle();
      return { run: report.run, counts: report.counts };
    },
    async redeliverEverything() {
      for (const { event, targets } of [...routed])
        for (const target of targets) pipeline.bus.redrive(target, event);
      await pipeline.bus.whenIdle();
    },
    items: () => scanAll(pipeline.client, TABLE),
    counts: (run) => pipeline.tally.counts(run),
    async failedRows(run) {
      const rows: FailedRowRecord[] = [];
      for await (const { row, stage, reason, column } of pipeline.runs.readErrors(run)) {
        rows.push({ row, stage, reason, ...(column === undefined ? {} : { column }) } as FailedRowRecord);
      }
      return rows.sort((a, b) => a.row - b.row);
    },
    // Every event the rules routed was accepted by the bus (the observer's rule takes them all).
    accepted: () => routedEntries(routed),
    deadLetters: () => pipeline.bus.stats().deadLettered,
    redeliveries: () => pipeline.bus.stats().retried,
    async close() {
      await pipeline.close();
      await table.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
};

/** The routed events as the entries that were put (each once, in order). */
function routedEntries(routed: readonly { event: EventEnvelope<unknown> }[]): PutEventsEntry[] {
  const seen = new Set<string>();
  const entries: PutEventsEntry[] = [];
  for (const { event } of routed) {
    if (seen.has(event.id)) continue;
    seen.add(event.id);
    entries.push({
      Source: event.source,
      DetailType: event['detail-type'],
      Detail: JSON.stringify(event.detail),
    });
  }
  return entries;
}

export const awsRuntime: RuntimeFactory = async (options = {}) => {
  const definition: PipelineDefinition = definePipeline(options.mapping ? { mapping: options.mapping } : {});
  const table = await startTable(options.throttle, definition.mapping.key.partition);
  const client = table.dynamo.client;
  await ensureTable(client, TABLE, keySchemaOf(definition.mapping));
  await createRunsTable(client, RUNS);
  const tableClient = localClient(table.endpoint);
  const kms = await startFakeKms();
  const kmsClient = new KMSClient({
    endpoint: kms.endpoint,
    region: 'eu-west-1',
    credentials: { accessKeyId: 't', secretAccessKey: 't' },
  });
  const cipher = new EnvelopeCipher(new KmsDataKeys(kmsClient, kms.keyId));
  const bus = new RuledQueues(definition);
  const stagePublisher = faultyPublisher(bus, options.failFirstPutOf);
  const logger = silentLogger();
  const tally = new DynamoTallyStore({ client, tableName: RUNS });
  const handlers = {
    transform: createTransformHandler({ definition, publisher: stagePublisher, logger }),
    load: createLoadHandler({
      definition,
      writer: new DynamoItemWriter({
        client: tableClient,
        tableName: TABLE,
        key: keyAttributes(definition.mapping),
        mode: writeModeOf(definition.mapping),
      }),
      publisher: stagePublisher,
      cipher,
      logger,
    }),
    observe: createObserveHandler({ definition, tally, publisher: stagePublisher, logger }),
    quarantine: createQuarantineHandler({
      writer: new DynamoItemWriter({ client, tableName: RUNS, key: QUARANTINE_ID }),
      logger,
    }),
  };
  let uploads = 0;
  return {
    name: 'aws',
    async run(csv) {
      const key = `uploads/input-${++uploads}.csv`;
      const { run } = await runExtractTask(
        { bucket: 'landing', key, etag: `etag-${uploads}` },
        {
          definition,
          objects: async () => ({ body: Readable.from([Buffer.from(csv)]), etag: `etag-${uploads}` }),
          publisher: bus,
          cipher,
          logger,
        },
      );
      await bus.drain(handlers);
      const counts = await tally.counts(run);
      if (!counts) throw new Error(`no tally for ${run}`);
      return { run, counts };
    },
    async redeliverEverything() {
      for (const { target, record } of [...bus.sent]) bus.enqueue(target, record);
      await bus.drain(handlers);
    },
    items: () => scanAll(client, TABLE),
    counts: (run) => tally.counts(run),
    async failedRows(run) {
      const result = await client.send(
        new QueryCommand({
          TableName: RUNS,
          KeyConditionExpression: '#run = :run AND begins_with(#sk, :failed)',
          ExpressionAttributeNames: { '#run': RUNS_TABLE_KEY.partitionKey, '#sk': RUNS_TABLE_KEY.sortKey },
          ExpressionAttributeValues: { ':run': { S: run }, ':failed': { S: 'failed#' } },
        }),
      );
      return (result.Items ?? [])
        .map((i) => {
          const { row, stage, reason, column } = unmarshall(i) as FailedRowRecord;
          return { row, stage, reason, ...(column === undefined ? {} : { column }) };
        })
        .sort((a, b) => a.row - b.row);
    },
    accepted: () => bus.all,
    deadLetters: () => bus.deadLetters.length,
    redeliveries: () => bus.redeliveries,
    async close() {
      tableClient.destroy();
      kmsClient.destroy();
      await kms.close();
      await table.close();
    },
  };
};

export const RUNTIMES: { name: string; start: RuntimeFactory }[] = [
  { name: 'local', start: localRuntime },
  { name: 'aws', start: awsRuntime },
];
