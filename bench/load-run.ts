/**
 * One measured load, in its own process so its peak RSS is its own; bench/main.ts runs it bundled:
 *   node bench/.data/load-run.mjs pipeline|baseline FILE [STATE_DIR]
 * Prints one JSON line: { mode, rows, seconds, rowsPerSec, peakRssMb }.
 */
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse';
import { DynamoItemWriter } from '../src/adapters/dynamodb-writer.ts';
import { definePipeline } from '../src/pipeline/definition.ts';
import { keyAttributes, keySchemaOf } from '../src/pipeline/mapping.ts';
import { ensureTable, startDynalite } from '../src/runtime/local/dynalite.ts';
import { LocalPipeline } from '../src/runtime/local/pipeline.ts';
import { DEFAULT_TABLE_NAME } from '../src/runtime/local/state.ts';
import type { Item } from '../src/stages/ports.ts';
import { toItemValue } from '../src/stages/values.ts';

const [mode, file, stateDir] = process.argv.slice(2);
if ((mode !== 'pipeline' && mode !== 'baseline') || !file) {
  console.error('usage: load-run.ts pipeline|baseline FILE [STATE_DIR]');
  process.exit(2);
}

async function runPipeline(path: string): Promise<number> {
  const pipeline = await LocalPipeline.start({ stateDir: stateDir ?? 'bench/.data/state-pipeline' });
  try {
    const report = await pipeline.runFile(path);
    if (report.counts.loaded !== report.counts.extracted)
      throw new Error(`lost rows: ${JSON.stringify(report.counts)}`);
    return report.counts.loaded;
  } finally {
    await pipeline.close();
  }
}

/** csv-parse -> BatchWriteItem with the same writer, batch size and concurrency as the load stage. */
async function runBaseline(path: string): Promise<number> {
  const { mapping, delivery } = definePipeline();
  const dynamo = await startDynalite({ path: join(stateDir ?? 'bench/.data/state-baseline', 'dynamodb') });
  await ensureTable(dynamo.client, DEFAULT_TABLE_NAME, keySchemaOf(mapping));
  const writer = new DynamoItemWriter({
    client: dynamo.client,
    tableName: DEFAULT_TABLE_NAME,
    key: keyAttributes(mapping),
  });
  const columns = Object.entries(mapping.columns);
  const inFlight = new Set<Promise<unknown>>();
  let batch: Item[] = [];
  let rows = 0;
  const flush = async (): Promise<void> => {
    while (inFlight.size >= delivery.load.concurrency) await Promise.race(inFlight);
    const write = writer.writeItems(batch).finally(() => inFlight.delete(write));
    inFlight.add(write);
    batch = [];
  };
  try {
    const parser = createReadStream(path).pipe(parse({ bom: true, columns: true }));
    for await (const record of parser as AsyncIterable<Record<string, string>>) {
      const item: Item = {};
      for (const [column, spec] of columns) {
        const value = record[column];
        const itemValue = value ? toItemValue(value, spec) : undefined;
        if (itemValue) item[spec.attribute] = itemValue;
      }
      batch.push(item);
      rows++;
      if (batch.length === delivery.load.batchSize) await flush();
    }
    if (batch.length > 0) await flush();
    await Promise.all(inFlight);
    return rows;
  } finally {
    await dynamo.close();
  }
}

const started = process.hrtime.bigint();
const rows = mode === 'pipeline' ? await runPipeline(file) : await runBaseline(file);
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
// maxRSS is the process's peak, in kilobytes: the dynalite worker thread included.
const peakRssMb = process.resourceUsage().maxRSS / 1024;
console.log(JSON.stringify({ mode, rows, seconds, rowsPerSec: rows / seconds, peakRssMb }));
