/**
 * The task-stopped handler: ECS stop events of extract tasks, in SQS batches, become
 * `extraction-failed` for the task's run, so the observer (here the real observe handler over the
 * runs table on dynalite) completes the run as failed. Successes and self-reported failures put nothing.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { DynamoTallyStore } from '../../src/adapters/dynamodb-tally-store.ts';
import { definePipeline, DetailType, Status } from '../../src/pipeline/definition.ts';
import { entry, type ExtractionFailedDetail, type PutEventsEntry } from '../../src/pipeline/events.ts';
import { createObserveHandler } from '../../src/runtime/aws/observe.ts';
import { createTaskStoppedHandler, unreportedFailure } from '../../src/runtime/aws/task-stopped.ts';
import { type LocalDynamo, startDynalite } from '../../src/runtime/local/dynalite.ts';
import {
  CapturingPublisher,
  createRunsTable,
  envelopeOf,
  lambdaContext,
  silentLogger,
  sqsEvent,
  taskStoppedEvent,
} from './fixtures.ts';

const definition = definePipeline();
const { source } = definition;
const RUNS = 'Runs';
let dynamo: LocalDynamo;
let tally: DynamoTallyStore;
let runCounter = 0;
const newRun = (): string => `run-${(0xabc0000000000000n + BigInt(++runCounter)).toString(16)}`;

beforeAll(async () => {
  dynamo = await startDynalite();
  await createRunsTable(dynamo.client, RUNS);
  tally = new DynamoTallyStore({ client: dynamo.client, tableName: RUNS });
});
afterAll(async () => {
  await dynamo?.close();
});

function handlerWith(publisher = new CapturingPublisher()) {
  const logger = silentLogger();
  return {
    publisher,
    logger,
    handler: createTaskStoppedHandler({ definition, containerName: 'extract', tally, publisher, logger }),
  };
}

const extracted = (run: string, row: number): PutEventsEntry =>
  entry(source, DetailType.rowExtracted, {
    status: Status.extracted,
    headers: 'ID,HouseNum,Street,Town,Zip',
    data: `${row},1,Main Street,Antrim,22876`,
    run,
    row,
  });
const loaded = (run: string, row: number): PutEventsEntry =>
  entry(source, DetailType.rowLoaded, { status: Status.loaded, key: String(row), data: {}, run, row });

describe('task-stopped handler', () => {
  it('reports a task that died mid-file with the rows counted so far, and the observer completes the run as failed', async () => {
    const run = newRun();
    const observe = createObserveHandler({
      definition,
      tally,
      publisher: new CapturingPublisher(),
      logger: silentLogger(),
    });
    const before = [
      entry(source, DetailType.extractionStarted, {
        status: Status.started,
        run,
        file: 's3://landing/uploads/test_data.csv',
      }),
      extracted(run, 1),
      extracted(run, 2),
      loaded(run, 1),
      loaded(run, 2),
    ];
    await observe(sqsEvent(before.map(envelopeOf)));

    const { handler, publisher } = handlerWith();
    const event = sqsEvent([
      taskStoppedEvent({
        run,
        exitCode: 137,
        containerReason: 'OutOfMemoryError: Container killed due to memory usage',
      }),
    ]);
    const response = await handler(event, lambdaContext('task-stopped'));
    expect(response.batchItemFailures).toEqual([]);
    const [failure] = publisher.details<ExtractionFailedDetail>(DetailType.extractionFailed);
    expect(publisher.entries).toHaveLength(1);
    expect(publisher.entries[0]?.Source).toBe(source);
    expect(failure).toEqual({
      status: 'failed',
      run,
      file: 's3://landing/uploads/test_data.csv',
      rows: 2,
      reason: expect.stringContaining('exit code 137') as unknown,
    });
    expect(failure?.reason).toContain('OutOfMemoryError');

    // The observer sees extraction-failed: every counted row is settled, so the run completes.
    const completions = new CapturingPublisher();
    const observeAgain = createObserveHandler({
      definition,
      tally,
      publisher: completions,
      logger: silentLogger(),
    });
    await observeAgain(sqsEvent(publisher.entries.map(envelopeOf)));
    expect(completions.details(DetailType.runCompleted)).toEqual([
      expect.objectContaining({ run, extracted: 2, loaded: 2, failed: 0 }),
    ]);
    expect((await tally.counts(run))?.completed).toBe(true);

    // The same stop event delivered again changes nothing: the run already has its row count.
    const again = handlerWith();
    await again.handler(event);
    expect(again.publisher.entries).toEqual([]);
  });

  it('reports a task that never started with 0 rows and the stop reason, and its run completes', async () => {
    const run = newRun();
    const { handler, publisher } = handlerWith();
    await handler(
      sqsEvent([
        taskStoppedEvent({
          run,
          stopCode: 'TaskFailedToStart',
          stoppedReason: 'CannotPullContainerError: pull image manifest has been retried 5 time(s)',
        }),
      ]),
    );
    const [failure] = publisher.details<ExtractionFailedDetail>(DetailType.extractionFailed);
    expect(failure).toMatchObject({ run, rows: 0, file: 's3://landing/uploads/test_data.csv' });
    expect(failure?.reason).toContain('CannotPullContainerError');
    expect(failure?.reason).toContain('TaskFailedToStart');

    const completions = new CapturingPublisher();
    await createObserveHandler({ definition, tally, publisher: completions, logger: silentLogger() })(
      sqsEvent(publisher.entries.map(envelopeOf)),
    );
    expect(completions.details(DetailType.runCompleted)).toEqual([
      expect.objectContaining({ run, extracted: 0, loaded: 0, failed: 0 }),
    ]);
  });

  it('puts nothing for a success (exit 0), a failure the task reported itself (exit 2), or a task of no run', async () => {
    const { handler, publisher, logger } = handlerWith();
    const info = vi.spyOn(logger, 'info');
    const response = await handler(
      sqsEvent([
        taskStoppedEvent({ run: newRun(), exitCode: 0 }),
        taskStoppedEvent({ run: newRun(), exitCode: 2 }),
        taskStoppedEvent({ run: 'ecs-svc/1234567890', exitCode: 1 }),
      ]),
    );
    expect(response.batchItemFailures).toEqual([]);
    expect(publisher.entries).toEqual([]);
    expect(info.mock.calls.filter(([m]) => m === 'extract task stopped; nothing to report')).toHaveLength(3);
  });

  it('sends the message back when extraction-failed cannot be put, and reports other events as poisoned', async () => {
    const run = newRun();
    const { handler } = handlerWith(new CapturingPublisher(() => true));
    const stop = taskStoppedEvent({ run, exitCode: 1 });
    const notEcs = envelopeOf(
      entry(source, DetailType.rowLoaded, { status: Status.loaded, key: '1', data: {}, run, row: 1 }),
    );
    const event = sqsEvent([stop, notEcs, 'not json']);
    const response = await handler(event);
    expect(response.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(
      event.Records.map((r) => r.messageId).sort(),
    );
  });
});

describe('unreportedFailure', () => {
  const run = 'run-0123456789abcdef';
  it('reads the run from startedBy and the file from the container overrides', () => {
    const event = taskStoppedEvent({
      run,
      exitCode: 1,
      object: { bucket: 'b', key: 'a/b c.csv', etag: 'e' },
    });
    expect(unreportedFailure(event.detail as never, 'extract')).toEqual({
      run,
      file: 's3://b/a/b c.csv',
      reason:
        'extract task stopped: Essential container in task exited; stop code EssentialContainerExited; exit code 1',
    });
  });

  it('ignores tasks that have not stopped', () => {
    const event = taskStoppedEvent({ run, exitCode: 1 });
    (event.detail as { lastStatus: string }).lastStatus = 'DEPROVISIONING';
    expect(unreportedFailure(event.detail as never, 'extract')).toBeUndefined();
  });
});
