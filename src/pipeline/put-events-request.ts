/**
 * The one PutEvents validator: the local bus applies it to every request, whoever sends it (the
 * stages in process, the edge's PutEvents API, extract), with AWS's limits, codes and messages.
 */
import { AwsApiError } from './errors.ts';
import { builtDetail, type PutEventsEntry } from './events.ts';
import {
  jsonNestsDeeperThan,
  MAX_ENTRIES_PER_PUT_EVENTS,
  MAX_JSON_DEPTH,
  MAX_PUT_EVENTS_BYTES,
  putEventsEntrySize,
} from './put-events.ts';

export interface PutEventsResultEntry {
  EventId?: string;
  ErrorCode?: string;
  ErrorMessage?: string;
}

export interface PutEventsResult {
  FailedEntryCount: number;
  Entries: PutEventsResultEntry[];
}

/** The request as a whole breaks a PutEvents limit (AWS answers with a ValidationException). */
export class PutEventsValidationError extends AwsApiError {
  constructor(message: string) {
    super('ValidationException', message);
  }
}

/** PutEvents' request limits: AWS rejects the whole request (ValidationException). */
export function validatePutEventsRequest(entries: readonly PutEventsEntry[]): void {
  const countError = entryCountError(entries.length);
  if (countError) throw countError;
  let total = 0;
  for (const e of entries) total += putEventsEntrySize(e);
  if (total > MAX_PUT_EVENTS_BYTES) {
    throw new PutEventsValidationError('Total size of the entries in the request is over the limit.');
  }
}

/** AWS's error for a request of this many entries, or undefined when the count is allowed. */
export function entryCountError(count: number): PutEventsValidationError | undefined {
  if (count >= 1 && count <= MAX_ENTRIES_PER_PUT_EVENTS) return undefined;
  const rule =
    count < 1
      ? 'Member must have length greater than or equal to 1'
      : `Member must have length less than or equal to ${MAX_ENTRIES_PER_PUT_EVENTS}`;
  return new PutEventsValidationError(
    `1 validation error detected: Value at 'entries' with ${count} entries failed to satisfy constraint: ${rule}`,
  );
}

/** The entry's detail, or the per-entry error PutEvents reports for it. */
export function parsePutEventsEntry(
  e: PutEventsEntry,
): { detail: object } | Required<Omit<PutEventsResultEntry, 'EventId'>> {
  if (!e.Source || !e.DetailType || !e.Detail) {
    return {
      ErrorCode: 'InvalidArgument',
      ErrorMessage: 'Parameters Source, DetailType and Detail are required.',
    };
  }
  if (putEventsEntrySize(e) > MAX_PUT_EVENTS_BYTES) {
    return { ErrorCode: 'InvalidArgument', ErrorMessage: 'Event entry is over the 256 KB limit.' };
  }
  const built = builtDetail(e);
  if (built) return { detail: built };
  // Refused before parsing: an accepted event must not break a later stage or its DLQ write.
  if (jsonNestsDeeperThan(e.Detail)) {
    return {
      ErrorCode: 'MalformedDetail',
      ErrorMessage: `Detail is nested deeper than ${MAX_JSON_DEPTH} levels.`,
    };
  }
  let detail: unknown;
  try {
    detail = JSON.parse(e.Detail);
  } catch {
    return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
  }
  if (detail === null || typeof detail !== 'object' || Array.isArray(detail)) {
    return { ErrorCode: 'MalformedDetail', ErrorMessage: 'Detail is malformed.' };
  }
  return { detail };
}
