/**
 * Transform: turns an extracted row (headers + data) into the seed's header -> value object, and
 * checks it against the mapping so a bad row fails here, with its reason, instead of at load.
 */
import { DetailType, Status } from '../pipeline/definition.ts';
import {
  entry,
  type PutEventsEntry,
  type RowExtractedDetail,
  rowEntryOrTooLarge,
} from '../pipeline/events.ts';
import type { Mapping } from '../pipeline/mapping.ts';
import { decodeCsvLine } from './csv.ts';
import { checkValue } from './values.ts';

export type TransformOutcome =
  { ok: true; data: Record<string, string> } | { ok: false; reason: string; column?: string };

/** Header lines repeat on every row of a run: decode each once. */
const headerCache = new Map<string, string[]>();

function decodeHeaders(line: string): string[] {
  let headers = headerCache.get(line);
  if (!headers) {
    if (headerCache.size > 100) headerCache.clear();
    headers = decodeCsvLine(line);
    headerCache.set(line, headers);
  }
  return headers;
}

export function transformRow(
  detail: Pick<RowExtractedDetail, 'headers' | 'data'>,
  mapping: Mapping,
): TransformOutcome {
  const headers = decodeHeaders(detail.headers);
  const values = decodeCsvLine(detail.data);
  if (values.length !== headers.length) {
    return { ok: false, reason: `row has ${values.length} fields; the header has ${headers.length}` };
  }
  // No prototype: a header named __proto__ or constructor is a column like any other.
  const data = Object.create(null) as Record<string, string>;
  for (let i = 0; i < headers.length; i++) data[headers[i] as string] = values[i] as string;
  for (const [column, spec] of Object.entries(mapping.columns)) {
    const problem = checkValue(data[column], spec, column in data);
    if (problem) return { ok: false, reason: problem, column };
  }
  return { ok: true, data };
}

/** Transforms a batch of extracted rows into the events to put: `transform` or `row-failed`. */
export function transformBatch(
  details: readonly RowExtractedDetail[],
  options: { source: string; mapping: Mapping },
): PutEventsEntry[] {
  return details.map((detail) => {
    const { run, row } = detail;
    const outcome = transformRow(detail, options.mapping);
    if (outcome.ok) {
      const transformed = entry(options.source, DetailType.rowTransformed, {
        status: Status.transformed,
        data: outcome.data,
        run,
        row,
      });
      // As an object a row takes more bytes than as a CSV line: it may no longer fit one event.
      return rowEntryOrTooLarge(transformed, options.source, 'transform', { run, row });
    }
    return entry(options.source, DetailType.rowFailed, {
      status: Status.failed,
      stage: 'transform',
      reason: outcome.reason,
      ...(outcome.column === undefined ? {} : { column: outcome.column }),
      run,
      row,
    });
  });
}
