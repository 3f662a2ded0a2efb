/**
 * The live dashboard (`/_etl/` on `etl up`'s edge, or its own port with `etl run --dashboard`): a
 * static page (index.html, app.js, style.css beside this module, uPlot from node_modules) and the
 * JSON it reads under `/_etl/api/`:
 *
 * - `GET  /_etl/api/stream`               server-sent events: `init` (the throughput history), then a
 *                                          `snapshot` a second, whatever the event rate
 * - `GET  /_etl/api/snapshot`             the same snapshot, once
 * - `GET  /_etl/api/runs/<run>/errors`    a run's failed rows (row, stage, column, reason; no values)
 * - `GET  /_etl/api/runs/<run>/errors.csv` the failed rows with their values, to fix and run again
 * - `GET  /_etl/api/dlq`                  the dead letters (target, run, row, attempts, reason)
 * - `POST /_etl/api/dlq/redrive`          `{"target"?: name}` (JSON only): redrives in-process
 *
 * Everything is read from what the pipeline already keeps: its tally, its metrics (LocalMetrics),
 * its bus's queues, its run records and dead-letter queues. Nothing in a snapshot is a row's value:
 * the tail names events (id, time, source, detail-type, run, row, matched rules), never their detail.
 */
import { readFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { UserError } from '../../../pipeline/errors.ts';
import { isSafeRunId } from '../../../pipeline/run-id.ts';
import type { AnyEvent } from '../bus.ts';
import { DeadLetterStore } from '../dead-letters.ts';
import { exportFailedRowsCsv, type FailedRowsExportOptions } from '../failed-rows-export.ts';
import type { MetricsSnapshot } from '../metrics.ts';
import type { LocalPipeline, RunProgress } from '../pipeline.ts';
import { ProgressTracker } from '../progress.ts';
import { type RunState, runState, type RunSummary } from '../runs.ts';

export const DASHBOARD_PATH = '/_etl/';
const API = '/_etl/api/';
/** Server-sent event streams at once: each costs a snapshot a second. */
export const DEFAULT_MAX_CLIENTS = 8;
const HISTORY_POINTS = 600;
const TAIL_SIZE = 50;
/** Tail entries a snapshot carries at most: the newest. */
const TAIL_PER_SNAPSHOT = 20;
const RUNS_SHOWN = 20;
/**
 * The runs' records are read again this often, and whenever a run starts or ends here (a run too
 * short to be seen in progress shows within this).
 */
const RUNS_REFRESH_MS = 1_000;
const ERRORS_LIMIT = 500;
const DLQ_LIMIT = 200;

export interface RunView {
  run: string;
  file: string | null;
  state: RunState;
  extracted: number;
  transformed: number;
  loaded: number;
  failed: number;
  deadLettered: number;
  /** 0 to 100; an estimate while the row total is. */
  percent: number;
  /** The rows the file holds (estimated until extraction ends: `exact` false). */
  total: number;
  exact: boolean;
  rowsPerSecond: number;
  /** Seconds left at the current rate; null when unknown or finished. */
  etaSeconds: number | null;
  startedAt: string | null;
  finishedAt: string | null;
  error: string | null;
}

export interface TailEntry {
  id: string;
  time: string;
  source: string;
  detailType: string;
  run: string | null;
  row: number | null;
  rules: string[];
}

export interface Snapshot {
  time: number;
  runs: RunView[];
  /** Rows (inputs) a second per stage over the last interval: [time in s, ...per stage]. */
  throughput: number[];
  stages: string[];
  targets: {
    target: string;
    queued: number;
    inFlight: number;
    retries: number;
    deadLettered: number;
    dlq: number;
  }[];
  /** Every rule on the bus (the pipeline's and users'), with the events it matched since the start. */
  rules: { name: string; targets: string[]; enabled: boolean; matched: number }[];
  tail: TailEntry[];
}

export interface DashboardOptions {
  pipeline: LocalPipeline;
  /** Opens the S3 object version a run read (etl up), for the failed rows' CSV. */
  openObject?: FailedRowsExportOptions['openObject'];
  maxClients?: number;
  /** How often a snapshot is taken and pushed (default 1 s). */
  intervalMs?: number;
  onError?: (error: unknown) => void;
}

/** The static files the page is made of, by the name it asks for. */
function assetFiles(): Record<string, { path: string; type: string }> {
  const here = locateAssets();
  const require = createRequire(import.meta.url);
  const uplot = dirname(require.resolve('uplot/package.json'));
  return {
    'index.html': { path: join(here, 'index.html'), type: 'text/html; charset=utf-8' },
    'app.js': { path: join(here, 'app.js'), type: 'text/javascript; charset=utf-8' },
    'style.css': { path: join(here, 'style.css'), type: 'text/css; charset=utf-8' },
    'uplot.js': { path: join(uplot, 'dist', 'uPlot.iife.min.js'), type: 'text/javascript; charset=utf-8' },
    'uplot.css': { path: join(uplot, 'dist', 'uPlot.min.css'), type: 'text/css; charset=utf-8' },
  };
}

/**
 * The page's directory: beside this module when run from source; the CLI's bundle (dist/) lives
 * elsewhere, so the package's `src/runtime/local/dashboard/` is looked for above it.
 */
function locateAssets(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  if (existsSync(join(here, 'index.html'))) return here;
  for (let dir = here; dirname(dir) !== dir; dir = dirname(dir)) {
    const candidate = join(dir, 'src', 'runtime', 'local', 'dashboard');
    if (existsSync(join(candidate, 'index.html'))) return candidate;
  }
  throw new Error(`the dashboard's files are missing (looked beside ${here} and above it)`);
}

const SECURITY_HEADERS = {
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  // Nothing but this origin's own files: no inline script, no other site.
  'content-security-policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
};

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(text),
  });
  res.end(text);
}

