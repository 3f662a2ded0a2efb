/**
 * Which CSV columns become which DynamoDB attributes, with their types; which table they go to, by
 * which key, and how they are written.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { UserError } from './errors.ts';
import { checkCell, defaultCell } from './cell-types.ts';
import { inputOptionsShape, type InputOptions } from './input-format.ts';

export const COLUMN_TYPES = [
  'string',
  'number',
  'boolean',
  'json',
  'stringSet',
  'numberSet',
  'binary',
  'epochSeconds',
] as const;
export type ColumnType = (typeof COLUMN_TYPES)[number];

/** A column's `default`, as the mapping file writes it (text, a number, a boolean, an array, an object). */
export type DefaultValue = string | number | boolean | unknown[] | Record<string, unknown>;

export interface ColumnMapping {
  attribute: string;
  type: ColumnType;
  required?: boolean;
  /** Encrypted in events; only the load stage sees the plaintext. */
  sensitive?: boolean;
  /** Between the members of a set column's cell (stringSet, numberSet); `|` when absent. */
  separator?: string;
  /** Used when the cell is empty (or the column is absent from the header). */
  default?: DefaultValue;
}

/** How load writes each row's item. */
export const WRITE_MODES = ['put', 'update', 'insert'] as const;
export type WriteMode = (typeof WRITE_MODES)[number];

/** The table's primary key: attribute names. */
export interface KeySchema {
  partition: string;
  sort?: string;
}

export interface Mapping extends InputOptions {
  /** The target table; DEFAULT_TABLE_NAME when absent. */
  table?: string;
  /** The table's primary key (a mapping file may name just the partition key as a string). */
  key: KeySchema;
  /** `put` when absent. */
  write?: WriteMode;
  columns: Record<string, ColumnMapping>;
  /** Attributes built from several columns: attribute -> template such as `{Town}#{Street}`. */
  templates?: Record<string, string>;
}

/** The seed's table. */
export const DEFAULT_TABLE_NAME = 'TransformedData';

export const DEFAULT_SET_SEPARATOR = '|';

/** The seed's load Lambda: five string attributes, `id` from `ID`. */
export const SEED_MAPPING: Mapping = {
  key: { partition: 'id' },
  columns: {
    ID: { attribute: 'id', type: 'string', required: true },
    HouseNum: { attribute: 'house_number', type: 'string' },
    Street: { attribute: 'street_address', type: 'string' },
    Town: { attribute: 'town', type: 'string' },
    Zip: { attribute: 'zip', type: 'string' },
  },
};

export function tableNameOf(mapping: Mapping): string {
  return mapping.table ?? DEFAULT_TABLE_NAME;
}

export function writeModeOf(mapping: Mapping): WriteMode {
  return mapping.write ?? 'put';
}

/** The key's attribute names: the partition key, then the sort key if any. */
export function keyAttributes(mapping: Pick<Mapping, 'key'>): string[] {
  return mapping.key.sort === undefined ? [mapping.key.partition] : [mapping.key.partition, mapping.key.sort];
}

/** DynamoDB's scalar attribute types a key attribute may have. */
export type KeyAttributeType = 'S' | 'N' | 'B';

/** A key attribute's DynamoDB type: its column's, or S for a template. */
export function keyAttributeType(mapping: Mapping, attribute: string): KeyAttributeType {
  if (mapping.templates?.[attribute] !== undefined) return 'S';
  const column = Object.values(mapping.columns).find((c) => c.attribute === attribute);
  if (column?.type === 'number') return 'N';
  if (column?.type === 'binary') return 'B';
  return 'S';
}

/** The key's attributes with their types, as a table's KeySchema and AttributeDefinitions pair them. */
export function keySchemaOf(mapping: Mapping): { name: string; type: KeyAttributeType }[] {
  return keyAttributes(mapping).map((name) => ({ name, type: keyAttributeType(mapping, name) }));
}

/** The columns a template reads, in order. */
export function templateColumns(template: string): string[] {
  return [...template.matchAll(TEMPLATE_PLACEHOLDER)].map((m) => m[1] as string);
}

/**
 * The columns an attribute is built from: its column, or its template's columns. Undefined when
 * nothing builds it.
 */
export function columnsOfAttribute(mapping: Mapping, attribute: string): string[] | undefined {
  const template = mapping.templates?.[attribute];
  if (template !== undefined) return templateColumns(template);
  const column = Object.entries(mapping.columns).find(([, c]) => c.attribute === attribute)?.[0];
  return column === undefined ? undefined : [column];
}

/** A template filled by `cellOf`; undefined when a column it reads has no value (empty or absent). */
export function fillTemplate(
  template: string,
  cellOf: (column: string) => string | undefined,
): string | undefined {
  let missing = false;
  const filled = template.replace(TEMPLATE_PLACEHOLDER, (_, column: string) => {
    const cell = cellOf(column);
    if (cell === undefined || cell === '') missing = true;
    return cell ?? '';
  });
  return missing ? undefined : filled;
}

/** `{Column}` in a template; text outside placeholders is kept as it is. */
const TEMPLATE_PLACEHOLDER = /\{([^{}]+)\}/g;

/** DynamoDB's rule for table names. */
const TABLE_NAME = /^[A-Za-z0-9_.-]{3,255}$/;

const defaultSchema = z.union([
  z.string(),
  z.number(),
  z.boolean(),
  z.array(z.unknown()),
  z.record(z.string(), z.unknown()),
]);

const columnSchema = z.strictObject({
  attribute: z.string().min(1, 'must be a non-empty attribute name'),
  type: z.enum(COLUMN_TYPES).default('string'),
  required: z.boolean().optional(),
  sensitive: z.boolean().optional(),
  separator: z.string().min(1, 'must be a non-empty string').optional(),
  default: defaultSchema.optional(),
});

