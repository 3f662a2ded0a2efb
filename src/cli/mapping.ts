/** `etl mapping infer FILE`: a mapping proposed from the file's first rows, for `etl run --mapping`. */
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { formatOfName, type InputFormat } from '../pipeline/input-format.ts';
import { mappingFileJson } from '../pipeline/mapping.ts';
import { assertReadableFile } from '../runtime/local/pipeline.ts';
import { INFER_SAMPLE_ROWS, inferMapping } from '../stages/infer-mapping.ts';
import { parseInputFormat } from './options.ts';

export function registerMapping(program: Command): void {
  const mapping = program.command('mapping').description('mapping files: propose one from a file');
  mapping
    .command('infer')
    .description(
      `propose a mapping from a file's first ${INFER_SAMPLE_ROWS.toLocaleString('en')} rows: dialect, a type per column, a key`,
    )
    .argument('<file>', 'a CSV or JSON Lines file, gzipped or not')
    .option('--out <file>', 'write the mapping there (default: print it)')
    .option(
      '--format <format>',
      'csv or jsonl (default: by name: .jsonl and .ndjson are JSON Lines)',
      parseInputFormat,
    )
    .action(async (file: string, options: { out?: string; format?: InputFormat }) => {
      await assertReadableFile(file);
      const format = options.format ?? formatOfName(file);
      const inferred = await inferMapping({ file, format, open: () => createReadStream(file) });
      const text = mappingFileJson(inferred.mapping);
      if (options.out === undefined) process.stdout.write(text);
      else await writeFile(options.out, text);
      const columns = Object.keys(inferred.mapping.columns).length;
      console.error(
        `etl mapping infer: ${columns} column${columns === 1 ? '' : 's'} from ${inferred.rows} row${inferred.rows === 1 ? '' : 's'}; ` +
          `key ${JSON.stringify(inferred.keyColumn)} (unique and non-empty in the sample)` +
          (options.out === undefined ? '' : `; written to ${options.out}`),
      );
    });
}
