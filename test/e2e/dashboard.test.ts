/**
 * The live dashboard in a real browser: Debian's Chromium driven by playwright-core against a real
 * `etl up` stack (in-process, free port, temporary state). A file uploaded through the S3 endpoint
 * shows up as a run that moves to completed, its failed row is listed with its reason (and in the
 * CSV download), and dead-lettered events are redriven from the page.
 */
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureTable } from '../../src/runtime/local/dynalite.ts';
import { etl, tempDir } from '../support/cli.ts';
import { fiveAttempts } from '../support/definitions.ts';
import { startTestStack, type TestStack } from '../edge/support.ts';

const CHROMIUM = '/usr/bin/chromium';
const ROWS = 3_000;
/** Row 1,500 of the file (line 1,501) has no ID: the run's one failed row. */
const BAD_ROW = 1_500;

function csv(rows: number, badRow?: number): string {
  const lines = ['ID,HouseNum,Street,Town,Zip'];
  for (let i = 1; i <= rows; i++)
    lines.push(`${i === badRow ? '' : `id-${i}`},${i},Secret Street ${i},Town,${i}`);
  return `${lines.join('\n')}\n`;
}

/** A run's row on the page: its cells by field. */
async function runCells(page: Page, file: string): Promise<Record<string, string> | undefined> {
  // Run in the page (a string: this project's TypeScript has no DOM types).
  return page.evaluate(`(() => {
    for (const tr of document.querySelectorAll('#runs tbody tr')) {
      if (tr.querySelector('td')?.textContent !== ${JSON.stringify(file)}) continue;
      const cells = {};
      for (const el of tr.querySelectorAll('[data-field]')) cells[el.dataset.field] = el.textContent;
      return cells;
    }
    return undefined;
  })()`);
}

