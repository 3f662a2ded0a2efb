/**
 * A run carries its mapping: whatever mapping the next command was given, recovery after a crash
 * and a redrive of dead letters load the run's rows by the mapping the run began with.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { definePipeline } from '../../src/pipeline/definition.ts';
import { readMappingFile } from '../../src/pipeline/mapping-file.ts';
import { type LocalDynamo, startDynalite } from '../../src/runtime/local/dynalite.ts';
import { LocalPipeline } from '../../src/runtime/local/pipeline.ts';
import { statePaths } from '../../src/runtime/local/state.ts';
import { etl, tempDir, until } from '../support/cli.ts';
import { startSwitchableProxy, type SwitchableProxy } from '../support/switchable-proxy.ts';

/** A CSV whose ids do not meet the sample's, and a mapping that types and renames its columns. */
function mappedInput(dir: string, rows: number): { file: string; mapping: string } {
  const file = join(dir, `mapped-${rows}.csv`);
  writeFileSync(
    file,
    ['ID,Zip,Name', ...Array.from({ length: rows }, (_, i) => `n-${i + 1},${i},Name ${i}`)].join('\n'),
  );
  const mapping = join(dir, 'm.json');
  writeFileSync(
    mapping,
    JSON.stringify({
      key: 'id',
      columns: {
        ID: { attribute: 'id', type: 'string', required: true },
        Zip: { attribute: 'zip', type: 'number' },
        Name: { attribute: 'full_name', type: 'string' },
      },
    }),
  );
  return { file, mapping };
}

type ScannedItem = { id: string; zip?: unknown; full_name?: unknown };

async function scan(state: string): Promise<ScannedItem[]> {
  return JSON.parse((await etl(['scan', '--json', '--state-dir', state])).stdout) as ScannedItem[];
}

function expectMapped(items: ScannedItem[], rows: number): void {
  const mapped = items.filter((i) => i.id.startsWith('n-'));
  expect(mapped).toHaveLength(rows);
  const unmapped = mapped.filter((i) => typeof i.zip !== 'number' || typeof i.full_name !== 'string');
  expect(unmapped.slice(0, 3)).toEqual([]);
}

describe("a run's own mapping", () => {
  it('recovers a run killed mid-way by its own mapping, though the next command has another', async () => {
    const dir = tempDir();
    const state = join(dir, 'state');
    const rows = 20_000;
    const { file, mapping } = mappedInput(dir, rows);
    const child = spawn(
      process.execPath,
      ['bin/etl.js', 'run', file, '--mapping', mapping, '--state-dir', state, '--record-events'],
      { stdio: 'ignore' },
    );
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const runs = join(state, 'runs');
    await until(() => {
      if (!existsSync(runs) || readdirSync(runs).length === 0) return false;
      const events = join(runs, readdirSync(runs)[0] as string, 'events.ndjson');
      return existsSync(events) && statSync(events).size > 200_000;
    }, 'the run to get going');
    child.kill('SIGKILL');
    await exited;
    const [run] = readdirSync(runs);
    expect(existsSync(join(runs, run as string, 'summary.json'))).toBe(false);

    // The seed's mapping this time.
    const next = await etl(['run', 'data/test_data.csv', '--state-dir', state]);
    expect(next.stderr).not.toMatch(/\n\s+at /);
    expect(next.code).toBe(0);
    expect(next.stdout).toContain('recovered a run cut short earlier');
    const summary = JSON.parse(readFileSync(join(runs, run as string, 'summary.json'), 'utf8')) as object;
    expect(summary).toMatchObject({ extracted: rows, loaded: rows, failed: 0, deadLettered: 0 });
    const items = await scan(state);
    expectMapped(items, rows);
    expect(items).toHaveLength(rows + 5);
  }, 240_000);

  it('redrives dead letters by the run mapping, and the summary then counts them loaded', async () => {
    const dir = tempDir();
    const state = join(dir, 'state');
    const rows = 300;
    const { file, mapping } = mappedInput(dir, rows);
    let dynamo: LocalDynamo | undefined;
    let proxy: SwitchableProxy | undefined;
    let pipeline: LocalPipeline | undefined;
    try {
      // The state directory's own table, behind a proxy that is down: every row is dead-lettered.
      dynamo = await startDynalite({ path: statePaths(state).dynamodb });
      proxy = await startSwitchableProxy(dynamo.port);
      pipeline = await LocalPipeline.start({
        stateDir: state,
        dynamoEndpoint: proxy.endpoint,
        definition: definePipeline({ mapping: readMappingFile(mapping), maxEventAgeSeconds: 1 }),
      });
      proxy.down();
      const report = await pipeline.runFile(file);
      expect(report.counts).toMatchObject({ extracted: rows, loaded: 0, failed: 0, deadLettered: rows });
    } finally {
      await pipeline?.close();
      await proxy?.close();
      await dynamo?.close();
    }
    const listed = await etl(['dlq', '--json', '--state-dir', state]);
    expect(JSON.parse(listed.stdout)).toHaveLength(rows);

    // Redriven by a command that knows nothing of the mapping.
    const redrive = await etl(['dlq', 'redrive', '--state-dir', state]);
    expect(redrive.stderr).toBe('');
    expect(redrive.stdout).toContain(`load: ${rows} redriven, 0 dead-lettered again`);
    expectMapped(await scan(state), rows);
    const runs = JSON.parse((await etl(['runs', '--json', '--state-dir', state])).stdout) as object[];
    expect(runs).toEqual([
      expect.objectContaining({ extracted: rows, loaded: rows, failed: 0, deadLettered: 0 }),
    ]);
  }, 120_000);
});
