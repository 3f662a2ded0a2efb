import { existsSync, mkdirSync, readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ListArchivesCommand, StartReplayCommand } from '@aws-sdk/client-eventbridge';
import { describe, expect, it } from 'vitest';
import { etl, tempDir } from '../support/cli.ts';
import { startTestStack } from '../edge/support.ts';

const segments = (state: string): string[] =>
  existsSync(join(state, 'bus'))
    ? readdirSync(join(state, 'bus')).filter((n) => n.startsWith('segment-'))
    : [];
const runDirs = (state: string): string[] =>
  readdirSync(join(state, 'runs')).filter((n) => n.startsWith('run-'));

describe('what a run leaves on disk', { timeout: 300_000 }, () => {
  it('by default: no journal once every event is delivered, no per-event record, and replay says why not', async () => {
    const state = join(tempDir(), 'state');
    expect((await etl(['run', 'data/test_data.csv', '--state-dir', state])).code).toBe(0);
    expect(segments(state)).toEqual([]);
    const [run] = runDirs(state);
    expect(readdirSync(join(state, 'runs', run ?? '')).sort()).toEqual([
      'errors.ndjson',
      'source.json',
      'summary.json',
      'tally.json',
    ]);
    // The counts and timings are still there for etl runs.
    const runs = JSON.parse((await etl(['runs', '--json', '--state-dir', state])).stdout) as object[];
    expect(runs[0]).toMatchObject({ extracted: 5, loaded: 5, failed: 0 });
    expect(runs[0]).toHaveProperty('finishedAt');
    const events = await etl(['events', '--state-dir', state]);
    expect(events.code).toBe(0);
    expect(events.stderr).toMatch(
      /^etl: run run-\S+ has no per-event record; it is opt-in: .*--record-events/,
    );
    const replay = await etl(['replay', '--from', '2026-01-01T00:00:00Z', '--state-dir', state]);
    expect(replay.code).toBe(2);
    expect(replay.stderr).toBe(
      'etl: there is no archive to replay: the local bus keeps events only until they are delivered, ' +
        'unless it runs with --archive (etl up --archive, etl run --archive)\n',
    );
  });

  it('--archive keeps the segments, is remembered by later runs, and --no-archive lets them go', async () => {
    const state = join(tempDir(), 'state');
    const first = await etl(['run', 'data/test_data.csv', '--archive-retention', '3', '--state-dir', state]);
    expect(first.code).toBe(0);
    expect(JSON.parse(readFileSync(join(state, 'archive.json'), 'utf8'))).toEqual({
      enabled: true,
      retentionDays: 3,
    });
    expect(segments(state).length).toBeGreaterThan(0);
    // No flag: the archive stays on.
    expect((await etl(['run', 'data/test_data.csv', '--state-dir', state])).code).toBe(0);
    expect(segments(state).length).toBeGreaterThan(0);
    const off = await etl(['run', 'data/test_data.csv', '--no-archive', '--state-dir', state]);
    expect(off.code).toBe(0);
    expect(segments(state)).toEqual([]);
    expect(JSON.parse(readFileSync(join(state, 'archive.json'), 'utf8'))).toMatchObject({ enabled: false });
    const contradiction = await etl([
      'run',
      'data/test_data.csv',
      '--no-archive',
      '--archive-retention',
      '3',
    ]);
    expect(contradiction).toMatchObject({ code: 2 });
    expect(contradiction.stderr).toBe('etl: --archive-retention and --no-archive contradict each other\n');
  });

  it('etl gc drops archived segments past the retention, and only those', async () => {
    const state = join(tempDir(), 'state');
    expect((await etl(['run', 'data/test_data.csv', '--archive', '--state-dir', state])).code).toBe(0);
    const kept = await etl(['gc', '--state-dir', state]);
    expect(kept).toMatchObject({ code: 0, stdout: 'etl gc: freed 0 KB (the archive keeps 7 days)\n' });
    expect(segments(state).length).toBeGreaterThan(0);
    const old = new Date(Date.now() - 8 * 24 * 3600 * 1000);
    for (const name of segments(state)) utimesSync(join(state, 'bus', name), old, old);
    const freed = await etl(['gc', '--state-dir', state]);
    expect(freed.code).toBe(0);
    expect(freed.stdout).toMatch(/^etl gc: freed \d+ KB \(the archive keeps 7 days\)\n$/);
    expect(segments(state)).toEqual([]);
  });
});

