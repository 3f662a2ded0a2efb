/**
 * Transform: turns an extracted row (headers + data) into the seed's header -> value object, and
 * checks it against the mapping so a bad row fails here, with its reason, instead of at load.
 */
import { DetailType, Status } from '../pipeline/definition.ts';
import { entry, isRowExtracted, type RowExtractedDetail, tooLargeReason } from '../pipeline/events.ts';
import { done, type InputOutcome, type Stage } from './contract.ts';
import { byRunMapping, rowFailure } from './inputs.ts';
import type { MappingSource } from './ports.ts';
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

/** What becomes of an extracted row: a `transform` event, or a failed row with the reason. */
export function transformOutcome(
  detail: RowExtractedDetail,
  options: { source: string; mapping: Mapping },
): InputOutcome {
  const { run, row } = detail;
  const outcome = transformRow(detail, options.mapping);
  if (!outcome.ok) return rowFailure(options.source, 'transform', detail, outcome.reason, outcome.column);
  const transformed = entry(options.source, DetailType.rowTransformed, {
    status: Status.transformed,
    data: outcome.data,
    run,
    row,
  });
  // As an object a row takes more bytes than as a CSV line: it may no longer fit one event.
  const tooLarge = tooLargeReason(transformed);
  return tooLarge ? rowFailure(options.source, 'transform', detail, tooLarge) : done(transformed);
}

export interface TransformStageOptions {
  source: string;
  /** The mapping each run's rows are checked by. */
  mappingFor: MappingSource;
}

/** Transform as a stage: every extracted row is settled, as `transform` or as a failed row. */
export function transformStage(options: TransformStageOptions): Stage<RowExtractedDetail> {
  return {
    name: 'transform',
    accepts: isRowExtracted,
    handle: (inputs) =>
      byRunMapping(inputs, options.mappingFor, (group, mapping, outcomes) => {
        for (const { id, event } of group)
          outcomes.set(id, transformOutcome(event.detail, { source: options.source, mapping }));
      }),
  };
}
