/**
 * Load: maps transformed rows to items by the mapping (the seed's five attributes by default),
 * decrypts sensitive values, checks each item against DynamoDB's limits, writes them through the
 * ItemWriter and reports each row as `data-loaded` or `row-failed` (an item the table refused fails
 * its own row with DynamoDB's reason). Rows the table left unwritten for now (throttling) are handed
 * back to be retried. Writes are keyed puts, so a redelivered row leaves one item.
 */
import { DetailType, Status } from '../pipeline/definition.ts';
import {
  entry,
  isRowTransformed,
  type PutEventsEntry,
  type RowTransformedDetail,
} from '../pipeline/events.ts';
import { done, type InputOutcome, retry, type Stage, type StageInput } from './contract.ts';
import { byRunMapping, rowFailure } from './inputs.ts';
import type { Mapping } from '../pipeline/mapping.ts';
import { MAX_PUT_EVENTS_BYTES, putEventsEntrySize } from '../pipeline/put-events.ts';
import {
  type FieldCipher,
  type Item,
  type ItemWriter,
  KeyServiceUnavailableError,
  type MappingSource,
} from './ports.ts';
import {
  checkType,
  fromItemValue,
  itemSizeBytes,
  MAX_ITEM_BYTES,
  MAX_PARTITION_KEY_BYTES,
  toItemValue,
} from './values.ts';

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
      } catch (error) {
        // The key service out of reach fails the batch, to be retried; anything else fails the row.
        if (error instanceof KeyServiceUnavailableError) throw error;
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

export interface LoadStageOptions {
  source: string;
  /** The mapping each run's rows are loaded by. */
  mappingFor: MappingSource;
  writer: ItemWriter;
  /** For runs whose mapping marks columns sensitive. */
  cipher?: FieldCipher;
}

/**
 * Load as a stage: each transformed row is loaded (`data-loaded`), failed (`row-failed`: a value the
 * mapping or DynamoDB refuses) or retried (`unprocessed`: the table left it unwritten for now).
 * Throws only when the writer itself fails (the table unreachable): the whole batch is retried.
 */
export function loadStage(options: LoadStageOptions): Stage<RowTransformedDetail> {
  return {
    name: 'load',
    accepts: isRowTransformed,
    handle: (inputs) =>
      byRunMapping(inputs, options.mappingFor, (group, mapping, outcomes) =>
        loadGroup(group, { ...options, mapping }, outcomes),
      ),
  };
}

async function loadGroup(
  inputs: readonly StageInput<RowTransformedDetail>[],
  options: Omit<LoadStageOptions, 'mappingFor'> & { mapping: Mapping },
  outcomes: Map<string, InputOutcome>,
): Promise<void> {
  const { source, mapping } = options;
  const written: { id: string; detail: RowTransformedDetail; item: Item }[] = [];
  for (const { id, event } of inputs) {
    const detail = event.detail;
    const mapped = await mapRow(detail, mapping, options.cipher);
    if (mapped.ok) written.push({ id, detail, item: mapped.item });
    else outcomes.set(id, rowFailure(source, 'load', detail, mapped.reason, mapped.column));
  }
  const failures = await options.writer.writeItems(written.map((w) => w.item));
  const failedItems = new Map(failures.map((f) => [f.item, f]));
  const sensitive = new Set(
    Object.values(mapping.columns)
      .filter((c) => c.sensitive)
      .map((c) => c.attribute),
  );
  for (const { id, detail, item } of written) {
    const failure = failedItems.get(item);
    if (failure?.refused) {
      outcomes.set(
        id,
        rowFailure(source, 'load', detail, withoutSensitiveValues(failure.reason, item, sensitive)),
      );
      continue;
    }
    if (failure) {
      outcomes.set(id, retry(failure.throttled ? 'throttled' : 'unprocessed', failure.reason));
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
    outcomes.set(id, done(putEventsEntrySize(withData) <= MAX_PUT_EVENTS_BYTES ? withData : loaded({})));
  }
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
