/**
 * How an input file is read: its format (CSV or JSON Lines) and, for CSV, its dialect (delimiter,
 * quote, encoding, header). Part of the mapping (`"csv"`, `"format"`), so a run records how its file
 * was read with the mapping it began with.
 */
import { z } from 'zod';
import type { Mapping } from './mapping.ts';

export const INPUT_FORMATS = ['csv', 'jsonl'] as const;
export type InputFormat = (typeof INPUT_FORMATS)[number];

export const CSV_DELIMITERS = [',', ';', '|', '\t'] as const;
export const CSV_ENCODINGS = ['utf-8', 'utf-16le', 'utf-16be', 'latin1'] as const;
export type CsvEncoding = (typeof CSV_ENCODINGS)[number];

export interface CsvOptions {
  delimiter?: (typeof CSV_DELIMITERS)[number];
  quote?: string;
  /** A byte-order mark in the file wins over this. */
  encoding?: CsvEncoding;
  /** false: the first line is data, named by `columns`. */
  header?: boolean;
  columns?: string[];
}

export const csvOptionsSchema = z
  .strictObject({
    delimiter: z.enum(CSV_DELIMITERS, { error: 'must be one of "," ";" "|" or a tab ("\\t")' }).optional(),
    quote: z
      .string()
      .length(1, 'must be one character')
      .refine((q) => !/[\r\n,;|\t]/.test(q), 'cannot be a line break or a delimiter')
      .optional(),
    encoding: z.enum(CSV_ENCODINGS).optional(),
    header: z.boolean().optional(),
    columns: z.array(z.string().min(1, 'column names must be non-empty')).min(1).optional(),
  })
  .superRefine((csv, ctx) => {
    if (csv.header === false && csv.columns === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['columns'],
        message: 'is required with "header": false: it names the columns',
      });
    }
    if (csv.header !== false && csv.columns !== undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['columns'],
        message: 'is only for "header": false (a file with a header row names its own columns)',
      });
    }
    const seen = new Set<string>();
    for (const [i, name] of (csv.columns ?? []).entries()) {
      if (seen.has(name))
        ctx.addIssue({ code: 'custom', path: ['columns', i], message: `"${name}" appears twice` });
      seen.add(name);
    }
    if (csv.quote !== undefined && csv.quote === csv.delimiter)
      ctx.addIssue({ code: 'custom', path: ['quote'], message: 'cannot be the delimiter' });
  }) satisfies z.ZodType<CsvOptions>;

export const inputFormatSchema = z.enum(INPUT_FORMATS);

/** The mapping's fields about reading the file. */
export interface InputOptions {
  /** CSV (the default) or JSON Lines; absent, the file's name says (`.jsonl`, `.ndjson`). */
  format?: InputFormat;
  csv?: CsvOptions;
}

/** The mapping schema's fields for them. */
export const inputOptionsShape = {
  format: inputFormatSchema.optional(),
  csv: csvOptionsSchema.optional(),
};

const JSON_LINES_NAME = /\.(jsonl|ndjson)(\.gz)?$/i;

/** The format a file's name implies: JSON Lines for `.jsonl`/`.ndjson` (also gzipped), else CSV. */
export function formatOfName(name: string): InputFormat {
  return JSON_LINES_NAME.test(name) ? 'jsonl' : 'csv';
}

/**
 * The mapping a file's run reads it by: the format asked for (`--format`), else the mapping's own,
 * else the file name's. Only a format other than the mapping's own is written into it, so a CSV run
 * by a mapping without `format` keeps that mapping (and its run id) as it was.
 */
export function mappingForInput(mapping: Mapping, name: string, format?: InputFormat): Mapping {
  const resolved = format ?? mapping.format ?? formatOfName(name);
  return resolved === (mapping.format ?? 'csv') ? mapping : { ...mapping, format: resolved };
}
