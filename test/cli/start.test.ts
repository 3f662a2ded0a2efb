/**
 * `etl` starts fast because it runs compiled JavaScript and loads a command's dependencies only when
 * that command runs. Timing is measured by the benchmark (npm run bench); these tests check the
 * structure that makes it fast, and that what runs is built from the current sources.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { describe, expect, it } from 'vitest';
import { isBuildFresh } from '../../scripts/build-cli.mjs';
import { COMMANDS } from '../../src/cli/commands.ts';
import { etl, tempDir } from '../support/cli.ts';

interface Metafile {
  outputs: Record<
    string,
    { entryPoint?: string; imports: { path: string; kind: string; external?: boolean }[] }
  >;
}

const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;

describe('etl start-up', () => {
  it.each([['--version'], ['-V']])('prints the version for %s', async (flag) => {
    const result = await etl([flag]);
    expect(result).toMatchObject({ code: 0, stdout: `${version}\n`, stderr: '' });
  });

  it('runs the build of the current sources, which loads no package but commander before a command runs', () => {
    // The test setup built dist/ from the sources as they are now, so bin/etl.js runs it.
    expect(isBuildFresh()).toBe(true);
    const meta = JSON.parse(readFileSync('dist/meta.json', 'utf8')) as Metafile;
    const entry = Object.keys(meta.outputs).find(
      (path) => meta.outputs[path]?.entryPoint === 'src/cli/main.ts',
    );
    expect(entry).toBeDefined();
    // Everything the entry loads before its first dynamic import(): its static imports, transitively.
    const seen = new Set<string>();
    const packages = new Set<string>();
    const visit = (path: string): void => {
      for (const imported of meta.outputs[path]?.imports ?? []) {
        if (imported.kind !== 'import-statement' || seen.has(imported.path)) continue;
        seen.add(imported.path);
        if (!imported.external) visit(imported.path);
        else if (!imported.path.startsWith('node:')) packages.add(imported.path);
      }
    };
    visit(entry as string);
    expect([...packages]).toEqual(['commander']);
  });

  it('declares in commands.ts exactly the commands each module registers', async () => {
    const all = new Command();
    for (const command of COMMANDS) {
      const program = new Command();
      (await command.load())(program);
      expect(program.commands.map((c) => c.name())).toEqual(command.names);
      (await command.load())(all);
    }
    expect(all.commands.map((c) => c.name())).toEqual(COMMANDS.flatMap((c) => c.names));
  });

  it('treats a build as stale once a source it was built from is newer, or gone', () => {
    const dist = tempDir();
    const manifest = (builtAt: number, inputs: string[]) =>
      writeFileSync(join(dist, 'manifest.json'), JSON.stringify({ builtAt, inputs }));
    manifest(Date.now() + 60_000, ['package.json', 'src/cli/main.ts']);
    expect(isBuildFresh(dist)).toBe(true);
    manifest(0, ['package.json', 'src/cli/main.ts']);
    expect(isBuildFresh(dist)).toBe(false);
    manifest(Date.now() + 60_000, ['src/cli/no-such-file.ts']);
    expect(isBuildFresh(dist)).toBe(false);
    mkdirSync(join(dist, 'empty'));
    expect(isBuildFresh(join(dist, 'empty'))).toBe(false);
  });
});