const keySchema = z.union([
  z.string().min(1, 'must name the attribute that is the partition key'),
  z.strictObject({
    partition: z.string().min(1, 'must name the attribute that is the partition key'),
    sort: z.string().min(1, 'must name the attribute that is the sort key').optional(),
  }),
]);

const mappingSchema = z
  .strictObject({
    table: z
      .string()
      .regex(TABLE_NAME, 'must be a DynamoDB table name: 3 to 255 of the characters a-z A-Z 0-9 _ . -')
      .optional(),
    key: keySchema,
    write: z.enum(WRITE_MODES).optional(),
    columns: z
      .record(z.string().min(1, 'column names must be non-empty'), columnSchema)
      .refine((columns) => Object.keys(columns).length > 0, 'must map at least one column'),
    templates: z
      .record(
        z.string().min(1, 'attribute names must be non-empty'),
        z
          .string()
          .regex(/^[^{}]*(\{[^{}]+\}[^{}]*)+$/, 'must name at least one {Column}, with no stray braces'),
      )
      .optional(),
    ...inputOptionsShape,
  })
  .transform((mapping) => ({
    ...mapping,
    key: typeof mapping.key === 'string' ? { partition: mapping.key } : mapping.key,
  }))
  .superRefine((mapping, ctx) => {
    const issue = (path: (string | number)[], message: string): void => {
      ctx.addIssue({ code: 'custom', path, message });
    };
    const byAttribute = new Map<string, string>();
    for (const [column, spec] of Object.entries(mapping.columns)) {
      const other = byAttribute.get(spec.attribute);
      if (other !== undefined) {
        issue(
          ['columns', column, 'attribute'],
          `"${spec.attribute}" is also the attribute of column "${other}"`,
        );
      }
      byAttribute.set(spec.attribute, column);
      if (spec.separator !== undefined && spec.type !== 'stringSet' && spec.type !== 'numberSet') {
        issue(['columns', column, 'separator'], 'only stringSet and numberSet columns take a separator');
      }
      if (spec.default !== undefined) {
        const cell = defaultCell(spec);
        const problem = cell === undefined ? 'does not fit the column' : checkCell(cell, spec);
        if (problem)
          issue(['columns', column, 'default'], `the default is not a valid ${spec.type}: ${problem}`);
      }
    }
    for (const [attribute, template] of Object.entries(mapping.templates ?? {})) {
      const other = byAttribute.get(attribute);
      if (other !== undefined) {
        issue(['templates', attribute], `"${attribute}" is also the attribute of column "${other}"`);
      }
      for (const column of templateColumns(template)) {
        if (mapping.columns[column]?.sensitive) {
          issue(
            ['templates', attribute],
            `template reads the sensitive column "${column}": its value would be stored and shown in clear`,
          );
        }
      }
    }
    const keyNames: [string, string][] = [['partition', mapping.key.partition]];
    if (mapping.key.sort !== undefined) keyNames.push(['sort', mapping.key.sort]);
    if (mapping.key.sort !== undefined && mapping.key.sort === mapping.key.partition) {
      issue(['key', 'sort'], 'the sort key must be another attribute than the partition key');
    }
    for (const [role, name] of keyNames) {
      const keyPath = mapping.key.sort === undefined ? ['key'] : ['key', role];
      if (mapping.templates?.[name] !== undefined) continue;
      const keyColumn = byAttribute.get(name);
      if (keyColumn === undefined) {
        issue(keyPath, `no column maps to the key attribute "${name}" (nor does a template)`);
        continue;
      }
      const spec = mapping.columns[keyColumn];
      if (spec && spec.type !== 'string' && spec.type !== 'number' && spec.type !== 'binary') {
        issue(
          ['columns', keyColumn, 'type'],
          'the key column must be of type "string", "number" or "binary" (the types of a key attribute)',
        );
      }
      if (spec?.sensitive) {
        issue(
          ['columns', keyColumn, 'sensitive'],
          'the key column cannot be sensitive: its value names the item in events',
        );
      }
    }
  });

export class MappingError extends UserError {
  override readonly name = 'MappingError';
}

/** Validates a mapping; the error names the first bad field, e.g. `columns.Zip.type: ...`. */
export function parseMapping(input: unknown, origin = 'mapping'): Mapping {
  const result = mappingSchema.safeParse(input);
  if (!result.success) {
    const issue = result.error.issues[0];
    const where = issue?.path.length ? issue.path.join('.') : '(top level)';
    throw new MappingError(`${origin}: ${where}: ${issue?.message ?? 'invalid mapping'}`);
  }
  // Key columns are required whether or not the file says so: an item needs its key.
  const mapping = result.data as Mapping;
  const keys = new Set(keyAttributes(mapping));
  for (const spec of Object.values(mapping.columns)) if (keys.has(spec.attribute)) spec.required = true;
  return mapping;
}

/** A mapping as its file writes it: a partition key alone is written as the plain string form. */
export function mappingFileJson(mapping: Mapping): string {
  const key = mapping.key.sort === undefined ? mapping.key.partition : mapping.key;
  return `${JSON.stringify({ ...mapping, key }, null, 2)}\n`;
}

/**
 * A digest naming what a mapping does (keys in a canonical order), so a run can tell whether it is
 * loaded by the mapping it began with. A partition key alone is hashed as the string it was before
 * composite keys, so a mapping's runs keep their ids.
 */
export function mappingHash(mapping: Mapping): string {
  const key = mapping.key.sort === undefined ? mapping.key.partition : mapping.key;
  return createHash('sha256')
    .update(canonicalJson({ ...mapping, key }))
    .digest('hex')
    .slice(0, 16);
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value !== null && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  return JSON.stringify(value);
}
