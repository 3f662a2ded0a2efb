#!/usr/bin/env node
/**
 * Builds the CLI into dist/: src/cli/main.ts bundled by esbuild, with each command's module in a chunk
 * of its own that loads only when the command runs; node_modules packages stay external. Run by
 * `npm install` (the `prepare` script), `npm run build` and the test setup.
 *
 * `node scripts/build-cli.mjs [--if-stale]`
 */
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const DIST = join(root, 'dist');
/** What the build read, and when: bin/etl.js runs the build only while none of them changed since. */
export const MANIFEST = 'manifest.json';

/** True when dist/ holds a build of the current sources. */
export function isBuildFresh(dist = DIST) {
  try {
    const { builtAt, inputs } = JSON.parse(readFileSync(join(dist, MANIFEST), 'utf8'));
    return inputs.every((input) => statSync(join(root, input)).mtimeMs <= builtAt);
  } catch {
    return false;
  }
}

export async function buildCli() {
  let esbuild;
  try {
    esbuild = await import('esbuild');
  } catch {
    // A production install (npm ci --omit=dev) has no esbuild: bin/etl.js then runs the sources via tsx.
    console.error('build-cli: esbuild is not installed; etl will run its TypeScript sources through tsx');
    return false;
  }
  const builtAt = Date.now();
  const staging = `${DIST}.build-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  const { metafile } = await esbuild.build({
    absWorkingDir: root,
    entryPoints: { etl: 'src/cli/main.ts' },
    outdir: staging,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    sourcemap: 'linked',
    chunkNames: 'chunks/[name]-[hash]',
    entryNames: '[name]',
    outExtension: { '.js': '.js' },
    define: { ETL_VERSION: JSON.stringify(packageVersion()) },
    metafile: true,
    logLevel: 'warning',
  });
  const inputs = [...Object.keys(metafile.inputs), 'package.json'];
  writeFileSync(join(staging, MANIFEST), JSON.stringify({ builtAt, inputs }));
  writeFileSync(join(staging, 'meta.json'), JSON.stringify(metafile));
  // Swap the finished build in whole, so a CLI starting meanwhile never reads half of one.
  mkdirSync(DIST, { recursive: true });
  const old = `${DIST}.old-${process.pid}`;
  renameSync(DIST, old);
  renameSync(staging, DIST);
  rmSync(old, { recursive: true, force: true });
  return true;
}

function packageVersion() {
  return JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  if (process.argv.includes('--if-stale') && isBuildFresh()) process.exit(0);
  const built = await buildCli();
  if (built)
    console.error(`build-cli: built ${relative(process.cwd(), join(DIST, 'etl.js')) || 'dist/etl.js'}`);
}
