/**
 * npm run bench -- [--rows N[,N...]] [--formats gzip,jsonl] [--skip-patterns] [--skip-load] [--skip-start]
 * Measures, in one run on this machine: the pipeline's rows/s and peak RSS, the direct-load
 * baseline's, their ratio; the pattern engine's evaluation rates; and the CLI's start time against
 * bare node's.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { Command } from 'commander';
import { generateCsv, generateJsonl, gzipFile } from './generate.ts';
import { runPatternBench } from './patterns.ts';
import { measureStartTimes } from './start.ts';

const run = promisify(execFile);

interface LoadResult {
  mode: string;
  rows: number;
  seconds: number;
  rowsPerSec: number;
  peakRssMb: number;
}

/**
 * The measured loads run compiled, as the CLI does (dist/): bundled by esbuild with node_modules
 * external, so that neither pays for tsx's loader thread (about 27 MB of RSS) nor its compiling.
 */
async function buildLoadRun(outfile: string): Promise<void> {
  const { build } = await import('esbuild');
  await build({
    entryPoints: ['bench/load-run.ts'],
    outfile,
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    logLevel: 'warning',
  });
}

async function measure(
  loadRun: string,
  mode: 'pipeline' | 'baseline',
  file: string,
  stateDir: string,
): Promise<LoadResult> {
  const { stdout } = await run(process.execPath, [loadRun, mode, file, stateDir], {
    maxBuffer: 1 << 20,
    env: { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  });
  return JSON.parse(stdout.trim().split('\n').at(-1) as string) as LoadResult;
}

const options = new Command('bench')
  .option('--rows <n[,n...]>', 'CSV sizes to load', '100000')
  .option('--formats <list>', 'inputs the pipeline also loads, besides plain CSV: gzip, jsonl', 'gzip,jsonl')
  .option('--skip-patterns', 'skip the pattern engine benchmark')
  .option('--skip-load', 'skip the load benchmark')
  .option('--skip-start', "skip the CLI's start time")
  .parse(process.argv)
  .opts<{ rows: string; formats: string; skipPatterns?: boolean; skipLoad?: boolean; skipStart?: boolean }>();
const formats = new Set(options.formats.split(',').filter(Boolean));

const sizes = options.rows.split(',').map((n) => Number(n.replaceAll('_', '')));
const dir = join('bench', '.data');
mkdirSync(dir, { recursive: true });
console.log(
  `machine: ${cpus().length} x ${cpus()[0]?.model.trim()}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`,
);

const loadRun = join(dir, 'load-run.mjs');
if (!options.skipLoad) await buildLoadRun(loadRun);

for (const rows of options.skipLoad ? [] : sizes) {
  const file = join(dir, `rows-${rows}.csv`);
  await generateCsv(file, rows);
  // Each mode starts from an empty table on disk, as a first run on a laptop would.
  const fresh = (name: string): string => {
    const state = join(dir, name);
    rmSync(state, { recursive: true, force: true });
    return state;
  };
  const baseline = await measure(loadRun, 'baseline', file, fresh('state-baseline'));
  const pipeline = await measure(loadRun, 'pipeline', file, fresh('state-pipeline'));
  const fmt = (r: LoadResult) =>
    `${Math.round(r.rowsPerSec).toLocaleString('en')} rows/s, ${r.seconds.toFixed(1)} s, peak RSS ${Math.round(r.peakRssMb)} MB`;
  console.log(`\n${rows.toLocaleString('en')} rows`);
  console.log(`  baseline (csv-parse -> BatchWriteItem):  ${fmt(baseline)}`);
  console.log(`  pipeline (events through the local bus): ${fmt(pipeline)}`);
  console.log(`  ratio pipeline / baseline: ${(pipeline.rowsPerSec / baseline.rowsPerSec).toFixed(2)}`);
  // What a run leaves on disk with default settings, against the table it loaded.
  const state = join(dir, 'state-pipeline');
  const total = directoryBytes(state);
  const table = directoryBytes(join(state, 'dynamodb'));
  console.log(
    `  state directory after the run: ${mb(total)} MB, of which the table ${mb(table)} MB (${(total / table).toFixed(2)}x the table)`,
  );
  // The same rows as other inputs, through the same pipeline: what reading them costs.
  const others: [string, string, () => Promise<void>][] = [
    ['gzip', `${file}.gz`, () => gzipFile(file, `${file}.gz`)],
    ['jsonl', join(dir, `rows-${rows}.jsonl`), () => generateJsonl(join(dir, `rows-${rows}.jsonl`), rows)],
  ];
  for (const [format, path, make] of others) {
    if (!formats.has(format)) continue;
    await make();
    const result = await measure(loadRun, 'pipeline', path, fresh('state-pipeline'));
    const label = format === 'gzip' ? 'pipeline, the CSV gzipped:' : 'pipeline, as JSON Lines:  ';
    console.log(
      `  ${label}               ${fmt(result)} (${(result.rowsPerSec / pipeline.rowsPerSec).toFixed(2)}x plain CSV)`,
    );
    rmSync(path, { force: true });
  }
  rmSync(file, { force: true });
}

if (!options.skipPatterns) {
  const patterns = await runPatternBench();
  console.log('\npattern engine (one core)');
  console.log(
    `  seed's three rules:     ${Math.round(patterns.seedRulesEvalsPerSec).toLocaleString('en')} evaluations/s`,
  );
  console.log(
    `  among 1,000 mixed rules: ${Math.round(patterns.eventsPerSecAmong1000Rules).toLocaleString('en')} events/s`,
  );
}

if (!options.skipStart) {
  // The CLI as users run it: bin/etl.js over the build (npm run build) of the current sources.
  await run('npm', ['run', '--silent', 'build']);
  const { runs, medians } = measureStartTimes();
  const bare = medians[0]?.ms ?? NaN;
  console.log(`\nstart time (median wall time of ${runs} runs)`);
  for (const { label, ms } of medians) {
    const ratio = label === medians[0]?.label ? '' : ` (${(ms / bare).toFixed(1)}x bare node)`;
    console.log(`  ${label.padEnd(24)} ${Math.round(ms)} ms${ratio}`);
  }
}

/** Bytes of the files under a directory (what `du --apparent-size` counts). */
function directoryBytes(path: string): number {
  let total = 0;
  for (const entry of readdirSync(path, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) total += statSync(join(entry.parentPath, entry.name)).size;
  }
  return total;
}

function mb(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}
