/** vitest's global setup: the tests run `etl` as users do, so they first build it from the current sources. */
import { buildCli, isBuildFresh } from '../../scripts/build-cli.mjs';

export default async function setup(): Promise<void> {
  if (!isBuildFresh() && !(await buildCli()))
    throw new Error('could not build the CLI (is esbuild installed?)');
}
