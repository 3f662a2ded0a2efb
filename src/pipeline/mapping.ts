/** Which CSV columns become which DynamoDB attributes, with their types. */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { UserError } from './errors.ts';
import { inputOptionsShape, type InputOptions } from './input-format.ts';
export type ColumnType = 'string' | 'number' | 'boolean';

export interface ColumnMapping {
  attribute: string;
  type: ColumnType;
  required?: boolean;
  /** Encrypted in events; only the load stage sees the plaintext. */
  sensitive?: boolean;
}

export interface Mapping extends InputOptions {
  /** The attribute that is the table's partition key. */
  key: string;
  columns: Record<string, ColumnMapping>;
}

/** The seed's load Lambda: five string attributes, `id` from `ID`. */
export const SEED_MAPPING: Mapping = {
  key: 'id',
  columns: {
    ID: { attribute: 'id', type: 'string', required: true },
    HouseNum: { attribute: 'house_number', type: 'string' },
    Street: { attribute: 'street_address', type: 'string' },
    Town: { attribute: 'town', type: 'string' },
    Zip: { attribute: 'zip', type: 'string' },
  },
};

const columnSchema = z.strictObject({
  attribute: z.string().min(1, 'must be a non-empty attribute name'),
  type: z.enum(['string', 'number', 'boolean']).default('string'),
  required: z.boolean().optional(),
  sensitive: z.boolean().optional(),
});

const mappingSchema = z
  .strictObject({
    key: z.string().min(1, 'must name the attribute that is the partition key'),
    columns: z
      .record(z.string().min(1, 'column names must be non-empty'), columnSchema)
      .refine((columns) => Object.keys(columns).length > 0, 'must map at least one column'),
    ...inputOptionsShape,
  })
  .superRefine((mapping, ctx) => {
    const byAttribute = new Map<string, string>();
    for (const [column, spec] of Object.entries(mapping.columns)) {
      const other = byAttribute.get(spec.attribute);
      if (other !== undefined) {
        ctx.addIssue({
          code: 'custom',
          path: ['columns', column, 'attribute'],
          message: `"${spec.attribute}" is also the attribute of column "${other}"`,
        });
      }
      byAttribute.set(spec.attribute, column);
    }
    const keyColumn = byAttribute.get(mapping.key);
    if (keyColumn === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['key'],
        message: `no column maps to the key attribute "${mapping.key}"`,
      });
      return;
    }
    const spec = mapping.columns[keyColumn];
    if (spec?.type !== 'string') {
      ctx.addIssue({
        code: 'custom',
        path: ['columns', keyColumn, 'type'],
        message: 'the key column must be of type "string" (the table\'s partition key is a string)',
      });
    }
    if (spec?.sensitive) {
      ctx.addIssue({
        code: 'custom',
        path: ['columns', keyColumn, 'sensitive'],
        message: 'the key column cannot be sensitive: its value names the item in events',
      });
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
  // The key column is required whether or not the file says so: an item needs its key.
  const mapping = result.data as Mapping;
  for (const spec of Object.values(mapping.columns)) if (spec.attribute === mapping.key) spec.required = true;
  return mapping;
}

/**
 * A digest naming what a mapping does (keys in a canonical order), so a run can tell whether it is
 * loaded by the mapping it began with.
 */
export function mappingHash(mapping: Mapping): string {
  return createHash('sha256').update(canonicalJson(mapping)).digest('hex').slice(0, 16);
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
