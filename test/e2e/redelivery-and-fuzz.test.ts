import { ScanCommand } from '@aws-sdk/client-dynamodb';
import { unmarshall } from '@aws-sdk/util-dynamodb';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { definePipeline } from '../../src/pipeline/definition.ts';
import type { Mapping } from '../../src/pipeline/mapping.ts';
import type { RuleRouter } from '../../src/runtime/local/bus.ts';
import { LocalPipeline } from '../../src/runtime/local/pipeline.ts';
import { RuleIndex } from '../../src/patterns/index.ts';
import { encodeCsvLine } from '../../src/stages/csv.ts';
import { scanAll } from '../support/dynamo.ts';
import { tempDir } from '../support/cli.ts';

/** At-least-once delivery at its worst: every matched event is delivered twice. */
function duplicatingRouter(): RuleRouter<string> {
  const inner = new RuleIndex<string>();
  return {
    add: (name, pattern, target) => inner.add(name, pattern, target),
    remove: (name) => inner.remove(name),
    match: (event) => inner.match(event).flatMap((target) => [target, target]),
    matchNames: (event) => inner.matchNames(event),
  };
}

describe('redelivered events', () => {
  let pipeline: LocalPipeline;
  beforeAll(async () => {
    pipeline = await LocalPipeline.start({
      stateDir: join(tempDir(), 'state'),
      inMemory: true,
      router: duplicatingRouter(),
    });
  });
  afterAll(async () => pipeline?.close());

  it('leave exactly one item per key and a correct tally', async () => {
    const report = await pipeline.runFile('data/test_data.csv');
    expect(report.counts).toMatchObject({
      extracted: 5,
      transformed: 5,
      loaded: 5,
      failed: 0,
      completed: true,
    });
    expect(await scanAll(pipeline.client, pipeline.tableName)).toHaveLength(5);
    // Running the same file again is the same run, tallied afresh.
    const again = await pipeline.runFile('data/test_data.csv');
    expect(again.run).toBe(report.run);
    expect(again.counts).toMatchObject({ extracted: 5, loaded: 5, failed: 0 });
    expect(await scanAll(pipeline.client, pipeline.tableName)).toHaveLength(5);
  });
});

describe('fuzzed CSVs: every row loaded exactly as written or reported failed, and the tally reconciles', () => {
  const mapping: Mapping = {
    key: { partition: 'id' },
    columns: {
      ID: { attribute: 'id', type: 'string', required: true },
      A: { attribute: 'a', type: 'string' },
      B: { attribute: 'b', type: 'string' },
      C: { attribute: 'c', type: 'string' },
    },
  };
  let pipeline: LocalPipeline;
  let dir: string;
  beforeAll(async () => {
    dir = tempDir();
    pipeline = await LocalPipeline.start({
      stateDir: join(dir, 'state'),
      inMemory: true,
      definition: definePipeline({ mapping }),
    });
  });
  afterAll(async () => pipeline?.close());

  const tricky = fc.oneof(
    fc.constantFrom(
      '',
      ',',
      '"',
      '""',
      '\n',
      '\r\n',
      ' padded ',
      'a,b',
      'say "hi"',
      'Dún Laoghaire',
      '東京',
      '🚀',
      '\u00e9',
    ),
    fc.string({ unit: 'grapheme', maxLength: 12 }),
  );
  const value = fc.array(tricky, { maxLength: 3 }).map((parts) => parts.join(''));
  const row = fc.record({
    fields: fc.array(value, { minLength: 3, maxLength: 3 }),
    // Ragged rows: fields dropped or added.
    shape: fc.oneof(
      { weight: 4, arbitrary: fc.constant(0) },
      { weight: 1, arbitrary: fc.integer({ min: -3, max: 2 }) },
    ),
  });
  let iteration = 0;

  it('holds for generated files', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(row, { maxLength: 25 }),
        fc.constantFrom('\n', '\r\n'),
        async (rows, newline) => {
          const prefix = `f${++iteration}-`;
          const lines = rows.map((r, i) => {
            let fields = [`${prefix}${i}`, ...r.fields];
            if (r.shape < 0) fields = fields.slice(0, fields.length + r.shape);
            if (r.shape > 0) fields = [...fields, ...Array.from({ length: r.shape }, () => 'extra')];
            return { fields, ok: fields.length === 4 };
          });
          const file = join(dir, `${prefix}.csv`);
          writeFileSync(
            file,
            ['ID,A,B,C', ...lines.map((l) => encodeCsvLine(l.fields))].join(newline) + newline,
          );

          const report = await pipeline.runFile(file);
          const good = lines.filter((l) => l.ok);
          expect(report.counts.extracted).toBe(lines.length);
          expect(report.counts.loaded + report.counts.failed).toBe(report.counts.extracted);
          expect(report.counts.loaded).toBe(good.length);

          const { Items = [] } = await pipeline.client.send(
            new ScanCommand({
              TableName: pipeline.tableName,
              FilterExpression: 'begins_with(id, :p)',
              ExpressionAttributeValues: { ':p': { S: prefix } },
            }),
          );
          const items = new Map(
            Items.map((item) => unmarshall(item)).map((item) => [item.id as string, item]),
          );
          expect(items.size).toBe(good.length);
          for (const line of good) {
            const [id, a, b, c] = line.fields;
            const item = items.get(id as string);
            // Empty values are not written, as the seed's load wrote only what it had.
            expect({ a: item?.a ?? '', b: item?.b ?? '', c: item?.c ?? '' }).toEqual({ a, b, c });
          }
          const errors = await readErrors(pipeline, report.run);
          expect(errors.map((e) => e.row).sort((x, y) => x - y)).toEqual(
            lines.flatMap((l, i) => (l.ok ? [] : [i + 1])),
          );
          for (const e of errors) expect(e.reason).toMatch(/^row has \d+ fields; the header has 4$/);
        },
      ),
      { numRuns: 30 },
    );
  });
});

async function readErrors(pipeline: LocalPipeline, run: string): Promise<{ row: number; reason: string }[]> {
  const { readFile } = await import('node:fs/promises');
  const text = await readFile(pipeline.paths.run(run).errors, 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter(Boolean)
    .map((line) => JSON.parse(line) as { row: number; reason: string });
}
