import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { LocalPipeline } from '../../src/runtime/local/pipeline.ts';
import { tempDir } from '../support/cli.ts';

/** The value of a sample line of the exposition, e.g. `etl_dlq_events{target="load"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('the local stack’s Prometheus metrics', () => {
  it('count what each target took and gave, how each stage settled its inputs, and the queues', async () => {
    const dir = tempDir();
    const file = join(dir, 'rows.csv');
    // Six rows, one with a field too many: it fails at transform.
    writeFileSync(
      file,
      'ID,HouseNum,Street,Town,Zip\n1,1,A,B,1\n2,2,A,B,2\n3,3,A,B,3\n4,4,A,B,4,extra\n5,5,A,B,5\n6,6,A,B,6\n',
    );
    const pipeline = await LocalPipeline.start({ stateDir: join(dir, 'state') });
    try {
      const report = await pipeline.runFile(file);
      expect(report.counts).toMatchObject({ loaded: 5, failed: 1 });
      await pipeline.bus.whenIdle();
      const { contentType, text } = await pipeline.metrics.exposition();
      expect(contentType).toMatch(/^text\/plain; version=0\.0\.4/);
      expect(sample(text, 'etl_target_events_in_total{rule="transformRule",target="transform"}')).toBe(6);
      expect(sample(text, 'etl_target_events_in_total{rule="loadRule",target="load"}')).toBe(5);
      expect(sample(text, 'etl_target_events_in_total{rule="errorRule",target="quarantine"}')).toBe(1);
      expect(sample(text, 'etl_stage_inputs_total{stage="transform",outcome="done"}')).toBe(5);
      expect(sample(text, 'etl_stage_inputs_total{stage="transform",outcome="failed"}')).toBe(1);
      expect(sample(text, 'etl_stage_inputs_total{stage="load",outcome="done"}')).toBe(5);
      expect(sample(text, 'etl_target_events_out_total{target="load"}')).toBe(5);
      expect(sample(text, 'etl_target_queue_depth{target="load"}')).toBe(0);
      expect(sample(text, 'etl_dlq_events{target="load"}')).toBe(0);
      expect(sample(text, 'etl_stage_batch_seconds_count{stage="load"}')).toBeGreaterThan(0);
      // The file's rows as the extract stage's inputs (named as the AWS extract task writes them).
      expect(sample(text, 'etl_stage_inputs_total{stage="extract",outcome="done"}')).toBe(6);
      expect(sample(text, 'etl_stage_batch_seconds_count{stage="extract"}')).toBe(1);
      // Every event of the run reached the observer: started, 6 extracted, 5 transformed, 5
      // loaded, 1 failed, completed, run-completed.
      expect(sample(text, 'etl_target_events_in_total{rule="observeRule",target="observe"}')).toBe(20);
    } finally {
      await pipeline.close();
    }
  });
});
