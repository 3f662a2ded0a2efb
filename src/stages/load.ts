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
import { columnsOfAttribute, fillTemplate, keyAttributes, type Mapping } from '../pipeline/mapping.ts';
import { MAX_PUT_EVENTS_BYTES, putEventsEntrySize } from '../pipeline/put-events.ts';
import {
  type FieldCipher,
  type Item,
  type ItemValue,
  type ItemWriter,
  KeyServiceUnavailableError,
  type MappingSource,
} from './ports.ts';
import {
  checkType,
  effectiveCell,
  fromItemValue,
  itemSizeBytes,
  MAX_ITEM_BYTES,
  MAX_PARTITION_KEY_BYTES,
  MAX_SORT_KEY_BYTES,
  toItemValue,
  valueSize,
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
    if (value !== undefined && value !== '' && spec.sensitive) {
      if (!cipher) return { ok: false, reason: 'sensitive value but no key to decrypt it', column };
      try {
        value = await cipher.decrypt(detail.run, value);
      } catch (error) {
        // The key service out of reach fails the batch, to be retried; anything else fails the row.
        if (error instanceof KeyServiceUnavailableError) throw error;
        return { ok: false, reason: 'sensitive value could not be decrypted', column };
      }
    }
    const cell = effectiveCell(value, spec);
    if (cell === undefined) continue; // transform already failed empty required values
    // Transform checked the cells it could read; sensitive ones (and events put from elsewhere) are checked here.
    const problem = checkType(cell, spec);
    if (problem) return { ok: false, reason: problem, column };
    const itemValue = toItemValue(cell, spec);
    if (itemValue) item[spec.attribute] = itemValue;
  }
  for (const [attribute, template] of Object.entries(mapping.templates ?? {})) {
    // A mapped column's default fills its empty cell here too.
    const value = fillTemplate(template, (column) => {
      const cell = Object.hasOwn(detail.data, column) ? detail.data[column] : undefined;
      const spec = mapping.columns[column];
      return spec ? effectiveCell(cell, spec) : cell;
    });
    if (value !== undefined) item[attribute] = { S: value };
  }
  for (const [i, attribute] of keyAttributes(mapping).entries()) {
    const column = columnsOfAttribute(mapping, attribute)?.join(',') ?? attribute;
    const key = item[attribute];
    if (!key) return { ok: false, reason: 'key value is empty', column };
    const limit = i === 0 ? MAX_PARTITION_KEY_BYTES : MAX_SORT_KEY_BYTES;
    if (valueSize(key) > limit) {
      const which = i === 0 ? 'key' : 'sort key';
      return { ok: false, reason: `${which} value is over DynamoDB's ${limit}-byte limit`, column };
    }
  }
  if (itemSizeBytes(item) > MAX_ITEM_BYTES) {
    return { ok: false, reason: `item is over DynamoDB's ${MAX_ITEM_BYTES / 1024} KB limit` };
  }
  return { ok: true, item };
}

export interface LoadStageOptions {
  source: string;
  /** The mapping each run's rows are loaded by. */
  mappingFor: MappingSource;
  /** The writer, or the writer for a run's mapping (its table, key and write mode). */
  writer: ItemWriter | ((mapping: Mapping) => ItemWriter);
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
  const writer = typeof options.writer === 'function' ? options.writer(mapping) : options.writer;
  const failures = await writer.writeItems(written.map((w) => w.item));
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
    const [partition, sort] = keyAttributes(mapping).map((name) => item[name]);
    const keyText = (value: ItemValue | undefined): string =>
      value === undefined ? '' : String(fromItemValue(value));
    const loaded = (data: Record<string, unknown>): PutEventsEntry =>
      entry(source, DetailType.rowLoaded, {
        status: Status.loaded,
        key: keyText(partition),
        ...(sort === undefined ? {} : { sortKey: keyText(sort) }),
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
    if (value === undefined) continue;
    for (const plain of quotableTexts(value)) if (plain !== '') text = text.split(plain).join('[sensitive]');
  }
  return text;
}

/** The texts a message could quote of a value. */
function quotableTexts(value: ItemValue): string[] {
  if ('S' in value) return [value.S];
  if ('N' in value) return [value.N];
  if ('SS' in value) return value.SS;
  if ('NS' in value) return value.NS;
  if ('B' in value) return [Buffer.from(value.B).toString('base64')];
  if ('L' in value) return value.L.flatMap(quotableTexts);
  if ('M' in value) return Object.values(value.M).flatMap(quotableTexts);
  return [];
}

function plainItem(item: Item, redact: Set<string>): Record<string, unknown> {
  const plain: Record<string, unknown> = {};
  for (const [name, value] of Object.entries(item))
    plain[name] = redact.has(name) ? '[sensitive]' : fromItemValue(value);
  return plain;
}
