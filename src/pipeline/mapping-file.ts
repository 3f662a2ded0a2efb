/** Reading a mapping file: the one reader behind `etl run --mapping` and the CDK app's `-c mapping=`. */
import { readFileSync } from 'node:fs';
import { type Mapping, MappingError, parseMapping } from './mapping.ts';

export function readMappingFile(path: string): Mapping {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    throw new MappingError(`${path}: cannot read the mapping file`);
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new MappingError(`${path}: not valid JSON (${(error as Error).message})`);
  }
  return parseMapping(json, path);
}
