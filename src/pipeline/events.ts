/**
 * The event contract: PutEvents entries going in, EventBridge envelopes coming out, and the detail
 * of every detail type. Faithful to the seed (status/headers/data) with what reconciliation needs
 * (run id and 1-based row number) added.
 */
import { z } from 'zod';
import { DetailType, Status } from './definition.ts';
import { MAX_PUT_EVENTS_BYTES, putEventsEntrySize } from './put-events.ts';

/** A PutEvents request entry, as the EventBridge API takes it. */
export interface PutEventsEntry {
  Source: string;
  DetailType: string;
  /** JSON text. */
  Detail: string;
  Time?: Date;
  Resources?: string[];
  EventBusName?: string;
}

/** An event as EventBridge delivers it to targets. */
export interface EventEnvelope<D = Record<string, unknown>> {
  version: '0';
  id: string;
  'detail-type': string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: D;
}

/*
 * Detail schemas: one zod schema per detail type gives both the TypeScript type and the check applied
 * to events arriving from a bus, where anyone may have put anything. An event that fails its stage's
 * check is poison: reported failed on its own, retried, then dead-lettered.
 */

/** A run id and a 1-based row number among data rows: every row-level detail names both. */
const rowRef = {
  run: z.string().min(1),
  row: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
};

export const RowExtractedDetailSchema = z.object({
  status: z.literal(Status.extracted),
  /** The header line, CSV-encoded (the seed's comma-joined headers, quoted where needed). */
  headers: z.string(),
  /** The row, CSV-encoded; sensitive cells are ciphertext. */
  data: z.string(),
  ...rowRef,
});
export type RowExtractedDetail = z.infer<typeof RowExtractedDetailSchema>;

export const RowTransformedDetailSchema = z.object({
  status: z.literal(Status.transformed),
  /** Header -> value (the seed's shape); sensitive values are ciphertext. */
  data: z.record(z.string(), z.string()),
  ...rowRef,
});
export type RowTransformedDetail = z.infer<typeof RowTransformedDetailSchema>;

export const RowLoadedDetailSchema = z.object({
  status: z.literal(Status.loaded),
  /** The item's partition key value. */
  key: z.string(),
  /** The item's sort key value, when the table has a sort key. */
  sortKey: z.string().optional(),
  /** The item written, with sensitive attributes redacted. */
  data: z.record(z.string(), z.unknown()),
  ...rowRef,
});
export type RowLoadedDetail = z.infer<typeof RowLoadedDetailSchema>;

export const RowFailedDetailSchema = z.object({
  status: z.literal(Status.failed),
  stage: z.enum(['extract', 'transform', 'load']),
  reason: z.string(),
  column: z.string().optional(),
  ...rowRef,
});
export type RowFailedDetail = z.infer<typeof RowFailedDetailSchema>;
export type RowRef = Pick<RowFailedDetail, 'run' | 'row'>;

export const ExtractionStartedDetailSchema = z.object({
  status: z.literal(Status.started),
  run: z.string(),
  file: z.string(),
});
export type ExtractionStartedDetail = z.infer<typeof ExtractionStartedDetailSchema>;

export const ExtractionCompletedDetailSchema = z.object({
  status: z.literal(Status.completed),
  run: z.string(),
  file: z.string(),
  /** Data rows extracted (the header excluded). */
  rows: z.number().int().nonnegative(),
  /** Rows whose key an earlier row of the file had (each overwrites that item); absent when none. */
  repeatedKeys: z.number().int().nonnegative().optional(),
});
export type ExtractionCompletedDetail = z.infer<typeof ExtractionCompletedDetailSchema>;

export const ExtractionFailedDetailSchema = z.object({
  status: z.literal(Status.failed),
  run: z.string(),
  file: z.string(),
  reason: z.string(),
  /** Rows put before the file became unreadable. */
  rows: z.number().int().nonnegative(),
});
export type ExtractionFailedDetail = z.infer<typeof ExtractionFailedDetailSchema>;

export const RunCompletedDetailSchema = z.object({
  status: z.literal(Status.completed),
  run: z.string(),
  file: z.string(),
  extracted: z.number(),
  transformed: z.number(),
  loaded: z.number(),
  failed: z.number(),
});
export type RunCompletedDetail = z.infer<typeof RunCompletedDetailSchema>;