async function waitFor<T>(read: () => Promise<T>, done: (value: T) => boolean, what: string): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const value = await read();
    if (done(value)) return value;
    if (Date.now() > deadline)
      throw new Error(`gave up waiting for ${what}; last saw ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('the dashboard in Chromium', () => {
  let t: TestStack;
  let browser: Browser;
  let page: Page;
  const pageErrors: string[] = [];

  beforeAll(async () => {
    // CI installs Chromium (.ci/run): without it this test must fail, not pass by skipping.
    expect(existsSync(CHROMIUM), `${CHROMIUM} is missing: apt-get install chromium`).toBe(true);
    // 5 attempts, so the events of a load against a missing table are dead-lettered within the test;
    // 1,000 writes a second, so the first run lasts 3 s at least and is seen in progress.
    const definition = fiveAttempts();
    definition.writes = { maxWritesPerSecond: 1_000 };
    t = await startTestStack({ definition });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
    page = await browser.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));
    page.on('console', (message) => {
      if (message.type() === 'error') pageErrors.push(message.text());
    });
  });
  afterAll(async () => {
    await browser?.close();
    await t?.close();
  });

  it('opens live, with the stack rules and targets', async () => {
    await page.goto(t.stack.dashboardUrl);
    await page.locator('#status[data-state="live"]').waitFor();
    expect(await page.locator('#rules tbody tr').allTextContents()).toEqual(
      expect.arrayContaining([expect.stringContaining('transformRule'), expect.stringContaining('loadRule')]),
    );
    expect(await page.locator('#targets tbody tr[data-target="load"]').count()).toBe(1);
    // The uPlot chart drew (its script came from the stack itself, not a CDN).
    expect(await page.locator('#chart .uplot canvas').count()).toBe(1);
  });

  it('shows an uploaded file as a run that moves to completed, with its failed row and reason', async () => {
    await t.s3.send(
      new PutObjectCommand({ Bucket: t.stack.bucket, Key: 'people.csv', Body: csv(ROWS, BAD_ROW) }),
    );
    const file = `s3://${t.stack.bucket}/people.csv`;
    const running: string[] = [];
    const done = await waitFor(
      async () => {
        const cells = await runCells(page, file);
        if (cells?.state === 'running') running.push(cells.percent as string);
        return cells;
      },
      (cells) => cells?.state === 'completed',
      'the run to complete on the page',
    );
    expect(done).toMatchObject({
      extracted: ROWS.toLocaleString('en'),
      transformed: (ROWS - 1).toLocaleString('en'),
      loaded: (ROWS - 1).toLocaleString('en'),
      failed: '1',
      percent: '100%',
    });
    // Every row's extraction event matched the transform rule; every transformed row's, the load rule.
    const matched = (rule: string) =>
      page.locator(`#rules tr[data-rule="${rule}"] [data-field="matched"]`).textContent();
    expect(await matched('transformRule')).toBe(ROWS.toLocaleString('en'));
    expect(await matched('loadRule')).toBe((ROWS - 1).toLocaleString('en'));
    expect(await matched('errorRule')).toBe('1');
    // Pushed, not reloaded: the same page saw the run in progress, short of its end.
    expect(running.length).toBeGreaterThan(0);
    expect(running.some((percent) => parseFloat(percent) < 100)).toBe(true);

    await page.locator('#runs tbody tr', { hasText: file }).click();
    const failed = page.locator('#failed tbody tr');
    await failed.first().waitFor();
    expect(await failed.count()).toBe(1);
    expect(await failed.first().locator('td').allTextContents()).toEqual([
      String(BAD_ROW),
      'transform',
      'ID',
      'required value is empty',
    ]);
    // The download: the failed row with its values, read again from the S3 object version.
    const href = await page.locator('#failed-csv').getAttribute('href');
    const body = await page.evaluate(async (url) => (await fetch(url as string)).text(), href);
    expect(body.trim().split('\n')).toEqual([
      'ID,HouseNum,Street,Town,Zip,_row,_reason',
      `,${BAD_ROW},Secret Street ${BAD_ROW},Town,${BAD_ROW},${BAD_ROW},required value is empty`,
    ]);
    // The tail names events, never their values.
    const tail = (await page.locator('#tail tbody').textContent()) ?? '';
    expect(tail).toContain('cdkpatterns.the-eventbridge-etl');
    expect(tail).not.toContain('Secret Street');
  });

  it('redrives dead-lettered events from the page, and the DLQ count drops', async () => {
    // The table goes away under the load stage: each load is retried, then dead-lettered.
    await t.dynamodb.send(new DeleteTableCommand({ TableName: t.stack.tableName }));
    await t.s3.send(new PutObjectCommand({ Bucket: t.stack.bucket, Key: 'later.csv', Body: csv(5) }));
    const file = `s3://${t.stack.bucket}/later.csv`;
    const dlq = page.locator('#targets tr[data-target="load"] [data-field="dlq"]');
    await waitFor(
      () => dlq.textContent(),
      (text) => text === '5',
      'five dead letters on the page',
    );
    await waitFor(
      async () => (await runCells(page, file))?.state,
      (state) => state === 'incomplete',
      'the run to end incomplete',
    );
    expect(await page.locator('#dlq tbody tr').count()).toBe(5);
    expect(await page.locator('#dlq tbody').textContent()).toContain('ResourceNotFoundException');

    await ensureTable(t.stack.pipeline.client, t.stack.tableName, 'id');
    await page.locator('#targets tr[data-target="load"] button', { hasText: 'Redrive' }).click();
    await waitFor(
      () => dlq.textContent(),
      (text) => text === '0',
      'the DLQ to empty on the page',
    );
    expect(await page.locator('#redrive-result').textContent()).toBe(
      'Redrive done (load: 5 redriven, 0 dead again)',
    );
    const cells = await waitFor(
      () => runCells(page, file),
      (c) => c?.state === 'completed',
      'the redriven run to complete',
    );
    expect(cells).toMatchObject({ loaded: '5', deadLettered: '0' });
    expect(await page.locator('#dlq tbody tr').count()).toBe(0);
    expect(pageErrors).toEqual([]);
  });
});

