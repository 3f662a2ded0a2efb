import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { ListRulesCommand, EventBridgeClient } from '@aws-sdk/client-eventbridge';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { etl, tempDir } from '../support/cli.ts';

const credentials = { accessKeyId: 'cli-test', secretAccessKey: 'cli-test' };

describe('etl up', () => {
  it('with --json, prints the stack, each run and its notices as JSON objects, one per line', async () => {
    const dir = tempDir('etl-up-json-');
    const child = spawn(
      process.execPath,
      ['bin/etl.js', 'up', '--json', '--port', '0', '--state-dir', join(dir, 'state'), '--no-landing'],
      { env: { ...process.env, FORCE_COLOR: '0' } },
    );
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const objects = (): { type: string; [k: string]: unknown }[] =>
      stdout
        .split('\n')
        .filter((line) => line.endsWith('}'))
        .map((line) => JSON.parse(line) as { type: string });
    const until = async (type: string): Promise<Record<string, unknown>> => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const found = objects().find((o) => o.type === type);
        if (found) return found;
        if (child.exitCode !== null || Date.now() > deadline)
          throw new Error(`no ${type}; stdout: ${stdout}`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };
    try {
      const up = await until('up');
      expect(up).toMatchObject({ bucket: 'landing-bucket', table: 'TransformedData' });
      expect(up.dashboard).toBe(`${up.endpoint as string}/_etl/`);
      const s3 = new S3Client({
        endpoint: up.endpoint as string,
        region: 'us-east-1',
        credentials,
        forcePathStyle: true,
      });
      try {
        await s3.send(
          new PutObjectCommand({
            Bucket: 'landing-bucket',
            Key: 'test_data.csv',
            Body: readFileSync('data/test_data.csv'),
          }),
        );
      } finally {
        s3.destroy();
      }
      expect(await until('run')).toMatchObject({
        file: 's3://landing-bucket/test_data.csv',
        counts: { extracted: 5, loaded: 5, failed: 0, completed: true },
      });
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    // Every line is an object; the last says the stack stopped.
    expect(
      stdout
        .trim()
        .split('\n')
        .every((line) => line.startsWith('{')),
    ).toBe(true);
    expect(objects().at(-1)).toEqual({ type: 'notice', message: 'etl up: stopped' });
  });

  it('prints its endpoint, runs an object put in the landing bucket, and stops cleanly on SIGINT', async () => {
    const dir = tempDir('etl-up-');
    const state = join(dir, 'state');
    const child = spawn(
      process.execPath,
      ['bin/etl.js', 'up', '--port', '0', '--state-dir', state, '--landing', join(dir, 'drop')],
      { env: { ...process.env, FORCE_COLOR: '0' } },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    const until = async (pattern: RegExp, what: string): Promise<RegExpMatchArray> => {
      const deadline = Date.now() + 30_000;
      for (;;) {
        const match = stdout.match(pattern);
        if (match) return match;
        if (child.exitCode !== null || Date.now() > deadline) {
          throw new Error(`no ${what}; stdout: ${stdout}; stderr: ${stderr}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    };

    try {
      const endpoint = (await until(/endpoint:\s+(http:\/\/127\.0\.0\.1:\d+)/, 'endpoint line'))[1] ?? '';
      expect(stdout).toMatch(/landing bucket: landing-bucket/);
      expect(stdout).toMatch(/table:\s+TransformedData/);
      expect(stdout).toMatch(/event bus:\s+eventbridge-etl/);
      expect(stdout).toContain(`landing folder: ${join(dir, 'drop')}`);

      const events = new EventBridgeClient({ endpoint, region: 'us-east-1', credentials });
      const s3 = new S3Client({ endpoint, region: 'us-east-1', credentials, forcePathStyle: true });
      try {
        const rules = await events.send(new ListRulesCommand({}));
        expect(rules.Rules?.map((r) => r.Name)).toContain('transformRule');
        await s3.send(
          new PutObjectCommand({
            Bucket: 'landing-bucket',
            Key: 'test_data.csv',
            Body: readFileSync('data/test_data.csv'),
          }),
        );
      } finally {
        events.destroy();
        s3.destroy();
      }
      await until(
        /s3:\/\/landing-bucket\/test_data\.csv \(run-[0-9a-f]{16}\): extracted 5, transformed 5, loaded 5, failed 0/,
        'tally line',
      );
      // Other commands reach the table through the running stack's endpoint.
      const during = await etl(['scan', '--json', '--state-dir', state]);
      expect(during.code).toBe(0);
      expect(JSON.parse(during.stdout)).toHaveLength(5);
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
    expect(stdout).toMatch(/etl up: stopped\n$/);
    expect(stderr).toBe('');

    // The state dir is free again and kept the items.
    const scan = await etl(['scan', '--json', '--state-dir', state]);
    expect(scan.code).toBe(0);
    expect(JSON.parse(scan.stdout)).toHaveLength(5);
  });

  it('says in one line that the port is taken, exit 2', async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const { port } = blocker.address() as AddressInfo;
    try {
      const result = await etl(['up', '--port', String(port), '--state-dir', join(tempDir(), 'state')]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(
        new RegExp(`^etl: port ${port} on 127\\.0\\.0\\.1 is already in use .*--port 0`),
      );
      expect(result.stderr).not.toMatch(/\n\s+at /);
    } finally {
      blocker.close();
    }
  });
});
