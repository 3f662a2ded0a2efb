import { join } from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SEED_MAPPING } from '../../src/pipeline/mapping.ts';
import { runIdForObject } from '../../src/pipeline/run-id.ts';
import { RunStore } from '../../src/runtime/local/runs.ts';
import { statePaths } from '../../src/runtime/local/state.ts';
import { etl, tempDir } from '../support/cli.ts';
import { eventually, startTestStack, type TestStack } from './support.ts';

function csvOf(rows: number): string {
  const lines = ['ID,HouseNum,Street,Town,Zip'];
  for (let i = 1; i <= rows; i++) lines.push(`${i},${i % 500},Main Street,Antrim,${10000 + i}`);
  return `${lines.join('\n')}\n`;
}

interface ListedRun {
  run: string;
  state: string;
  extracted: number;
  loaded: number;
}

async function listRuns(stateDir: string): Promise<ListedRun[]> {
  const { stdout } = await etl(['runs', '--json', '--state-dir', stateDir]);
  return JSON.parse(stdout) as ListedRun[];
}

describe('how far runs are, while they run', () => {
  let t: TestStack;
  beforeAll(async () => {
    t = await startTestStack({ progressIntervalMs: 25 });
  });
  afterAll(async () => t?.close());

  it('etl up logs a progress line per run in progress, never going back, then its tally', async () => {
    await t.s3.send(new PutObjectCommand({ Bucket: t.stack.bucket, Key: 'p.csv', Body: csvOf(4_000) }));
    const report = await eventually(
      async () => t.reports.find((r) => r.file.endsWith('/p.csv')),
      (r) => r !== undefined,
      'the run to finish',
    );
    const prefix = `s3://${t.stack.bucket}/p.csv (${report?.run}): `;
    const progress = t.lines.filter((l) => l.startsWith(prefix) && l.includes('rows loaded or failed'));
    expect(progress.length).toBeGreaterThan(0);
    for (const line of progress)
      expect(line.slice(prefix.length)).toMatch(
        /^\d+% · [\d,]+ of ~?[\d,]+ rows loaded or failed · [\d,]+ rows\/s$/,
      );
    const percents = progress.map((l) => Number(/: (\d+)%/.exec(l)?.[1]));
    expect(percents).toEqual([...percents].sort((a, b) => a - b));
    const tally = t.lines.findIndex((l) => l.startsWith(prefix) && l.includes('extracted 4000'));
    expect(tally).toBeGreaterThan(t.lines.indexOf(progress.at(-1) as string));
  });

  it("an S3 object's run reports the bytes read of the object's size, so its percent is of the whole", async () => {
    const body = Buffer.from(csvOf(2_000));
    const half = Math.floor(body.length / 2);
    const pipeline = t.stack.pipeline;
    const run = runIdForObject('bucket', 'sized.csv', '"etag"');
    const seen: unknown[] = [];
    const report = await pipeline.runSource({
      file: 's3://bucket/sized.csv',
      run,
      descriptor: { kind: 's3', bucket: 'bucket', key: 'sized.csv', etag: '"etag"' },
      size: body.length,
      open: () =>
        (async function* () {
          yield body.subarray(0, half);
          // Asked for the rest: the first half is read (its progress shows once the observer tallied a row).
          seen.push(
            await eventually(
              async () => pipeline.activeProgress().find((p) => p.run === run),
              (progress) => progress !== undefined,
              'the run in progress',
            ),
          );
          yield body.subarray(half);
        })(),
    });
    expect(seen).toEqual([expect.objectContaining({ run, bytesRead: half, bytesTotal: body.length })]);
    expect(report.counts).toMatchObject({ extracted: 2_000, loaded: 2_000 });
  });

  it('etl runs lists a run in progress with its counts so far, then as completed', async () => {
    await t.s3.send(new PutObjectCommand({ Bucket: t.stack.bucket, Key: 'big.csv', Body: csvOf(40_000) }));
    const during = await eventually(
      () => listRuns(t.stateDir),
      (runs) => runs.some((r) => r.state === 'running' && r.extracted > 0),
      'etl runs to show the run in progress',
      120_000,
    );
    const running = during.find((r) => r.state === 'running') as ListedRun;
    expect(running.extracted).toBeLessThanOrEqual(40_000);
    await eventually(
      async () => t.reports.find((r) => r.run === running.run),
      (r) => r !== undefined,
      'the run to finish',
      120_000,
    );
    expect((await listRuns(t.stateDir)).find((r) => r.run === running.run)).toMatchObject({
      state: 'completed',
      extracted: 40_000,
      loaded: 40_000,
    });
  });
});

describe('GET /_etl/metrics', () => {
  let t: TestStack;
  beforeAll(async () => {
    t = await startTestStack();
  });
  afterAll(async () => t?.close());

  it('answers in the Prometheus text format what the stages did', async () => {
    await t.s3.send(new PutObjectCommand({ Bucket: t.stack.bucket, Key: 'm.csv', Body: csvOf(7) }));
    await eventually(
      async () => t.reports.length,
      (n) => n > 0,
      'the run to finish',
    );
    const response = await fetch(`${t.stack.endpoint}/_etl/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    expect(text).toMatch(/^# HELP etl_stage_inputs_total /m);
    expect(text).toContain('etl_stage_inputs_total{stage="load",outcome="done"} 7');
    expect(text).toContain('etl_target_events_in_total{rule="transformRule",target="transform"} 7');
    expect(text).toContain('etl_dlq_events{target="load"} 0');
  });
});

describe('etl runs, with no process on the state directory', () => {
  it('calls a run with no summary interrupted (the next etl run or up finishes it)', async () => {
    const stateDir = join(tempDir(), 'state');
    const paths = statePaths(stateDir);
    await new RunStore(paths).begin(
      { run: 'run-cut', file: 'a.csv', descriptor: { kind: 'file', path: '/a.csv' }, mapping: SEED_MAPPING },
      { recordEvents: false },
    );
    expect(await listRuns(stateDir)).toEqual([
      expect.objectContaining({ run: 'run-cut', file: 'a.csv', state: 'interrupted', extracted: 0 }),
    ]);
  });
});
