/**
 * Fault injection with real parts: dynalite behind a TCP proxy that goes down for a minute in the
 * middle of a run. Retries must ride it out: every row loaded, none dead-lettered, the tally right.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type LocalDynamo, startDynalite } from '../../src/runtime/local/dynalite.ts';
import { LocalPipeline } from '../../src/runtime/local/pipeline.ts';
import { tempDir } from '../support/cli.ts';
import { writeSeedShapedCsv } from '../support/seed.ts';
import { scanAll } from '../support/dynamo.ts';
import { startSwitchableProxy, type SwitchableProxy } from '../support/switchable-proxy.ts';

const OUTAGE_MS = 60_000;

describe('a minute-long DynamoDB outage mid-run', () => {
  it('is ridden out by retries: every row loaded, none dead-lettered, the tally right', async () => {
    const dir = tempDir();
    const file = join(dir, 'rows.csv');
    const rows = 3_000;
    writeSeedShapedCsv(file, rows);
    let dynamo: LocalDynamo | undefined;
    let proxy: SwitchableProxy | undefined;
    let pipeline: LocalPipeline | undefined;
    try {
      dynamo = await startDynalite();
      proxy = await startSwitchableProxy(dynamo.port);
      pipeline = await LocalPipeline.start({ stateDir: join(dir, 'state'), dynamoEndpoint: proxy.endpoint });
      // A third of the way into the writes (~150 bytes a row), the table goes away for a minute.
      const outage = proxy.failAfterBytes(rows * 50, OUTAGE_MS);
      const report = await pipeline.runFile(file);
      await outage;

      // The outage happened while the run still had writes to make.
      expect(proxy.refused).toBeGreaterThan(0);
      expect(report.counts).toMatchObject({
        extracted: rows,
        transformed: rows,
        loaded: rows,
        failed: 0,
        deadLettered: 0,
      });
      const dlq = join(dir, 'state', 'dlq');
      const letters = existsSync(dlq)
        ? readdirSync(dlq).flatMap((n) => readFileSync(join(dlq, n), 'utf8').split('\n').filter(Boolean))
        : [];
      expect(letters).toEqual([]);
      const items = await scanAll(dynamo.client, pipeline.tableName);
      expect(items).toHaveLength(rows);
      expect(new Set(items.map((i) => i.id)).size).toBe(rows);
    } finally {
      await pipeline?.close();
      await proxy?.close();
      await dynamo?.close();
    }
  }, 300_000);
});
