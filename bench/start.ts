/**
 * The CLI's start time against a bare `node -e ''` on the same machine: the median wall time of
 * repeated runs, each command run in turn so that load on the machine falls on all of them alike.
 */
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';

export interface StartTimes {
  runs: number;
  /** Median milliseconds per command line, bare node first. */
  medians: { label: string; ms: number }[];
}

const EVENT = JSON.stringify({
  id: '1',
  account: '000000000000',
  source: 'cdkpatterns.the-eventbridge-etl',
  time: '2024-05-01T12:00:00Z',
  region: 'us-east-1',
  resources: [],
  'detail-type': 's3RecordExtraction',
  detail: { status: 'extracted' },
});

const COMMANDS: { label: string; args: string[] }[] = [
  { label: "node -e ''", args: ['-e', ''] },
  { label: 'etl --version', args: ['bin/etl.js', '--version'] },
  {
    label: 'etl test-event-pattern',
    args: [
      'bin/etl.js',
      'test-event-pattern',
      '--event-pattern',
      '{"source":["cdkpatterns.the-eventbridge-etl"]}',
      '--event',
      EVENT,
    ],
  },
  { label: 'etl --help', args: ['bin/etl.js', '--help'] },
];

export function measureStartTimes(runs = 20): StartTimes {
  const samples = COMMANDS.map(() => [] as number[]);
  for (let i = 0; i < runs + 2; i++) {
    COMMANDS.forEach((command, index) => {
      const started = performance.now();
      const result = spawnSync(process.execPath, command.args, { stdio: 'ignore' });
      const ms = performance.now() - started;
      if (result.status !== 0) throw new Error(`${command.label} exited ${result.status}`);
      // The first two rounds warm the disk cache.
      if (i >= 2) samples[index]?.push(ms);
    });
  }
  const median = (values: number[]): number => {
    const sorted = [...values].sort((a, b) => a - b);
    return sorted[Math.floor(sorted.length / 2)] ?? NaN;
  };
  return { runs, medians: COMMANDS.map((c, i) => ({ label: c.label, ms: median(samples[i] ?? []) })) };
}
