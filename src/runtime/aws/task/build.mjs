/**
 * Bundles the extract task into one ESM file with esbuild: the build the Dockerfile runs, and the one
 * the tests run to prove the bundle starts on its own. Usage: node build.mjs [outdir]
 */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { SHARED_BUNDLING } from '../bundling.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');

export async function buildExtractTask(outdir) {
  await build({
    absWorkingDir: root,
    entryPoints: { 'extract-task': join(root, 'src/runtime/aws/task/main.ts') },
    outdir,
    outExtension: { '.js': '.mjs' },
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: SHARED_BUNDLING.format,
    mainFields: SHARED_BUNDLING.mainFields,
    banner: { js: SHARED_BUNDLING.banner },
    sourcemap: SHARED_BUNDLING.sourcemap,
    sourcesContent: SHARED_BUNDLING.sourcesContent,
    legalComments: 'none',
    logLevel: 'warning',
  });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await buildExtractTask(resolve(process.argv[2] ?? join(root, 'dist/extract-task')));
}