/** The schema of each detail type's detail. */
export const DetailSchemas = {
  [DetailType.rowExtracted]: RowExtractedDetailSchema,
  [DetailType.rowTransformed]: RowTransformedDetailSchema,
  [DetailType.rowLoaded]: RowLoadedDetailSchema,
  [DetailType.rowFailed]: RowFailedDetailSchema,
  [DetailType.extractionStarted]: ExtractionStartedDetailSchema,
  [DetailType.extractionCompleted]: ExtractionCompletedDetailSchema,
  [DetailType.extractionFailed]: ExtractionFailedDetailSchema,
  [DetailType.runCompleted]: RunCompletedDetailSchema,
} as const;

export interface DetailByType {
  [DetailType.rowExtracted]: RowExtractedDetail;
  [DetailType.rowTransformed]: RowTransformedDetail;
  [DetailType.rowLoaded]: RowLoadedDetail;
  [DetailType.rowFailed]: RowFailedDetail;
  [DetailType.extractionStarted]: ExtractionStartedDetail;
  [DetailType.extractionCompleted]: ExtractionCompletedDetail;
  [DetailType.extractionFailed]: ExtractionFailedDetail;
  [DetailType.runCompleted]: RunCompletedDetail;
}

/**
 * The detail object an entry was built from rides along under a symbol (invisible to JSON and to
 * the AWS SDK), so that a bus in the same process need not parse back the JSON it was just given;
 * the text still counts for sizes and is what gets journaled.
 */
const BUILT_DETAIL = Symbol('detail');

type BuiltEntry = PutEventsEntry & { [BUILT_DETAIL]?: object };

export function entry<T extends keyof DetailByType>(
  source: string,
  detailType: T,
  detail: DetailByType[T],
): PutEventsEntry {
  const built: BuiltEntry = {
    Source: source,
    DetailType: detailType,
    Detail: JSON.stringify(detail),
    [BUILT_DETAIL]: detail,
  };
  return built;
}

/** The detail an entry was built from, when `entry` built it. */
export function builtDetail(e: PutEventsEntry): object | undefined {
  return (e as BuiltEntry)[BUILT_DETAIL];
}

/** Why this entry cannot be put (it is over PutEvents' size limit), or undefined when it can. */
export function tooLargeReason(built: PutEventsEntry): string | undefined {
  const size = putEventsEntrySize(built);
  if (size <= MAX_PUT_EVENTS_BYTES) return undefined;
  return `the row's ${built.DetailType} event would be ${size} bytes; PutEvents takes at most ${MAX_PUT_EVENTS_BYTES}`;
}

export function isDetailType<T extends keyof DetailByType>(
  event: EventEnvelope<unknown>,
  detailType: T,
): event is EventEnvelope<DetailByType[T]> {
  return event['detail-type'] === detailType;
}

/** Whether the event is of this detail type and its detail matches the type's schema. */
export function hasDetail<T extends keyof DetailByType>(
  event: EventEnvelope<unknown>,
  detailType: T,
): event is EventEnvelope<DetailByType[T]> {
  return event['detail-type'] === detailType && DetailSchemas[detailType].safeParse(event.detail).success;
}

export const isRowExtracted = (e: EventEnvelope<unknown>): e is EventEnvelope<RowExtractedDetail> =>
  hasDetail(e, DetailType.rowExtracted);
export const isRowTransformed = (e: EventEnvelope<unknown>): e is EventEnvelope<RowTransformedDetail> =>
  hasDetail(e, DetailType.rowTransformed);
export const isRowFailed = (e: EventEnvelope<unknown>): e is EventEnvelope<RowFailedDetail> =>
  hasDetail(e, DetailType.rowFailed);

/** Splits a delivered batch into the details a stage can process and the ids of events it cannot. */
export function detailsOf<D>(
  events: readonly EventEnvelope<unknown>[],
  guard: (event: EventEnvelope<unknown>) => event is EventEnvelope<D>,
): { details: D[]; rejected: string[] } {
  const details: D[] = [];
  const rejected: string[] = [];
  for (const event of events) {
    if (guard(event)) details.push(event.detail);
    else rejected.push(event.id);
  }
  return { details, rejected };
}
