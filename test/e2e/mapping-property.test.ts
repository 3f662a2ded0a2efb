/**
 * A property of the mapping model: for any generated mapping (column types, defaults, key shape,
 * write mode), any supported dialect (delimiter, encoding, header row or named columns) and any
 * generated rows (valid and invalid cells of every type), each row is either
 * loaded exactly as typed (the table scanned and compared) or reported failed with a reason, and the
 * tally reconciles (extracted = loaded + failed).
 */
import { readFile } from 'node:fs/promises';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { definePipeline } from '../../src/pipeline/definition.ts';
import { type ColumnType, parseMapping, WRITE_MODES } from '../../src/pipeline/mapping.ts';
import { LocalPipeline } from '../../src/runtime/local/pipeline.ts';
import { tempDir } from '../support/cli.ts';
import { scanAll } from '../support/dynamo.ts';

/** A cell and what it must become: a value, no attribute, or a failed row. */
type Cell = { cell: string; expected: unknown } | { cell: string; invalid: true };
const ABSENT = Symbol('absent');

const valid = (cell: string, expected: unknown): Cell => ({ cell, expected });
const invalid = (cell: string): Cell => ({ cell, invalid: true });

const word = fc.constantFrom('a', 'b', 'c d', 'é', '東京', 'x,y', 'q"q');

/** Valid non-empty cells of each type, with the value DynamoDB must hold. */
const VALID: Record<ColumnType, fc.Arbitrary<Cell>> = {
  string: fc
    .string({ minLength: 1, maxLength: 8 })
    .filter((s) => s.trim() !== '')
    .map((s) => valid(s, s)),
  number: fc.integer({ min: -1e9, max: 1e9 }).map((n) => valid(String(n), n)),
  boolean: fc
    .boolean()
    .chain((b) => fc.constantFrom(String(b), String(b).toUpperCase()).map((c) => valid(c, b))),
  json: fc
    .dictionary(
      fc.constantFrom('a', 'b', 'c d', 'é'),
      fc.oneof(fc.integer(), word, fc.boolean(), fc.constant(null)),
      {
        maxKeys: 3,
      },
    )
    .chain((o) => fc.constantFrom(valid(JSON.stringify(o), o), valid(JSON.stringify([o]), [o]))),
  stringSet: fc
    .array(word, { minLength: 1, maxLength: 4 })
    .map((ws) => valid(ws.map((w) => ` ${w} `).join('|'), new Set(ws))),
  numberSet: fc
    .array(fc.integer({ min: -1000, max: 1000 }), { minLength: 1, maxLength: 4 })
    .map((ns) => valid(ns.join('|'), new Set(ns))),
  binary: fc
    .uint8Array({ minLength: 1, maxLength: 8 })
    .map((bytes) => valid(Buffer.from(bytes).toString('base64'), new Uint8Array(bytes))),
  epochSeconds: fc
    .integer({ min: 0, max: 4e9 })
    .chain((s) => fc.constantFrom(valid(String(s), s), valid(new Date(s * 1000).toISOString(), s))),
};

/** Cells of each type that must fail their row. */
const INVALID: Record<ColumnType, fc.Arbitrary<Cell> | undefined> = {
  string: undefined,
  number: fc.constantFrom('n/a', '1,5', '0x10').map(invalid),
  boolean: fc.constantFrom('yes', '1').map(invalid),
  json: fc.constantFrom('{', '"text"', '42').map(invalid),
  stringSet: undefined,
  numberSet: fc.constantFrom('1|two', 'x').map(invalid),
  binary: fc.constantFrom('***', 'abc').map(invalid),
  epochSeconds: fc.constantFrom('someday', '2024-13-01').map(invalid),
};

const TYPES = Object.keys(VALID) as ColumnType[];

const column = fc.record({
  type: fc.constantFrom(...TYPES),
  withDefault: fc.boolean(),
});

const model = fc
  .record({
    columns: fc.array(column, { minLength: 1, maxLength: 4 }),
    sortKey: fc.boolean(),
    write: fc.constantFrom(...WRITE_MODES),
    dialect: fc.record({
      delimiter: fc.constantFrom(',', ';', '|', '\t'),
      encoding: fc.constantFrom('utf-8', 'utf-16le', 'utf-16be'),
      header: fc.boolean(),
    }),
  })
  .chain((m) =>
    fc.record({
      model: fc.constant(m),
      defaults: fc.tuple(...m.columns.map((c) => VALID[c.type])),
      rows: fc.array(
        fc.tuple(
          ...m.columns.map((c) =>
            fc.oneof(
              { weight: 5, arbitrary: VALID[c.type] },
              { weight: 2, arbitrary: fc.constant(valid('', ABSENT)) },
              { weight: 1, arbitrary: INVALID[c.type] ?? VALID[c.type] },
            ),
          ),
        ),
        { maxLength: 12 },
      ),
    }),
  );