function field(value: unknown, key: string): unknown {
  return value !== null && typeof value === 'object' ? (value as Record<string, unknown>)[key] : undefined;
}

function text(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

function rowNumber(value: unknown): number | null {
  return typeof value === 'number' && Number.isSafeInteger(value) ? value : null;
}

export class Dashboard {
  private readonly pipeline: LocalPipeline;
  private readonly clients = new Set<ServerResponse>();
  private readonly maxClients: number;
  private readonly timer: NodeJS.Timeout;
  private readonly unsubscribe: () => void;
  private readonly matched = new Map<string, number>();
  /** The newest accepted events, a ring: entry `seq % TAIL_SIZE` (the entries are built when sent). */
  private readonly tail: { event: AnyEvent; rules: readonly string[] }[] = [];
  private tailSeq = 0;
  private sentTailSeq = 0;
  private readonly history: number[][] = [];
  private readonly stages: string[];
  private readonly trackers = new Map<string, ProgressTracker>();
  /** Each active run's last view: shown until its summary is on disk. */
  private readonly lastViews = new Map<string, RunView>();
  private listed: (RunSummary & { unfinished?: true })[] = [];
  private listedAt = 0;
  private previous: { time: number; settled: Record<string, number>; extracted: Map<string, number> };
  private latest: Snapshot | undefined;
  private sampling = false;
  private redriving = false;
  private readonly assets = new Map<string, Buffer>();
  private readonly files = assetFiles();
  private readonly deadLetters: DeadLetterStore;
  private readonly onError: (error: unknown) => void;

  constructor(private readonly options: DashboardOptions) {
    this.pipeline = options.pipeline;
    this.maxClients = options.maxClients ?? DEFAULT_MAX_CLIENTS;
    this.onError = options.onError ?? (() => undefined);
    this.deadLetters = new DeadLetterStore(this.pipeline.paths.dlq);
    this.stages = ['extract', ...Object.keys(this.pipeline.definition.delivery)];
    this.previous = { time: Date.now(), settled: {}, extracted: new Map() };
    this.unsubscribe = this.pipeline.bus.onAccepted((event, rules) => this.accepted(event, rules));
    this.timer = setInterval(() => void this.tick(), options.intervalMs ?? 1_000);
    this.timer.unref();
  }

  /** Whether a request path is the dashboard's (health and metrics are the edge's own). */
  static owns(path: string): boolean {
    return (
      path === '/_etl' || path === DASHBOARD_PATH || path.startsWith('/_etl/assets/') || path.startsWith(API)
    );
  }

  /** Pushes a last snapshot (the final numbers), then ends the event streams and stops sampling. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    while (this.sampling) await new Promise((resolve) => setTimeout(resolve, 10));
    await this.tick();
    this.unsubscribe();
    for (const client of this.clients) client.end('event: end\ndata: {}\n\n');
    this.clients.clear();
  }

  private accepted(event: AnyEvent, rules: readonly string[]): void {
    for (const rule of rules) this.matched.set(rule, (this.matched.get(rule) ?? 0) + 1);
    // Kept by reference (a million-row run puts millions): read when a snapshot is sent.
    this.tail[this.tailSeq++ % TAIL_SIZE] = { event, rules };
  }

  /** The tail entries accepted after `seq`, oldest first, at most `max`: names only, never values. */
  private tailSince(seq: number, max: number): TailEntry[] {
    const entries: TailEntry[] = [];
    for (let n = Math.max(seq, this.tailSeq - Math.min(max, TAIL_SIZE)); n < this.tailSeq; n++) {
      const { event, rules } = this.tail[n % TAIL_SIZE] as { event: AnyEvent; rules: readonly string[] };
      entries.push({
        id: event.id,
        time: event.time,
        source: event.source,
        detailType: event['detail-type'],
        run: text(field(event.detail, 'run')),
        row: rowNumber(field(event.detail, 'row')),
        rules: [...rules],
      });
    }
    return entries;
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const path = url.pathname;
    const method = req.method ?? 'GET';
    if (path === '/_etl') {
      req.resume();
      res.writeHead(308, { location: DASHBOARD_PATH, 'content-length': 0 });
      res.end();
      return;
    }
    if (path === `${API}dlq/redrive`) {
      if (method !== 'POST') {
        req.resume();
        res.setHeader('allow', 'POST');
        send(res, 405, { error: 'redrive takes POST' });
        return;
      }
      void this.redrive(req, res);
      return;
    }
    req.resume();
    if (method !== 'GET' && method !== 'HEAD') {
      res.setHeader('allow', 'GET');
      send(res, 405, { error: `${path} takes GET` });
      return;
    }
    if (path === DASHBOARD_PATH) {
      void this.asset(res, 'index.html');
      return;
    }
    if (path.startsWith('/_etl/assets/')) {
      void this.asset(res, path.slice('/_etl/assets/'.length));
      return;
    }
    if (path === `${API}stream`) {
      this.stream(res);
      return;
    }
    if (path === `${API}snapshot`) {
      void this.current().then(
        (snapshot) => send(res, 200, snapshot),
        (error) => this.fail(res, error),
      );
      return;
    }
    if (path === `${API}dlq`) {
      void this.letters(res);
      return;
    }
    const errors = /^\/_etl\/api\/runs\/([^/]+)\/(errors|errors\.csv)$/.exec(path);
    if (errors) {
      let run = '';
      try {
        run = decodeURIComponent(errors[1] as string);
      } catch {
        // A malformed escape names no run.
      }
      if (!isSafeRunId(run) || !this.pipeline.runs.hasSource(run)) {
        send(res, 404, { error: `no run ${run}` });
        return;
      }
      if (errors[2] === 'errors') void this.failedRows(res, run);
      else void this.failedRowsCsv(res, run);
      return;
    }
    send(res, 404, { error: `nothing at ${path}` });
  }

  private fail(res: ServerResponse, error: unknown): void {
    if (error instanceof UserError) {
      send(res, 409, { error: error.message });
      return;
    }
    this.onError(error);
    send(res, 500, { error: 'internal error' });
  }

  private async asset(res: ServerResponse, name: string): Promise<void> {
    const file = Object.hasOwn(this.files, name) ? this.files[name] : undefined;
    if (!file) {
      send(res, 404, { error: `no asset ${name}` });
      return;
    }
    try {
      let body = this.assets.get(name);
      if (!body) this.assets.set(name, (body = await readFile(file.path)));
      res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': file.type, 'content-length': body.length });
      res.end(body);
    } catch (error) {
      this.fail(res, error);
    }
  }

  private stream(res: ServerResponse): void {
    if (this.clients.size >= this.maxClients) {
      send(res, 503, { error: `at most ${this.maxClients} dashboards at once` });
      return;
    }
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      connection: 'keep-alive',
    });
    this.clients.add(res);
    // The response's close, not the request's: a request closes once its (empty) body is read.
    const drop = (): void => void this.clients.delete(res);
    res.on('close', drop);
    res.on('error', drop);
    void this.current().then(
      (snapshot) => {
        if (!this.clients.has(res)) return;
        res.write(`event: init\ndata: ${JSON.stringify({ stages: this.stages, history: this.history })}\n\n`);
        res.write(`event: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n`);
      },
      (error) => this.onError(error),
    );
  }

  /** The latest snapshot while the page is watched, else a fresh one (the rates as of the last tick). */
  private async current(): Promise<Snapshot> {
    if (this.latest) return this.latest;
    const now = Date.now();
    const point = this.history.at(-1) ?? [Math.floor(now / 1000), ...this.stages.map(() => 0)];
    return this.snapshot(
      now,
      await this.pipeline.metrics.snapshot(),
      this.pipeline.activeProgress(),
      point,
      false,
    );
  }

  /**
   * Once a second: the throughput point (kept for the chart's history, watched or not), and for the
   * pages watching, a snapshot. Nobody watching, the runs' records are not read.
   */
  private async tick(): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    try {
      const now = Date.now();
      const metrics = await this.pipeline.metrics.snapshot();
      const active = this.pipeline.activeProgress();
      // A run's rate counts from when it is first seen, watched or not.
      for (const progress of active)
        if (!this.trackers.has(progress.run)) this.trackers.set(progress.run, new ProgressTracker());
      const activeRuns = new Set(active.map((p) => p.run));
      for (const run of this.trackers.keys()) if (!activeRuns.has(run)) this.trackers.delete(run);
      const point = this.throughput(now, metrics, active);
      this.history.push(point);
      if (this.history.length > HISTORY_POINTS) this.history.shift();
      if (this.clients.size === 0) {
        this.latest = undefined;
        return;
      }
      const snapshot = (this.latest = await this.snapshot(now, metrics, active, point, true));
      const message = `event: snapshot\ndata: ${JSON.stringify(snapshot)}\n\n`;
      for (const client of this.clients) {
        // A client that does not keep up misses snapshots rather than piling them up here.
        if (client.writableNeedDrain) continue;
        client.write(message);
      }
    } catch (error) {
      this.onError(error);
    } finally {
      this.sampling = false;
    }
  }

  /** What the page shows; `consumeTail`: the tail entries sent are not sent again. */
  private async snapshot(
    now: number,
    metrics: MetricsSnapshot,
    active: RunProgress[],
    throughput: number[],
    consumeTail: boolean,
  ): Promise<Snapshot> {
    const runs = await this.runViews(active, now);
    const loads = this.pipeline.bus.targetLoads();
    const targets = Object.entries(loads).map(([target, load]) => ({
      target,
      queued: load.queued,
      inFlight: load.inFlight,
      retries: metrics.retries[target] ?? 0,
      deadLettered: metrics.deadLettered[target] ?? 0,
      dlq: metrics.dlq[target] ?? 0,
    }));
    const rules = this.pipeline.bus.listRules().map((r) => ({
      name: r.name,
      targets: [...r.targets],
      enabled: r.enabled,
      matched: this.matched.get(r.name) ?? 0,
    }));
    const tail = this.tailSince(this.sentTailSeq, TAIL_PER_SNAPSHOT);
    if (consumeTail) this.sentTailSeq = this.tailSeq;
    return { time: now, runs, throughput, stages: this.stages, targets, rules, tail };
  }

  /** Inputs a second per stage since the last tick: extract from the runs' tallies, the rest from the metrics. */
  private throughput(now: number, metrics: MetricsSnapshot, active: RunProgress[]): number[] {
    const seconds = Math.max((now - this.previous.time) / 1000, 0.001);
    let extracted = 0;
    const extractedNow = new Map<string, number>();
    for (const progress of active) {
      extractedNow.set(progress.run, progress.extracted);
      extracted += Math.max(0, progress.extracted - (this.previous.extracted.get(progress.run) ?? 0));
    }
    const settledNow: Record<string, number> = {};
    const rates = [Math.round(extracted / seconds)];
    for (const stage of this.stages.slice(1)) {
      const counts = metrics.stages[stage];
      settledNow[stage] = counts ? counts.done + counts.failed : 0;
      rates.push(Math.round(Math.max(0, settledNow[stage] - (this.previous.settled[stage] ?? 0)) / seconds));
    }
    this.previous = { time: now, settled: settledNow, extracted: extractedNow };
    return [Math.floor(now / 1000), ...rates];
  }

  private async runViews(active: RunProgress[], now: number): Promise<RunView[]> {
    const activeRuns = new Set(active.map((p) => p.run));
    // A run that just left the active set has its summary written next: read the records again.
    const finishing = [...this.lastViews.keys()].some((run) => !activeRuns.has(run));
    const started = active.some((p) => !this.lastViews.has(p.run));
    if (finishing || started || now - this.listedAt >= RUNS_REFRESH_MS) {
      this.listed = await this.pipeline.runs.list();
      this.listedAt = now;
    }
    const views = new Map<string, RunView>();
    for (const summary of this.listed.slice(-RUNS_SHOWN)) {
      const last = this.lastViews.get(summary.run);
      if (summary.unfinished && last) views.set(summary.run, last);
      else views.set(summary.run, finishedView(summary));
      if (!summary.unfinished) this.lastViews.delete(summary.run);
    }
    for (const progress of active) {
      let tracker = this.trackers.get(progress.run);
      if (!tracker) this.trackers.set(progress.run, (tracker = new ProgressTracker()));
      const view = activeView(progress, tracker, now, views.get(progress.run));
      this.lastViews.set(progress.run, view);
      views.set(progress.run, view);
    }
    for (const run of this.trackers.keys()) if (!activeRuns.has(run)) this.trackers.delete(run);
    // Newest first.
    return [...views.values()].reverse();
  }

  private async failedRows(res: ServerResponse, run: string): Promise<void> {
    try {
      const rows: {
        row: number | null;
        stage: string | null;
        column: string | null;
        reason: string | null;
      }[] = [];
      let more = false;
      for await (const record of this.pipeline.runs.readErrors(run)) {
        if (rows.length >= ERRORS_LIMIT) {
          more = true;
          break;
        }
        rows.push({
          row: rowNumber(record.row),
          stage: text(record.stage),
          column: text(record.column),
          reason: text(record.reason),
        });
      }
      send(res, 200, { run, rows, more });
    } catch (error) {
      this.fail(res, error);
    }
  }

  private async failedRowsCsv(res: ServerResponse, run: string): Promise<void> {
    let started = false;
    try {
      await exportFailedRowsCsv(this.pipeline.runs, run, {
        ...(this.options.openObject ? { openObject: this.options.openObject } : {}),
        write: async (bytes) => {
          if (!started) {
            started = true;
            res.writeHead(200, {
              ...SECURITY_HEADERS,
              'content-type': 'text/csv',
              'content-disposition': `attachment; filename="${run}-failed-rows.csv"`,
            });
          }
          if (!res.write(bytes)) await new Promise((resolve) => res.once('drain', resolve));
        },
      });
      if (!started) send(res, 200, '');
      else res.end();
    } catch (error) {
      if (started) res.destroy();
      else this.fail(res, error);
    }
  }

  private async letters(res: ServerResponse): Promise<void> {
    try {
      const letters = [];
      let more = false;
      for await (const letter of this.deadLetters.read()) {
        if (letters.length >= DLQ_LIMIT) {
          more = true;
          break;
        }
        letters.push({
          time: letter.time,
          target: letter.target,
          id: letter.event.id,
          detailType: letter.event['detail-type'],
          run: text(field(letter.event.detail, 'run')),
          row: rowNumber(field(letter.event.detail, 'row')),
          attempts: letter.attempts,
          reason: letter.reason,
        });
      }
      send(res, 200, { letters, more });
    } catch (error) {
      this.fail(res, error);
    }
  }

  /**
   * Redrives the dead letters (of one target, or all). JSON bodies only: a form on another site
   * cannot send one without a preflight, which the edge's Origin check refuses anyway.
   */
  private async redrive(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const type = (req.headers['content-type'] ?? '').split(';', 1)[0]?.trim().toLowerCase();
    if (type !== 'application/json') {
      req.resume();
      send(res, 415, { error: 'a redrive takes a JSON body (content-type: application/json)' });
      return;
    }
    let body: unknown;
    try {
      const chunks: Buffer[] = [];
      let size = 0;
      for await (const chunk of req) {
        size += (chunk as Buffer).length;
        if (size > 4096) throw new SyntaxError('too large');
        chunks.push(chunk as Buffer);
      }
      const raw = Buffer.concat(chunks).toString('utf8');
      body = raw.trim() === '' ? {} : JSON.parse(raw);
    } catch {
      req.resume();
      send(res, 400, { error: 'the body must be a small JSON object: {} or {"target": "load"}' });
      return;
    }
    const target = field(body, 'target');
    if (
      body === null ||
      typeof body !== 'object' ||
      Array.isArray(body) ||
      (target !== undefined && typeof target !== 'string')
    ) {
      send(res, 400, { error: 'the body must be a JSON object: {} or {"target": "load"}' });
      return;
    }
    if (target !== undefined && !Object.hasOwn(this.pipeline.definition.delivery, target)) {
      send(res, 404, { error: `no target ${target}` });
      return;
    }
    if (this.redriving) {
      send(res, 409, { error: 'a redrive is under way' });
      return;
    }
    this.redriving = true;
    try {
      const targets = await this.pipeline.redriveDeadLetters(target);
      // The runs it completed have new records: read them on the next tick.
      this.listedAt = 0;
      send(res, 200, { targets });
    } catch (error) {
      this.fail(res, error);
    } finally {
      this.redriving = false;
    }
  }
}