describe('etl reset', { timeout: 300_000 }, () => {
  it('asks first: without a terminal it needs --yes, then deletes the data and keeps the key', async () => {
    const dir = tempDir();
    const state = join(dir, 'state');
    const mapping = {
      key: 'id',
      columns: {
        ID: { attribute: 'id', type: 'string', required: true },
        Zip: { attribute: 'zip', type: 'string', sensitive: true },
      },
    };
    writeFileSync(join(dir, 'secret.json'), JSON.stringify(mapping));
    const run = await etl([
      'run',
      'data/test_data.csv',
      '--mapping',
      join(dir, 'secret.json'),
      '--archive',
      '--state-dir',
      state,
    ]);
    expect(run.code).toBe(0);
    const key = readFileSync(join(state, 'keys', 'master.key'));

    const refused = await etl(['reset', '--state-dir', state]);
    expect(refused).toMatchObject({ code: 2, stdout: '' });
    expect(refused.stderr).toBe(
      'etl: reset deletes data: pass --yes to confirm when stdin is not a terminal\n',
    );
    expect(existsSync(join(state, 'dynamodb'))).toBe(true);

    const reset = await etl(['reset', '--yes', '--state-dir', state]);
    expect(reset.stderr).toBe('');
    expect(reset.code).toBe(0);
    expect(reset.stdout).toMatch(
      /^etl: reset: |^etl reset: deleted the table, the runs .*kept the master key/,
    );
    for (const name of ['dynamodb', 'runs', 'bus']) expect(existsSync(join(state, name))).toBe(false);
    expect(readFileSync(join(state, 'keys', 'master.key'))).toEqual(key);

    // The next run starts from nothing: the table holds only what it loads.
    expect((await etl(['run', 'data/test_data.csv', '--state-dir', state])).code).toBe(0);
    const items = JSON.parse((await etl(['scan', '--json', '--state-dir', state])).stdout) as object[];
    expect(items).toHaveLength(5);
    expect(runDirs(state)).toHaveLength(1);
  });

  it('refuses while another etl process holds the state directory', async () => {
    const state = join(tempDir(), 'state');
    mkdirSync(join(state, 'runs'), { recursive: true });
    // This test process stands for a running etl up.
    writeFileSync(join(state, 'lock'), JSON.stringify({ pid: process.pid }));
    const reset = await etl(['reset', '--yes', '--state-dir', state]);
    expect(reset.code).toBe(2);
    expect(reset.stderr).toMatch(/^etl: the state directory \S+ is in use by another etl process/);
    expect(existsSync(join(state, 'runs'))).toBe(true);
  });
});

describe('the running stack without an archive', { timeout: 300_000 }, () => {
  it('lists no archive, and StartReplay says the bus keeps none', async () => {
    const t = await startTestStack();
    try {
      expect((await t.events.send(new ListArchivesCommand({}))).Archives).toEqual([]);
      await expect(
        t.events.send(
          new StartReplayCommand({
            ReplayName: 'r',
            EventSourceArn: `arn:aws:events:us-east-1:000000000000:archive/${t.stack.busName}-archive`,
            EventStartTime: new Date(Date.now() - 60_000),
            EventEndTime: new Date(),
            Destination: { Arn: `arn:aws:events:us-east-1:000000000000:event-bus/${t.stack.busName}` },
          }),
        ),
      ).rejects.toThrow(
        /does not exist\. The local bus keeps no archive: create one \(CreateArchive\) or start etl up with --archive\./,
      );
      const replay = await etl([
        'replay',
        '--from',
        new Date(Date.now() - 60_000).toISOString(),
        '--state-dir',
        t.stateDir,
      ]);
      expect(replay.code).toBe(2);
      expect(replay.stderr).toMatch(
        /^etl: there is no archive to replay: .*; the running stack reports none\n$/,
      );
    } finally {
      await t.close();
    }
  });
});