/** A CSV line in the dialect: a value holding the delimiter, a quote or a line break is quoted. */
function dialectLine(values: readonly string[], delimiter: string): string {
  return values
    .map((v) => (v.includes(delimiter) || /["\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v))
    .join(delimiter);
}

function encodeText(text: string, encoding: 'utf-8' | 'utf-16le' | 'utf-16be'): Buffer {
  if (encoding === 'utf-8') return Buffer.from(text, 'utf8');
  const le = Buffer.from(text, 'utf16le');
  return encoding === 'utf-16le' ? le : le.swap16();
}

describe('the mapping model, as a property', () => {
  let iteration = 0;

  it('loads each generated row exactly as typed or fails it with a reason, and the tally reconciles', async () => {
    const dir = tempDir();
    await fc.assert(
      fc.asyncProperty(model, async ({ model: m, defaults, rows }) => {
        const table = `Property${++iteration}`;
        const columns: Record<string, unknown> = {
          ID: { attribute: 'id' },
          ...(m.sortKey ? { Seq: { attribute: 'seq', type: 'number' } } : {}),
        };
        m.columns.forEach((c, i) => {
          const fallback = defaults[i] as { cell: string };
          columns[`C${i}`] = {
            attribute: `c${i}`,
            type: c.type,
            ...(c.withDefault ? { default: fallback.cell } : {}),
          };
        });
        const header = ['ID', ...(m.sortKey ? ['Seq'] : []), ...m.columns.map((_, i) => `C${i}`)];
        const { delimiter, encoding } = m.dialect;
        const mapping = parseMapping({
          table,
          key: m.sortKey ? { partition: 'id', sort: 'seq' } : 'id',
          write: m.write,
          columns,
          csv: { delimiter, encoding, ...(m.dialect.header ? {} : { header: false, columns: header }) },
        });
        const lines = rows.map((cells, r) => [
          `r${r}`,
          ...(m.sortKey ? [String(r)] : []),
          ...cells.map((c) => c.cell),
        ]);
        const file = join(dir, `${table}.csv`);
        const text = [...(m.dialect.header ? [header] : []), ...lines]
          .map((values) => dialectLine(values, delimiter))
          .join('\n');
        writeFileSync(file, encodeText(`${text}\n`, encoding));

        const pipeline = await LocalPipeline.start({
          stateDir: join(dir, table),
          inMemory: true,
          definition: definePipeline({ mapping }),
        });
        try {
          const report = await pipeline.runFile(file);
          const { counts } = report;
          expect(counts.extracted).toBe(rows.length);
          expect(counts.loaded + counts.failed).toBe(counts.extracted);

          const failing = rows.flatMap((cells, r) => (cells.some((c) => 'invalid' in c) ? [r + 1] : []));
          const errors = (await readFile(pipeline.paths.run(report.run).errors, 'utf8').catch(() => ''))
            .split('\n')
            .filter(Boolean)
            .map((line) => JSON.parse(line) as { row: number; reason: string });
          expect(errors.map((e) => e.row).sort((a, b) => a - b)).toEqual(failing);
          for (const e of errors) expect(e.reason).toMatch(/\S/);

          const expected = rows.flatMap((cells, r) => {
            if (cells.some((c) => 'invalid' in c)) return [];
            const item: Record<string, unknown> = { id: `r${r}`, ...(m.sortKey ? { seq: r } : {}) };
            cells.forEach((c, i) => {
              let value = (c as { expected: unknown }).expected;
              if (value === ABSENT && m.columns[i]?.withDefault)
                value = (defaults[i] as { expected: unknown }).expected;
              if (value !== ABSENT) item[`c${i}`] = value;
            });
            return [item];
          });
          expect(await scanAll(pipeline.client, table)).toEqual(expected);
        } finally {
          await pipeline.close();
        }
      }),
      { numRuns: 15 },
    );
  }, 240_000);
});
