/** `etl run FILE...`: each file through the pipeline to completion, then its tally. */
import type { Command } from 'commander';
import { SingleBar } from 'cli-progress';
import { assertReadableFile, LocalPipeline, type RunReport } from '../runtime/local/pipeline.ts';
import type { InputFormat } from '../pipeline/input-format.ts';
import type { DashboardServer } from '../runtime/local/dashboard/standalone.ts';
import { progressLine, ProgressTracker } from '../runtime/local/progress.ts';
import { UserError } from './errors.ts';
import {
  archiveRequestFromOptions,
  definitionFromOptions,
  parseInputFormat,
  parsePort,
  type PipelineOptions,
  withPipelineOptions,
  withStateDir,
} from './options.ts';

export function registerRun(program: Command): void {
  withPipelineOptions(
    withStateDir(
      program
        .command('run')
        .description('run CSV files through the pipeline; exit 0 only when every row loaded')
        .argument('<file...>', 'CSV or JSON Lines files, gzipped or not')
        .option('--json', 'one JSON object per line on stdout: progress every 2 s, then each run')
        .option(
          '--format <format>',
          'csv or jsonl (default: the mapping\'s "format", else by name: .jsonl and .ndjson are JSON Lines)',
          parseInputFormat,
        )
        .option(
          '--dashboard [port]',
          'serve the live dashboard on 127.0.0.1 (on PORT; default: any free port) while the files run; ' +
            'it stops with the run, showing its final numbers',
          parsePort,
        ),
    ),
  ).action(
    async (
      files: string[],
      options: {
        stateDir: string;
        json?: boolean;
        format?: InputFormat;
        dashboard?: number | true;
      } & PipelineOptions,
    ) => {
      const json = options.json === true;
      const definition = definitionFromOptions(options);
      // A missing file is the user's mistake: say so before starting anything.
      for (const file of files) await assertReadableFile(file);
      const pipeline = await LocalPipeline.start({
        stateDir: options.stateDir,
        definition,
        archive: archiveRequestFromOptions(options),
        recordEvents: options.recordEvents === true,
      });
      const reports: RunReport[] = [];
      let dashboard: DashboardServer | undefined;
      try {
        if (options.dashboard !== undefined) {
          const { DashboardServer, DashboardPortInUseError } =
            await import('../runtime/local/dashboard/standalone.ts');
          const port = options.dashboard === true ? 0 : options.dashboard;
          try {
            dashboard = await DashboardServer.listen({
              pipeline,
              port,
              onError: (error) => console.error(`etl run: dashboard: ${String(error)}`),
            });
          } catch (error) {
            if (error instanceof DashboardPortInUseError)
              throw new UserError(`--dashboard: ${error.message}; name another port, or none for a free one`);
            throw error;
          }
          if (json) console.log(JSON.stringify({ type: 'dashboard', url: dashboard.url }));
          else console.error(`etl run: dashboard at ${dashboard.url} (until the run ends)`);
        }
        for (const report of await pipeline.recover()) {
          if (!json) console.log(`recovered a run cut short earlier:`);
          printTally(report, { json, recovered: true });
        }
        const quarantined = pipeline.quarantineNotice();
        if (quarantined) console.error(`etl run: ${quarantined}`);
        for (const file of files) {
          const stopProgress = showProgress(file, pipeline, json);
          try {
            const report = await pipeline.runFile(file, options.format ? { format: options.format } : {});
            stopProgress();
            for (const warning of report.warnings ?? []) console.error(`etl: warning: ${warning}`);
            printTally(report, { json });
            reports.push(report);
          } finally {
            stopProgress();
          }
        }
      } finally {
        await dashboard?.close();
        await pipeline.close();
      }
      const fileError = reports.find((r) => r.error);
      const failed = reports.reduce((n, r) => n + r.counts.failed, 0);
      const deadLettered = reports.reduce((n, r) => n + (r.counts.deadLettered ?? 0), 0);
      const stateDir = options.stateDir === '.etl' ? '' : ` --state-dir ${options.stateDir}`;
      if (fileError?.error) {
        console.error(`etl: ${fileError.error.message}`);
        process.exitCode = 2;
        return;
      }
      if (failed > 0) {
        const runs = reports.filter((r) => r.counts.failed > 0).map((r) => r.run);
        console.error(
          `etl: ${rows(failed)} failed; see ${failed === 1 ? 'it' : 'them'} with: etl errors --run ${runs[0]}${stateDir}`,
        );
        process.exitCode = 1;
      }
      if (deadLettered > 0) {
        console.error(
          `etl: ${rows(deadLettered)} dead-lettered after their retries; see ${deadLettered === 1 ? 'it' : 'them'} ` +
            `with: etl dlq${stateDir}, and deliver again with: etl dlq redrive${stateDir}`,
        );
        process.exitCode = 1;
      }
      if (failed === 0 && deadLettered === 0 && reports.some((r) => r.counts.loaded < r.counts.extracted)) {
        console.error(
          'etl: some rows were neither loaded nor reported failed (see: etl events, after a run with --record-events)',
        );
        process.exitCode = 1;
      }
    },
  );
}

