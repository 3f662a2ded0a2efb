/**
 * The landing folder: CSV files dropped into a directory are each run once. The folder is polled; a
 * file is taken when its size and modification time are the same on two polls in a row (so a file
 * still being written waits), run, then moved to `processed/` (or `failed/` when it could not be
 * read as CSV). Names starting with `.` and ending in `.tmp`, `.part`, `.crdownload` or `.swp` are
 * never taken: write under such a name and rename for an atomic drop.
 */
import { mkdir, readdir, rename, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';

export const PROCESSED_DIR = 'processed';
export const FAILED_DIR = 'failed';
const IGNORED = /^\.|\.(tmp|part|crdownload|swp)$/i;

export type LandingOutcome = 'processed' | 'failed';

export interface LandingFolderOptions {
  dir: string;
  /** Poll interval; a file is taken on the second poll that sees it unchanged. */
  pollMs?: number;
  /** Runs the file; resolves with where it goes next. Throwing also sends it to `failed/`. */
  run: (path: string) => Promise<LandingOutcome>;
  onError?: (path: string, error: unknown) => void;
}

interface Seen {
  size: number;
  mtimeMs: number;
}

export class LandingFolder {
  private readonly seen = new Map<string, Seen>();
  /** Files run this session that could not be moved away: never run twice. */
  private readonly done = new Map<string, Seen>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private closed = false;

  constructor(private readonly options: LandingFolderOptions) {}

  get dir(): string {
    return this.options.dir;
  }

  async start(): Promise<void> {
    await mkdir(this.options.dir, { recursive: true });
    this.schedule();
  }

  /** One poll: notes sizes, runs the files that stood still since the last poll. */
  pollOnce(): Promise<void> {
    this.polling ??= this.poll().finally(() => (this.polling = undefined));
    return this.polling;
  }

  /** Moves a file away as if it had been taken (a run of it was finished some other way). */
  async settle(path: string, outcome: LandingOutcome): Promise<void> {
    try {
      await this.moveTo(path, outcome === 'processed' ? PROCESSED_DIR : FAILED_DIR);
    } catch (error) {
      this.options.onError?.(path, error);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.polling;
  }

  private schedule(): void {
    if (this.closed) return;
    this.timer = setTimeout(() => {
      void this.pollOnce().finally(() => this.schedule());
    }, this.options.pollMs ?? 1_000);
  }

  private async poll(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.options.dir);
    } catch (error) {
      this.options.onError?.(this.options.dir, error);
      return;
    }
    const present = new Set<string>();
    for (const name of names.sort()) {
      if (this.closed) return;
      if (IGNORED.test(name)) continue;
      const path = join(this.options.dir, name);
      const info = await stat(path).catch(() => undefined);
      if (!info?.isFile()) continue;
      present.add(name);
      const now = { size: info.size, mtimeMs: info.mtimeMs };
      const done = this.done.get(name);
      if (done && same(done, now)) continue;
      const before = this.seen.get(name);
      this.seen.set(name, now);
      if (!before || !same(before, now)) continue;
      this.seen.delete(name);
      await this.take(path, now);
    }
    for (const name of this.seen.keys()) if (!present.has(name)) this.seen.delete(name);
    for (const name of this.done.keys()) if (!present.has(name)) this.done.delete(name);
  }

  private async take(path: string, info: Seen): Promise<void> {
    let outcome: LandingOutcome;
    try {
      outcome = await this.options.run(path);
    } catch (error) {
      this.options.onError?.(path, error);
      outcome = 'failed';
    }
    try {
      await this.moveTo(path, outcome === 'processed' ? PROCESSED_DIR : FAILED_DIR);
    } catch (error) {
      this.done.set(basename(path), info);
      this.options.onError?.(path, error);
    }
  }

  /** Moves the file into a subfolder, never over an earlier file of the same name. */
  private async moveTo(path: string, subdir: string): Promise<void> {
    const dir = join(this.options.dir, subdir);
    await mkdir(dir, { recursive: true });
    const name = basename(path);
    let target = join(dir, name);
    if (await stat(target).catch(() => undefined)) {
      const ext = extname(name);
      const stamp = new Date().toISOString().replace(/[:.]/g, '-');
      target = join(dir, `${name.slice(0, name.length - ext.length)}.${stamp}${ext}`);
    }
    await rename(path, target);
  }
}

function same(a: Seen, b: Seen): boolean {
  return a.size === b.size && a.mtimeMs === b.mtimeMs;
}
