import { readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalPipeline } from '../../src/runtime/local/pipeline.ts';
import { readFileAsRun, runIdForFile } from '../../src/runtime/local/state.ts';
import { etl, tempDir } from '../support/cli.ts';

/** Every byte the state directory holds, to grep for plaintext as a user would (`grep -r`). */
function readAll(dir: string): string {
  let text = '';
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) text += readFileSync(join(entry.parentPath, entry.name), 'latin1');
  }
  return text;
}

const sensitiveMapping = {
  key: 'id',
  columns: {
    ID: { attribute: 'id', type: 'string', required: true },
    Street: { attribute: 'street', type: 'string', sensitive: true },
    Zip: { attribute: 'zip', type: 'string' },
  },
};

function setup(content: string): { dir: string; file: string; state: string; mapping: string } {
  const dir = tempDir();
  const file = join(dir, 'in.csv');
  writeFileSync(file, content);
  const mapping = join(dir, 'mapping.json');
  writeFileSync(mapping, JSON.stringify(sensitiveMapping));
  return { dir, file, state: join(dir, 'state'), mapping };
}

describe('etl run on the file shapes of the adversarial findings', () => {
  it('a stray quote after 5,000 rows in a sensitive column: every good row loaded, the line named once, no plaintext anywhere', async () => {
    const lines = ['ID,Street,Zip'];
    for (let i = 1; i <= 5_000; i++) lines.push(`${i},street ${i},${i % 97}`);
    lines.push('5001,SECRET"VALUE,9', '5002,after,1');
    const { file, state, mapping } = setup(`${lines.join('\n')}\n`);
    const result = await etl(['run', file, '--mapping', mapping, '--state-dir', state]);
    expect(result.code).toBe(2);
    expect(result.stdout).toMatch(/extracted\s+5000\n\s+transformed\s+5000\n\s+loaded\s+5000\n\s+failed\s+0/);
    const fileErrors = result.stderr.split('\n').filter((l) => l.startsWith('etl: '));
    expect(fileErrors).toEqual([
      `etl: ${file}:5002: a quote inside an unquoted field (field 2, Street): quote the whole field and double the quote inside it`,
    ]);
    expect(JSON.parse((await etl(['scan', '--json', '--state-dir', state])).stdout)).toHaveLength(5_000);
    for (const text of [result.stdout, result.stderr, readAll(state)]) expect(text).not.toContain('SECRET');
  });

  it('a sensitive column whose header has a trailing space stops the run before any row: one line, exit 2', async () => {
    const { file, state, mapping } = setup('ID,Street ,Zip\n1,SECRETVALUE,5\n');
    const result = await etl(['run', file, '--mapping', mapping, '--state-dir', state]);
    expect(result.code).toBe(2);
    expect(result.stderr).toBe(
      `etl: ${file}:1: sensitive column \`Street\` not in the header; did you mean \`Street \`?\n`,
    );
    expect(readAll(state)).not.toContain('SECRET');
    expect(JSON.parse((await etl(['scan', '--json', '--state-dir', state])).stdout)).toEqual([]);
  });

  it('mixed CRLF and LF endings are separate rows', async () => {
    const { file, state } = setup('ID,HouseNum,Street,Town,Zip\r\n1,1,a,x,5\n2,2,b,y,6\r\n3,3,c,z,7\n');
    const result = await etl(['run', file, '--state-dir', state]);
    expect(result.code).toBe(0);
    const items = JSON.parse((await etl(['scan', '--json', '--state-dir', state])).stdout) as {
      zip: string;
    }[];
    // Scan order is the table's, not the file's.
    expect(items.map((i) => i.zip).sort()).toEqual(['5', '6', '7']);
  });

  it('repeated keys are reported in the tally and by etl runs', async () => {
    const { file, state } = setup(
      'ID,HouseNum,Street,Town,Zip\n1,1,a,x,5\n1,2,b,y,6\n2,3,c,z,7\n2,4,d,w,8\n',
    );
    const result = await etl(['run', file, '--state-dir', state]);
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      /loaded\s+4\n\s+failed\s+0\n\s+dead-lettered\s+0\n\s+2 rows overwrote an earlier row with the same key\n/,
    );
    const runs = JSON.parse((await etl(['runs', '--json', '--state-dir', state])).stdout) as unknown[];
    expect(runs).toMatchObject([{ loaded: 4, repeatedKeys: 2 }]);
    expect((await etl(['runs', '--state-dir', state])).stdout).toMatch(
      /dead-lettered\s+overwritten[\s\S]*\s4\s+0\s+0\s+2\s/,
    );
  });
});

describe('a file that changes while its run reads it', () => {
  let pipeline: LocalPipeline;
  let dir: string;
  beforeAll(async () => {
    dir = tempDir();
    pipeline = await LocalPipeline.start({ stateDir: join(dir, 'state'), inMemory: true });
  });
  afterAll(async () => pipeline?.close());

  it('truncated after its first chunk: the run fails with that reason instead of completing', async () => {
    const file = join(dir, 'big.csv');
    const rows = Array.from({ length: 20_000 }, (_, i) => `${i + 1},${i},Street ${i},Town,${i}`);
    writeFileSync(file, ['ID,HouseNum,Street,Town,Zip', ...rows].join('\n'));
    const run = await runIdForFile(file);
    const report = await pipeline.runSource({
      file,
      run,
      descriptor: { kind: 'file', path: resolve(file) },
      open: () =>
        (async function* () {
          let first = true;
          for await (const chunk of readFileAsRun(file, run)) {
            yield chunk;
            if (first) truncateSync(file, 70_000);
            first = false;
          }
        })(),
    });
    expect(report.error?.message).toMatch(
      /big\.csv: the file changed while its run read it \(\d+ bytes read; it now is 70000 bytes\): run it again once it is complete$/,
    );
    expect(report.counts.extracted).toBeLessThan(20_000);
  });

  it('unchanged: reads the same bytes and completes', async () => {
    const file = join(dir, 'same.csv');
    writeFileSync(file, 'ID,HouseNum,Street,Town,Zip\n1,1,a,x,5\n');
    const chunks: Buffer[] = [];
    for await (const chunk of readFileAsRun(file, await runIdForFile(file))) chunks.push(chunk);
    expect(Buffer.concat(chunks).toString()).toBe('ID,HouseNum,Street,Town,Zip\n1,1,a,x,5\n');
  });
});
