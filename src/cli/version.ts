/** The package's version: inlined by the build (scripts/build-cli.mjs), read from package.json from source. */
import { readFileSync } from 'node:fs';

declare const ETL_VERSION: string | undefined;

export function etlVersion(): string {
  if (typeof ETL_VERSION === 'string') return ETL_VERSION;
  const manifest = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  };
  return manifest.version;
}
