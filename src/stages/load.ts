/**
 * Load: maps transformed rows to items by the mapping (the seed's five attributes by default),
 * decrypts sensitive values, checks each item against DynamoDB's limits, writes them through the
 * ItemWriter and reports each row as `data-loaded` or `row-failed` (an item the table refused fails
 * its own row with DynamoDB's reason). Rows the table left unwritten for now (throttling) are handed
 * back to be retried. Writes are keyed puts, so a redelivered row leaves one item.
 */
import { DetailType, Status } from '../pipeline/definition.ts';
import { entry, type PutEventsEntry, type RowTransformedDetail } from '../pipeline/events.ts';
import type { Mapping } from '../pipeline/mapping.ts';
import { MAX_PUT_EVENTS_BYTES, putEventsEntrySize } from '../pipeline/put-events.ts';
import type { FieldCipher, Item, ItemWriter } from './ports.ts';
import {
  checkType,
  fromItemValue,
  itemSizeBytes,
  MAX_ITEM_BYTES,
  MAX_PARTITION_KEY_BYTES,
  toItemValue,
} from './values.ts';

export interface LoadOptions {
  source: string;
  mapping: Mapping;
  writer: ItemWriter;
  cipher?: FieldCipher;
}

type Mapped = { ok: true; item: Item } | { ok: false; reason: string; column?: string };

export async function mapRow(
  detail: RowTransformedDetail,
  mapping: Mapping,
  cipher: FieldCipher | undefined,
): Promise<Mapped> {
  const item: Item = {};
  for (const [column, spec] of Object.entries(mapping.columns)) {
    let value = Object.hasOwn(detail.data, column) ? detail.data[column] : undefined;
    if (value === undefined || value === '') continue; // transform already failed empty required values
    if (spec.sensitive) {
      if (!cipher) return { ok: false, reason: 'sensitive value but no key to decrypt it', column };
      try {
        value = await cipher.decrypt(detail.run, value);
      } catch {
        return { ok: false, reason: 'sensitive value could not be decrypted', column };
      }
      const problem = checkType(value, spec);
      if (problem) return { ok: false, reason: problem, column };
    }
    item[spec.attribute] = toItemValue(value, spec);
  }
  const key = item[mapping.key];
  if (!key) return { ok: false, reason: 'key value is empty', column: keyColumn(mapping) };
  if ('S' in key && Buffer.byteLength(key.S, 'utf8') > MAX_PARTITION_KEY_BYTES) {
    return {
      ok: false,
      reason: `key value is over DynamoDB's ${MAX_PARTITION_KEY_BYTES}-byte limit`,
      column: keyColumn(mapping),
    };
  }
  if (itemSizeBytes(item) > MAX_ITEM_BYTES) {
    return { ok: false, reason: `item is over DynamoDB's ${MAX_ITEM_BYTES / 1024} KB limit` };
  }
  return { ok: true, item };
}

function keyColumn(mapping: Mapping): string {
  return Object.entries(mapping.columns).find(([, c]) => c.attribute === mapping.key)?.[0] ?? mapping.key;
}

export interface LoadOutcome {
  /** `data-loaded` and `row-failed` events to put. */
  events: PutEventsEntry[];
  /** Rows the table left unwritten for now (throttling): their events are to be delivered again. */
  retry: RowTransformedDetail[];
}

/** Loads a batch. Throws only when the writer itself fails (the table unreachable): retry it all. */
export async function loadBatch(
  details: readonly RowTransformedDetail[],
  options: LoadOptions,
): Promise<LoadOutcome> {
  const { source, mapping } = options;
  const events: PutEventsEntry[] = [];
  const retry: RowTransformedDetail[] = [];
  const written: { detail: RowTransformedDetail; item: Item }[] = [];
  for (const detail of details) {
    const mapped = await mapRow(detail, mapping, options.cipher);
    if (mapped.ok) written.push({ detail, item: mapped.item });
    else events.push(failed(source, detail, mapped.reason, mapped.column));
  }
  const failures = await options.writer.writeItems(written.map((w) => w.item));
  const failedItems = new Map(failures.map((f) => [f.item, f]));
  const sensitive = new Set(
    Object.values(mapping.columns)
      .filter((c) => c.sensitive)
      .map((c) => c.attribute),
  );
  for (const { detail, item } of written) {
    const failure = failedItems.get(item);
    if (failure?.refused) {
      events.push(failed(source, detail, withoutSensitiveValues(failure.reason, item, sensitive)));
      continue;
    }
    if (failure) {
      retry.push(detail);
      continue;
    }
    const keyValue = item[mapping.key];
    const loaded = (data: Record<string, unknown>): PutEventsEntry =>
      entry(source, DetailType.rowLoaded, {
        status: Status.loaded,
        key: keyValue === undefined ? '' : String(fromItemValue(keyValue)),
        data,
        run: detail.run,
        row: detail.row,
      });
    const withData = loaded(plainItem(item, sensitive));
    // The row is loaded either way; a copy of its item too large for one event is left out.
    events.push(putEventsEntrySize(withData) <= MAX_PUT_EVENTS_BYTES ? withData : loaded({}));
  }
  return { events, retry };
}

/** DynamoDB's messages may quote a value: a sensitive one must not reach an event. */
function withoutSensitiveValues(reason: string, item: Item, sensitive: ReadonlySet<string>): string {
  let text = reason;
  for (const name of sensitive) {
    const value = item[name];
    if (value === undefined || 'BOOL' in value) continue;
    const plain = 'S' in value ? value.S : value.N;
    if (plain !== '') text = text.split(plain).join('[sensitive]');
  }
  return text;
}

function plainItem(item: Item, redact: Set<string>): Record<string, unknown> {
  const plain: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(item))
    plain[name] = redact.has(name) ? '[sensitive]' : fromItemValue(value);
  return plain;
}

function failed(
  source: string,
  detail: RowTransformedDetail,
  reason: string,
  column?: string,
): PutEventsEntry {
  return entry(source, DetailType.rowFailed, {
    status: Status.failed,
    stage: 'load',
    reason,
    ...(column === undefined ? {} : { column }),
    run: detail.run,
    row: detail.row,
  });
}
