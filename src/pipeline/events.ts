/**
 * The event contract: PutEvents entries going in, EventBridge envelopes coming out, and the detail
 * of every detail type. Faithful to the seed (status/headers/data) with what reconciliation needs
 * (run id and 1-based row number) added.
 */
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

/** Every row-level detail names its run and its 1-based row number among data rows. */
export interface RowRef {
  run: string;
  row: number;
}

export interface RowExtractedDetail extends RowRef {
  status: typeof Status.extracted;
  /** The header line, CSV-encoded (the seed's comma-joined headers, quoted where needed). */
  headers: string;
  /** The row, CSV-encoded; sensitive cells are ciphertext. */
  data: string;
}

export interface RowTransformedDetail extends RowRef {
  status: typeof Status.transformed;
  /** Header -> value (the seed's shape); sensitive values are ciphertext. */
  data: Record<string, string>;
}

export interface RowLoadedDetail extends RowRef {
  status: typeof Status.loaded;
  /** The item's key attribute. */
  key: string;
  /** The item written, with sensitive attributes redacted. */
  data: Record<string, unknown>;
}

export interface RowFailedDetail extends RowRef {
  status: typeof Status.failed;
  stage: 'extract' | 'transform' | 'load';
  reason: string;
  column?: string;
}

export interface ExtractionStartedDetail {
  status: typeof Status.started;
  run: string;
  file: string;
}

export interface ExtractionCompletedDetail {
  status: typeof Status.completed;
  run: string;
  file: string;
  /** Data rows extracted (the header excluded). */
  rows: number;
  /** Rows whose key an earlier row of the file had (each overwrites that item); absent when none. */
  repeatedKeys?: number;
}

export interface ExtractionFailedDetail {
  status: typeof Status.failed;
  run: string;
  file: string;
  reason: string;
  /** Rows put before the file became unreadable. */
  rows: number;
}

export interface RunCompletedDetail {
  status: typeof Status.completed;
  run: string;
  file: string;
  extracted: number;
  transformed: number;
  loaded: number;
  failed: number;
}

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

/**
 * The entry, unless it is too large for PutEvents: then a row-failed entry saying so, so that the
 * row is settled (and the rest of its batch goes on) rather than failing the put of the batch.
 */
export function rowEntryOrTooLarge(
  built: PutEventsEntry,
  source: string,
  stage: RowFailedDetail['stage'],
  ref: RowRef,
): PutEventsEntry {
  if (putEventsEntrySize(built) <= MAX_PUT_EVENTS_BYTES) return built;
  return entry(source, DetailType.rowFailed, {
    status: Status.failed,
    stage,
    reason: `the row's ${built.DetailType} event would be ${putEventsEntrySize(built)} bytes; PutEvents takes at most ${MAX_PUT_EVENTS_BYTES}`,
    run: ref.run,
    row: ref.row,
  });
}

export function isDetailType<T extends keyof DetailByType>(
  event: EventEnvelope<unknown>,
  detailType: T,
): event is EventEnvelope<DetailByType[T]> {
  return event['detail-type'] === detailType;
}

/*
 * Shape checks for events arriving from a bus, where anyone may have put anything. An event that
 * fails its stage's check is poison: reported failed on its own, retried, then dead-lettered.
 */
type Detail = Record<string, unknown>;

function isRowRef(detail: Detail): boolean {
  return (
    typeof detail.run === 'string' &&
    detail.run !== '' &&
    Number.isSafeInteger(detail.row) &&
    (detail.row as number) > 0
  );
}

function detailOf(event: EventEnvelope<unknown>, detailType: string, status: string): Detail | undefined {
  const d = event.detail;
  if (event['detail-type'] !== detailType || d === null || typeof d !== 'object') return undefined;
  return (d as Detail).status === status && isRowRef(d as Detail) ? (d as Detail) : undefined;
}

export function isRowExtracted(event: EventEnvelope<unknown>): event is EventEnvelope<RowExtractedDetail> {
  const d = detailOf(event, DetailType.rowExtracted, Status.extracted);
  return d !== undefined && typeof d.headers === 'string' && typeof d.data === 'string';
}

export function isRowTransformed(
  event: EventEnvelope<unknown>,
): event is EventEnvelope<RowTransformedDetail> {
  const d = detailOf(event, DetailType.rowTransformed, Status.transformed);
  return (
    d !== undefined &&
    typeof d.data === 'object' &&
    d.data !== null &&
    !Array.isArray(d.data) &&
    Object.values(d.data).every((v) => typeof v === 'string')
  );
}

export function isRowFailed(event: EventEnvelope<unknown>): event is EventEnvelope<RowFailedDetail> {
  const d = detailOf(event, DetailType.rowFailed, Status.failed);
  return d !== undefined && typeof d.stage === 'string' && typeof d.reason === 'string';
}

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
