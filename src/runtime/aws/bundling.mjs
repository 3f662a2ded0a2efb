/**
 * esbuild settings shared by every AWS bundle: the Lambda functions (the stack's NodejsFunction,
 * src/infra/etl-function.ts) and the extract task (task/build.mjs, run by the Dockerfile). Plain
 * JavaScript so that the Docker build can import it without a TypeScript loader.
 */

/** Some dependencies still call require(); give the ESM bundle one. */
export const ESM_REQUIRE_BANNER =
  "import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);";

/** ESM, `module` before `main`, source maps without the sources (stack traces, not source code). */
export const SHARED_BUNDLING = {
  format: 'esm',
  mainFields: ['module', 'main'],
  banner: ESM_REQUIRE_BANNER,
  sourcemap: true,
  sourcesContent: false,
};
