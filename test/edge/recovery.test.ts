import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { runIdForObject } from '../../src/pipeline/run-id.ts';
import { statePaths } from '../../src/runtime/local/state.ts';
import { eventually, scanTable, SEED_ITEMS, startTestStack } from './support.ts';

describe('runs of S3 objects cut short by a crash', () => {
  it('are run again at the next start, reading the object through the edge; a vanished object is reported, not fatal', async () => {
    const first = await startTestStack();
    const stateDir = first.stateDir;
    const bucket = first.stack.bucket;
    const { ETag } = await first.s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: 'crashed.csv', Body: readFileSync('data/test_data.csv') }),
    );
    await eventually(
      async () => first.reports.length,
      (n) => n >= 1,
      'the first run',
    );
    await first.close();

    // What a crash mid-run leaves: the run's recorded source, and no summary.
    const paths = statePaths(stateDir);
    const unfinished = (key: string, etag: string) => {
      const run = runIdForObject(bucket, key, etag);
      mkdirSync(paths.run(run).dir, { recursive: true });
      rmSync(paths.run(run).summary, { force: true });
      writeFileSync(
        paths.run(run).source,
        JSON.stringify({ run, file: `s3://${bucket}/${key}`, descriptor: { kind: 's3', bucket, key, etag } }),
      );
      return run;
    };
    const etag = (ETag ?? '').replace(/"/g, '');
    const crashed = unfinished('crashed.csv', etag);
    const vanished = unfinished('never-there.csv', etag);

    const second = await startTestStack({ stateDir });
    try {
      const recovered = await second.stack.recovered;
      const byRun = Object.fromEntries(recovered.map((r) => [r.run, r]));
      expect(byRun[crashed]?.counts).toMatchObject({ extracted: 5, loaded: 5, failed: 0 });
      expect(byRun[crashed]?.error).toBeUndefined();
      expect(byRun[vanished]?.error?.message).toMatch(
        /never-there\.csv: cannot be read again: .*does not exist/,
      );
      expect(second.lines).toContain(
        `recovered: s3://${bucket}/crashed.csv (${crashed}): extracted 5, transformed 5, loaded 5, failed 0, dead-lettered 0`,
      );
      expect(await scanTable(second)).toEqual(SEED_ITEMS);
    } finally {
      await second.close();
    }
  });
});