function activeView(
  progress: RunProgress,
  tracker: ProgressTracker,
  now: number,
  recorded: RunView | undefined,
): RunView {
  const view = tracker.view(progress, now);
  const left = view.total - view.settled;
  return {
    run: progress.run,
    file: progress.file ?? recorded?.file ?? null,
    state: 'running',
    extracted: progress.extracted,
    transformed: progress.transformed,
    loaded: progress.loaded,
    failed: progress.failed,
    deadLettered: progress.deadLettered ?? 0,
    percent: Math.floor(view.fraction * 1000) / 10,
    total: view.total,
    exact: view.exact,
    rowsPerSecond: Math.round(view.rowsPerSecond),
    etaSeconds: view.rowsPerSecond > 0 && left > 0 ? Math.ceil(left / view.rowsPerSecond) : null,
    startedAt: recorded?.startedAt ?? null,
    finishedAt: null,
    error: null,
  };
}

/** A run from its records: this process holds the state directory, so one without a summary runs. */
function finishedView(summary: RunSummary & { unfinished?: true }): RunView {
  const settled = summary.loaded + summary.failed;
  const total = summary.expected ?? summary.extracted;
  const state = runState(summary, true);
  const seconds =
    summary.startedAt && summary.finishedAt
      ? (Date.parse(summary.finishedAt) - Date.parse(summary.startedAt)) / 1000
      : 0;
  return {
    run: summary.run,
    file: summary.file ?? null,
    state,
    extracted: summary.extracted,
    transformed: summary.transformed,
    loaded: summary.loaded,
    failed: summary.failed,
    deadLettered: summary.deadLettered ?? 0,
    percent: state === 'completed' ? 100 : total > 0 ? Math.floor((settled / total) * 1000) / 10 : 0,
    total,
    exact: !summary.unfinished,
    rowsPerSecond: seconds > 0 ? Math.round(settled / seconds) : 0,
    etaSeconds: null,
    startedAt: summary.startedAt ?? null,
    finishedAt: summary.finishedAt ?? null,
    error: summary.error ?? null,
  };
}