function rows(n: number): string {
  return `${n} row${n === 1 ? '' : 's'}`;
}

function printTally(report: RunReport, options: { json: boolean; recovered?: boolean }): void {
  const { counts } = report;
  if (options.json) {
    console.log(
      JSON.stringify({
        type: 'run',
        run: report.run,
        file: report.file,
        ...(options.recovered ? { recovered: true } : {}),
        counts,
        ...(report.repeatedKeys ? { repeatedKeys: report.repeatedKeys } : {}),
        ...(report.error ? { error: report.error.message } : {}),
      }),
    );
    return;
  }
  const counted: [string, number][] = [
    ['extracted', counts.extracted],
    ['transformed', counts.transformed],
    ['loaded', counts.loaded],
    ['failed', counts.failed],
    ['dead-lettered', counts.deadLettered ?? 0],
  ];
  const lines = [
    `${report.file} (${report.run})`,
    ...counted.map(([label, n]) => `  ${label.padEnd(15)}${n}`),
  ];
  const repeated = report.repeatedKeys ?? 0;
  if (repeated > 0) {
    lines.push(`  ${repeated} row${repeated === 1 ? '' : 's'} overwrote an earlier row with the same key`);
  }
  console.log(lines.join('\n'));
}

/**
 * A progress bar on a terminal, a line every few seconds otherwise (a JSON object on stdout with
 * --json); all from a fraction known from the start that never moves backwards. Returns the
 * function that stops it.
 */
function showProgress(file: string, pipeline: LocalPipeline, json: boolean): () => void {
  const tty = process.stderr.isTTY && !json;
  const bar = tty
    ? new SingleBar({
        format: `${file} [{bar}] {line}`,
        stream: process.stderr,
        hideCursor: true,
        clearOnComplete: true,
      })
    : undefined;
  const tracker = new ProgressTracker();
  let started = false;
  let lastLine = '';
  const timer = setInterval(
    () => {
      const progress = pipeline.progress();
      if (!progress) return;
      const view = tracker.view(progress);
      if (json) {
        console.log(JSON.stringify({ type: 'progress', run: progress.run, file, ...view }));
        return;
      }
      const line = progressLine(view);
      if (bar) {
        // Permille: the bar's total stays fixed while the row total is an estimate.
        if (!started) bar.start(1000, 0, { line });
        bar.update(Math.round(view.fraction * 1000), { line });
        started = true;
        return;
      }
      if (line !== lastLine) console.error(`${file}: ${line}`);
      lastLine = line;
    },
    tty ? 200 : 2_000,
  );
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    clearInterval(timer);
    if (started) bar?.stop();
  };
}