describe('the dashboard API, over HTTP', () => {
  let t: TestStack;
  beforeAll(async () => {
    t = await startTestStack();
  });
  afterAll(async () => t?.close());

  it('refuses a redrive that is not JSON (a form post from another page) and other origins', async () => {
    const url = `${t.stack.endpoint}/_etl/api/dlq/redrive`;
    const form = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'target=load',
    });
    expect(form.status).toBe(415);
    const foreign = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: 'http://evil.example' },
      body: '{}',
    });
    expect(foreign.status).toBe(403);
    const ok = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ targets: {} });
    const unknown = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"target":"nope"}',
    });
    expect(unknown.status).toBe(404);
  });

  it('serves the page with a strict content security policy, and no other file', async () => {
    const page = await fetch(`${t.stack.endpoint}/_etl/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect((await fetch(`${t.stack.endpoint}/_etl/assets/../../package.json`)).status).not.toBe(200);
    expect((await fetch(`${t.stack.endpoint}/_etl/assets/dashboard.ts`)).status).toBe(404);
    expect((await fetch(`${t.stack.endpoint}/_etl/api/runs/..%2F..%2Fetc/errors`)).status).toBe(404);
    expect((await fetch(`${t.stack.endpoint}/_etl/api/runs/%E0%A4%A/errors`)).status).toBe(404);
  });
});

describe('etl run --dashboard', () => {
  it('serves the page while the run goes on, then pushes its final numbers and stops with it', async () => {
    const dir = tempDir('etl-dashboard-run-');
    const file = join(dir, 'rows.csv');
    writeFileSync(file, csv(3_000));
    // 500 writes a second: the run lasts 6 s at least, time enough to connect.
    const child = spawn(
      process.execPath,
      [
        'bin/etl.js',
        'run',
        file,
        '--json',
        '--dashboard',
        '--max-writes-per-second',
        '500',
        '--state-dir',
        join(dir, 'state'),
      ],
      { env: { ...process.env, FORCE_COLOR: '0' } },
    );
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const objects = (): { type: string; [k: string]: unknown }[] =>
      stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { type: string });
    try {
      const url = (
        await waitFor(
          async () => objects().find((o) => o.type === 'dashboard'),
          (found) => found !== undefined,
          'the dashboard URL',
        )
      )?.url as string;
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/_etl\/$/);
      expect((await fetch(url)).status).toBe(200);
      // The event stream until the run's end: its last snapshot holds the final numbers.
      const stream = await fetch(`${url}api/stream`);
      const text = await stream.text();
      expect(text).toContain('event: end');
      const snapshots = text
        .split('\n\n')
        .filter((m) => m.startsWith('event: snapshot'))
        .map((m) => JSON.parse(m.slice(m.indexOf('data: ') + 6)) as { runs: Record<string, unknown>[] });
      expect(await exited).toBe(0);
      const report = objects().find((o) => o.type === 'run') as unknown as {
        run: string;
        counts: Record<string, number>;
      };
      expect(snapshots.at(-1)?.runs).toEqual([
        expect.objectContaining({
          run: report.run,
          state: 'completed',
          extracted: report.counts.extracted,
          loaded: report.counts.loaded,
          failed: 0,
          percent: 100,
        }),
      ]);
      expect(report.counts.loaded).toBe(3_000);
      // Seen running before the end, from the same stream.
      expect(snapshots.some((s) => s.runs[0]?.state === 'running')).toBe(true);
    } finally {
      child.kill();
    }
  });
});

describe('etl run --dashboard PORT on a port in use', () => {
  it('says so in one line, exit 2, before running anything', async () => {
    const taken = createServer();
    await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
    const { port } = taken.address() as AddressInfo;
    try {
      const state = join(tempDir('etl-dashboard-busy-'), 'state');
      const result = await etl([
        'run',
        'data/test_data.csv',
        '--dashboard',
        String(port),
        '--state-dir',
        state,
      ]);
      expect(result.code).toBe(2);
      expect(result.stderr.trim()).toBe(
        `etl: --dashboard: port ${port} on 127.0.0.1 is already in use; name another port, or none for a free one`,
      );
      const runs = join(state, 'runs');
      expect(existsSync(runs) ? readdirSync(runs) : []).toEqual([]);
    } finally {
      taken.close();
    }
  });
});
