#!/usr/bin/env node
// Runs the compiled CLI (dist/, built by `npm install` or `npm run build`) when it is a build of the
// current sources; otherwise the TypeScript sources through tsx, slower to start but never stale.
import { isBuildFresh } from '../scripts/build-cli.mjs';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
if (process.env.ETL_DEBUG) process.setSourceMapsEnabled(true);

if (isBuildFresh()) {
  await import('../dist/etl.js');
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
